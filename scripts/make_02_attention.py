"""Write book/02_attention.ipynb (without outputs). Run it, then execute the notebook:

    .venv/bin/python scripts/make_02_attention.py
    make run-notebook NB=book/02_attention.ipynb
"""
from nbbuild import code, md, write_notebook


md(r"""
# Attention

A sequence model must decide, for each position, which other positions matter. **Attention** answers this
with a weighted average: each position looks at all the others, gives each one a weight, and mixes their
information with these weights. Bahdanau et al. introduced it for translation {cite}`bahdanau2015neural`;
the Transformer {cite}`vaswani2017attention` builds everything on it.

In this chapter we

1. turn a lookup table into *soft* attention with queries, keys and values;
2. write a numerically stable softmax;
3. see why scaled dot-product attention divides by $\sqrt{d_k}$;
4. work one small example by hand;
5. add masks (padding and causal), and handle a row where everything is masked;
6. build multi-head attention and look at its heads on a real sentence;
7. measure the cost, which grows with the square of the sequence length.

Every step is checked against `aigc_lib.attention` and against PyTorch's own implementation.
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
from aigc_lib.attention import (MultiHeadAttention, causal_mask, padding_mask,
                                scaled_dot_product_attention)
from aigc_lib.plotting import heatmap

device = aigc_lib.setup_notebook(seed=0)
""")

# --------------------------------------------------------------------------- lookup
md(r"""
## From a lookup table to soft attention

A Python dictionary maps **keys** to **values**. A **query** either equals one key exactly and gets its
value, or it fails.
""")

code("""
# NBVAL_CHECK_OUTPUT
table = {"cat": 1.0, "dog": 2.0, "car": 10.0}
print(table["dog"])
print("kitten" in table)
""")

md(r"""
Soft attention replaces "equal or not" by a **similarity score** between the query and every key. It turns
the scores into **weights** that are positive and sum to 1 (with the softmax), and returns the weighted
average of the values. A query close to one key gets mostly that key's value.

Here keys and the query are vectors. The similarity is the **dot product** $q \cdot k$: large when the
two vectors point the same way.
""")

code("""
# NBVAL_CHECK_OUTPUT
keys = torch.tensor([[1.0, 0.0],     # "cat"
                     [0.8, 0.6],     # "dog"
                     [0.0, 1.0]])    # "car"
values = torch.tensor([1.0, 2.0, 10.0])
query = torch.tensor([1.0, -0.2])    # a "kitten": close to "cat", a bit like "dog"

scores = keys @ query                 # one dot product per key
weights = torch.softmax(4 * scores, dim=0)
print("scores :", [round(s, 3) for s in scores.tolist()])
print("weights:", [round(w, 3) for w in weights.tolist()], "sum =", round(weights.sum().item(), 6))
print("answer :", round((weights @ values).item(), 3))
""")

md(r"""
The answer is a blend, pulled towards the value of the closest key. Because every step is smooth, a network
can learn the keys, values and queries by gradient descent. (The factor 4 sharpens the weights. Scaled dot-product attention, below, uses
the fixed factor $1/\sqrt{d_k}$ instead; how sharp the weights are is then learned through the sizes of the
queries and keys.)
""")

# --------------------------------------------------------------------------- softmax
md(r"""
## A numerically stable softmax

The **softmax** turns scores $s_1, \dots, s_n$ into weights $w_i = e^{s_i} / \sum_j e^{s_j}$. Written this
way it breaks for large scores: $e^{1000}$ does not fit in a float and becomes infinity, and
$\infty / \infty$ is NaN ("not a number").

The fix uses one identity: subtracting the same number $m$ from every score does not change the weights,
because $e^{s_i - m} / \sum_j e^{s_j - m} = e^{s_i} / \sum_j e^{s_j}$. With $m = \max_j s_j$ the largest
exponent is $e^0 = 1$, so nothing overflows.
""")

