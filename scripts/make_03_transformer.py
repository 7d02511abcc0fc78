"""Write book/03_transformer.ipynb (without outputs). Run it, then execute the notebook:

    .venv/bin/python scripts/make_03_transformer.py
    make run-notebook NB=book/03_transformer.ipynb
"""
from nbbuild import code, md, write_notebook


md(r"""
# The Transformer

The Transformer {cite}`vaswani2017attention` is a stack of attention layers plus a few simple parts that make
deep stacks train well. In this chapter we add those parts one at a time and then train a complete
**encoder–decoder** that reads a date written in many ways ("Tuesday, March 4, 2031", "04.03.2031") and
writes it in the ISO format ("2031-03-04").

1. **Positions**: attention alone ignores word order. We add sinusoidal encodings, learned embeddings and
   rotary embeddings (RoPE).
2. **The block**: layer normalisation, residual connections, the feed-forward network; post-LN versus
   pre-LN.
3. **Encoder and decoder**: bidirectional self-attention, causal self-attention, cross-attention.
4. **Training** with the warm-up schedule of the original paper, **decoding** with greedy and beam
   search, and evaluation with exact match and **BLEU**.
5. A look at the **cross-attention** of the trained model.
""")

code("""
%xmode Minimal
import math
import time

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

import aigc_lib
from aigc_lib.attention import MultiHeadAttention, causal_mask, padding_mask
from aigc_lib.data import TensorBatches
from aigc_lib.plotting import heatmap, plot_history
from aigc_lib.positional import (LearnedPositionalEmbedding, RotaryEmbedding,
                                 SinusoidalPositionalEncoding)
from aigc_lib.transformer import (BlockConfig, Seq2SeqConfig, Seq2SeqTask, Seq2SeqTransformer,
                                  TransformerBlock, TransformerEncoder)

device = aigc_lib.setup_notebook(seed=0)
""")

# --------------------------------------------------------------------------- positions
md(r"""
## Positions

Self-attention treats its input as a *set*. If we shuffle the tokens, the outputs are shuffled the same
way and otherwise unchanged (the layer is *permutation-equivariant*). So "dog bites man" and
"man bites dog" look alike to it. A quick check:
""")

code("""
# NBVAL_CHECK_OUTPUT
torch.manual_seed(0)
mha = MultiHeadAttention(d_model=16, n_heads=4).eval()
x = torch.randn(1, 6, 16)
perm = torch.tensor([3, 0, 5, 1, 4, 2])
torch.testing.assert_close(mha(x[:, perm])[0], mha(x)[0][:, perm])
print("attention(shuffled x) == shuffled attention(x)")
""")

md(r"""
We must therefore tell the model where each token is.

**Sinusoidal encoding** {cite}`vaswani2017attention`. Add to the embedding of the token at position $p$ a
fixed vector with entries

$$
PE_{p,\,2i} = \sin\!\big(p / 10000^{2i/d}\big), \qquad PE_{p,\,2i+1} = \cos\!\big(p / 10000^{2i/d}\big).
$$

Each pair of entries is a clock hand turning at its own speed: fast for small $i$, very slow for large $i$.
Together they give every position a distinct pattern.
""")

code("""
# NBVAL_CHECK_OUTPUT
d, max_len = 32, 64
p = torch.arange(max_len)[:, None].float()
i = torch.arange(d // 2)[None, :].float()
by_hand = torch.zeros(max_len, d)
by_hand[:, 0::2] = torch.sin(p / 10000 ** (2 * i / d))
by_hand[:, 1::2] = torch.cos(p / 10000 ** (2 * i / d))
pe = SinusoidalPositionalEncoding(d, max_len=max_len)
torch.testing.assert_close(pe(torch.zeros(1, max_len, d))[0], by_hand)
print("by hand == aigc_lib SinusoidalPositionalEncoding")
""")

