"""Write book/01_training_loop.ipynb (without outputs); then: make run-notebook NB=book/01_training_loop.ipynb"""
from nbbuild import code, md, write_notebook
md(r"""# Training loop and the helper library

Every model in this course learns the same way: it makes a prediction, measures how wrong it is with a
**loss** (one number), computes how the loss changes when each weight changes (the **gradient**), and moves
every weight a little against its gradient. This chapter builds that loop by hand. Then it shows the
`Trainer` of our helper library, `aigc_lib`, which runs the same loop for every later chapter (Transformers,
GPT, GANs, VAEs) and adds what long runs need: learning-rate schedules, evaluation, a progress bar, a live
plot and checkpoints that survive an interruption.

**You will learn**
- tensors and automatic differentiation (*autograd*) in PyTorch {cite}`paszke2019pytorch`;
- the five lines of a training step, and why each is needed;
- how `aigc_lib.Trainer` runs the same step, checked to give the same weights;
- how to save a run, resume it exactly, and what happens when a loss becomes `NaN`.""")

code("""# NBVAL_IGNORE_OUTPUT: the device depends on the machine (cpu, cuda or mps)
import torch
import matplotlib.pyplot as plt

import aigc_lib
from aigc_lib import Trainer, Task, SupervisedTask, budget

device = aigc_lib.setup_notebook(seed=0)  # seeds every random generator, sets the plot style
print("PyTorch", torch.__version__, "| device:", device)""")

md(r"""## Tensors

A **tensor** is an array of numbers with a *shape*. A batch of 4 examples with 3 features each is a tensor
of shape `(4, 3)`. Operations work on whole tensors at once, and **broadcasting** repeats a smaller tensor
along missing dimensions: adding a bias of shape `(3,)` to a `(4, 3)` tensor adds it to every row.""")

code("""# NBVAL_CHECK_OUTPUT
x = torch.arange(12, dtype=torch.float32).reshape(4, 3)   # (4, 3)
w = torch.tensor([[1.0], [0.0], [-1.0]])                  # (3, 1)
b = torch.tensor([10.0, 20.0, 30.0])                      # (3,)
print("x @ w  ->", (x @ w).shape, (x @ w).flatten().tolist())  # matrix product: (4, 3) @ (3, 1) = (4, 1)
print("x + b  ->", (x + b).shape, (x + b)[0].tolist())         # b is broadcast to every row
print("mean over rows ->", x.mean(dim=0).tolist())""")

md(r"""## Automatic differentiation

If a tensor is created with `requires_grad=True`, PyTorch records every operation on it. Calling
`.backward()` on a one-number (scalar) result then computes the derivative of that result with respect to the tensor
(by the chain rule, from the output back to the input), and stores it in `.grad`.

For $y = x^2 + 3x$ the derivative is $\frac{dy}{dx} = 2x + 3$, which is $7$ at $x = 2$. We check autograd
against the formula and against a *finite difference* $\frac{y(x+h) - y(x-h)}{2h}$.""")

code("""# NBVAL_CHECK_OUTPUT
def f(x):
    return x**2 + 3 * x

x = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
f(x).backward()
h = 1e-6
finite_difference = (f(torch.tensor(2.0 + h, dtype=torch.float64)) - f(torch.tensor(2.0 - h, dtype=torch.float64))) / (2 * h)
print(f"autograd: {x.grad.item():.6f}   formula 2x+3: {2 * 2.0 + 3:.6f}   finite difference: {finite_difference.item():.6f}")""")

md(r"""The same works for a loss. For a linear model $\hat y_i = w x_i + b$ and the **mean squared error**
$L = \frac{1}{N}\sum_i (\hat y_i - y_i)^2$, calculus gives
$\frac{\partial L}{\partial w} = \frac{2}{N}\sum_i (\hat y_i - y_i)\,x_i$ and
$\frac{\partial L}{\partial b} = \frac{2}{N}\sum_i (\hat y_i - y_i)$. Autograd agrees:""")

code("""# NBVAL_CHECK_OUTPUT
g = torch.Generator().manual_seed(0)
xs = torch.randn(50, generator=g, dtype=torch.float64)
ys = 3 * xs - 1 + 0.1 * torch.randn(50, generator=g, dtype=torch.float64)
w = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
b = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)

loss = ((w * xs + b - ys) ** 2).mean()
loss.backward()
residual = (w * xs + b - ys).detach()
print("dL/dw  autograd:", round(w.grad.item(), 10), " by hand:", round((2 * residual * xs).mean().item(), 10))
print("dL/db  autograd:", round(b.grad.item(), 10), " by hand:", round((2 * residual).mean().item(), 10))""")

md(r"""## A tiny model trained by hand

Our task: learn the curve $y = \sin(2x)$ from 512 noisy points. The model is a small **multi-layer
perceptron** (MLP): linear layers with a non-linear function (`tanh`) between them. We keep 20 % of the
points aside as a **validation set** to check that the model works on points it never trained on.""")

