"""Write book/04_gpt.ipynb (run from the repository root: .venv/bin/python scripts/make_04_gpt.py)."""
from nbbuild import code, md, write_notebook


md("""
# A GPT language model

A **language model** gives a probability to every piece of text. A GPT
(Generative Pre-trained Transformer; {cite}`radford2018gpt,radford2019gpt2`) does
it one token at a time. A **token** is a small piece of text: here first a
character, later a frequent group of bytes. By the chain rule of probability,

$$p(x_1, \\dots, x_T) = \\prod_{t=1}^{T} p(x_t \\mid x_1, \\dots, x_{t-1}),$$

so it is enough to predict the **next token** from the tokens before it. We
train the model to do this on Tiny Shakespeare, a 1 MB text file
{cite}`karpathy2015charrnn`.

In this chapter we:

1. turn text into tokens (characters, then byte-level BPE);
2. measure two simple baselines (uniform guess and a bigram model);
3. build the decoder-only Transformer in `aigc_lib.gpt` from the blocks of the previous chapter;
4. train it with the `Trainer` and look at samples during training;
5. load the weights of OpenAI's GPT-2 into the same code.
""")

code("""
import copy
import math
import time

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

import aigc_lib
from aigc_lib import Trainer
from aigc_lib.data import RandomWindows, load_tiny_shakespeare
from aigc_lib.gpt import GPT, GPTConfig, LanguageModelTask
from aigc_lib.tokenizers import ByteBPETokenizer, CharTokenizer

device = aigc_lib.setup_notebook(seed=0)
%xmode Minimal
""")

md("""
## The data and a character tokenizer

The simplest tokenizer gives each distinct character its own id. Tiny
Shakespeare has 65 distinct characters, so the **vocabulary** (the set of
possible tokens) has size $V = 65$.
""")

code("""
# NBVAL_CHECK_OUTPUT
text = load_tiny_shakespeare()
chars = CharTokenizer(text)
print(f"{len(text):,} characters, vocabulary of {chars.vocab_size}")
print(repr("".join(chars.chars)))
ids = chars.encode("To be, or not to be")
print(ids)
print(chars.decode(ids))
""")

md("""
We keep the last 10 % of the text as **validation** data. The model never
trains on it; we use it to measure how well the model predicts text it has
not seen.
""")

code("""
# NBVAL_CHECK_OUTPUT
data = torch.tensor(chars.encode(text))
n_train = int(0.9 * len(data))
train_ids, val_ids = data[:n_train], data[n_train:]
print(f"train: {len(train_ids):,} tokens, validation: {len(val_ids):,} tokens")
""")

md("""
## The loss, perplexity and two baselines

For each position the model outputs $V$ **logits** (unnormalised
log-probabilities). The softmax turns them into probabilities, and the loss
is the **cross-entropy**: the mean of $-\\ln p(\\text{true next token})$, in
*nats* per token. Its exponential is the **perplexity**: the model is as
unsure as if it chose uniformly among that many tokens.

A model that knows nothing gives each of the 65 characters the same
probability: loss $\\ln 65$ and perplexity exactly 65. A **bigram** model
predicts the next character from the current one only, by counting pairs in
the training text. This is about the lowest loss a model can reach when it
sees only the current character. A GPT must do better by using more context.
""")

code("""
# NBVAL_CHECK_OUTPUT
V = chars.vocab_size
counts = torch.bincount(train_ids[:-1] * V + train_ids[1:], minlength=V * V).reshape(V, V).float()
bigram_logp = torch.log((counts + 1) / (counts + 1).sum(dim=1, keepdim=True))   # add-one smoothing
bigram_val = -bigram_logp[val_ids[:-1], val_ids[1:]].mean().item()
print(f"uniform: loss {math.log(V):.3f}, perplexity {V}")
print(f"bigram : loss {bigram_val:.3f}, perplexity {math.exp(bigram_val):.1f}")
# the same number through cross_entropy on the bigram table used as logits
check = F.cross_entropy(bigram_logp[val_ids[:-1]], val_ids[1:]).item()
print(f"check with F.cross_entropy: {check:.3f}")
""")

