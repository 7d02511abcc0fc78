"""GPT benchmark for issue 4: training speed, quality per wall-clock, generation with a KV cache.

Run from the repository root::

    python -m benchmarks.gpt_cpu                       # every section, 2 threads
    python -m benchmarks.gpt_cpu --sections speed      # one section
    python -m benchmarks.gpt_cpu --sections gpu        # GPT-2-124M on a CUDA GPU: bf16, compile, flash

Sections:

* ``speed``: ms/iter and tokens/s at nanoGPT's CPU configuration (4 layers,
  4 heads, width 128, context 64, batch 12, vocab 65, dropout 0, AdamW, gradient
  clipping 1.0). A faithful copy of nanoGPT's model and training loop runs
  in the same process, **interleaved** with ours (rounds of ``--speed-steps``
  steps each), so both see the same machine load. Ours runs twice: through
  :class:`aigc_lib.Trainer` (what the chapter uses) and in a bare loop, to
  show the Trainer's per-step overhead. Ours runs in ``--precision`` (fp32 by
  default, as the chapter on a CPU; bf16 autocast pays only on CPUs with
  AVX512-BF16 or AMX).
* ``quality``: validation loss on Tiny Shakespeare (characters, last 10 %
  held out, as nanoGPT) after ``--budget-s`` seconds (101 s) of training,
  or after ``--steps`` steps for every row, for the recipes of
  ``--quality-rows``, run one after the other in the same process: ours in
  fp32 with lr 3e-3 (the chapter's recipe on a CPU), nanoGPT's model and
  loop with only its learning rate raised to ours, and nanoGPT's CPU example
  (the copy of its model and loop below: fp32, lr 1e-3, min lr 1e-4,
  non-fused AdamW); ``ours-bf16`` adds ours with bf16 autocast. The first
  two differ only in the implementation, the last two only in the learning
  rate. With a time budget, each row's step count is fixed before training
  from its own short timing run (or from ``--ms-per-iter``) so that its
  cosine schedule ends when the time is up; every row is scored by the same
  function (:func:`batch_losses`) on the same validation batches, and each
  loss and difference is printed with a bootstrap interval over them.
* ``generation``: a GPT-2-124M-shaped model (random weights) generates 200
  tokens greedily, with and without the KV cache; Hugging Face ``generate``
  runs on the same weights. All four must give the same tokens.
* ``sweep``: the cache's speed-up for several prompt lengths (``--sweep-prompts``),
  then why it is what it is: one cached step against the machine's memory
  bandwidth; both paths again with plain ``F.linear`` layers (without
  :mod:`aigc_lib.transformer.linear`'s split of few-row products across threads); and both
  paths with every linear layer run by oneDNN.
* ``gpu`` (only on CUDA): GPT-2-124M training throughput in bf16 with
  ``torch.compile`` and flash attention, and MFU against ``--peak-tflops``.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import math
import os
import platform
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from aigc_lib import Trainer
from aigc_lib.data import RandomWindows, load_tiny_shakespeare
from aigc_lib.lm import GPT, GPTConfig, LanguageModelTask
from aigc_lib.transformer import MAX_SPLIT_ROWS, row_split_linear
from aigc_lib.lm import CharTokenizer


# --------------------------------------------------------------------------- nanoGPT, as a baseline
# A faithful, minimal copy of nanoGPT's model.py / train.py hot path (Karpathy, MIT licence), used
# only to measure against. bias=False, GELU, SDPA with is_causal, tied weights, foreach-less AdamW on CPU.

class _NanoLayerNorm(nn.Module):
    def __init__(self, ndim: int, bias: bool) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class _NanoAttention(nn.Module):
    def __init__(self, c: GPTConfig) -> None:
        super().__init__()
        self.c_attn = nn.Linear(c.n_embd, 3 * c.n_embd, bias=c.bias)
        self.c_proj = nn.Linear(c.n_embd, c.n_embd, bias=c.bias)
        self.n_head, self.n_embd, self.dropout = c.n_head, c.n_embd, c.dropout
        self.resid_dropout = nn.Dropout(c.dropout)

    def forward(self, x):
        b, t, c = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(b, t, self.n_head, c // self.n_head).transpose(1, 2)
        q = q.view(b, t, self.n_head, c // self.n_head).transpose(1, 2)
        v = v.view(b, t, self.n_head, c // self.n_head).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=None,
                                           dropout_p=self.dropout if self.training else 0, is_causal=True)
        y = y.transpose(1, 2).contiguous().view(b, t, c)
        return self.resid_dropout(self.c_proj(y))


class _NanoMLP(nn.Module):
    def __init__(self, c: GPTConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(c.n_embd, 4 * c.n_embd, bias=c.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * c.n_embd, c.n_embd, bias=c.bias)
        self.dropout = nn.Dropout(c.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class _NanoBlock(nn.Module):
    def __init__(self, c: GPTConfig) -> None:
        super().__init__()
        self.ln_1, self.attn = _NanoLayerNorm(c.n_embd, c.bias), _NanoAttention(c)
        self.ln_2, self.mlp = _NanoLayerNorm(c.n_embd, c.bias), _NanoMLP(c)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class NanoGPT(nn.Module):
    """nanoGPT's GPT (the baseline)."""

    def __init__(self, c: GPTConfig) -> None:
        super().__init__()
        self.config = c
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(c.vocab_size, c.n_embd), wpe=nn.Embedding(c.block_size, c.n_embd),
            drop=nn.Dropout(c.dropout), h=nn.ModuleList([_NanoBlock(c) for _ in range(c.n_layer)]),
            ln_f=_NanoLayerNorm(c.n_embd, c.bias)))
        self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight
        self.apply(self._init_weights)
        for pn, p in self.named_parameters():
            if pn.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * c.n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx, targets):
        t = idx.size(1)
        pos = torch.arange(0, t, dtype=torch.long, device=idx.device)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        for block in self.transformer.h:
            x = block(x)
        x = self.transformer.ln_f(x)
        logits = self.lm_head(x)
        return logits, F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)

    def configure_optimizers(self, weight_decay, learning_rate, betas):
        params = [p for p in self.parameters() if p.requires_grad]
        groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
                  {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
        return torch.optim.AdamW(groups, lr=learning_rate, betas=betas)  # fused only on CUDA in nanoGPT


class NanoLoop:
    """nanoGPT's train.py inner loop: random batches from a uint16 array, cosine LR, clip 1.0, loss.item()."""

    def __init__(self, data: np.ndarray, config: GPTConfig, batch_size: int, lr: float = 1e-3,
                 warmup: int = 100, decay_iters: int = 2000, min_lr: float = 1e-4) -> None:
        self.data, self.config, self.batch_size = data, config, batch_size
        self.model = NanoGPT(config)
        self.optimizer = self.model.configure_optimizers(0.1, lr, (0.9, 0.99))
        self.lr, self.warmup, self.decay_iters, self.min_lr = lr, warmup, decay_iters, min_lr
        self.iter = 0
        self.X, self.Y = self.get_batch()

    def get_batch(self):
        bs = self.config.block_size
        ix = torch.randint(len(self.data) - bs, (self.batch_size,))
        x = torch.stack([torch.from_numpy(self.data[i:i + bs].astype(np.int64)) for i in ix])
        y = torch.stack([torch.from_numpy(self.data[i + 1:i + 1 + bs].astype(np.int64)) for i in ix])
        return x, y

    def get_lr(self, it):
        if it < self.warmup:
            return self.lr * (it + 1) / (self.warmup + 1)
        if it > self.decay_iters:
            return self.min_lr
        ratio = (it - self.warmup) / (self.decay_iters - self.warmup)
        return self.min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (self.lr - self.min_lr)

    def steps(self, n: int) -> float:
        """Run ``n`` iterations; return the last loss."""
        self.model.train()
        for _ in range(n):
            for group in self.optimizer.param_groups:
                group["lr"] = self.get_lr(self.iter)
            _, loss = self.model(self.X, self.Y)
            self.X, self.Y = self.get_batch()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            lossf = loss.item()  # log_interval=1
            self.iter += 1
        return lossf


# --------------------------------------------------------------------------- helpers

def shakespeare_ids() -> tuple[torch.Tensor, torch.Tensor]:
    """Character ids of Tiny Shakespeare, split 90 % / 10 % as nanoGPT does."""
    text = load_tiny_shakespeare()
    ids = torch.tensor(CharTokenizer(text).encode(text), dtype=torch.long)
    n = int(0.9 * len(ids))
    return ids[:n], ids[n:]


def load_line() -> str:
    try:
        return "load average %.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        return "load average n/a"


def quiet(**kw) -> dict:
    return dict(progress=False, live_plot=False, **kw)


# --------------------------------------------------------------------------- speed

def bench_speed(args) -> dict[str, float]:
    train_ids, _ = shakespeare_ids()
    data16 = train_ids.numpy().astype(np.uint16)
    nano_cfg = GPTConfig(vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=128, dropout=0.0, bias=False)
    ours_cfg = GPTConfig(vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=128, dropout=0.0, bias=False)
    b, n, rounds = 12, args.speed_steps, args.speed_rounds
    torch.manual_seed(0)
    nano = NanoLoop(data16, nano_cfg, b)

    task = LanguageModelTask(GPT(ours_cfg), lr=1e-3, weight_decay=0.1, betas=(0.9, 0.99), fused=True)
    trainer = Trainer(**quiet(max_steps=0, lr_schedule="cosine", warmup_steps=100, clip_grad_norm=1.0,
                              log_every=n, precision=args.precision))
    stream = RandomWindows(train_ids, 64, b, seed=0)

    # A bare loop over the same kind of model/optimiser: what the Trainer adds on top of it.
    bare_model = GPT(ours_cfg)
    bare_task = LanguageModelTask(bare_model, lr=1e-3, fused=True)
    bare_opt = bare_task.configure_optimizers()
    bare_stream = iter(RandomWindows(train_ids, 64, b, seed=1))

    clock = time.process_time if args.cpu_time else time.perf_counter

    def autocast():
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16")
    times: dict[str, list[float]] = {"nanoGPT (baseline)": [], "ours, Trainer": [], "ours, bare loop": []}

    class Interleaved:
        """A batch stream for the Trainer that, between two of the Trainer's steps, runs one
        nanoGPT step and one bare-loop step: the three alternate step by step and share the load."""

        def __iter__(self):
            last = None
            for k in range(10**9):
                now = clock()
                if last is not None:
                    times["ours, Trainer"].append(now - last)
                t0 = clock()
                nano.steps(1)
                t1 = clock()
                run_bare_step()
                t2 = clock()
                times["nanoGPT (baseline)"].append(t1 - t0)
                times["ours, bare loop"].append(t2 - t1)
                last = clock()
                yield stream.batch(k)   # the Trainer's batch is made inside its timed interval

    def run_bare_step():
        x, y = next(bare_stream)
        with autocast():
            loss = bare_model.loss(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(bare_model.parameters(), 1.0)
        bare_opt.step()
        bare_opt.zero_grad(set_to_none=True)
        loss.item()

    trainer.config.max_steps = 10            # warm-up, not timed
    trainer.fit(task, Interleaved())
    times = {k: [] for k in times}
    trainer.config.max_steps += n * rounds + 1   # n * rounds timed intervals between steps
    trainer.fit(task, Interleaved())
    times = {k: [sum(v[i:i + n]) / n * 1e3 for i in range(0, len(v) - n + 1, n)] for k, v in times.items()}
    med = {k: statistics.median(v) for k, v in times.items()}
    what = "CPU ms/iter (process time)" if args.cpu_time else "ms/iter"
    print(f"\n## Training speed (nanoGPT CPU config, batch {b} x context 64; ours in {args.precision}, nanoGPT in fp32; "
          f"steps interleaved one by one; "
          f"median over {len(times['ours, Trainer'])} blocks of {n} steps; {torch.get_num_threads()} threads; "
          f"{load_line()})")
    print(f"| run | {what} | tokens/s | vs nanoGPT in this process |")
    print(f"|---|---:|---:|---:|")
    for k, v in med.items():
        print(f"| {k} | {v:.1f} | {b * 64 / v * 1e3:,.0f} | {med['nanoGPT (baseline)'] / v:.2f}x |")
    print(f"\nTrainer overhead: {med['ours, Trainer'] - med['ours, bare loop']:+.2f} ms/iter "
          f"(every figure above is from this run and this process).")
    return med


# --------------------------------------------------------------------------- quality per wall-clock

def recipe_task(args, seed: int = 0, lr: float | None = None) -> LanguageModelTask:
    """The chapter's recipe (see book/04_gpt.ipynb for the reasons)."""
    torch.manual_seed(seed)
    config = GPTConfig(vocab_size=65, block_size=args.block_size, n_layer=args.n_layer, n_head=args.n_head,
                       n_embd=args.n_embd, dropout=0.0, bias=False)
    return LanguageModelTask(GPT(config), lr=args.lr if lr is None else lr, weight_decay=0.1, betas=(0.9, 0.99),
                             fused=True)


def validation_batches(val_ids: torch.Tensor, block_size: int, n: int = 100) -> list:
    """The fixed held-out batches every quality row is scored on: ``n`` batches of 64 windows."""
    return [(x.contiguous(), y.contiguous())   # contiguous: nanoGPT's loss calls targets.view(-1)
            for x, y in RandomWindows(val_ids, block_size, 64, seed=1, num_batches=n)]


@torch.no_grad()
def batch_losses(loss_of, batches: list) -> list[float]:
    """Cross-entropy (nats per character, float32) of ``loss_of(x, y)`` on each batch of ``batches``.

    The one evaluation of the quality section: every row, ours and nanoGPT's, is scored by this function
    on the same list of batches. Their mean is the row's validation loss; the per-batch values give its
    bootstrap interval and the paired intervals of the differences between rows.
    """
    return [float(loss_of(x, y)) for x, y in batches]


def heldout_loss(loss_of, batches: list) -> float:
    """Mean of :func:`batch_losses`: the validation loss of one row."""
    losses = batch_losses(loss_of, batches)
    return sum(losses) / len(losses)


def plan_steps(args, ms: float) -> int:
    """Steps of one row: ``--steps`` when given (the same for every row), else the steps that fit in the
    wall-clock budget at ``ms`` per step (2 % margin)."""
    if args.steps:
        return args.steps
    return max(1, int(args.budget_s * 1e3 / ms * 0.98))


def train_ours(args, train_ids, precision: str, lr: float):
    """Our recipe within the budget; returns (steps, planned ms/iter, seconds, loss function)."""
    bs, batch = args.block_size, args.batch
    run = dict(lr_schedule="cosine", warmup_steps=args.warmup, min_lr_ratio=0.1, clip_grad_norm=1.0,
               precision=precision)
    if args.ms_per_iter or args.steps:
        ms = args.ms_per_iter or float("nan")
    else:  # time 30 steps of a throwaway copy, after 10 warm-up steps
        trainer = Trainer(**quiet(max_steps=10, log_every=10, **run))
        task = recipe_task(args, 1, lr)
        stream = RandomWindows(train_ids, bs, batch, seed=99)
        trainer.fit(task, stream)
        trainer.config.max_steps = 40
        t0 = time.perf_counter()
        trainer.fit(task, stream)
        ms = (time.perf_counter() - t0) / 30 * 1e3
    steps = plan_steps(args, ms)
    task = recipe_task(args, 0, lr)
    trainer = Trainer(**quiet(max_steps=steps, log_every=100, **run))
    t0 = time.perf_counter()
    trainer.fit(task, RandomWindows(train_ids, bs, batch, seed=0))
    seconds = time.perf_counter() - t0
    model = task.model.eval()
    return steps, ms, seconds, model.loss


def train_nanogpt(args, train_ids, lr: float = 1e-3):
    """nanoGPT's CPU example within the budget (its model and train.py loop: float32, lr 1e-3, warm-up, cosine
    to min_lr = lr / 10 ending at the last step, AdamW (0.9, 0.99), wd 0.1, clip 1.0); same return as
    train_ours. ``lr`` changes only the peak rate (and min_lr with it), for the one-factor row."""
    data16 = train_ids.numpy().astype(np.uint16)
    cfg = GPTConfig(vocab_size=65, block_size=args.block_size, n_layer=args.n_layer, n_head=args.n_head,
                    n_embd=args.n_embd, dropout=0.0, bias=False)
    recipe = dict(lr=lr, warmup=args.warmup, min_lr=lr / 10)
    if args.ms_per_iter or args.steps:
        ms = args.ms_per_iter or float("nan")
    else:
        torch.manual_seed(1)
        loop = NanoLoop(data16, cfg, args.batch, decay_iters=10**6, **recipe)
        loop.steps(10)
        t0 = time.perf_counter()
        loop.steps(30)
        ms = (time.perf_counter() - t0) / 30 * 1e3
    steps = plan_steps(args, ms)
    torch.manual_seed(0)
    loop = NanoLoop(data16, cfg, args.batch, decay_iters=steps, **recipe)   # lr_decay_iters = max_iters
    t0 = time.perf_counter()
    loop.steps(steps)
    seconds = time.perf_counter() - t0
    model = loop.model.eval()
    return steps, ms, seconds, lambda x, y: model(x, y)[1]


QUALITY_ROWS = {
    # key: (row name, how to train it)
    "ours-bf16": (lambda a: f"ours, bf16, lr {a.lr:g} (the chapter's recipe until 2026-11-29)",
                  lambda a, ids: train_ours(a, ids, "bf16", a.lr)),
    "ours": (lambda a: f"ours, fp32, lr {a.lr:g} (the chapter's recipe on a CPU)",
             lambda a, ids: train_ours(a, ids, "fp32", a.lr)),
    "nanogpt-our-lr": (lambda a: f"nanoGPT's model and loop, fp32, lr {a.lr:g} (only the learning rate changed)",
                       lambda a, ids: train_nanogpt(a, ids, lr=a.lr)),
    "nanogpt": (lambda a: "nanoGPT's CPU example: its model and loop, fp32, lr 0.001",
                lambda a, ids: train_nanogpt(a, ids)),
}


def bench_quality(args) -> dict[str, dict[str, float]]:
    """The recipes of ``--quality-rows``, one after the other in this process, each for ``--steps`` steps or
    within ``--budget-s`` seconds of training (its own step count, planned from its own timing run), all
    scored by :func:`batch_losses` on the same validation batches. With the rows ``ours``, ``nanogpt-our-lr``
    and ``nanogpt`` two differences change one factor each: the implementation (ours against nanoGPT's
    code at the same learning rate) and the learning rate (nanoGPT's code at our rate against its own);
    both are printed with paired bootstrap intervals over the validation batches."""
    from aigc_lib.evaluation.intervals import bootstrap_interval

    train_ids, val_ids = shakespeare_ids()
    batches = validation_batches(val_ids, args.block_size, args.val_batches)
    keys = [k.strip() for k in args.quality_rows.split(",")]
    unknown = [k for k in keys if k not in QUALITY_ROWS]
    if unknown:
        raise ValueError(f"--quality-rows: unknown rows {unknown}; choose from {sorted(QUALITY_ROWS)}")
    results, per_batch = {}, {}
    for key in keys:
        name, train = QUALITY_ROWS[key][0](args), QUALITY_ROWS[key][1]
        steps, ms, seconds, loss_of = train(args, train_ids)
        per_batch[key] = np.array(batch_losses(loss_of, batches))
        results[name] = {"key": key, "steps": steps, "ms_per_iter": ms, "seconds": seconds,
                         "examples": steps * args.batch, "val_loss": float(per_batch[key].mean())}
    windows = len(batches) * 64
    budget = (f"steps fixed at {args.steps} for every row" if args.steps
              else f"steps planned so that training takes {args.budget_s:g} s")
    print(f"\n## Quality per wall-clock ({load_line()})")
    print(f"Each row: {args.n_layer}L/{args.n_head}H/{args.n_embd}, context {args.block_size}, batch {args.batch}, "
          f"warm-up {args.warmup} + cosine to lr/10 at the last step, AdamW (0.9, 0.99), wd 0.1, clip 1.0, seed 0; "
          f"{budget}; CPU, {torch.get_num_threads()} thread(s); validation loss by one function on the same "
          f"{len(batches)} x 64 windows of {args.block_size} characters (the last 10 % of the text).")
    print("| recipe | steps | windows seen | planned ms/iter | train time | val loss (95% interval over the windows) |")
    print("|---|---:|---:|---:|---:|---:|")
    mean = lambda a: float(a.mean())     # noqa: E731
    for name, r in results.items():
        iv = bootstrap_interval(mean, per_batch[r["key"]], unit="validation batches")
        planned = f"{r['ms_per_iter']:.1f}" if math.isfinite(r["ms_per_iter"]) else "-"
        print(f"| {name} | {r['steps']} | {r['examples']:,} | {planned} | {r['seconds']:.1f} s | "
              f"{r['val_loss']:.3f} ({iv.low:.3f}-{iv.high:.3f}) |")
    pairs = [("implementation: ours - nanoGPT's code, both at our learning rate", "ours", "nanogpt-our-lr"),
             ("learning rate: nanoGPT's code at our rate - at its own 0.001", "nanogpt-our-lr", "nanogpt"),
             ("whole recipe: ours - nanoGPT's CPU example", "ours", "nanogpt")]
    for label, a, b in pairs:
        if a in per_batch and b in per_batch:      # paired: the same validation batches for both rows
            diff = per_batch[a] - per_batch[b]
            iv = bootstrap_interval(mean, diff, unit=f"validation windows (as {len(batches)} batches)")
            iv = type(iv)(iv.value, iv.low, iv.high, windows, 1, iv.unit)
            print(iv.headline(f"{label}, validation loss difference (nats)", digits=3))
    return results


# --------------------------------------------------------------------------- generation

def bench_generation(args) -> dict[str, float]:
    from transformers import GPT2Config, GPT2LMHeadModel

    from aigc_lib.lm import gpt_from_hf

    torch.manual_seed(0)
    hf = GPT2LMHeadModel(GPT2Config(bos_token_id=0, eos_token_id=0)).eval()   # 124M, random weights
    ours = gpt_from_hf(hf)
    n_new = args.gen_tokens
    prompt = torch.randint(0, 50257, (1, args.gen_prompt))
    results, outs = {}, {}
    cases = {
        "ours, KV cache": lambda: ours.generate(prompt, n_new, temperature=0, use_cache=True),
        "ours, no cache": lambda: ours.generate(prompt, n_new, temperature=0, use_cache=False),
        "HF generate, cache": lambda: hf.generate(prompt, attention_mask=torch.ones_like(prompt),
                                                  max_new_tokens=n_new, min_new_tokens=n_new,
                                                  do_sample=False, use_cache=True),
        "HF generate, no cache": lambda: hf.generate(prompt, attention_mask=torch.ones_like(prompt),
                                                     max_new_tokens=n_new, min_new_tokens=n_new,
                                                     do_sample=False, use_cache=False),
    }
    ours.generate(prompt, 3, temperature=0)   # warm-up
    with torch.no_grad():
        for name, fn in cases.items():
            if "no cache" in name and args.skip_slow:
                continue
            t0 = time.perf_counter()
            outs[name] = fn()
            results[name] = n_new / (time.perf_counter() - t0)
    print(f"\n## Generation: GPT-2-124M shape, random weights, greedy, prompt {args.gen_prompt} "
          f"+ {n_new} new tokens ({load_line()})")
    print("| run | tokens/s | speed-up from the cache |")
    print("|---|---:|---:|")
    for name, tps in results.items():
        base = results.get(name.replace("KV cache", "no cache").replace(", cache", ", no cache"))
        sp = f"{tps / base:.1f}x" if base and "no cache" not in name else ""
        print(f"| {name} | {tps:.1f} | {sp} |")
    ref = outs["ours, KV cache"]
    same = all(torch.equal(o, ref) for o in outs.values())
    print(f"\nAll runs produced the same tokens: {same}")
    return results


# --------------------------------------------------------------------------- why the cache gains what it gains

def gpt2_shaped_model() -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=50257, block_size=1024, n_layer=12, n_head=12, n_embd=768)).eval()