code("""g = torch.Generator().manual_seed(0)
x_all = torch.rand(512, 1, generator=g) * 4 - 2                          # (512, 1), in [-2, 2]
y_all = torch.sin(2 * x_all) + 0.1 * torch.randn(512, 1, generator=g)    # (512, 1)
x_train, y_train = x_all[:410], y_all[:410]
x_val, y_val = x_all[410:], y_all[410:]


def make_model() -> torch.nn.Module:
    torch.manual_seed(0)  # the same initial weights every time we call it
    return torch.nn.Sequential(
        torch.nn.Linear(1, 64), torch.nn.Tanh(),
        torch.nn.Linear(64, 64), torch.nn.Tanh(),
        torch.nn.Linear(64, 1),
    )""")

md(r"""One **training step** has five lines. Each one matters:

1. `optimizer.zero_grad()` — gradients *add up* in `.grad`, so clear the old ones first;
2. `prediction = model(x)` — the *forward pass*;
3. `loss = loss_fn(prediction, y)` — one number that says how wrong the model is;
4. `loss.backward()` — autograd fills `.grad` of every weight;
5. `optimizer.step()` — move each weight against its gradient. We use **AdamW**
   {cite}`kingma2014adam,loshchilov2019adamw`. For every weight it keeps a running average of the gradient
   and of the squared gradient, and moves the weight by the first divided by the square root of the second,
   so every weight takes steps of about the size of the learning rate. The "W" is *decoupled weight decay*:
   each step also shrinks every weight a little (PyTorch's default `weight_decay=0.01`).

Each step uses a random **mini-batch** of 32 points, not all 410: it is much cheaper per step, and the
gradient of 32 random points is already a good estimate of the gradient on all 410.""")

code("""# NBVAL_IGNORE_OUTPUT: the loss values depend on the number of steps (fewer in CI's smoke mode)
model = make_model()
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
loss_fn = torch.nn.functional.mse_loss
batch_gen = torch.Generator().manual_seed(1)
losses = []
for step in range(budget(1500, smoke=20)):
    idx = torch.randint(len(x_train), (32,), generator=batch_gen)
    optimizer.zero_grad()
    prediction = model(x_train[idx])
    loss = loss_fn(prediction, y_train[idx])
    loss.backward()
    optimizer.step()
    losses.append(loss.item())

with torch.no_grad():
    print(f"after {len(losses)} steps: train loss {losses[-1]:.4f}, validation loss {loss_fn(model(x_val), y_val).item():.4f}")
plt.plot(losses, lw=0.8)
plt.yscale("log"); plt.xlabel("step"); plt.ylabel("mini-batch loss"); plt.title("A training loop written by hand")
plt.show()""")

md(r"""The loss falls quickly and then slowly, with noise from the random mini-batches. This loop is all
there is to training. But a real run needs more: evaluation every few hundred steps, a learning rate that
changes over time, a progress bar, saving the model, resuming after a crash, catching a loss that
becomes `NaN`, gradient accumulation when a batch does not fit in memory, mixed precision on a GPU. Writing all
that again in every chapter would hide the ideas. So the course puts it in one tested place: `aigc_lib.Trainer`.

## The same model with `aigc_lib.Trainer`

The Trainer needs a **task**: an object that holds the model and says two things —
which optimiser to use (`configure_optimizers`) and how to compute the loss of a batch (`training_loss`).
A third, `validation_metrics`, is optional: by default the validation loss is `training_loss` computed on
validation batches.
Here is the whole task for our curve:""")

code("""class CurveFitTask(Task):
    def __init__(self, model: torch.nn.Module, lr: float = 1e-2):
        super().__init__()
        self.model, self.lr = model, lr

    def configure_optimizers(self):
        return torch.optim.AdamW(self.model.parameters(), lr=self.lr)

    def training_loss(self, batch, optimizer_name="main"):
        x, y = batch                        # x: (B, 1), y: (B, 1)
        return torch.nn.functional.mse_loss(self.model(x), y)""")

md(r"""A GAN task (in a later chapter) returns *two* optimisers from `configure_optimizers`,
`{"D": ..., "G": ...}`; the Trainer calls `training_loss(batch, "D")` and steps D, then does the same for G
(that is what the `optimizer_name` argument is for). The rest of the loop stays the same. For the common one-model case the library also has
`SupervisedTask(model, loss_fn, optimizer)`.

**Same weights, same result.** Before we trust the Trainer, we check it: starting from the same weights and
given the same batches, 5 Trainer steps must give exactly the weights of 5 hand-written steps.""")