md("""
## Byte-level BPE

Characters make long sequences. **Byte-pair encoding** (BPE;
{cite}`sennrich2016bpe`) makes them shorter: start with single symbols, find the
most frequent neighbouring pair, give it a new id, and repeat. GPT-2
{cite}`radford2019gpt2` runs BPE on the **bytes** of the UTF-8 text. The 256 byte
values are the first 256 ids, so *every* string can be encoded, in any
language, and nothing is ever "unknown".

Before counting pairs, the text is cut into chunks (words with their leading
space, numbers, punctuation, white space), so a merge never joins the end of
one word to the start of the next. `aigc_lib.tokenizers.ByteBPETokenizer` does
all of this in about 100 lines. We learn 256 merges (vocabulary 512) on the
training text.
""")

code("""
# NBVAL_CHECK_OUTPUT
train_text, val_text = text[:n_train], text[n_train:]
bpe = ByteBPETokenizer.train(train_text, vocab_size=512)
print("first merges:", bpe.token_strings(range(256, 272)))
print("longest tokens:", sorted(bpe.token_strings(range(256, 512)), key=len)[-5:])
sample = "To be, or not to be: that is the question. Ελληνικά, 中文, 🙂"
ids = bpe.encode(sample)
print(len(sample), "characters ->", len(ids), "tokens")
print(bpe.token_strings(ids)[:14])
assert bpe.decode(ids) == sample
""")

md("""
The library's tests check `decode(encode(s)) == s` on hundreds of random
Unicode strings (Greek, Chinese, emoji, combining marks, white space). Here we
compare with the BPE trainer of Hugging Face `tokenizers`, which implements
the same algorithm in Rust, on the same text and with the same vocabulary
size.
""")

code("""
# NBVAL_CHECK_OUTPUT
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

hf = Tokenizer(models.BPE())
hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
hf.decoder = decoders.ByteLevel()
hf.train_from_iterator([train_text], trainers.BpeTrainer(
    vocab_size=512, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
ours_ids, hf_ids = bpe.encode(val_text), hf.encode(val_text).ids
print(f"{'':22}{'ours':>8}{'HF tokenizers':>15}")
print(f"{'vocabulary size':22}{bpe.vocab_size:>8}{hf.get_vocab_size():>15}")
print(f"{'tokens per character':22}{len(ours_ids) / len(val_text):>8.4f}{len(hf_ids) / len(val_text):>15.4f}")
print("decodes back exactly:", bpe.decode(ours_ids) == val_text, hf.decode(hf_ids) == val_text)
""")

md("""
Both learn the same merges (the tests check that the two sets of merges are
equal; only the order of ties may differ) and so cut the validation text into
the same tokens: about half a token per character. With 512 tokens a
sequence is half as long as with characters, at the price of a larger output
layer. For a small corpus like this one the gain is small, so the rest of the
chapter uses characters, as nanoGPT's Shakespeare example does.

## The model

A GPT is a stack of Transformer blocks with **causal** self-attention: the
token at position $t$ may only attend to positions $\\le t$, so the prediction
for position $t+1$ never sees the answer. `aigc_lib.gpt.GPT` is:

* a **token embedding** (a $V \\times C$ table) plus a learned **position
  embedding** (one vector per position up to the context length, `block_size`);
* `n_layer` pre-LN `TransformerBlock`s from the previous chapter, called with
  `is_causal=True`;
* a final layer norm and an output layer whose weight **is** the token
  embedding table (**weight tying**; {cite}`press2017tying`). The same vector
  stands for a token at the input and at the output, and the model has
  $V \\times C$ fewer parameters.
""")

