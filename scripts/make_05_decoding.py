"""Write book/05_decoding.ipynb (run from the repository root: .venv/bin/python scripts/make_05_decoding.py)."""
from nbbuild import code, md, write_notebook


md("""
# Decoding and sampling

A language model gives, for the next token, a probability for every token of
the vocabulary. **Decoding** is how we turn these probabilities into text:
which token do we write, then the next, and so on? The choice matters as much
as the model: the same GPT can write dull loops or lively nonsense depending on
it.

In this chapter we build, one at a time, **greedy decoding**, **temperature**,
**top-k** {cite}`fan2018hierarchical`, **top-p (nucleus) sampling**
{cite}`holtzman2020curious`, **beam search** and the **repetition penalty**
{cite}`keskar2019ctrl`, check each against `aigc_lib`, and measure their effect on
diversity and on likelihood. Then we make generation fast with a **KV cache**.
""")

code("""
import time

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

import aigc_lib
from aigc_lib import Trainer
from aigc_lib.attention import KVCache, MultiHeadAttention
from aigc_lib.beam_search import beam_search
from aigc_lib.data import RandomWindows, load_tiny_shakespeare
from aigc_lib.gpt import GPT, GPTConfig, LanguageModelTask
from aigc_lib.sampling import (SamplingConfig, apply_repetition_penalty, apply_temperature, distinct_n,
                               sample_next_token, top_k_filter, top_p_filter)
from aigc_lib.tokenizers import CharTokenizer

device = aigc_lib.setup_notebook(seed=0)
%xmode Minimal
""")

md("""
## A model to decode from

We train the character-level GPT of the previous chapter for a short time
(the recipe is explained there).
""")

code("""
text = load_tiny_shakespeare()
chars = CharTokenizer(text)
data = torch.tensor(chars.encode(text))
n_train = int(0.9 * len(data))
config = GPTConfig(vocab_size=chars.vocab_size, block_size=128, n_layer=4, n_head=4, n_embd=128, bias=False)
torch.manual_seed(0)
model = GPT(config)
task = LanguageModelTask(model, lr=3e-3, weight_decay=0.1, betas=(0.9, 0.99))
history = Trainer(max_steps=1000, lr_schedule="cosine", warmup_steps=100, clip_grad_norm=1.0,
                  precision="bf16", log_every=50, live_plot=False, progress=False).fit(
    task, RandomWindows(data[:n_train], block_size=128, batch_size=12, seed=0))
model.eval()
""")

code("""
# NBVAL_IGNORE_OUTPUT: depends on training length
print(f"training loss at the end: {history.last('train/loss'):.3f}")
""")

code("""
# NBVAL_CHECK_OUTPUT
prompt_text = "KING RICHARD:\\n"
prompt = torch.tensor([chars.encode(prompt_text)])
with torch.no_grad():
    logits = model(prompt)[:, -1]          # (1, V): the next token after the prompt
print("prompt", tuple(prompt.shape), "-> next-token logits", tuple(logits.shape))
""")

md("""
## Greedy decoding

**Greedy decoding** always writes the single most likely token. It is
deterministic: the same prompt always gives the same text. We write the loop
by hand and compare it with `model.generate(..., temperature=0)`.
""")

code("""
# NBVAL_CHECK_OUTPUT
def greedy_by_hand(model, idx, n):
    for _ in range(n):
        with torch.no_grad():
            next_logits = model(idx[:, -model.config.block_size:])[:, -1]
        idx = torch.cat([idx, next_logits.argmax(dim=-1, keepdim=True)], dim=1)
    return idx

by_hand = greedy_by_hand(model, prompt, 60)
print("same as the library:", torch.equal(by_hand, model.generate(prompt, 60, temperature=0)))
""")

code("""
# NBVAL_IGNORE_OUTPUT: depends on training length
print(chars.decode(model.generate(prompt, 300, temperature=0)[0].tolist()))
""")