code("""
# NBVAL_IGNORE_OUTPUT: a plot
fig, ax = plt.subplots(figsize=(7, 3))
heatmap(by_hand.T, ax=ax, title="Sinusoidal encoding (rows: dimensions, columns: positions)", cmap="RdBu")
ax.set(xlabel="position p", ylabel="dimension")
plt.show()
""")

md(r"""
**Learned positional embeddings** are simpler: one trainable vector per position (GPT-2 uses them). In
`aigc_lib` both kinds store a table with `max_len` rows, so a longer sequence has no position vector. The library says so
instead of failing somewhere deeper:
""")

code("""
SinusoidalPositionalEncoding(16, max_len=10)(torch.zeros(1, 12, 16))
""", raises=True)

md(r"""
**Rotary position embeddings** (RoPE) {cite}`su2021roformer` do not add anything to the tokens. They
*rotate* each query and key. Split a vector into pairs $(x_{2i}, x_{2i+1})$ and read each pair as a complex
number $z_i = x_{2i} + \mathrm{i}\,x_{2i+1}$. At position $p$ multiply it by $e^{\mathrm{i} p \theta_i}$ with
$\theta_i = 10000^{-2i/d}$: a rotation by the angle $p\theta_i$. The score of a query at position $p$ and a
key at position $s$ is then

$$
\mathrm{Re} \sum_i q_i e^{\mathrm{i} p\theta_i}\, \overline{k_i e^{\mathrm{i} s\theta_i}}
= \mathrm{Re} \sum_i q_i \overline{k_i}\, e^{\mathrm{i}(p - s)\theta_i},
$$

which depends on the positions **only through the offset $p - s$**. We check the complex-number version
against the library, and the offset property on random vectors.
""")

code("""
# NBVAL_CHECK_OUTPUT
torch.manual_seed(0)
d = 8
rope = RotaryEmbedding(d, max_len=100)
x = torch.randn(10, d)                                 # one vector at each of positions 0..9
theta = 10000 ** (-torch.arange(0, d, 2).float() / d)
angles = torch.arange(10)[:, None] * theta[None, :]  # (positions, pairs)
z = torch.view_as_complex(x.view(10, d // 2, 2).contiguous())
by_hand = torch.view_as_real(z * torch.polar(torch.ones_like(angles), angles)).flatten(1)
torch.testing.assert_close(rope(x), by_hand)
print("complex rotation by hand == aigc_lib RotaryEmbedding")

q, k = torch.randn(d), torch.randn(d)
def score(p, s):
    return (rope(q[None], offset=p) * rope(k[None], offset=s)).sum().item()
for p, s in [(3, 1), (10, 8), (50, 48)]:
    print(f"score(query at {p:2d}, key at {s:2d}) = {score(p, s):.4f}")
""")

md(r"""
All three pairs have offset 2 and the same score. Over a grid of positions, the score matrix is constant
along every diagonal:
""")

code("""
# NBVAL_IGNORE_OUTPUT: a plot
S = torch.tensor([[score(p, s) for s in range(24)] for p in range(24)])
fig, ax = plt.subplots(figsize=(4.5, 3.6))
heatmap(S, ax=ax, title="RoPE score of the same q and k", cmap="RdBu")
ax.set(xlabel="key position s", ylabel="query position p")
plt.show()
""")

# --------------------------------------------------------------------------- the block
md(r"""
## The block

A Transformer **block** has two sub-layers: self-attention, which mixes information *between* positions,
and a **feed-forward network** (FFN), which transforms each position on its own: a linear layer to a wider
hidden size $d_\text{ff}$ (usually $4d$), a ReLU, and a linear layer back. Two tools make stacks of blocks
trainable:

* **Residual connections**: each sub-layer adds its output to its input, $x + f(x)$. The identity path lets
  gradients flow straight through many layers.
* **Layer normalisation** {cite}`ba2016layer`: for each token vector, subtract its mean and divide by its
  standard deviation (over the $d$ features), then scale and shift with learned $\gamma, \beta$:
  $\mathrm{LN}(x) = \gamma \odot (x - \mu)/\sqrt{\sigma^2 + \epsilon} + \beta$. It keeps activations at a
  steady size.
""")