def time_generate(model: GPT, prompt: torch.Tensor, n_new: int, use_cache: bool) -> tuple[float, torch.Tensor]:
    """tokens/s of greedy generation, and the tokens."""
    t0 = time.perf_counter()
    out = model.generate(prompt, n_new, temperature=0, use_cache=use_cache)
    return n_new / (time.perf_counter() - t0), out


@contextlib.contextmanager
def patched_linears(model: nn.Module, make_forward):
    """Replace the forward of every ``nn.Linear`` in ``model`` by ``make_forward(layer)`` until the block ends."""
    patched = []
    for m in model.modules():
        if isinstance(m, nn.Linear):
            m.forward = make_forward(m)
            patched.append(m)
    try:
        yield
    finally:
        for m in patched:
            del m.forward


def onednn_linears(model: nn.Module):
    """Run every ``nn.Linear`` of ``model`` through oneDNN's packed fp32 linear.

    Uses PyTorch's private ``torch.ops.mkldnn`` operators (the ones
    ``torch.compile`` uses for CPU inference with freezing); benchmark only,
    to show how the kernel choice moves both paths. Inference only.
    """
    def make_forward(m: nn.Linear):
        packed = torch.ops.mkldnn._reorder_linear_weight(m.weight.detach(), 1)
        return lambda x: torch.ops.mkldnn._linear_pointwise(x, packed, m.bias, "none", [], "")
    return patched_linears(model, make_forward)