code("""
# NBVAL_CHECK_OUTPUT
def naive_softmax(s):
    e = torch.exp(s)
    return e / e.sum(dim=-1, keepdim=True)


def stable_softmax(s):
    e = torch.exp(s - s.max(dim=-1, keepdim=True).values)
    return e / e.sum(dim=-1, keepdim=True)


s = torch.tensor([1000.0, 1001.0, 1002.0])
print("naive :", naive_softmax(s))
print("stable:", stable_softmax(s))
torch.testing.assert_close(stable_softmax(s), torch.softmax(s, dim=-1))
torch.testing.assert_close(stable_softmax(s), naive_softmax(s - 1000))   # the identity above
print("stable softmax == torch.softmax")
""")

# --------------------------------------------------------------------------- scaling
md(r"""
## Scaled dot-product attention

With many queries at once we stack them as rows of a matrix $Q$ (shape $T_q \times d_k$), the keys as rows
of $K$ ($T_k \times d_k$) and the values as rows of $V$ ($T_k \times d_v$). **Scaled dot-product
attention** {cite}`vaswani2017attention` is

$$
\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\left(\frac{Q K^\top}{\sqrt{d_k}}\right) V ,
$$

where the softmax acts on each row. Row $i$ of the weight matrix says how much query $i$ takes from each
value.

**Why divide by $\sqrt{d_k}$?** If the entries of $q$ and $k$ are independent with mean 0 and variance 1,
then $q \cdot k = \sum_{i=1}^{d_k} q_i k_i$ is a sum of $d_k$ terms of variance 1, so its variance is
$d_k$. Wide vectors give large scores, and a softmax of large scores puts almost all the weight on one
key (it *saturates*). Its gradient then nearly vanishes. Dividing by $\sqrt{d_k}$ brings the variance back
to 1 for every width. Let us measure both effects.
""")

code("""
# NBVAL_IGNORE_OUTPUT: a plot of random samples
widths = [4, 16, 64, 256, 1024]
n = aigc_lib.budget(4000, smoke=500)
raw_var, scaled_var, raw_max, scaled_max = [], [], [], []
for d_k in widths:
    q, k = torch.randn(n, 8, d_k), torch.randn(n, 8, d_k)
    s = (q * k).sum(-1)                       # n rows of 8 scores
    raw_var.append(s.var().item())
    scaled_var.append((s / math.sqrt(d_k)).var().item())
    raw_max.append(torch.softmax(s, -1).max(-1).values.mean().item())
    scaled_max.append(torch.softmax(s / math.sqrt(d_k), -1).max(-1).values.mean().item())

fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.2))
a1.loglog(widths, raw_var, "o-", label="q·k")
a1.loglog(widths, scaled_var, "o-", label="q·k / sqrt(d_k)")
a1.loglog(widths, widths, "k:", label="d_k")
a1.set(xlabel="d_k", ylabel="variance of the score", title="Score variance grows like d_k")
a1.legend()
a2.semilogx(widths, raw_max, "o-", label="softmax(q·k)")
a2.semilogx(widths, scaled_max, "o-", label="softmax(q·k / sqrt(d_k))")
a2.set(xlabel="d_k", ylabel="largest weight (8 keys)", title="Unscaled softmax saturates", ylim=(0, 1.05))
a2.legend()
plt.tight_layout()
plt.show()
""")

code("""
# NBVAL_CHECK_OUTPUT
# The claim in numbers: Var(q·k) is close to d_k, and close to 1 after scaling.
for d_k, rv, sv in zip(widths, raw_var, scaled_var):
    assert abs(rv / d_k - 1) < 0.15 and abs(sv - 1) < 0.15, (d_k, rv, sv)
print("Var(q·k) ≈ d_k and Var(q·k/sqrt(d_k)) ≈ 1 for d_k in", widths)
""")

md(r"""
With 8 keys, the unscaled softmax of 1024-wide vectors gives almost all weight to one key; the scaled one
stays soft for every width.
""")

# --------------------------------------------------------------------------- worked example
md(r"""
## A worked example by hand

Three tokens, each with a 2-number query, key and value. We compute every step of the formula and print
it. Each row of weights must sum to 1.
""")