md("""
Greedy text soon repeats itself. Once a loop is the most likely continuation
of itself, greedy decoding never leaves it.

## Temperature

Sampling draws the next token at random from the model's distribution. The
**temperature** $T$ reshapes that distribution before sampling:
$p_i \\propto \\exp(z_i / T)$ for logits $z_i$. $T < 1$ makes likely tokens even
more likely; $T > 1$ flattens the distribution; $T \\to 0$ gives greedy decoding
(the library accepts `temperature=0` and means exactly that).
""")

code("""
# NBVAL_CHECK_OUTPUT
z = torch.tensor([[2.0, 1.0, 0.5, 0.0, -1.0]])
for T in (0.5, 1.0, 2.0):
    by_hand = torch.softmax(z / T, dim=-1)
    torch.testing.assert_close(by_hand, torch.softmax(apply_temperature(z, T), dim=-1))
    print(f"T={T}: " + " ".join(f"{p:.3f}" for p in by_hand[0].tolist()))
""")

code("""
# NBVAL_CHECK_OUTPUT
probs = torch.softmax(logits, dim=-1)[0]
top = probs.argsort(descending=True)[:12]
fig, axes = plt.subplots(1, 3, figsize=(9, 2.6), sharey=True)
for ax, T in zip(axes, (0.5, 1.0, 2.0)):
    p = torch.softmax(logits / T, dim=-1)[0]
    ax.bar(range(12), p[top].numpy())
    ax.set_xticks(range(12), [repr(chars.chars[i])[1:-1] for i in top.tolist()], fontsize=7)
    ax.set_title(f"T = {T}")
axes[0].set_ylabel("p(next character)")
plt.tight_layout(); plt.show()
print("12 most likely next characters after the prompt")
""")

md("""
## Top-k and top-p

Even a good model gives a little probability to many bad tokens. Together
these bad tokens can be likely enough that sampling picks one every few
steps, and one bad token can derail the text. Two filters cut the tail:

* **top-k** {cite}`fan2018hierarchical` keeps the $k$ most likely tokens;
* **top-p** or **nucleus sampling** {cite}`holtzman2020curious` keeps the
  smallest set of most likely tokens whose probabilities add up to at least
  $p$. When the model is sure, the set is small; when it is unsure, it is large.

Removed tokens get logit $-\\infty$ (probability 0). We write both by hand
and compare with the library.
""")

code("""
# NBVAL_CHECK_OUTPUT
def top_k_by_hand(z, k):
    kth_largest = z.sort(dim=-1, descending=True).values[:, k - 1:k]
    return torch.where(z < kth_largest, float("-inf"), z)

def top_p_by_hand(z, p):
    sorted_z, order = z.sort(dim=-1, descending=True)
    sorted_p = torch.softmax(sorted_z, dim=-1)
    mass_before = sorted_p.cumsum(dim=-1) - sorted_p      # probability of the tokens ranked above
    keep_sorted = mass_before < p                          # the top token is always kept
    keep = torch.zeros_like(keep_sorted).scatter(1, order, keep_sorted)
    return torch.where(keep, z, float("-inf"))

assert torch.equal(top_k_by_hand(logits, 5), top_k_filter(logits, 5))
for p in (0.5, 0.9, 0.99):
    assert torch.equal(top_p_by_hand(logits, p), top_p_filter(logits, p))
print("by hand == library")
""")

code("""
# NBVAL_IGNORE_OUTPUT: depends on training length
for p in (0.5, 0.9, 0.99):
    kept = top_p_filter(logits, p).isfinite().sum().item()
    print(f"top-p {p}: keeps {kept} of {chars.vocab_size} characters after the prompt")
""")

md("""
## Repetition penalty

The **repetition penalty** of CTRL {cite}`keskar2019ctrl` makes every token that
already occurs in the text less likely. CTRL divides its logit by
$\\theta > 1$. That would make a *negative* logit larger, so common
implementations (Hugging Face's, and ours) divide a positive logit by
$\\theta$ and multiply a negative one by $\\theta$.
""")