code("""
# NBVAL_CHECK_OUTPUT
config = GPTConfig(vocab_size=V, block_size=64, n_layer=4, n_head=4, n_embd=128, dropout=0.0, bias=False)
torch.manual_seed(0)
model = GPT(config)
print(config)
print(f"{model.num_parameters():,} parameters")
print("output layer shares the embedding:", model.lm_head.weight is model.token_embedding.weight)
x = train_ids[:64][None]
print("ids", tuple(x.shape), "-> logits", tuple(model(x).shape))
""")

md("""
**Causality, checked.** If we change the tokens after position 20, the logits
at positions 0 to 20 must not change.
""")

code("""
# NBVAL_CHECK_OUTPUT
y = x.clone()
y[:, 21:] = (y[:, 21:] + 7) % V
with torch.no_grad():
    a, b = model(x), model(y)
print("positions 0-20 unchanged:", torch.allclose(a[:, :21], b[:, :21], atol=1e-6))
print("positions 21+ changed:   ", not torch.allclose(a[:, 21:], b[:, 21:]))
""")

md("""
**The fast attention path.** Each block can compute attention step by step
(scores, mask, softmax, weighted sum: easy to read) or with PyTorch's fused
`scaled_dot_product_attention`, which on a GPU runs the *flash attention*
kernel. The two give the same logits.
""")

code("""
# NBVAL_CHECK_OUTPUT
readable = GPT(GPTConfig(**{**config.__dict__, "fast_attention": False}))
readable.load_state_dict(model.state_dict())
with torch.no_grad():
    torch.testing.assert_close(readable(x), model(x), atol=1e-5, rtol=1e-5)
print("fast path == readable path")
""")

md("""
**Initialisation.** Every weight starts as $\\mathcal N(0, 0.02^2)$, as in GPT-2.
Each block *adds* the output of its attention and of its feed-forward network
to the **residual stream** (the vector of each token that is passed from
block to block), so with $L$ blocks $2L$ terms are added and the
variance of the stream grows with depth. GPT-2 scales the weights of the two
projections that write into the stream by $1/\\sqrt{2L}$. Below, a deep (24
blocks) model at initialisation: the scaled version keeps the residual stream
much smaller at the last block.
""")

code("""
# NBVAL_CHECK_OUTPUT
def residual_std(scaled: bool) -> list[float]:
    torch.manual_seed(0)
    deep = GPT(GPTConfig(vocab_size=V, block_size=64, n_layer=24, n_head=4, n_embd=128,
                         scaled_residual_init=scaled))
    h = deep.position_embedding(deep.token_embedding(x))
    stds = [h.std().item()]
    with torch.no_grad():
        for block in deep.blocks:
            h = block(h, is_causal=True)
            stds.append(h.std().item())
    return stds

plain, scaled = residual_std(False), residual_std(True)
fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(plain, label="all weights N(0, 0.02²)")
ax.plot(scaled, label="residual projections / √(2L)")
ax.set_xlabel("block"); ax.set_ylabel("std of the residual stream"); ax.legend()
plt.show()
print(f"after 24 blocks: {plain[-1]:.3f} (plain) vs {scaled[-1]:.3f} (scaled)")
""")

md("""
At initialisation the model should know nothing: its loss should be close
to the uniform $\\ln 65 \\approx 4.17$.
""")

code("""
# NBVAL_CHECK_OUTPUT
with torch.no_grad():
    print(f"initial loss {model.loss(x, train_ids[1:65][None]).item():.2f}, ln V = {math.log(V):.2f}")
""")