code("""# NBVAL_CHECK_OUTPUT
fixed_batches = [(x_train[i:i + 32], y_train[i:i + 32]) for i in range(0, 160, 32)]  # 5 batches

by_hand = make_model()
opt = torch.optim.AdamW(by_hand.parameters(), lr=1e-2)
for xb, yb in fixed_batches:
    opt.zero_grad()
    torch.nn.functional.mse_loss(by_hand(xb), yb).backward()
    opt.step()

task = CurveFitTask(make_model())
Trainer(max_steps=5, progress=False, live_plot=False, device="cpu").fit(task, fixed_batches)
difference = max((p - q).abs().max().item() for p, q in zip(by_hand.parameters(), task.model.parameters()))
print("largest difference between the two sets of weights:", difference)""")

md(r"""Now a real run. The Trainer reads its batches from `TensorBatches`, which shuffles the data with a seed and
remembers its position (so a resumed run sees the same batches). We also ask for:

- a **learning-rate schedule**: a linear *warm-up* (the learning rate rises from almost 0 to its base
  value, here $10^{-2}$, during the first 100 steps), then a *cosine* decay {cite}`loshchilov2017sgdr` to
  10 % of the base value, so late steps are small and precise;
- **evaluation** on the validation set every 100 steps;
- **gradient clipping** at norm 1.0: the Trainer treats all gradients as one long vector and computes its
  length (its *norm*); if the length is above 1.0, every gradient is multiplied by the same factor so that
  the length becomes 1.0 (the direction does not change).

In JupyterLab the plot below redraws while the model trains. On the web page you see its final state.""")

code("""# NBVAL_IGNORE_OUTPUT: progress bar and losses depend on the number of steps (fewer in smoke mode)
from aigc_lib.data import TensorBatches

train_batches = TensorBatches(x_train, y_train, batch_size=32, seed=1)
val_batches = TensorBatches(x_val, y_val, batch_size=128, shuffle=False, repeat=False)

task = CurveFitTask(make_model())
trainer = Trainer(max_steps=1500, lr_schedule="cosine", warmup_steps=100, eval_every=100,
                  clip_grad_norm=1.0, eval_batches=None)
history = trainer.fit(task, train_batches, val_batches)
print(f"validation loss after {trainer.step} steps: {history.last('val/loss'):.4f}")""")

md(r"""The Trainer returns a **history**: every logged metric, with the step at which it was logged. The
validation loss ends close to $0.01$, the variance of the noise we added ($0.1^2$): the model cannot do better
than the noise. Here is the learning rate it used, and the fitted curve:""")

code("""# NBVAL_IGNORE_OUTPUT: the curves depend on the number of training steps
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.2))
ax1.plot(history.steps("lr"), history.values("lr"))
ax1.set_xlabel("step"); ax1.set_ylabel("learning rate"); ax1.set_title("Warm-up, then cosine decay")
grid = torch.linspace(-2, 2, 200).unsqueeze(1)
with torch.no_grad():
    ax2.scatter(x_val, y_val, s=6, alpha=0.5, label="validation points")
    ax2.plot(grid, torch.sin(2 * grid), "k--", lw=1, label="true curve sin(2x)")
    ax2.plot(grid, task.model(grid), lw=2, label="model")
ax2.legend(); ax2.set_title("The trained model")
plt.tight_layout(); plt.show()""")

md(r"""## Checkpoints: stop, then resume exactly

A long run can be interrupted: a laptop goes to sleep, a cloud machine is taken back. With
`checkpoint_dir`, the Trainer writes `last.pt` every `checkpoint_every` steps. It holds the weights, the
optimiser's running averages, the schedule, the step, the data position, the states of the global random
generators (Python, NumPy, PyTorch), the logged history and the settings. On the CPU, with a data stream
that remembers its position (such as `TensorBatches`), resuming gives **exactly** the weights of a run that
never stopped. On a GPU some operations are not bit-for-bit reproducible, so expect tiny differences.

The file is written *atomically*: first to a temporary file, then renamed over the old one. A crash in the
middle of a write leaves the previous checkpoint intact. It is loaded with `weights_only=True`, which
refuses to run code hidden in a file.

Below, a task stops itself a few steps after the half-way checkpoint (as if we pressed Jupyter's *Stop*
button); the Trainer reports how many steps it had completed. A fresh Trainer and a fresh model then call
`fit()` with the same `checkpoint_dir`. Because `resume=True` by default, `fit()` continues from `last.pt`
whenever that file exists: here from the half-way checkpoint, so the few steps after it are done again.
We compare the result with an uninterrupted run.""")