code("""
# NBVAL_CHECK_OUTPUT
def repetition_penalty_by_hand(z, previous, theta):
    z = z.clone()
    for token in set(previous[0].tolist()):
        z[0, token] = z[0, token] / theta if z[0, token] > 0 else z[0, token] * theta
    return z

torch.testing.assert_close(repetition_penalty_by_hand(logits, prompt, 1.3),
                           apply_repetition_penalty(logits, prompt, 1.3))
print("by hand == library")
""")

md("""
## Beam search

Greedy decoding picks the best *next* token, not the best *sequence*. **Beam
search** keeps the `beam_width` most likely prefixes at every step and extends
each of them by every token. It usually finds sequences with a higher total
log-probability (not always: the greedy prefix can fall out of the beam). We
use the generic beam search of the Transformer chapter: it
only needs a function from prefixes to next-token log-probabilities, which
`GPT.next_log_probs_fn` provides.
""")

code("""
# NBVAL_CHECK_OUTPUT
n_new = 40
greedy = model.generate(prompt, n_new, temperature=0)
beams = beam_search(model.next_log_probs_fn(), prompt[0], beam_width=4, max_new_tokens=n_new)
greedy_lp = model.sequence_log_prob(greedy, start=prompt.shape[1]).item()
print("beam search found a sequence at least as likely as greedy:", beams[0].log_prob >= greedy_lp - 1e-4)
""")

code("""
# NBVAL_IGNORE_OUTPUT: depends on training length
print(f"log-probability of the greedy text: {greedy_lp:8.2f}")
print(f"log-probability of the best beam:   {beams[0].log_prob:8.2f}")
print("greedy:", repr(chars.decode(greedy[0, prompt.shape[1]:].tolist())))
print("beam 4:", repr(chars.decode(beams[0].tokens)))
""")

md("""
For open-ended text, the most likely sequence is not what people want to read:
it is short on surprise and often repeats {cite}`holtzman2020curious`. Beam
search shines when there is one right answer (translation, in the
Transformer chapter), not for stories.

## Diversity against likelihood

We now measure two things for 16 samples of 100 characters from the same
prompt:

* **diversity**, with **distinct-n** {cite}`li2016diversity`: the number of different n-grams
  (here runs of $n = 4$ characters) divided by the number of n-grams. 1 means
  nothing repeats.
* **likelihood**: the mean log-probability per character of the sample under
  the model. Higher means "more typical" text for the model.
""")

code("""
# NBVAL_CHECK_OUTPUT
print(distinct_n([[1, 2, 3, 1, 2, 3]], 3), "= 3 distinct trigrams out of 4")
""")

code("""
n_samples, length = aigc_lib.budget(16, smoke=2), aigc_lib.budget(100, smoke=20)  # prompt + length <= block_size
prompts = prompt.expand(n_samples, -1)
start = prompt.shape[1]

def measure(sampling: SamplingConfig) -> tuple[float, float]:
    out = model.generate(prompts, length, sampling=sampling, generator=torch.Generator().manual_seed(0))
    lp = model.sequence_log_prob(out, start=start) / length
    return distinct_n(out[:, start:], 4), lp.mean().item()

settings = {
    "temperature": [(T, SamplingConfig(temperature=T)) for T in (0.0, 0.3, 0.6, 0.8, 1.0, 1.2, 1.5)],
    "top-k (T=1)": [(k, SamplingConfig(top_k=k)) for k in (1, 2, 5, 10, 20, 65)],
    "top-p (T=1)": [(p, SamplingConfig(top_p=p)) for p in (0.1, 0.5, 0.7, 0.9, 0.95, 1.0)],
    "rep. penalty (T=0)": [(r, SamplingConfig(temperature=0, repetition_penalty=r)) for r in (1.0, 1.1, 1.3, 1.6)],
}
results = {name: [(v, *measure(s)) for v, s in grid] for name, grid in settings.items()}
""")