code("""
# NBVAL_CHECK_OUTPUT
Q = torch.tensor([[1.0, 0.0],
                  [0.0, 1.0],
                  [1.0, 1.0]])
K = torch.tensor([[1.0, 0.0],
                  [0.0, 2.0],
                  [1.0, 1.0]])
V = torch.tensor([[1.0, 0.0],
                  [0.0, 1.0],
                  [5.0, 5.0]])
d_k = Q.shape[-1]
S = Q @ K.T / math.sqrt(d_k)          # scores (3, 3)
W = stable_softmax(S)                 # weights (3, 3)
out = W @ V                           # outputs (3, 2)
torch.set_printoptions(precision=4)
print("scores / sqrt(2):\\n", S)
print("weights:\\n", W)
print("row sums:", W.sum(dim=1))
print("output:\\n", out)
""")

md(r"""
The second query ($[0, 1]$) matches the second key ($[0, 2]$) best, so its largest weight is on the second
value. The third query ($[1, 1]$) gets most from the second and third keys. Now the same numbers from `aigc_lib` and from PyTorch's
`F.scaled_dot_product_attention`:
""")

code("""
# NBVAL_CHECK_OUTPUT
lib_out, lib_w = scaled_dot_product_attention(Q, K, V)
torch.testing.assert_close(lib_w, W)
torch.testing.assert_close(lib_out, out)
torch.testing.assert_close(F.scaled_dot_product_attention(Q, K, V), out)
print("hand == aigc_lib == torch: OK")
""")

md(r"""
On random shapes, with and without a random mask (the next section explains masks), the library agrees
with PyTorch to float32 precision:
""")

code("""
# NBVAL_CHECK_OUTPUT
g = torch.Generator().manual_seed(0)
for trial in range(20):
    b, t_q, t_k, d, dv = torch.randint(1, 9, (5,), generator=g).tolist()
    q, k, v = torch.randn(b, t_q, d, generator=g), torch.randn(b, t_k, d, generator=g), torch.randn(b, t_k, dv, generator=g)
    m = torch.rand(b, t_q, t_k, generator=g) < 0.5
    m[..., 0] = True                                  # keep one key per row
    torch.testing.assert_close(scaled_dot_product_attention(q, k, v)[0], F.scaled_dot_product_attention(q, k, v))
    torch.testing.assert_close(scaled_dot_product_attention(q, k, v, mask=m)[0],
                               F.scaled_dot_product_attention(q, k, v, attn_mask=m))
print("20 random shapes: aigc_lib == F.scaled_dot_product_attention (with and without masks)")
""")

# --------------------------------------------------------------------------- masks
md(r"""
## Masks

A **mask** is a boolean tensor that broadcasts to the shape $T_q \times T_k$ of the scores (a padding mask
has shape $(B, 1, T_k)$: the same row for every query); `True` means "query $i$ may attend to key $j$".
Before the softmax, blocked scores are set to $-\infty$, so their weights become exactly 0.

* A **padding mask** hides padding. Sentences in a batch have different lengths, so the short ones are
  filled with a padding token up to the longest one. No query should attend to padding.
* A **causal mask** hides the future: query $i$ may only attend to keys $0, \dots, i$. A model that
  predicts the next token must not see it.
""")

code("""
# NBVAL_CHECK_OUTPUT
pad = padding_mask(torch.tensor([4, 2]), max_len=5)    # two sentences of length 4 and 2, padded to 5
print("padding mask (B, 1, T_k):\\n", pad.int())
print("causal mask (T, T):\\n", causal_mask(5).int())
""")

code("""
# NBVAL_IGNORE_OUTPUT: a plot
x = torch.randn(1, 5, 8)
_, w_pad = scaled_dot_product_attention(x, x, x, mask=pad[1:])
_, w_causal = scaled_dot_product_attention(x, x, x, mask=causal_mask(5))
fig, axes = plt.subplots(1, 2, figsize=(8, 3))
tok = ["t0", "t1", "t2", "t3", "t4"]
heatmap(w_pad[0], tok, tok, ax=axes[0], title="padding (length 2)", annotate=True, vmin=0, vmax=1)
heatmap(w_causal[0], tok, tok, ax=axes[1], title="causal", annotate=True, vmin=0, vmax=1)
for a in axes:
    a.set_xlabel("key"); a.set_ylabel("query")
plt.tight_layout()
plt.show()
""")