def unsplit_linears(model: nn.Module):
    """Run every linear layer of ``model`` as one plain ``F.linear`` call (``nn.Linear``'s own forward),
    without :class:`aigc_lib.transformer.linear.Linear`'s few-row split across threads."""
    return patched_linears(model, lambda m: (lambda x: F.linear(x, m.weight, m.bias)))


def bench_sweep(args) -> dict[str, float]:
    """Speed-up from the cache against prompt length, and a bandwidth account of one cached step."""
    model = gpt2_shaped_model()
    n_new = args.gen_tokens
    prompts = [int(p) for p in args.sweep_prompts.split(",")]
    model.generate(torch.zeros(1, 1, dtype=torch.long), 3, temperature=0)   # warm-up
    print(f"\n## KV-cache speed-up against prompt length: ours, GPT-2-124M shape, random weights, greedy, "
          f"{n_new} new tokens ({load_line()})")
    print("| prompt tokens | KV cache tok/s | no cache tok/s | speed-up | same tokens |")
    print("|---:|---:|---:|---:|:---:|")
    results = {}
    with torch.inference_mode():
        for n_prompt in prompts:
            prompt = torch.randint(0, 50257, (1, n_prompt), generator=torch.Generator().manual_seed(n_prompt))
            fast, a = time_generate(model, prompt, n_new, True)
            slow, b = time_generate(model, prompt, n_new, False)
            results[n_prompt] = fast / slow
            print(f"| {n_prompt} | {fast:.1f} | {slow:.1f} | {fast / slow:.1f}x | {torch.equal(a, b)} |")

        # One cached step reads every weight once: compare its time with how fast this machine reads memory.
        params = sum(p.numel() for p in model.parameters())          # tied head counted once
        mb = 4 * params / 1e6
        caches = model.new_caches(1024)
        model(torch.zeros(1, 100, dtype=torch.long), caches)
        step = median_ms(lambda: model(torch.zeros(1, 1, dtype=torch.long), caches), n=20, reset=caches)
        flat = torch.cat([p.detach().flatten() for p in model.parameters()])
        read = median_ms(lambda: flat.sum(), n=10)
        with unsplit_linears(model):
            step_unsplit = median_ms(lambda: model(torch.zeros(1, 1, dtype=torch.long), caches), n=20, reset=caches)
        head = model.lm_head.weight.detach()
        x = torch.randn(1, head.shape[1])
        gemv = {}
        for threads in (1, args.threads):
            torch.set_num_threads(threads)
            gemv[threads] = median_ms(lambda: F.linear(x, head), n=10)
        split = median_ms(lambda: row_split_linear(x, head, None, args.threads), n=10)
        torch.set_num_threads(args.threads)
        head_mb = 4 * head.numel() / 1e6
        print(f"\nOne cached step (100 tokens in the cache): {step:.1f} ms for {mb:.0f} MB of float32 weights "
              f"= {mb / step:.1f} GB/s ({step_unsplit:.1f} ms = {mb / step_unsplit:.1f} GB/s with plain F.linear "
              f"layers). Summing the same {mb:.0f} MB with {args.threads} threads: {read:.1f} ms "
              f"= {mb / read:.1f} GB/s. One row through the {head_mb:.0f} MB output layer: F.linear "
              f"{head_mb / gemv[1]:.1f} GB/s with 1 thread, {head_mb / gemv[args.threads]:.1f} GB/s with "
              f"{args.threads}; split into {args.threads} blocks of rows (aigc_lib.transformer.linear) "
              f"{head_mb / split:.1f} GB/s.")
        split_rows_table(model, args.threads, tuple(int(r) for r in args.split_rows.split(",")))

        prompt = torch.randint(0, 50257, (1, prompts[0]), generator=torch.Generator().manual_seed(prompts[0]))
        with unsplit_linears(model):
            fast, a = time_generate(model, prompt, n_new, True)
            slow, b = time_generate(model, prompt, n_new, False)
        results["unsplit"] = fast / slow
        print(f"\nEvery linear layer as one plain F.linear call (no few-row split), prompt {prompts[0]}: "
              f"KV cache {fast:.1f} tok/s, no cache {slow:.1f} tok/s, speed-up {fast / slow:.1f}x, "
              f"same tokens: {torch.equal(a, b)}")

        if hasattr(torch.ops.mkldnn, "_linear_pointwise") and torch.backends.mkldnn.is_available():
            with onednn_linears(model):
                fast, a = time_generate(model, prompt, n_new, True)
                slow, b = time_generate(model, prompt, n_new, False)
            print(f"\nEvery linear layer through oneDNN (both paths), prompt {prompts[0]}: KV cache {fast:.1f} tok/s, "
                  f"no cache {slow:.1f} tok/s, speed-up {fast / slow:.1f}x, same tokens: {torch.equal(a, b)}")
    return results