md("""
## Training

`LanguageModelTask` feeds `(x, y)` windows to the model, where `y` is `x`
shifted by one character, and minimises the cross-entropy with AdamW. The
recipe below reaches a lower validation loss per second of training than
nanoGPT's CPU example (4 layers, 4 heads, width 128, context 64, batch 12),
with the same model shape. Only the first two points below differ from
nanoGPT's example; the rest is the same there.

* **bf16 autocast.** On a CPU with bfloat16 instructions (AVX512-BF16 or AMX)
  the matrix products run in bfloat16 while the weights stay in float32. On the
  course machine one step takes about 20 % less time, so we get more steps in
  the same time.
* **A higher learning rate**, $3 \\times 10^{-3}$ instead of $10^{-3}$, which a
  small model trained for a short time tolerates, with a **linear warm-up**
  (100 steps) and a **cosine decay** that ends exactly at the last step, so
  the final steps polish the weights with a small rate.
* AdamW with $\\beta_2 = 0.99$ (faster to adapt than the default 0.999 in a
  short run), weight decay 0.1 on matrices only, gradient clipping at 1.0,
  the scaled initialisation above, no dropout (the model is small and sees the
  training text fewer than three times, so overfitting stays mild).

We copy the weights at a few points during training, to look at samples later.
""")

code("""
class SnapshotTask(LanguageModelTask):
    \"\"\"LanguageModelTask that keeps a copy of the weights every `every` steps.\"\"\"

    def __init__(self, model, every, **kw):
        super().__init__(model, **kw)
        self.every, self.calls, self.snapshots = every, 0, {}

    def training_loss(self, batch, optimizer_name="main"):
        if self.training:  # not during evaluation, which calls this too
            if self.calls % self.every == 0:
                self.snapshots[self.calls] = copy.deepcopy(self.model.state_dict())
            self.calls += 1
        return super().training_loss(batch, optimizer_name)

steps = 3500   # 1.5 to 2 minutes of training on the course machine (2 cores), evaluations included
torch.manual_seed(0)
task = SnapshotTask(GPT(config), every=aigc_lib.budget(1000, smoke=10), lr=3e-3, weight_decay=0.1,
                    betas=(0.9, 0.99))
train_stream = RandomWindows(train_ids, block_size=64, batch_size=12, seed=0)
val_stream = RandomWindows(val_ids, block_size=64, batch_size=64, seed=1, num_batches=20)
trainer = Trainer(max_steps=steps, lr_schedule="cosine", warmup_steps=100, min_lr_ratio=0.1,
                  clip_grad_norm=1.0, precision="bf16", eval_every=250, log_every=25, eval_batches=20)
""")

code("""
# NBVAL_IGNORE_OUTPUT: depends on training length and timing
t0 = time.perf_counter()
history = trainer.fit(task, train_stream, val_stream)
seconds = time.perf_counter() - t0
print(f"{trainer.step} steps in {seconds:.0f} s ({seconds / trainer.step * 1e3:.1f} ms/step, "
      f"evaluations included)")
""")

code("""
# NBVAL_IGNORE_OUTPUT: depends on training length
final = Trainer(eval_batches=None, progress=False).evaluate(
    task, RandomWindows(val_ids, block_size=64, batch_size=64, seed=2, num_batches=100))["loss"]
print(f"validation loss {final:.3f} (perplexity {math.exp(final):.2f}); "
      f"bigram {bigram_val:.3f}; nanoGPT's CPU run: 1.886")
""")

md("""
The validation loss falls far below the bigram model: the GPT uses the
context. The benchmark (`python -m benchmarks.gpt_cpu`, results in
`benchmarks/README.md`) runs this recipe within a budget of 101 seconds (the time of nanoGPT's CPU
example on the same machine) and compares it with nanoGPT.

**Samples during training.** We let each saved copy of the model continue
the same prompt (temperature 0.8; the next chapter explains sampling).
""")

code("""
# NBVAL_IGNORE_OUTPUT: depends on training length
snap_model = GPT(config)
prompt = torch.tensor([chars.encode("ROMEO:")])
snapshots = {**task.snapshots, trainer.step: task.model.state_dict()}
for step, state in snapshots.items():
    snap_model.load_state_dict(state)
    out = snap_model.generate(prompt, 120, temperature=0.8, generator=torch.Generator().manual_seed(0))
    print(f"--- step {step} ---")
    print(chars.decode(out[0].tolist()))
""")