md(r"""
**A fully masked row.** Sometimes a query may attend to nothing. For example, if a sentence is
padded on the left and its padding mask is combined with a causal mask, the first query may only look at
key 0, which is padding. Then every score of its row is $-\infty$, and the softmax computes
$0/0$: NaN. One NaN spreads through every later layer and the loss. `aigc_lib` defines the answer instead:
**a fully masked row gets zero weights and a zero output**, with zero gradients.
""")

code("""
# NBVAL_CHECK_OUTPUT
torch.manual_seed(0)
q, k, v = torch.randn(2, 4), torch.randn(3, 4), torch.randn(3, 4)
m = torch.tensor([[True, True, False],
                  [False, False, False]])             # query 1 may attend to nothing
naive_scores = (q @ k.T / 2).masked_fill(~m, float("-inf"))
print("naive weights:\\n", torch.softmax(naive_scores, dim=-1))
out, w = scaled_dot_product_attention(q, k, v, mask=m)
print("aigc_lib weights:\\n", w)
print("aigc_lib output row 1:", out[1])
""")

md(r"""
A mask whose shape cannot be broadcast to the scores is an error with a clear message (so are keys and
values of different lengths):
""")

code("""
scaled_dot_product_attention(torch.randn(2, 3, 4), torch.randn(2, 5, 4), torch.randn(2, 5, 4),
                             mask=torch.ones(3, 4, dtype=torch.bool))
""", raises=True)

md(r"""
**Self-attention and cross-attention.** In *self-attention* the queries, keys and values all come from the
same sequence: each token looks at the other tokens of its own sentence. In *cross-attention* the queries
come from one sequence and the keys and values from another: in translation, each word of the output looks
at the words of the input {cite}`bahdanau2015neural`. The formula is the same; only $T_q$ and $T_k$ may
differ.
""")

code("""
# NBVAL_CHECK_OUTPUT
target, source = torch.randn(1, 3, 8), torch.randn(1, 7, 8)
out_self, w_self = scaled_dot_product_attention(target, target, target)
out_cross, w_cross = scaled_dot_product_attention(target, source, source)
print("self-attention weights :", tuple(w_self.shape), " output:", tuple(out_self.shape))
print("cross-attention weights:", tuple(w_cross.shape), " output:", tuple(out_cross.shape))
""")

# --------------------------------------------------------------------------- multi-head
md(r"""
## Multi-head attention

In a network, queries, keys and values are *learned* linear maps of the token vectors $x$ (width
$d_\text{model}$): $Q = x W_Q$, $K = x W_K$, $V = x W_V$. One attention gives each query one set of weights.
But a word may need several kinds of context at once: the previous word, the subject of the sentence, a
matching bracket. **Multi-head attention** {cite}`vaswani2017attention` runs $H$ attentions (*heads*) side
by side, each in its own $d_\text{model}/H$-wide slice:

1. project $x$ to $Q, K, V$ with **one fused** matrix of shape $d_\text{model} \times 3d_\text{model}$
   (one large matrix product is faster than three small ones);
2. **split** each into $H$ heads: $(B, T, C) \to (B, H, T, C/H)$;
3. attend in every head at once;
4. **merge** the heads back to $(B, T, C)$ and mix them with an **output projection** $W_O$.

Here it is by hand, on the weights of an `aigc_lib.attention.MultiHeadAttention`:
""")

code("""
# NBVAL_CHECK_OUTPUT
torch.manual_seed(0)
B, T, C, H = 2, 5, 16, 4
mha = MultiHeadAttention(d_model=C, n_heads=H).eval()
x = torch.randn(B, T, C)

qkv = x @ mha.qkv.weight.T + mha.qkv.bias                 # 1. fused projection (B, T, 3C)
q, k, v = qkv.split(C, dim=-1)
split = lambda t: t.view(B, T, H, C // H).transpose(1, 2)  # 2. (B, T, C) -> (B, H, T, C/H)
q, k, v = split(q), split(k), split(v)
heads, w = scaled_dot_product_attention(q, k, v)          # 3. all heads at once
merged = heads.transpose(1, 2).reshape(B, T, C)            # 4. merge ...
by_hand = merged @ mha.out_proj.weight.T + mha.out_proj.bias  # ... and mix

lib, lib_w = mha(x, need_weights=True)
torch.testing.assert_close(by_hand, lib)
torch.testing.assert_close(w, lib_w)
print("per-head weights:", tuple(lib_w.shape), "(B, H, T_q, T_k)")
print("by hand == aigc_lib MultiHeadAttention")
""")