code("""
# NBVAL_CHECK_OUTPUT
x = torch.randn(2, 5, 16)
ln = nn.LayerNorm(16)
nn.init.normal_(ln.weight); nn.init.normal_(ln.bias)
mu = x.mean(-1, keepdim=True)
var = x.var(-1, unbiased=False, keepdim=True)
torch.testing.assert_close(ln.weight * (x - mu) / torch.sqrt(var + ln.eps) + ln.bias, ln(x))
print("layer norm by hand == nn.LayerNorm")
""")

md(r"""
Where the normalisation goes matters. The original paper puts it **after** the residual addition
(**post-LN**): $x \leftarrow \mathrm{LN}(x + f(x))$. Most modern models put it **before** the sub-layer
(**pre-LN**): $x \leftarrow x + f(\mathrm{LN}(x))$, with one final LN after the last block. Xiong et al.
{cite}`xiong2020layer` showed that post-LN has large gradients in its last layers at the start of
training, which is why it needs a careful learning-rate warm-up; pre-LN does not.

Our `TransformerBlock` has both, switched by `norm_first`. With the same weights it equals PyTorch's
`nn.TransformerEncoderLayer` in both modes (dropout off):
""")

code("""
# NBVAL_CHECK_OUTPUT
def copy_block_to_torch(ours, ref):
    with torch.no_grad():
        ref.self_attn.in_proj_weight.copy_(ours.self_attn.qkv.weight)
        ref.self_attn.in_proj_bias.copy_(ours.self_attn.qkv.bias)
        ref.self_attn.out_proj.load_state_dict(ours.self_attn.out_proj.state_dict())
        ref.linear1.load_state_dict(ours.ff.linear1.state_dict())
        ref.linear2.load_state_dict(ours.ff.linear2.state_dict())
        ref.norm1.load_state_dict(ours.norm1.state_dict())
        ref.norm2.load_state_dict(ours.norm2.state_dict())


for norm_first in (False, True):
    torch.manual_seed(0)
    ours = TransformerBlock(BlockConfig(d_model=16, n_heads=4, d_ff=32, norm_first=norm_first))
    ref = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True, norm_first=norm_first)
    copy_block_to_torch(ours, ref)
    x = torch.randn(3, 7, 16)
    pad = padding_mask(torch.tensor([7, 4, 2]), max_len=7)
    ours.train(), ref.train()        # dropout is 0; train() keeps PyTorch off its inference-only shortcut
    torch.testing.assert_close(ours(x, mask=pad), ref(x, src_key_padding_mask=~pad[:, 0]))
    print(f"norm_first={norm_first}: aigc_lib TransformerBlock == nn.TransformerEncoderLayer")
""")

md(r"""
**An experiment: post-LN versus pre-LN.** We build two 12-block stacks that differ only in `norm_first`,
feed them the same random batch, and measure the gradient norm of each block's parameters at
initialisation (the quantity that Xiong et al. analyse).
""")

code("""
# NBVAL_IGNORE_OUTPUT: a plot
def grad_norms_per_block(norm_first, n_layers=12, seed=0):
    torch.manual_seed(seed)
    enc = TransformerEncoder(BlockConfig(d_model=64, n_heads=4, norm_first=norm_first), n_layers)
    x = torch.randn(16, 20, 64)
    target = torch.randn(16, 20, 64)
    F.mse_loss(enc(x), target).backward()
    return [torch.sqrt(sum(p.grad.square().sum() for p in block.parameters())).item() for block in enc.layers]


post, pre = grad_norms_per_block(False), grad_norms_per_block(True)
fig, ax = plt.subplots()
ax.plot(range(1, 13), post, "o-", label="post-LN")
ax.plot(range(1, 13), pre, "o-", label="pre-LN")
ax.set(xlabel="block (1 = nearest the input)", ylabel="gradient norm", yscale="log",
       title="Gradient norm per block at initialisation")
ax.legend()
plt.show()
print(f"last/first block gradient ratio: post-LN {post[-1] / post[0]:.1f}, pre-LN {pre[-1] / pre[0]:.2f}")
""")