code("""
# NBVAL_IGNORE_OUTPUT: depends on training length
fig, ax = plt.subplots(figsize=(6, 3.6))
for name, rows in results.items():
    ax.plot([r[1] for r in rows], [r[2] for r in rows], "o-", label=name, ms=4)
    for v, d, lp in rows[:: max(1, len(rows) // 3)]:
        ax.annotate(f"{v:g}", (d, lp), fontsize=7, xytext=(3, 3), textcoords="offset points")
ax.set_xlabel("distinct-4 (diversity)"); ax.set_ylabel("mean log p per character")
ax.legend(fontsize=8); ax.set_title("Each decoding knob trades likelihood for diversity")
plt.show()
for name, rows in results.items():
    print(name, " ".join(f"{v:g}:{d:.2f}/{lp:.2f}" for v, d, lp in rows))
""")

md("""
Every knob moves along the same trade-off. Low temperature, small $k$ or
small $p$ give likely but repetitive text (low distinct-4); high temperature
gives diverse text the model itself finds unlikely, full of invented words.
Top-k and top-p cut the tail. In our run, at the same diversity (distinct-4
near 0.77), top-p ($p = 0.9$) kept the highest likelihood, then top-k
($k = 10$), then plain sampling at a lower temperature ($T = 0.8$).

The repetition penalty hardly helps here: greedy text stays a loop. With
characters as tokens, almost every common character already occurs in the
text, so the penalty lowers nearly all logits alike and changes little. It was
designed for word-level tokens, where a repeated word really is a repetition.
A common default for word-level models is top-p 0.9 to 0.95 with a temperature
near 0.8.

## The KV cache

To generate token $t+1$ without a cache, the model reads the whole sequence
again: $t$ tokens through every layer. Most of this work is repeated. In
causal attention, the keys and values of the earlier tokens do not change when
a new token arrives. A **KV cache** keeps them: each step then feeds **only
the new token**, computes its query, key and value, appends the key and value
to the cache and attends to everything in it.

Step by step on one attention layer: attention over the full sequence must
equal attention computed one token at a time with a cache.
""")

code("""
# NBVAL_CHECK_OUTPUT
torch.manual_seed(0)
attn = MultiHeadAttention(d_model=32, n_heads=4).eval()
seq = torch.randn(1, 10, 32)                           # (B, T, C)
full, _ = attn(seq, is_causal=True)
cache = KVCache()
steps = []
for t in range(10):
    out_t, _ = attn(seq[:, t:t + 1], is_causal=True, cache=cache)   # one new token
    steps.append(out_t)
torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-6, rtol=1e-5)
print("cached keys:", tuple(cache.k.shape), "(B, H, T, d_head); one token at a time == full sequence")
""")

md("""
`GPT.generate` keeps one cache per layer. It gives **exactly** the same
tokens as generation without the cache (a test in the library checks this for
greedy decoding and for sampling with every filter):
""")

code("""
# NBVAL_CHECK_OUTPUT
for sampling in (SamplingConfig(temperature=0), SamplingConfig(temperature=0.8, top_p=0.9)):
    a = model.generate(prompt, 100, sampling=sampling, use_cache=True, generator=torch.Generator().manual_seed(1))
    b = model.generate(prompt, 100, sampling=sampling, use_cache=False, generator=torch.Generator().manual_seed(1))
    print(sampling, "same tokens:", torch.equal(a, b))
""")

md("""
**Speed-up.** Without the cache, step $t$ passes all $t$ tokens through the
layers, so generating $n$ tokens passes about $n^2/2$ tokens through them (and
attention, which compares every pair of tokens, costs even more). With the
cache each step passes one token: about $n$ in all. Attention over the cached
keys still grows with $t$, but in a small model it is a minor part of the
work. We time a wider
model (4 layers, width 256, context 512, random weights: speed does not depend on what the
weights are) for several lengths.
""")