md(r"""
PyTorch has its own `torch.nn.MultiheadAttention`. Its `in_proj_weight` stacks $W_Q, W_K, W_V$ in the
same order as our fused `qkv` layer. After copying the weights across, both layers give the same outputs
and the same per-head weights, on random shapes, with a padding mask and with a causal mask. (The boolean
masks of `nn.MultiheadAttention` mean the opposite of ours: `True` = blocked, hence the `~`.
`F.scaled_dot_product_attention` follows our convention.) Our fast path, which calls
`F.scaled_dot_product_attention` (a fused "flash" kernel on GPUs), agrees too.
""")

code("""
# NBVAL_CHECK_OUTPUT
g = torch.Generator().manual_seed(1)
for trial in range(10):
    H = int(torch.randint(1, 5, (1,), generator=g))
    C = H * 2 * int(torch.randint(1, 5, (1,), generator=g))
    B, T = (int(n) for n in torch.randint(1, 6, (2,), generator=g))
    ours = MultiHeadAttention(C, H).eval()
    ref = nn.MultiheadAttention(C, H, batch_first=True).eval()
    with torch.no_grad():
        ref.in_proj_weight.copy_(ours.qkv.weight)
        ref.in_proj_bias.copy_(ours.qkv.bias)
        ref.out_proj.load_state_dict(ours.out_proj.state_dict())
    x = torch.randn(B, T, C, generator=g)
    pad = padding_mask(torch.randint(1, T + 1, (B,), generator=g), max_len=T)
    torch.testing.assert_close(ours(x, mask=pad)[0], ref(x, x, x, key_padding_mask=~pad[:, 0])[0])
    out, w = ours(x, is_causal=True, need_weights=True)                       # readable path
    ref_out, ref_w = ref(x, x, x, attn_mask=~causal_mask(T), average_attn_weights=False)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(w, ref_w)
    torch.testing.assert_close(ours(x, is_causal=True)[0], out)              # fast path
print("10 random shapes: aigc_lib MultiHeadAttention == torch.nn.MultiheadAttention")
""")

md(r"""
Each head has width $d_\text{model}/H$, so $H$ must divide $d_\text{model}$:
""")

code("""
MultiHeadAttention(d_model=10, n_heads=4)
""", raises=True)

# --------------------------------------------------------------------------- heads on a sentence
md(r"""
## The heads on a real sentence

Random weights give random heads. To see what heads *learn*, we train a very small model: characters of
Tiny Shakespeare {cite}`karpathy2015charrnn` go through an embedding, learned position vectors, **one**
Transformer block with 4-head causal self-attention (the block is the subject of the next chapter), and a
layer that predicts the next character. The training goes through `aigc_lib.Trainer` with a small `Task`.
""")