md(r"""
In the post-LN stack the last block gets about three times the gradient of the other blocks. A large
learning rate at the start then makes the last blocks jump, which is why post-LN needs a warm-up. In the
pre-LN stack the gradient is spread evenly over the depth (slightly smaller near the output).

Next, the training difference. We train stacks of 12 blocks on a toy task (sort 10 random numbers
from 0 to 15, an encoder-only task) with Adam at a constant learning rate and **no warm-up**, for two
learning rates.
""")

code("""
# NBVAL_IGNORE_OUTPUT: depends on training length
class SortTask(aigc_lib.Task):
    \"\"\"Encoder-only: read 10 numbers (0..15), output them sorted, position by position.\"\"\"

    def __init__(self, norm_first, lr, n_layers=12, d=64):
        super().__init__()
        self.lr = lr
        self.embed = nn.Embedding(16, d)
        self.pos = LearnedPositionalEmbedding(d, max_len=10)
        self.encoder = TransformerEncoder(BlockConfig(d, 4, norm_first=norm_first), n_layers)
        self.out = nn.Linear(d, 16)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.lr)

    def training_loss(self, batch, optimizer_name="main"):
        x, y = batch
        return F.cross_entropy(self.out(self.encoder(self.pos(self.embed(x)))).flatten(0, 1), y.flatten())


g = torch.Generator().manual_seed(0)
numbers = torch.randint(0, 16, (4096, 10), generator=g)
fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), sharey=True)
for ax, lr in zip(axes, (3e-3, 1e-2)):
    for norm_first in (False, True):
        torch.manual_seed(0)
        name = "pre-LN" if norm_first else "post-LN"
        trainer = aigc_lib.Trainer(max_steps=200, log_every=20, progress=False, live_plot=False)
        h = trainer.fit(SortTask(norm_first, lr), TensorBatches(numbers, numbers.sort(1).values, batch_size=32))
        ax.plot(h.steps("train/loss"), h.values("train/loss"), "o-", ms=3, label=name)
        print(f"lr {lr:g}, {name}: final training loss {h.last('train/loss'):.2f}")
    ax.set(xlabel="step", title=f"12 blocks, lr {lr:g}, no warm-up")
    ax.legend()
axes[0].set_ylabel("training loss")
plt.tight_layout()
plt.show()
""")

md(r"""
The same model, the same data, the same seed: only the place of the layer norm differs. Without warm-up,
the post-LN stack learns much more slowly at the smaller learning rate and does not learn at all at the
larger one (its loss stays at the level of guessing), while the pre-LN stack trains in both cases. This is
the finding of Xiong et al. {cite}`xiong2020layer` in miniature. GPT-2 and most later models also use
pre-LN.
We use pre-LN from now on, and still keep a warm-up, as is common.
""")

# --------------------------------------------------------------------------- encoder-decoder
md(r"""
## Encoder and decoder

For a sequence-to-sequence task the Transformer has two stacks.

* The **encoder** reads the whole source. Its self-attention is **not causal**: every source token may look
  at every other real token, before or after it (only padding is masked). The output, one vector per
  source token, is called the *memory*.
* The **decoder** writes the target one token at a time. Its self-attention is **causal** (a token sees only
  the target tokens before it, because at generation time the later ones do not exist yet). After it
  comes **cross-attention**: queries from the decoder, keys and values from the encoder's memory. A decoder
  block therefore has three sub-layers: causal self-attention, cross-attention, feed-forward.

`aigc_lib.transformer.Seq2SeqTransformer` puts it together: token embeddings (scaled by $\sqrt{d}$, as in
the paper), positional encoding, encoder, decoder, and an output layer that shares its weights with the
target embedding. Two properties we can check directly on an untrained model:
""")