code("""
# NBVAL_IGNORE_OUTPUT: timing
torch.manual_seed(0)
big = GPT(GPTConfig(vocab_size=65, block_size=512, n_layer=4, n_head=4, n_embd=256)).eval()
lengths = [aigc_lib.budget(n, smoke=8) for n in (32, 64, 128, 256, 384)]
lengths = sorted(set(lengths))
timings = {True: [], False: []}
start_ids = torch.zeros(1, 1, dtype=torch.long)
for n in lengths:
    for use_cache in (True, False):
        t0 = time.perf_counter()
        big.generate(start_ids, n, temperature=0, use_cache=use_cache)
        timings[use_cache].append(time.perf_counter() - t0)
fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(lengths, timings[False], "o-", label="no cache")
ax.plot(lengths, timings[True], "o-", label="KV cache")
ax.set_xlabel("generated tokens"); ax.set_ylabel("seconds"); ax.legend()
plt.show()
for n, a, b in zip(lengths, timings[True], timings[False]):
    print(f"{n:4d} tokens: {b:6.2f} s without, {a:5.2f} s with the cache, speed-up {b / a:4.1f}x")
""")

md("""
The speed-up grows with the length. The cache costs memory: two tensors of
$B \\times H \\times T \\times d_{head}$ numbers per layer (for a model of
GPT-2-124M's shape, $12 \\times 2 \\times 768$ numbers, 72 KiB in float32, per
token). `GPT.generate` allocates room for the whole run once
(`KVCache(capacity=...)`) and writes each new key and value in place, instead
of copying the whole cache into a larger tensor at every step.

**Why the speed-up is not larger.** A cached step does little arithmetic: one
token through every layer, about 124 million multiply-adds for GPT-2-124M,
roughly 1 ms at the speed the course machine's two cores reach on long
sequences. But the step must still read every weight from memory: about
500 MB of float32 numbers per token. The step is **memory-bound**: its speed
is set by how fast the weights stream from memory, not by the arithmetic. A
step without the cache reads the same weights once, and the extra arithmetic
for a few dozen tokens costs little more. So the cache gains little while the
sequence is short and much once it is long.

A memory-bound step is only as fast as its memory reads. Each linear layer
multiplies one row (the new token) by a weight matrix, a **matrix-vector
product**. On the course machine, PyTorch's float32 matrix product runs such a
one-row product on one core, however many threads it may use: it reads the
weights at about 16 GB/s, while both cores together can read memory two or
more times as fast. `aigc_lib.linear.Linear` (the linear layer of the
library's attention, Transformer and GPT) is `nn.Linear` with one change. When
the input has at most 64 rows and lives on the CPU, the weight is large
(at least 2 MiB) and more than one thread may run, it cuts the weight's output
rows into one block per thread and multiplies all blocks in one batched
product (`torch.baddbmm`), one block per thread. Each output is still the same
dot product, so the result equals `F.linear`'s up to float rounding (a test
checks it). Here is the effect on one row through a matrix of the shape of
GPT-2's output layer (154 MB). With a single thread there is nothing to split,
and both lines show the same speed.
"""
)

code("""
# NBVAL_IGNORE_OUTPUT: timing
from aigc_lib.linear import Linear

torch.manual_seed(0)
head = Linear(768, 50257, bias=False)              # (out, in) = (50257, 768): 154 MB of float32
row = torch.randn(1, 768)                          # one token
megabytes = head.weight.numel() * 4 / 1e6

def best_ms(fn, repeats=10):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * min(times)

with torch.no_grad():
    torch.testing.assert_close(head(row), F.linear(row, head.weight), atol=1e-4, rtol=1e-5)
    plain = best_ms(lambda: F.linear(row, head.weight))
    split = best_ms(lambda: head(row))
print(f"threads: {torch.get_num_threads()}; one row through {megabytes:.0f} MB of weights:")
print(f"  F.linear:         {plain:5.1f} ms = {megabytes / plain:4.1f} GB/s")
print(f"  aigc_lib Linear:  {split:5.1f} ms = {megabytes / split:4.1f} GB/s")
""")

md("""
The benchmark (`python -m benchmarks.gpt_cpu`, results in `benchmarks/README.md`)
measures whole generation runs for a model of GPT-2-124M's shape with random
weights, 200 new tokens after a 1-token prompt, on the course machine: about
48 tokens per second with the cache and 7 without, a speed-up of 6 to 7 times
(about 4.5 times when every layer is a plain `F.linear`). The speed-up grows
with the length of the prompt, to about 11 times after a 100-token prompt
(without the cache, every step then reads at least 100 tokens). The speed-up is a ratio of two kernels' efficiencies, not a
property of the cache alone: a faster kernel for the long, compute-bound path
(without the cache) lowers it.

## A sampling playground

Move the sliders to see how temperature, top-k and top-p reshape the
distribution of the next character, and what text comes out. (The widget needs
a running notebook; the still figure below shows one setting.)
""")