def split_rows_table(model: GPT, threads: int, rows: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256)) -> None:
    """Read bandwidth of all the blocks' weight matrices for inputs of a few rows: ``F.linear`` against the split.

    The matrices together (340 MB for GPT-2-124M) are far larger than the CPU's caches, as in generation.
    """
    weights = [m.weight.detach() for name, m in model.named_modules()
               if isinstance(m, nn.Linear) and name.startswith("blocks.")]
    mb = sum(4 * w.numel() for w in weights) / 1e6
    print(f"\nAll {len(weights)} block matrices ({mb:.0f} MB), inputs of a few rows, {threads} threads "
          f"(rows <= {MAX_SPLIT_ROWS} are split by aigc_lib.transformer.linear):")
    print("| rows | F.linear GB/s | split GB/s | split / F.linear |")
    print("|---:|---:|---:|---:|")
    for m in rows:
        xs = {w.shape[1]: torch.randn(m, w.shape[1]) for w in weights}
        plain = median_ms(lambda: [F.linear(xs[w.shape[1]], w) for w in weights], n=5)
        split = median_ms(lambda: [row_split_linear(xs[w.shape[1]], w, None, threads) for w in weights], n=5)
        print(f"| {m} | {mb / plain:.1f} | {mb / split:.1f} | {plain / split:.2f} |")