code("""
from aigc_lib.data import RandomWindows, load_tiny_shakespeare
from aigc_lib.tokenizers import CharTokenizer
from aigc_lib.transformer import BlockConfig, TransformerBlock

text = load_tiny_shakespeare()
tok = CharTokenizer(text)
data = torch.tensor(tok.encode(text))
n_val = len(data) // 10
train_windows = RandomWindows(data[:-n_val], block_size=64, batch_size=32, seed=0)
val_windows = RandomWindows(data[-n_val:], block_size=64, batch_size=32, seed=1, num_batches=5)


class TinyAttentionLM(aigc_lib.Task):
    \"\"\"Embedding + positions + one causal Transformer block + next-character prediction.\"\"\"

    def __init__(self, vocab, d_model=64, n_heads=4, max_len=64):
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model)
        self.pos = nn.Embedding(max_len, d_model)
        self.block = TransformerBlock(BlockConfig(d_model, n_heads))
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab)

    def forward_logits(self, idx, need_weights=False):
        x = self.embed(idx) + self.pos(torch.arange(idx.shape[1], device=idx.device))
        x = self.block(x, is_causal=True, need_weights=need_weights)
        return self.head(self.norm(x))

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=3e-3)

    def training_loss(self, batch, optimizer_name="main"):
        x, y = batch
        return F.cross_entropy(self.forward_logits(x).flatten(0, 1), y.flatten())


lm = TinyAttentionLM(tok.vocab_size)
trainer = aigc_lib.Trainer(max_steps=1500, lr_schedule="cosine", warmup_steps=100, eval_every=500, live_plot=False)
history = trainer.fit(lm, train_windows, val_windows)
print(f"validation loss {history.last('val/loss'):.3f} (uniform guessing: {math.log(tok.vocab_size):.3f})")
""")

code("""
# NBVAL_IGNORE_OUTPUT: depends on training length
sentence = "ROMEO: But soft, what light"
ids = torch.tensor([tok.encode(sentence)], device=device)
lm.eval()
with torch.no_grad():
    lm.forward_logits(ids, need_weights=True)
weights = lm.block.self_attn_weights[0].cpu()          # (H, T, T)
chars = [c if c != " " else "_" for c in sentence]
fig, axes = plt.subplots(1, 4, figsize=(16, 4.2))
for h, ax in enumerate(axes):
    heatmap(weights[h], chars, chars, ax=ax, title=f"head {h}", vmin=0, vmax=1)
    ax.set_xlabel("key (attended to)")
axes[0].set_ylabel("query")
plt.tight_layout()
plt.show()
""")

md(r"""
Each row is one query character; it can only look left (the causal mask). The four heads of this one
block already look at different things. Look for a bright **diagonal** (a head that attends to the
current character or the one just before it) and for **vertical stripes** (many queries of a head looking
at one particular earlier character, such as the capital letter that starts a word, a space or a
punctuation mark). That is the point of several heads: each can follow a different kind of context.
(The exact patterns depend on the seed and on how long the model trained.)
""")

# --------------------------------------------------------------------------- explorer
md(r"""
## Explore the weights

Pick a head and a query character to see where it looks. The explorer needs a running Python kernel
(open the notebook in JupyterLab); the still figure below shows the same view for every head.
""")

code("""
# NBVAL_IGNORE_OUTPUT: an interactive widget
import ipywidgets as widgets


def show_query(head=0, query=len(chars) - 1):
    fig, ax = plt.subplots(figsize=(8, 2.4))
    ax.bar(range(len(chars)), weights[head, query])
    ax.set_xticks(range(len(chars)), chars)
    ax.set(ylim=(0, 1), ylabel="weight", title=f"head {head}, query {query} ({chars[query]!r})")
    plt.show()


widgets.interact(show_query, head=widgets.IntSlider(0, 0, weights.shape[0] - 1),
                 query=widgets.IntSlider(len(chars) - 1, 0, len(chars) - 1));
""")

code("""
# NBVAL_IGNORE_OUTPUT: depends on training length
query = len(chars) - 1
fig, axes = plt.subplots(weights.shape[0], 1, figsize=(8, 6), sharex=True)
for h, ax in enumerate(axes):
    ax.bar(range(len(chars)), weights[h, query])
    ax.set(ylim=(0, 1), ylabel=f"head {h}")
axes[-1].set_xticks(range(len(chars)), chars)
axes[0].set_title(f"Where the last character ({chars[query]!r}) looks, per head")
plt.tight_layout()
plt.show()
""")

# --------------------------------------------------------------------------- cost
md(r"""
## The cost: quadratic in the sequence length

The score matrix has one entry per (query, key) pair: $T \times T$ per head. Computing it costs
$O(T^2 d)$ time and storing it $O(T^2)$ memory. Doubling the length quadruples both. We time one
multi-head self-attention on this CPU (2 cores) for growing $T$, on the readable path (which stores the
weights) and the fused path, and we count the bytes of the weight matrix.
""")