code("""
import ipywidgets as widgets

def playground(prompt_text="ROMEO:\\n", temperature=0.8, top_k=65, top_p=0.95, seed=0):
    ids = torch.tensor([chars.encode(prompt_text or "\\n")[-config.block_size:]])
    cfg = SamplingConfig(temperature=temperature, top_k=top_k, top_p=top_p)
    with torch.no_grad():
        z = model(ids)[:, -1]
    if temperature > 0:
        z = top_p_filter(top_k_filter(apply_temperature(z, temperature), top_k), top_p)
    p = torch.softmax(z, dim=-1)[0] if temperature > 0 else F.one_hot(z.argmax(-1), z.shape[-1])[0].float()
    top = p.argsort(descending=True)[:15]
    fig, ax = plt.subplots(figsize=(6, 2.2))
    ax.bar(range(15), p[top].numpy())
    ax.set_xticks(range(15), [repr(chars.chars[i])[1:-1] for i in top.tolist()], fontsize=8)
    ax.set_ylabel("p(next)"); ax.set_title(f"T={temperature}, top-k={top_k}, top-p={top_p}")
    plt.show()
    out = model.generate(ids, 150, sampling=cfg, generator=torch.Generator().manual_seed(seed))
    print(chars.decode(out[0].tolist()))

interactive_playground = widgets.interactive(
    playground,
    prompt_text=widgets.Text(value="ROMEO:\\n", description="prompt"),
    temperature=widgets.FloatSlider(value=0.8, min=0.0, max=2.0, step=0.1),
    top_k=widgets.IntSlider(value=65, min=1, max=65),
    top_p=widgets.FloatSlider(value=0.95, min=0.05, max=1.0, step=0.05),
    seed=widgets.IntSlider(value=0, min=0, max=20),
)
interactive_playground
""")

md("The same view as a still figure, at temperature 1.2 with top-k 10 and top-p 0.9:")

code("""
# NBVAL_IGNORE_OUTPUT: depends on training length
playground("ROMEO:\\n", temperature=1.2, top_k=10, top_p=0.9)
""")

md("""
## Clear errors

Settings that make no sense raise an error that says what was expected.
""")

code("""
model.generate(prompt, 10, top_p=0.0)
""", raises=True)

code("""
model.generate(prompt, 10, temperature=-1.0)
""", raises=True)

md("""
## Summary

* Greedy decoding and beam search look for likely text; they are deterministic and repeat themselves.
* Temperature, top-k and top-p trade likelihood for diversity; top-k and top-p
  cut the unreliable tail of the distribution. The repetition penalty lowers the
  logits of tokens already used; with characters as tokens it changes little.
* A KV cache makes each generation step process one token instead of the whole
  sequence, with exactly the same output, and a speed-up that grows with the length.

## Exercises

1. Sample 100 continuations at temperature 0.05 and count how many equal the greedy one. What happens
   as the temperature goes to 0?
2. Write a **min-p** filter: keep the tokens whose probability is at least $p_\text{min}$ times the
   largest probability. Compare it with top-p on the diversity–likelihood plot of this chapter.
3. How much memory does the KV cache of a GPT-2-124M-shaped model need for a batch of 8 sequences of
   1,024 tokens in float32? (Count $2 \times$ layers $\times B \times T \times$ width numbers.)
4. Time `generate` with and without the cache for a 1-token and for a 200-token prompt (same number of new
   tokens). Explain the difference with the memory-bound argument of the KV-cache section.
5. Run beam search with widths 1, 2, 4 and 8 on one prompt and plot the log-probability of the best beam
   against the width. Is the best sequence of width 8 also the most interesting text?
""")

write_notebook("05_decoding.ipynb")