def median_ms(fn, n: int, reset: list | None = None) -> float:
    """Median wall time of ``fn()`` in ms over ``n`` calls (after one warm-up).

    ``reset``: KV caches whose length is restored after each call (so every call sees the same cache).
    """
    lengths = [len(c) for c in reset or []]
    times = []
    for i in range(n + 1):
        t0 = time.perf_counter()
        fn()
        if i:
            times.append(1000 * (time.perf_counter() - t0))
        for c, length in zip(reset or [], lengths):
            c.crop(length)
    return statistics.median(times)


# --------------------------------------------------------------------------- GPU (not run on CPU)

def bench_gpu(args) -> dict[str, float]:
    """GPT-2-124M training throughput on CUDA: bf16 autocast, torch.compile, flash SDPA, fused AdamW."""
    if not torch.cuda.is_available():
        print("\n## GPU: skipped (no CUDA device)")
        return {}
    torch.backends.cuda.matmul.allow_tf32 = True
    cfg = GPTConfig(vocab_size=50304, block_size=1024, n_layer=12, n_head=12, n_embd=768, dropout=0.0, bias=False)
    model = GPT(cfg).cuda()
    opt = LanguageModelTask(model, lr=6e-4, fused=True).configure_optimizers()
    step = torch.compile(lambda x, y: model.loss(x, y))
    b = args.gpu_batch
    x = torch.randint(0, cfg.vocab_size, (b, cfg.block_size), device="cuda")
    y = torch.randint(0, cfg.vocab_size, (b, cfg.block_size), device="cuda")

    def one():
        with torch.autocast("cuda", dtype=torch.bfloat16), torch.nn.attention.sdpa_kernel(
                torch.nn.attention.SDPBackend.FLASH_ATTENTION):
            loss = step(x, y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(5):
        one()
    torch.cuda.synchronize()
    n = 20
    t0 = time.perf_counter()
    for _ in range(n):
        one()
    torch.cuda.synchronize()
    dt = (time.perf_counter() - t0) / n
    tps = b * cfg.block_size / dt
    mfu = tps * cfg.num_flops_per_token() / (args.peak_tflops * 1e12)
    print(f"\n## GPU: {torch.cuda.get_device_name()}, GPT-2-124M, batch {b} x 1024, bf16 + compile + flash")
    print(f"{dt * 1e3:.1f} ms/iter, {tps:,.0f} tokens/s, MFU {mfu * 100:.1f} % of {args.peak_tflops} TFLOP/s")
    return {"ms_per_iter": dt * 1e3, "tokens_per_s": tps, "mfu": mfu}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sections", default="speed,quality,generation,sweep")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--speed-steps", type=int, default=50)
    p.add_argument("--speed-rounds", type=int, default=5)
    p.add_argument("--cpu-time", action="store_true", help="time steps by process CPU time (robust to load; "
                   "use with --threads 1)")
    p.add_argument("--budget-s", type=float, default=101.0)
    p.add_argument("--steps", type=int, default=None,
                   help="quality: train every row for this many steps (same examples seen) instead of a time budget")
    p.add_argument("--quality-rows", default="ours,nanogpt-our-lr,nanogpt",
                   help=f"quality: rows to train, from {','.join(QUALITY_ROWS)}")
    p.add_argument("--ms-per-iter", type=float, default=None,
                   help="plan the quality run with this step time instead of timing it (for a loaded machine)")
    p.add_argument("--precision", default="fp32", choices=["bf16", "fp32"],
                   help="speed section, our runs: fp32 (as the chapter on a CPU) or bf16 autocast (pays only on "
                        "CPUs with AVX512-BF16/AMX)")
    p.add_argument("--val-batches", type=int, default=100, help="quality: held-out batches of 64 windows")
    p.add_argument("--batch", type=int, default=12)
    p.add_argument("--block-size", type=int, default=64)
    p.add_argument("--n-layer", type=int, default=4)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--n-embd", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--gen-tokens", type=int, default=200)
    p.add_argument("--gen-prompt", type=int, default=1)
    p.add_argument("--sweep-prompts", default="1,8,32,100", help="prompt lengths for the sweep section")
    p.add_argument("--split-rows", default="1,2,4,8,16,32,64,128,256",
                   help="input rows for the sweep section's table of F.linear against the split product")
    p.add_argument("--skip-slow", action="store_true", help="skip the runs without a cache")
    p.add_argument("--gpu-batch", type=int, default=16)
    p.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak (H100 SXM: 989)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"# GPT benchmark, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
          f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {load_line()}")
    sections = {"speed": bench_speed, "quality": bench_quality, "generation": bench_generation,
                "sweep": bench_sweep, "gpu": bench_gpu}
    return {name.strip(): sections[name.strip()](args) for name in args.sections.split(",")}


if __name__ == "__main__":
    main()