code("""
# NBVAL_CHECK_OUTPUT
torch.manual_seed(0)
small = Seq2SeqTransformer(Seq2SeqConfig(src_vocab=20, tgt_vocab=20, d_model=32, n_heads=4, dropout=0.0)).eval()
src = torch.tensor([[5, 6, 7, 8, 9]])
tgt = torch.tensor([[1, 10, 11, 12]])
logits = small(src, tgt)
tgt_changed = tgt.clone(); tgt_changed[0, 3] = 13          # change the LAST target token
print("decoder: earlier positions unchanged:", torch.allclose(small(src, tgt_changed)[:, :3], logits[:, :3], atol=1e-6))
src_changed = src.clone(); src_changed[0, 4] = 3           # change the LAST source token
memory, _ = small.encode(src)
memory2, _ = small.encode(src_changed)
print("encoder: FIRST source position changed:", not torch.allclose(memory[0, 0], memory2[0, 0]))
""")

# --------------------------------------------------------------------------- data
md(r"""
## The task: dates to ISO format

`aigc_lib.seq2seq_data` generates the data offline from a seed: a random day between 1900 and 2099, written
in one of 12 formats, sometimes all lower- or upper-case. The target is the ISO date. Every format writes
the year with four digits and has a fixed order of day and month (`04.03.2031` is day first, `3/4/2031` is
month first, as in the US), so each input has exactly one right answer. The held-out dates never occur
in the training data, in any format. Tokens are single characters.
""")

code("""
# NBVAL_CHECK_OUTPUT
from aigc_lib.seq2seq_data import load_dates

data = load_dates(n_train=20000, n_test=1000, seed=0)
vocab = data.vocab
print(f"vocabulary: {len(vocab)} tokens; train {len(data.train_pairs)}, test {len(data.test_pairs)} pairs")
for src_text, tgt_text in data.test_pairs[:8]:
    print(f"{src_text!r:34} -> {tgt_text}")
print("source tensor", tuple(data.train_src.shape), " target tensor", tuple(data.train_tgt.shape))
print("target ids of the first test pair:", data.test_tgt[0].tolist())
""")

md(r"""
The target tensor holds `<bos>` (id 1), the 10 characters and `<eos>` (id 2); every ISO date has 10
characters, so the targets need no padding. For the first test pair the decoder reads the characters
`<bos> 1 9 6 6 - 1 1 - 0` and must predict the same sequence shifted by one: `1 9 6 6 - 1 1 - 0 6 <eos>`
(*teacher forcing*).

## Training with warm-up

Vaswani et al. raise the learning rate linearly for the first `warmup` steps and then let it fall like
$1/\sqrt{\text{step}}$ {cite}`vaswani2017attention`. It is `aigc_lib.schedule.inverse_sqrt`:
""")

code("""
# NBVAL_IGNORE_OUTPUT: a plot
from aigc_lib.schedule import inverse_sqrt

steps = 1000
warmup = 200
schedule = inverse_sqrt(warmup)
fig, ax = plt.subplots(figsize=(5, 2.6))
ax.plot([schedule(s) for s in range(steps)])
ax.set(xlabel="step", ylabel="lr / peak lr", title=f"inverse-sqrt schedule, warm-up {warmup} steps")
plt.show()
""")

md(r"""
The model: 2 encoder and 2 decoder blocks, width 64, 4 heads, pre-LN, sinusoidal positions; about 180,000
parameters. Batches of 64 pairs, AdamW with a peak learning rate of $2 \cdot 10^{-3}$. `Seq2SeqTask` computes
the cross-entropy of the next character (ignoring padding) and, on held-out batches, the token accuracy and
the share of sequences that are entirely right under teacher forcing.
""")