code("""
# NBVAL_IGNORE_OUTPUT: timing
mha_cost = MultiHeadAttention(d_model=128, n_heads=4).eval()
lengths = [128, 256, 512, 1024, aigc_lib.budget(2048, smoke=256)]
lengths = sorted(set(lengths))


def best_time(fn, repeats=7):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


readable, fused, megabytes = [], [], []
with torch.no_grad():
    mha_cost(torch.randn(1, 64, 128))                      # warm-up call
    for T in lengths:
        x = torch.randn(1, T, 128)
        readable.append(best_time(lambda: mha_cost(x, need_weights=True)))
        fused.append(best_time(lambda: mha_cost(x)))
        megabytes.append(4 * T * T * 4 / 2**20)           # H * T * T float32 weights
fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.2))
a1.loglog(lengths, [1e3 * t for t in readable], "o-", label="readable (stores weights)")
a1.loglog(lengths, [1e3 * t for t in fused], "o-", label="fused SDPA")
ref = [1e3 * readable[-1] * (T / lengths[-1]) ** 2 for T in lengths]
a1.loglog(lengths, ref, "k:", label="∝ T²")
a1.set(xlabel="sequence length T", ylabel="milliseconds", title="Time of one attention layer")
a1.legend()
a2.loglog(lengths, megabytes, "o-")
a2.set(xlabel="sequence length T", ylabel="MiB", title="Size of the weights (4 heads)")
for ax in (a1, a2):
    ax.set_xticks(lengths, [str(T) for T in lengths])
    ax.minorticks_off()
plt.tight_layout()
plt.show()
for T, r, f in zip(lengths, readable, fused):
    print(f"T={T:5d}: readable {1e3 * r:7.1f} ms, fused {1e3 * f:7.1f} ms")
""")

md(r"""
At small $T$ the fixed costs (the projections, which grow only linearly) dominate, so a doubling of $T$
costs only 2 to 3 times more time. As $T$ grows, the $T^2$ part takes over and the cost of a doubling
approaches a factor of 4; on this CPU the last doubling of the readable path costs even more, probably
because the weight matrix no longer fits in the processor's fast cache memory. Long contexts are expensive,
which is why so much research goes into cheaper attention. For long sequences the fused kernel is faster,
and on a GPU it never stores the full weight matrix, but it still does
$O(T^2)$ work.

## Summary

* Attention is a soft lookup: weights from a softmax of query–key similarities, output a weighted average
  of values.
* A stable softmax subtracts the row maximum first.
* Dividing the scores by $\sqrt{d_k}$ keeps their variance at 1 and the softmax from saturating.
* Masks set blocked scores to $-\infty$; a fully masked row is defined to give zeros, not NaN.
* Multi-head attention: one fused projection, split into heads, attend, merge, output projection. It equals
  `torch.nn.MultiheadAttention` on the same weights.
* Time and memory grow like $T^2$.

The next chapter puts attention into the **Transformer**: positions, residual connections, layer norm,
and an encoder–decoder that learns to translate.

## Exercises

1. Draw queries and keys with $d_k = 512$ entries from $\mathcal N(0, 1)$. Measure the variance of
   $q \cdot k$ with and without the division by $\sqrt{d_k}$, then the largest softmax weight over 10 keys
   in both cases. Do your numbers agree with the argument in this chapter?
2. Which queries give *equal* weights to all keys? Find one for the keys of the first example and check
   it with `aigc_lib.attention.scaled_dot_product_attention`.
3. Build a *local* mask: query $i$ may attend to keys $i-2, i-1, i$ only. Plot the weights with
   `aigc_lib.plotting.heatmap` and check which entries are exactly 0.
4. Permute the tokens of an input sequence and pass both orders through one `MultiHeadAttention` layer
   without positions. Show that the outputs are permuted in the same way. What does this mean for word
   order?
5. How many bytes does the weight tensor $(B, H, T, T)$ take in float32 for $B = 1$, $H = 8$ and
   $T = 2048$? Compare with the memory of your computer.
""")

write_notebook("02_attention.ipynb")