code("""# NBVAL_IGNORE_OUTPUT: the step numbers depend on the run length (shorter in smoke mode)
import shutil


class StopsHalfWay(CurveFitTask):
    \"\"\"Raises KeyboardInterrupt (what the Stop button does) when it reaches a given step.\"\"\"
    def __init__(self, model, stop_at):
        super().__init__(model)
        self.calls, self.stop_at = 0, stop_at

    def training_loss(self, batch, optimizer_name="main"):
        self.calls += 1
        if self.calls == self.stop_at:
            raise KeyboardInterrupt
        return super().training_loss(batch, optimizer_name)


steps = budget(400, smoke=12)
settings = dict(max_steps=steps, lr_schedule="cosine", warmup_steps=steps // 10, clip_grad_norm=1.0,
                progress=False, live_plot=False, device="cpu")

uninterrupted = CurveFitTask(make_model())
Trainer(**settings).fit(uninterrupted, TensorBatches(x_train, y_train, batch_size=32, seed=1))

checkpoint_dir = "checkpoints/ch01"  # relative to the notebook's folder
shutil.rmtree(checkpoint_dir, ignore_errors=True)  # start clean: no checkpoint from an earlier run
first_try = StopsHalfWay(make_model(), stop_at=steps // 2 + 3)
try:
    Trainer(**settings, checkpoint_dir=checkpoint_dir, checkpoint_every=steps // 4).fit(
        first_try, TensorBatches(x_train, y_train, batch_size=32, seed=1))
except KeyboardInterrupt:
    print(f"the first run stopped during step {first_try.calls}")

resumed = CurveFitTask(make_model())
resumed_trainer = Trainer(**settings, checkpoint_dir=checkpoint_dir, checkpoint_every=steps // 4)
resumed_trainer.fit(resumed, TensorBatches(x_train, y_train, batch_size=32, seed=1))
print("the resumed run finished at step", resumed_trainer.step)""")

code("""# NBVAL_CHECK_OUTPUT
import os

same = all(torch.equal(p, q) for p, q in zip(uninterrupted.parameters(), resumed.parameters()))
print("resumed weights identical to the uninterrupted run:", same)
state = torch.load(os.path.join(checkpoint_dir, "last.pt"), weights_only=True)
print("a checkpoint holds:", sorted(state))
shutil.rmtree(checkpoint_dir)""")

md(r"""## When the loss becomes NaN

With a learning rate that is far too large, the weights grow at every step until the loss overflows to
infinity or becomes `NaN` ("not a number"). Continuing to train would only waste time, and all later numbers
would be meaningless. The Trainer checks the loss at every step and stops with an error that names the
step and suggests what to try:""")

code("""# NBVAL_CHECK_OUTPUT
from aigc_lib import NonFiniteLossError

too_fast = SupervisedTask(make_model(), torch.nn.functional.mse_loss,
                          lambda params: torch.optim.SGD(params, lr=50.0))
try:
    Trainer(max_steps=100, progress=False, live_plot=False, device="cpu").fit(
        too_fast, TensorBatches(x_train, y_train, batch_size=32, seed=1))
except NonFiniteLossError as error:
    print("NonFiniteLossError:", error)""")

md(r"""## More than one CPU, GPUs, and big batches

The same `Trainer` call scales up without changes in the chapter's code:

- **GPU.** `aigc_lib.get_device()` picks CUDA, then Apple's MPS, then the CPU. On recent CUDA GPUs (Ampere or
  newer) the Trainer computes in *mixed precision*: matrix products run in **bfloat16** (a 16-bit format
  with the range of float32 but only about 3 significant digits), while sensitive operations such as sums,
  softmax and losses stay in float32. This is much faster on such GPUs; on older GPUs, the CPU and MPS the
  Trainer stays in float32. `Trainer(compile=True)` also compiles the model
  with `torch.compile`.
- **Gradient accumulation.** `Trainer(grad_accum_steps=4)` averages the gradients of 4 mini-batches
  before each step: the same update as one 4× larger batch, while only one small batch's intermediate
  results are in memory at a time. A test checks that both give the same weights (up to rounding).
- **Several processes.** Started with `torchrun --nproc_per_node=2 train.py`, the Trainer joins the process
  group and wraps the task in `DistributedDataParallel`: with the course's batch streams (`TensorBatches`,
  `RandomWindows`) each process takes half of every batch, and the
  gradients are averaged. A test runs this with 2 CPU processes and checks that the weights equal a
  one-process run on the whole batch.

## Summary

- A training step is: zero the gradients, forward pass, loss, `backward()`, optimiser step.
- `aigc_lib.Trainer` runs exactly that step (checked above: identical weights), plus schedules, evaluation,
  progress, live plots, checkpoints and a guard against `NaN` losses.
- A model tells the Trainer what to do through a `Task`: `configure_optimizers` and `training_loss`.

**Exercises**

1. Train the curve model with `lr_schedule="constant"`. Is the final validation loss better or worse? Why?
2. Set `grad_accum_steps=4` and a batch size of 8. Compare the history with batch size 32.
3. Make the model smaller (8 hidden units). When does the validation loss stop falling?""")

write_notebook("01_training_loop.ipynb")