code("""
# NBVAL_IGNORE_OUTPUT: depends on training length
torch.manual_seed(0)
config = Seq2SeqConfig(src_vocab=len(vocab), tgt_vocab=len(vocab), d_model=64, n_heads=4, d_ff=128,
                       n_encoder_layers=2, n_decoder_layers=2, dropout=0.0, max_src_len=32, max_tgt_len=12,
                       pad_id=vocab.pad_id)
model = Seq2SeqTransformer(config)
print(f"{sum(p.numel() for p in model.parameters()):,} parameters")
task = Seq2SeqTask(model, lr=2e-3)
trainer = aigc_lib.Trainer(max_steps=steps, lr_schedule=schedule, clip_grad_norm=1.0, eval_every=250,
                           eval_batches=None)
t0 = time.perf_counter()
history = trainer.fit(task, TensorBatches(data.train_src, data.train_tgt, batch_size=64),
                      TensorBatches(data.test_src, data.test_tgt, batch_size=500, repeat=False))
print(f"training took {time.perf_counter() - t0:.0f} s")
""")

code("""
# NBVAL_IGNORE_OUTPUT: depends on training length
fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.2))
plot_history(history, ["train/loss", "val/loss"], ax=a1, logy=True)
plot_history(history, ["val/token_acc", "val/seq_acc_teacher_forced"], ax=a2)
a2.set_ylabel("accuracy")
plt.tight_layout()
plt.show()
""")

# --------------------------------------------------------------------------- decoding
md(r"""
## Decoding: greedy and beam search

At test time there is no target to read. The decoder starts from `<bos>` and generates one character at a
time, each time feeding back what it produced so far.

* **Greedy decoding** takes the most likely next character at every step.
* **Beam search** keeps the `beam_width` most likely *prefixes* at every step, extends each by every
  character, and keeps the best `beam_width` of the results. A prefix that ends with `<eos>` is finished.
  Finished hypotheses are ranked by $\log p(y) / \mathrm{lp}(|y|)$ with the length penalty
  $\mathrm{lp}(n) = ((5 + n)/6)^\alpha$ of Wu et al. {cite}`wu2016gnmt`; $\alpha = 0$ ranks by probability alone.

Both live in `aigc_lib.beam_search` and only need a function that maps prefixes to next-token
log-probabilities, so the GPT chapter reuses them. (The tests compare beam search with brute-force
enumeration of every sequence on a tiny vocabulary.)
""")

code("""
# NBVAL_IGNORE_OUTPUT: depends on training length
from aigc_lib.beam_search import beam_search, greedy_decode

model.eval()
with torch.no_grad():
    bos = torch.full((len(data.test_pairs), 1), vocab.bos_id, device=device)
    greedy_ids = greedy_decode(model.next_log_probs_fn(data.test_src.to(device)), bos, max_new_tokens=11,
                               eos_id=vocab.eos_id)
greedy = [vocab.decode(ids) for ids in greedy_ids.cpu()]
references = [t for _, t in data.test_pairs]
exact_greedy = sum(g == r for g, r in zip(greedy, references)) / len(references)
print(f"greedy exact-match accuracy on {len(references)} held-out dates: {100 * exact_greedy:.1f} %")
for (s, r), g in list(zip(data.test_pairs, greedy))[:6]:
    print(f"{s!r:34} -> {g}  {'ok' if g == r else 'WRONG, want ' + r}")
""")

code("""
# NBVAL_IGNORE_OUTPUT: depends on training length
example_src = data.test_src[0].to(device)
hyps = beam_search(model.next_log_probs_fn(example_src), [vocab.bos_id], beam_width=4, max_new_tokens=11,
                   eos_id=vocab.eos_id)
print("input:", repr(data.test_pairs[0][0]))
for h in hyps:
    print(f"  {vocab.decode(h.tokens):12}  log p = {h.log_prob:8.4f}")
""")