md("""
At step 0 the text is random characters. Soon the model learns spaces,
line breaks and frequent short words; later, names in capitals followed by a
colon, and lines that look like verse. The words are often not real words:
with 0.8 M parameters and a context of 64 characters the model learns
spelling and layout, not meaning.

## Loading GPT-2

OpenAI released the weights of GPT-2 {cite}`radford2019gpt2`. Its smallest
version has the same structure as our model with 12 layers, 12 heads, width
768, a context of 1024 tokens and a byte-level BPE vocabulary of 50,257 tokens
(124 M parameters). `aigc_lib.gpt2` converts the weights of Hugging Face's
`GPT2LMHeadModel` into our `GPT`: it renames them and transposes the linear
layers (GPT-2 stores them as `(in, out)`, `nn.Linear` as `(out, in)`). GPT-2
also uses the tanh approximation of GELU.

We check the converter offline, on a small GPT-2 with random weights: our
model must give the same logits.
""")

code("""
# NBVAL_CHECK_OUTPUT
from transformers import GPT2Config, GPT2LMHeadModel
from aigc_lib.gpt2 import from_pretrained, gpt_from_hf

torch.manual_seed(0)
small = GPT2LMHeadModel(GPT2Config(vocab_size=100, n_positions=32, n_embd=64, n_layer=2, n_head=4,
                                   bos_token_id=0, eos_token_id=0)).eval()
ours = gpt_from_hf(small)
tokens = torch.randint(0, 100, (2, 32))
with torch.no_grad():
    torch.testing.assert_close(ours(tokens), small(tokens).logits, atol=1e-5, rtol=1e-5)
print(ours.config)
print("same logits as GPT2LMHeadModel")
""")

md("""
`from_pretrained("gpt2")` downloads the real weights (about 500 MB) once and
converts them. It needs the Hugging Face hub; when the hub cannot be reached
(as on the machine that builds this book) it says so at once.
""")

code("""
# NBVAL_IGNORE_OUTPUT: depends on the network
try:
    gpt2 = from_pretrained("gpt2")
    print(gpt2.config, f"{gpt2.num_parameters():,} parameters")
except ConnectionError as e:
    print(e)
""")

md("""
## Clear errors

The model checks its input and says what it expected. A prompt longer than
the context:
""")

code("""
model.generate(torch.zeros(1, 65, dtype=torch.long), max_new_tokens=5)
""", raises=True)

md("A token id outside the vocabulary:")

code("""
model(torch.tensor([[3, 70]]))
""", raises=True)

md("A width that the heads cannot share equally:")

code("""
GPTConfig(n_embd=100, n_head=3)
""", raises=True)

md("""
## Summary

* A language model predicts the next token; its loss is the cross-entropy in
  nats per token and $e^{\\text{loss}}$ is the perplexity.
* Byte-level BPE encodes any string; ours learns the same merges as Hugging
  Face `tokenizers`.
* `aigc_lib.gpt.GPT` is token and position embeddings, causal pre-LN blocks
  and a tied output layer, with GPT-2's initialisation; it loads GPT-2's weights
  exactly.
* bf16 matrix products (more steps in the same time) and a higher peak
  learning rate give a lower loss in the same training time.

The next chapter turns the logits into text: greedy decoding, temperature,
top-k, top-p, beam search and the KV cache.

## Exercises

1. Compute the perplexity of the bigram model and of the trained GPT on the validation text. How many
   times fewer "choices per character" does the GPT have?
2. Train byte-level BPE tokenizers with 300, 500 and 2,000 tokens on the training text. Plot tokens per
   character on the validation text against the vocabulary size. Why does it fall more slowly at the end?
3. Train the GPT with `block_size=16` and with `block_size=64` for the same number of steps. How much
   does the longer context lower the validation loss?
4. Train a deep model (12 layers) with `init_std=0.02` and with `init_std=0.2`. Compare the first
   hundred steps of the loss curves.
5. In the GPT-2 test, change one weight of the Hugging Face model after the conversion and run the logit
   comparison again. Which error do you get? (A test is only useful if it can fail.)
""")

write_notebook("04_gpt.ipynb")