code("""
# NBVAL_IGNORE_OUTPUT: depends on training length
n_beam = aigc_lib.budget(200, smoke=5)
t0 = time.perf_counter()
beam = []
for src_row in data.test_src[:n_beam].to(device):
    best = beam_search(model.next_log_probs_fn(src_row), [vocab.bos_id], beam_width=4, max_new_tokens=11,
                       eos_id=vocab.eos_id)[0]
    beam.append(vocab.decode(best.tokens))
exact_beam = sum(b == r for b, r in zip(beam, references)) / n_beam
exact_greedy_same = sum(g == r for g, r in zip(greedy[:n_beam], references)) / n_beam
print(f"on the first {n_beam} test dates: greedy {100 * exact_greedy_same:.1f} %, beam (width 4) "
      f"{100 * exact_beam:.1f} %  ({time.perf_counter() - t0:.0f} s for beam search)")
""")

md(r"""
On this task the model is so sure of each character that beam search rarely changes the answer; it
matters when several continuations are plausible, as in translation or free text.

## BLEU

Exact match is the right measure here, because a date is either right or wrong. For translation one
uses **BLEU** {cite}`papineni2002bleu`, which gives partial credit for shared n-grams (runs of $n$
tokens). For $n = 1, \dots, 4$ the *clipped precision* $p_n$ is the number of output n-grams that also occur
in the reference, each counted at most as often as it occurs there, divided by the number of output
n-grams; counts are summed over the whole test set. A **brevity penalty** stops short outputs from
scoring well: with total output length $c$ and reference length $r$, $\mathrm{BP} = \min(1, e^{1 - r/c})$.
Then $\mathrm{BLEU} = 100 \cdot \mathrm{BP} \cdot \exp\big(\tfrac14 \sum_n \log p_n\big)$. We write it out, then
compare with `aigc_lib.bleu` and with the reference implementation `sacrebleu`, on characters.
""")

code("""
# NBVAL_CHECK_OUTPUT
from collections import Counter


def bleu_by_hand(hypotheses, refs, max_n=4):
    matches, totals = [0] * max_n, [0] * max_n
    c = r = 0
    for hyp, ref in zip(hypotheses, refs):
        c, r = c + len(hyp), r + len(ref)
        for n in range(1, max_n + 1):
            h = Counter(tuple(hyp[i:i + n]) for i in range(len(hyp) - n + 1))
            rc = Counter(tuple(ref[i:i + n]) for i in range(len(ref) - n + 1))
            matches[n - 1] += sum(min(count, rc[g]) for g, count in h.items())
            totals[n - 1] += sum(h.values())
    log_p = sum(math.log(m / t) for m, t in zip(matches, totals)) / max_n
    bp = min(1.0, math.exp(1 - r / c))
    return 100 * bp * math.exp(log_p)


import sacrebleu
from aigc_lib.bleu import corpus_bleu

hyps_demo = ["2031-03-04", "1999-12-30", "2001-01-10", "1950-6-01"]
refs_demo = ["2031-03-04", "1999-12-31", "2001-10-01", "1950-06-01"]
ours = bleu_by_hand([list(h) for h in hyps_demo], [list(r) for r in refs_demo])
lib = corpus_bleu(hyps_demo, refs_demo, tokenize=list)
ref = sacrebleu.corpus_bleu(hyps_demo, [refs_demo], tokenize="char").score
print(f"by hand {ours:.4f} | aigc_lib {lib:.4f} | sacrebleu {ref:.4f}")
assert abs(ours - ref) < 1e-9 and abs(lib - ref) < 1e-9
""")

code("""
# NBVAL_IGNORE_OUTPUT: depends on training length
bleu_greedy = corpus_bleu(greedy, references, tokenize=list)
print(f"held-out: exact match {100 * exact_greedy:.1f} %, character BLEU {bleu_greedy:.2f} "
      f"(sacrebleu: {sacrebleu.corpus_bleu(greedy, [references], tokenize='char').score:.2f})")
wrong = [(s, g, r) for (s, r), g in zip(data.test_pairs, greedy) if g != r]
print(f"{len(wrong)} errors, for example:")
for s, g, r in wrong[:8]:
    print(f"  {s!r:34} -> {g}  (want {r})")
""")

# --------------------------------------------------------------------------- cross-attention
md(r"""
## Where the decoder looks

Finally we ask the trained model which source characters each output character attends to. We run the
decoder on its own greedy output with `need_weights=True` and plot the cross-attention weights of the last
decoder block, averaged over its heads.
""")

code("""
# NBVAL_IGNORE_OUTPUT: depends on training length
def cross_attention_map(text):
    src_ids = torch.tensor([vocab.encode(text)], device=device)
    with torch.no_grad():
        out = greedy_decode(model.next_log_probs_fn(src_ids), torch.tensor([[vocab.bos_id]], device=device),
                            max_new_tokens=11, eos_id=vocab.eos_id)
        memory, src_mask = model.encode(src_ids)
        model.decode(out[:, :-1], memory, src_mask, need_weights=True)
    weights = model.decoder.layers[-1].cross_attn_weights[0].mean(0).cpu()      # (T_out, S)
    rows = ["<bos>"] + list(vocab.decode(out[0]))
    return weights[:len(rows)], rows


fig, axes = plt.subplots(1, 2, figsize=(13, 4))
for ax, text in zip(axes, ["Tuesday, March 4, 2031", "04.03.2031"]):
    w, rows = cross_attention_map(text)
    heatmap(w, [c if c != " " else "_" for c in text], rows, ax=ax, vmin=0, title=repr(text))
    ax.set(xlabel="source character", ylabel="decoder input (predicts the next)")
plt.tight_layout()
plt.show()
""")

md(r"""
Row $t$ is the decoder input at step $t$, which predicts output character $t+1$. The alignment is visible:
while the model writes the year it looks at the four year digits of the source; for the month it looks at
the month name ("March") or the month digits; for the day at the day. The order in the source differs
between the two formats, and the attention follows it. This is the alignment that attention was invented
for {cite}`bahdanau2015neural`.

## Summary

* Attention is blind to order; sinusoidal or learned position vectors, or rotary embeddings (whose scores
  depend only on the offset), add it.
* A block = residual sub-layers (attention, feed-forward) with layer norm; pre-LN keeps gradients even
  over depth, post-LN needs a warm-up.
* The encoder is bidirectional; the decoder is causal and reads the encoder through cross-attention.
* Our small encoder–decoder learns to normalise dates; we decode greedily or with beam search and measure
  exact match and BLEU.

The next part of the course keeps only the decoder: a GPT that generates text.

## Exercises

1. Train the date model with `norm_first=False` (post-LN) and no warm-up (`lr_schedule="constant"`),
   with the same number of steps. Compare the exact match with this chapter's run.
2. Train with `positional="learned"` and with `positional="rope"` in `Seq2SeqConfig`. Which trains
   fastest? Which is best on the held-out dates?
3. Train with `Seq2SeqTask(..., label_smoothing=0.1)`. How do the validation loss and the exact match
   change, and why can the loss get worse while the accuracy does not?
4. Give the trained model a date in a format it never saw (for example `"2031.03.04"`) or a year outside
   the training range. What does it output? Look at its cross-attention weights.
5. For each date the greedy decoder gets wrong, run beam search with widths 1, 2, 4 and 8. Does a wider
   beam fix any of them? What does this tell you about the model's mistakes?
""")

write_notebook("03_transformer.ipynb")
