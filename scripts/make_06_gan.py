"""Write book/06_gan.ipynb (without outputs). Then execute the notebook in its real mode:

    .venv/bin/python scripts/make_06_gan.py
    make run-notebook NB=book/06_gan.ipynb
"""
from nbbuild import code, md, write_notebook


# ----------------------------------------------------------------------------- intro
md(r"""
# Generative adversarial networks

A **generative adversarial network** (GAN) {cite}`goodfellow2014gan` learns to make new examples that look
like its training data, for example new handwritten digits. It has two networks:

* the **generator** $G$ turns a random vector $z$ into a sample $G(z)$. The vector $z$ is called the
  **latent vector**; we draw it from a standard normal distribution $p(z)$.
* the **discriminator** $D$ looks at a sample $x$ and outputs $D(x)$, its probability that $x$ is a
  real training example and not a fake made by $G$.

The two networks play a game. $D$ learns to tell real from fake. $G$ learns to fool $D$.
We write $p_\text{data}$ for the distribution of the real data and $p_g$ for the distribution of $G(z)$.

The plan of this chapter:

1. the game and its loss (binary cross-entropy), the two generator losses and why practice uses the
   "non-saturating" one; the optimal discriminator, checked on 1-D densities;
2. a 2-D toy (a ring of 8 Gaussians): one GAN step by hand, then the course `Trainer`; **mode collapse**;
3. MNIST digits: a fully connected GAN, then a convolutional **DCGAN**; latent interpolation;
4. **WGAN-GP**: a critic, the Wasserstein objective and the gradient penalty;
5. a **class-conditional GAN** that draws the digit we ask for;
6. **evaluation**: a "classifier FID" and a label check, what they see and what they miss.
""")

code(r"""
import aigc_lib
device = aigc_lib.setup_notebook(seed=0)
""")

code(r"""
import copy
import math
import time

import matplotlib.pyplot as plt
import torch
from torch import nn
from torch.nn import functional as F

from aigc_lib import SupervisedTask, Trainer, budget, seed_everything
from aigc_lib.data import TensorBatches, load_mnist, ring_centers, ring_of_gaussians
from aigc_lib.gan import (DCGANConfig, DCGANDiscriminator, DCGANGenerator, MLPGANConfig, MLPDiscriminator,
                          MLPGenerator, generate)
from aigc_lib.gan_metrics import mode_coverage
from aigc_lib.gan_training import (GANTask, WGANGPTask, discriminator_loss, generator_loss_minimax,
                                   generator_loss_nonsaturating, gradient_penalty, interpolate)
from aigc_lib.mnist_classifier import (classifier_fid, frechet_distance, label_accuracy,
                                       load_mnist_classifier, predict)
from aigc_lib.plotting import plot_history, show_images

QUIET = dict(progress=False, live_plot=False)  # we draw our own figures after each run
chapter_start = time.perf_counter()
""")

# ----------------------------------------------------------------------------- the game
md(r"""
## The game and its loss

$D(x) = \sigma(\ell(x))$, where $\ell(x)$ is the discriminator's output number (its **logit**) and
$\sigma(t) = 1/(1+e^{-t})$ is the sigmoid. Goodfellow et al. {cite}`goodfellow2014gan` define the game with
one value function:

$$
\min_G \max_D \; V(D, G) = \mathbb{E}_{x\sim p_\text{data}}[\log D(x)] + \mathbb{E}_{z\sim p(z)}[\log(1 - D(G(z)))].
$$

$D$ wants $V$ large: $D(x)$ close to 1 on real data and close to 0 on fakes. This is exactly a binary
classifier with label 1 for real and 0 for fake, so $-V$ is the **binary cross-entropy** (BCE) of $D$.
(It is *not* a least-squares loss; the least-squares GAN is a later variant.)

In code we work with logits: $-\log \sigma(\ell) = \operatorname{softplus}(-\ell)$ and
$-\log(1-\sigma(\ell)) = \operatorname{softplus}(\ell)$, where $\operatorname{softplus}(t) = \log(1+e^t)$.
These forms never take the log of 0. Let us check the library's loss against the formula and PyTorch's BCE.
""")

code(r"""
# NBVAL_CHECK_OUTPUT
real_logits = torch.tensor([2.0, 0.5, -1.0])
fake_logits = torch.tensor([-2.0, 1.0])
d_real, d_fake = torch.sigmoid(real_logits), torch.sigmoid(fake_logits)
by_hand = -(torch.log(d_real).mean() + torch.log(1 - d_fake).mean())
as_bce = F.binary_cross_entropy(d_real, torch.ones(3)) + F.binary_cross_entropy(d_fake, torch.zeros(2))
library = discriminator_loss(real_logits, fake_logits)
torch.testing.assert_close(library, by_hand)
torch.testing.assert_close(library, as_bce)
print(f"-V by hand: {by_hand:.6f}   BCE: {as_bce:.6f}   aigc_lib: {library:.6f}")
""")

md(r"""
### Two losses for the generator

In the game, $G$ minimises $\mathbb{E}_z[\log(1 - D(G(z)))]$, the **minimax** (or *saturating*) loss. Early in
training the fakes are bad, $D$ rejects them with confidence, and $D(G(z)) \approx 0$. Look at the
gradient with respect to the logit $\ell$ of a fake:

$$
\frac{\partial}{\partial \ell}\log(1-\sigma(\ell)) = -\sigma(\ell) = -D(G(z)) \approx 0 .
$$

The generator gets almost no signal exactly when it needs it most. Goodfellow et al. therefore suggest the
**non-saturating** loss $-\mathbb{E}_z[\log D(G(z))]$. It has the same fixed point (both push $D(G(z))$ up),
but its gradient is

$$
\frac{\partial}{\partial \ell}\left(-\log\sigma(\ell)\right) = -(1-\sigma(\ell)) = -(1 - D(G(z))) \approx -1 .
$$

We check both formulas with autograd and plot them.
""")

code(r"""
# NBVAL_CHECK_OUTPUT
logits = torch.linspace(-8, 6, 281, requires_grad=True)
n = len(logits)  # the losses are means; multiply by n to get the gradient per sample
(grad_minimax,) = torch.autograd.grad(n * generator_loss_minimax(logits), logits)
(grad_nonsat,) = torch.autograd.grad(n * generator_loss_nonsaturating(logits), logits)
d_fake = torch.sigmoid(logits.detach())
torch.testing.assert_close(grad_minimax, -d_fake)
torch.testing.assert_close(grad_nonsat, -(1 - d_fake))
print(f"when D(G(z)) = {d_fake[0]:.5f}: minimax gradient {grad_minimax[0]:.5f}, "
      f"non-saturating gradient {grad_nonsat[0]:.5f}")
""")

code(r"""
# NBVAL_IGNORE_OUTPUT: a figure
fig, ax = plt.subplots(figsize=(5.5, 3.2))
ax.plot(d_fake, grad_minimax.abs(), label=r"minimax  $\log(1-D(G(z)))$")
ax.plot(d_fake, grad_nonsat.abs(), label=r"non-saturating  $-\log D(G(z))$")
ax.set_xscale("log")
ax.set_xlabel("D(G(z)), the discriminator's belief that a fake is real")
ax.set_ylabel("|gradient| w.r.t. the logit")
ax.axvspan(d_fake[0], 0.05, color="grey", alpha=0.15)
ax.text(3e-4, 0.5, "D is confident:\nfakes rejected", fontsize=8)
ax.legend(loc="center right")
plt.show()
""")

md(r"""
### The optimal discriminator

Fix $G$. For each point $x$, the discriminator's part of $V$ is
$p_\text{data}(x)\log D + p_g(x)\log(1-D)$. Setting the derivative in $D$ to zero gives the best
discriminator {cite}`goodfellow2014gan`:

$$
D^*(x) = \frac{p_\text{data}(x)}{p_\text{data}(x) + p_g(x)} .
$$

We check it in two ways on 1-D densities: $p_\text{data} = \mathcal N(1, 0.5^2)$ and
$p_g = \mathcal N(-0.5, 1)$. First by brute force: for each $x$ we try 10,001 values of $D$ and keep the best.
""")

code(r"""
# NBVAL_CHECK_OUTPUT
def normal_pdf(x, mean, std):
    return torch.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))


xs = torch.linspace(-4, 4, 801, dtype=torch.float64)
p_data, p_g = normal_pdf(xs, 1.0, 0.5), normal_pdf(xs, -0.5, 1.0)
d_star = p_data / (p_data + p_g)
candidates = torch.linspace(1e-4, 1 - 1e-4, 10_001, dtype=torch.float64)
values = p_data[:, None] * torch.log(candidates) + p_g[:, None] * torch.log(1 - candidates)
d_best = candidates[values.argmax(dim=1)]
print(f"largest gap between the brute-force best D and the formula: {(d_best - d_star).abs().max():.6f} "
      f"(grid step {candidates[1] - candidates[0]:.6f})")
""")

md(r"""
At $D^*$ the value of the game is $V(D^*, G) = -\log 4 + 2\,\mathrm{JSD}(p_\text{data}\,\|\,p_g)$, where
JSD is the **Jensen–Shannon divergence**, $\tfrac12\mathrm{KL}(p_\text{data}\|m) + \tfrac12\mathrm{KL}(p_g\|m)$
with $m = (p_\text{data}+p_g)/2$. So a generator that minimises $V$ against the best discriminator minimises
the JSD, which is 0 only when $p_g = p_\text{data}$. Numerical integration agrees:
""")

code(r"""
# NBVAL_CHECK_OUTPUT
v_star = torch.trapezoid(p_data * torch.log(d_star) + p_g * torch.log(1 - d_star), xs)
m = (p_data + p_g) / 2
jsd = 0.5 * torch.trapezoid(p_data * torch.log(p_data / m), xs) + 0.5 * torch.trapezoid(p_g * torch.log(p_g / m), xs)
print(f"V(D*, G) = {v_star:.5f}    -log 4 + 2 JSD = {-math.log(4) + 2 * jsd:.5f}")
""")

md(r"""
Second, we *train* a small discriminator on samples, with the course `Trainer` and the BCE loss: a binary
classifier with label 1 for samples of $p_\text{data}$ and 0 for samples of $p_g$. Where the densities
are not tiny, it should learn $D^*$.
""")

code(r"""
n = 5000
samples_1d = torch.cat([1.0 + 0.5 * torch.randn(n, 1), -0.5 + torch.randn(n, 1)])
is_real = torch.cat([torch.ones(n), torch.zeros(n)])
disc_1d = nn.Sequential(nn.Linear(1, 32), nn.LeakyReLU(0.2), nn.Linear(32, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1))
task_1d = SupervisedTask(disc_1d, lambda logit, y: F.binary_cross_entropy_with_logits(logit.squeeze(1), y),
                         lambda params: torch.optim.Adam(params, lr=3e-3))
history_1d = Trainer(max_steps=1500, lr_schedule="cosine", **QUIET).fit(task_1d, TensorBatches(samples_1d, is_real, batch_size=256))
""")

code(r"""
# NBVAL_IGNORE_OUTPUT: depends on training length
with torch.no_grad():
    d_trained = torch.sigmoid(disc_1d(xs.float()[:, None].to(device))).squeeze(1).cpu().double()
dense = (p_data + p_g) > 0.05
print(f"largest |D_trained - D*| where p_data + p_g > 0.05: {(d_trained - d_star)[dense].abs().max():.3f}")
fig, ax = plt.subplots(figsize=(5.5, 3.2))
ax.plot(xs, p_data, "k:", label="p_data")
ax.plot(xs, p_g, "k--", label="p_g")
ax.plot(xs, d_star, lw=3, alpha=0.5, label="D* (formula)")
ax.plot(xs, d_trained, label="trained D")
ax.set_xlabel("x")
ax.legend()
plt.show()
""")

# ----------------------------------------------------------------------------- ring
md(r"""
## A 2-D toy: a ring of 8 Gaussians

Our first data set is a mixture of 8 Gaussians with standard deviation 0.05, placed on a circle of radius 2
{cite}`metz2017unrolled`. Each Gaussian is a **mode**: a region where the data is dense. It is easy to see
when a GAN misses modes.

We measure two things with the usual **mode-coverage** test {cite}`srivastava2017veegan,lin2018pacgan`:
we draw 2,500 samples and assign each to the nearest mode. A sample is *high quality* when it lies within
3 standard deviations of that mode's centre. A mode is *covered* when it gets at least 20 high-quality
samples. Real data covers all modes, and in 2-D a fraction $1 - e^{-9/2} \approx 98.9\,\%$ of it lies
within 3 standard deviations.
""")

code(r"""
# NBVAL_CHECK_OUTPUT
RING_STD = 0.05
centers = ring_centers(8, radius=2.0)
ring_data, _ = ring_of_gaussians(50_000, std=RING_STD, generator=torch.Generator().manual_seed(0))
real_check, _ = ring_of_gaussians(2500, std=RING_STD, generator=torch.Generator().manual_seed(1))
print("real data:", mode_coverage(real_check, centers, RING_STD))
print(f"theory: {100 * (1 - math.exp(-4.5)):.1f}% within 3 std")
""")

code(r"""
# NBVAL_IGNORE_OUTPUT: a figure
def scatter(ax, points, title=""):
    ax.scatter(*points.cpu().T, s=1, alpha=0.5)
    ax.scatter(*centers.T, s=25, c="red", marker="x")
    ax.set(xlim=(-3, 3), ylim=(-3, 3), aspect="equal", title=title, xticks=[], yticks=[])


fig, ax = plt.subplots(figsize=(2.8, 2.8))
scatter(ax, real_check, "real data (x: mode centres)")
plt.show()
""")

md(r"""
### One GAN step, written by hand

Both networks are small multi-layer perceptrons (MLPs). The generator maps a 2-D latent vector to a 2-D
point. One **training step** has two parts, discriminator first:

1. draw real points and fakes; update $D$ to lower its BCE. The fakes are *detached*: this step must not
   change $G$.
2. draw fresh latent vectors; update $G$ to lower the non-saturating loss $-\log D(G(z))$.
""")

code(r"""
seed_everything(1)
ring_cfg = MLPGANConfig(data_shape=(2,), latent_dim=2, hidden_dim=128, n_hidden=3)
G_hand, D_hand = MLPGenerator(ring_cfg), MLPDiscriminator(ring_cfg)
G_start, D_start = copy.deepcopy(G_hand), copy.deepcopy(D_hand)  # for the check below
opt_d = torch.optim.Adam(D_hand.parameters(), lr=2e-4, betas=(0.5, 0.999))
opt_g = torch.optim.Adam(G_hand.parameters(), lr=2e-4, betas=(0.5, 0.999))


def gan_step(real):
    # 1. discriminator: BCE with target 1 on real data and 0 on (detached) fakes
    fake = G_hand(torch.randn(len(real), ring_cfg.latent_dim)).detach()
    loss_d = F.softplus(-D_hand(real)).mean() + F.softplus(D_hand(fake)).mean()
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    # 2. generator: non-saturating loss -log D(G(z)) on fresh latent vectors
    loss_g = F.softplus(-D_hand(G_hand(torch.randn(len(real), ring_cfg.latent_dim)))).mean()
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    return loss_d.item(), loss_g.item()
""")

md(r"""
`aigc_lib.gan_training.GANTask` does the same thing inside the course `Trainer`: its
`configure_optimizers` returns `{"D": ..., "G": ...}`, and the Trainer steps the optimisers in that order.
From the same weights and the same random numbers, one step must give the same losses and the same new weights.
""")

code(r"""
# NBVAL_CHECK_OUTPUT
first_batch = ring_data[:512]
torch.manual_seed(123)
hand_losses = gan_step(first_batch)
lib_task = GANTask(G_start, D_start, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999))
torch.manual_seed(123)
lib_hist = Trainer(max_steps=1, log_every=1, device="cpu", **QUIET).fit(lib_task, [first_batch])
lib_losses = (lib_hist.last("train/D_loss"), lib_hist.last("train/G_loss"))
for p_hand, p_lib in zip(list(G_hand.parameters()) + list(D_hand.parameters()), lib_task.parameters()):
    torch.testing.assert_close(p_hand, p_lib)
print(f"by hand:  D loss {hand_losses[0]:.6f}, G loss {hand_losses[1]:.6f}")
print(f"aigc_lib: D loss {lib_losses[0]:.6f}, G loss {lib_losses[1]:.6f}; all weights equal after the step")
""")

md(r"""
For teaching, here is the whole loop by hand: a few hundred steps. From now on every training run uses
the `Trainer`, which adds logging, checkpoints, the non-finite-loss guard and smoke mode.
""")

code(r"""
# NBVAL_IGNORE_OUTPUT: depends on training length
hand_batches = iter(TensorBatches(ring_data, batch_size=512, seed=0))
hand_losses = [gan_step(next(hand_batches)) for _ in range(budget(500, smoke=10))]
print(f"after {len(hand_losses) + 1} hand-written steps:", mode_coverage(generate(G_hand, 2500, seed=0), centers, RING_STD))
""")

md(r"""
### Mode collapse

A GAN can fail in a typical way: the generator puts all its samples on one or a few modes. This is
**mode collapse**. The discriminator then learns to reject that region, the generator jumps to another one,
and so on. We provoke it with a learning rate five times larger (1e-3), a 16-D latent vector and smaller
batches, and take a picture of 2,500 samples every 500 steps. We raise `max_steps` and call `fit` again:
the Trainer continues where it stopped, with the same optimiser state.
""")

code(r"""
def train_in_stages(trainer, task, data, n_stages, snapshot):
    # Call trainer.fit n_stages times, each time up to a larger max_steps; return [(step, snapshot())].
    total, shots = trainer.config.max_steps, []
    for k in range(1, n_stages + 1):
        trainer.config.max_steps = total * k // n_stages
        trainer.fit(task, data)
        shots.append((trainer.step, snapshot()))
    return shots


def ring_snapshot(task):
    return lambda: generate(task.generator, 2500, seed=0).cpu()


def show_ring_stages(shots, title):
    fig, axes = plt.subplots(1, len(shots), figsize=(2.2 * len(shots), 2.4))
    for ax, (step, points) in zip(axes, shots):
        cov = mode_coverage(points, centers, RING_STD)
        scatter(ax, points, f"step {step}\n{cov.modes_covered}/8 modes, {100 * cov.high_quality_fraction:.0f}% good")
    fig.suptitle(title, y=1.05)
    plt.show()
""")

code(r"""
# NBVAL_IGNORE_OUTPUT: depends on training length
seed_everything(2)
collapse_cfg = MLPGANConfig(data_shape=(2,), latent_dim=16, hidden_dim=128, n_hidden=3)
collapse_task = GANTask(MLPGenerator(collapse_cfg), MLPDiscriminator(collapse_cfg), lr_g=1e-3, lr_d=1e-3)
collapse_trainer = Trainer(max_steps=2000, log_every=50, **QUIET)
collapse_shots = train_in_stages(collapse_trainer, collapse_task, TensorBatches(ring_data, batch_size=256, seed=1),
                                 4, ring_snapshot(collapse_task))
show_ring_stages(collapse_shots, "learning rate 1e-3: the samples jump from mode to mode")
""")

md(r"""
Now the settings that work: a 2-D latent vector, learning rate 2e-4 with Adam's $\beta_1 = 0.5$ (as in
DCGAN {cite}`radford2016dcgan`), and batches of 512.
""")

code(r"""
# NBVAL_IGNORE_OUTPUT: depends on training length
seed_everything(1)
ring_task = GANTask(MLPGenerator(ring_cfg), MLPDiscriminator(ring_cfg), lr_g=2e-4, lr_d=2e-4)
ring_trainer = Trainer(max_steps=4000, log_every=50, **QUIET)
ring_shots = train_in_stages(ring_trainer, ring_task, TensorBatches(ring_data, batch_size=512, seed=1),
                             4, ring_snapshot(ring_task))
show_ring_stages(ring_shots, "learning rate 2e-4, batch 512")
""")

code(r"""
# NBVAL_IGNORE_OUTPUT: depends on training length
fig, ax = plt.subplots(figsize=(5.5, 3))
plot_history(ring_trainer.history, ["train/D_D_real", "train/D_D_fake"], ax=ax)
ax.axhline(0.5, color="k", lw=0.8)
ax.set_ylabel("mean D(x)")
plt.show()
""")

md(r"""
The curves show the mean of $D$ on real points and on fakes. Both move towards $\tfrac12$: at the
equilibrium $p_g = p_\text{data}$ we get $D^* = \tfrac12$ everywhere, the discriminator can only guess.
""")

# ----------------------------------------------------------------------------- WGAN on ring
md(r"""
### WGAN-GP on the ring

The **Wasserstein GAN** {cite}`arjovsky2017wgan` replaces the discriminator by a **critic** $f$ that
outputs any real number (no sigmoid). The critic maximises
$\mathbb{E}_{x\sim p_\text{data}}[f(x)] - \mathbb{E}_z[f(G(z))]$ over functions whose slope is at most 1 (1-Lipschitz).
The maximum is the **Wasserstein-1 distance** between $p_\text{data}$ and $p_g$: the least "mass times
distance" needed to move one distribution onto the other. Unlike the JSD, it still gives useful
gradients when the two distributions do not overlap.

WGAN-GP {cite}`gulrajani2017wgangp` keeps the slope near 1 with a **gradient penalty**. It draws a random
point $\hat x = \epsilon x + (1-\epsilon) G(z)$ on the segment between a real and a fake sample
($\epsilon \sim U[0,1]$) and adds

$$
\lambda\, \mathbb{E}_{\hat x}\big[(\lVert \nabla_{\hat x} f(\hat x) \rVert_2 - 1)^2\big], \qquad \lambda = 10,
$$

to the critic's loss. The critic takes 5 steps for each generator step. We check the penalty on a critic
whose gradient we know: $f(x) = w \cdot x$ has gradient $w$ at every point, so the penalty is
$(\lVert w\rVert - 1)^2$, and its gradient with respect to $w$ is $2(\lVert w\rVert-1)\,w/\lVert w\rVert$.
""")

code(r"""
# NBVAL_CHECK_OUTPUT
w = torch.tensor([0.6, -2.0], requires_grad=True)
gp = gradient_penalty(lambda x: x @ w, torch.randn(16, 2), torch.randn(16, 2))
(grad_w,) = torch.autograd.grad(gp, w)
norm_w = w.detach().norm()
torch.testing.assert_close(gp, (norm_w - 1) ** 2)
torch.testing.assert_close(grad_w, 2 * (norm_w - 1) * w.detach() / norm_w)
real_pts, fake_pts = torch.randn(4, 2), torch.randn(4, 2)
x_hat, eps = interpolate(real_pts, fake_pts, generator=torch.Generator().manual_seed(0))
torch.testing.assert_close(x_hat, eps * real_pts + (1 - eps) * fake_pts)
print(f"penalty {gp:.4f} = (|w| - 1)^2 = {(norm_w - 1) ** 2:.4f}; gradient w.r.t. w: {grad_w.tolist()}")
""")

md(r"""
`WGANGPTask` asks the Trainer for the steps `["D"] * 5 + ["G"]` through `optimizer_schedule`. Each of the
5 critic steps uses a different fifth of the batch, so the batch has 5 × 256 points.
""")

code(r"""
# NBVAL_IGNORE_OUTPUT: depends on training length
seed_everything(1)
wgan_ring_task = WGANGPTask(MLPGenerator(ring_cfg), MLPDiscriminator(ring_cfg), n_critic=5, lr=2e-4, betas=(0.5, 0.9))
wgan_ring_trainer = Trainer(max_steps=800, log_every=20, **QUIET)
wgan_ring_shots = train_in_stages(wgan_ring_trainer, wgan_ring_task, TensorBatches(ring_data, batch_size=5 * 256, seed=1),
                                  4, ring_snapshot(wgan_ring_task))
show_ring_stages(wgan_ring_shots, "WGAN-GP (5 critic steps per generator step)")
""")

code(r"""
# NBVAL_IGNORE_OUTPUT: depends on training length
fig, axes = plt.subplots(1, 2, figsize=(9, 3))
plot_history(ring_trainer.history, ["train/D_loss", "train/G_loss"], ax=axes[0], title="GAN: BCE losses")
plot_history(wgan_ring_trainer.history, ["train/D_wasserstein"], ax=axes[1], title="WGAN-GP: Wasserstein estimate")
plt.tight_layout()
plt.show()
ring_results = {"GAN, lr 1e-3 (collapse)": collapse_shots[-1][1], "GAN, lr 2e-4": ring_shots[-1][1],
                "WGAN-GP": wgan_ring_shots[-1][1]}
for name, points in ring_results.items():
    print(f"{name:26s} {mode_coverage(points, centers, RING_STD)}")
""")

md(r"""
The BCE losses of a GAN say little about sample quality: they hover around their equilibrium values. The
Wasserstein estimate of WGAN-GP is different: it tends to fall as the samples approach the data (noisily on
this small ring; on MNIST below the fall is clearer), so it is a useful training curve. WGAN-GP behaves differently from the collapsing GAN: it first spreads its samples
over the whole region and then pulls them onto the ring, and it never sits on a single mode. Within our
small budget (800 generator steps, each after 5 critic steps) its samples are still less sharp than those
of the tuned GAN.
The target of this chapter is the best model covering at least 7 of 8 modes with at least 80 % of its
samples within 3 standard deviations:
""")

code(r"""
# NBVAL_IGNORE_OUTPUT: depends on training length
best_name, best_points = max(ring_results.items(),
                             key=lambda kv: mode_coverage(kv[1], centers, RING_STD).high_quality_fraction)
best = mode_coverage(best_points, centers, RING_STD)
print(f"best model: {best_name}: {best}")
print(f"target (>= 7 modes and >= 80%) met: {best.modes_covered >= 7 and best.high_quality_fraction >= 0.8}")
""")

# ----------------------------------------------------------------------------- MNIST
md(r"""
## MNIST digits

Now images: 28×28 handwritten digits {cite}`lecun1998mnist`. If the full data set cannot be downloaded,
`load_mnist` uses a 5,000-digit subset and says so. The generators end with $\tanh$, so we scale the pixels
from $[0, 1]$ to $[-1, 1]$.
""")

code(r"""
# NBVAL_IGNORE_OUTPUT: the message depends on whether the full MNIST can be downloaded
mnist_train, mnist_test = load_mnist("train"), load_mnist("test")
x_train = mnist_train.images * 2 - 1          # (N, 1, 28, 28) in [-1, 1]
y_train = mnist_train.labels
print("training images:", tuple(x_train.shape))
""")

md(r"""
### A fully connected GAN

The first MNIST GAN flattens each image into 784 numbers: MLPs with two hidden layers of 256 units and a
64-D latent vector. Dropout in the discriminator slows it down a little, so that it does not win the game
too early. The network knows nothing about images: for it, neighbouring pixels are unrelated numbers.
""")

code(r"""
# NBVAL_IGNORE_OUTPUT: depends on training length
seed_everything(3)
mlp_cfg = MLPGANConfig(data_shape=(1, 28, 28), latent_dim=64, hidden_dim=256, n_hidden=2, output="tanh", d_dropout=0.3)
mlp_task = GANTask(MLPGenerator(mlp_cfg), MLPDiscriminator(mlp_cfg), lr_g=5e-4, lr_d=5e-4)
mlp_trainer = Trainer(max_steps=1500, log_every=50, **QUIET)
mlp_shots = train_in_stages(mlp_trainer, mlp_task, TensorBatches(x_train, batch_size=64, seed=0), 4,
                            lambda: (generate(mlp_task.generator, 16, seed=0).cpu() + 1) / 2)
fig, axes = plt.subplots(1, 4, figsize=(12, 3.2))
for ax, (step, imgs) in zip(axes, mlp_shots):
    show_images(imgs, nrow=4, ax=ax, title=f"MLP GAN, step {step}")
plt.show()
""")

md(r"""
### DCGAN

The MLP's digits are blotchy and noisy, and several samples look alike: its last layer sets every pixel
on its own, and it has no idea that neighbouring pixels belong together. Convolutions build this idea
into the network. Radford et al. {cite}`radford2016dcgan` found a convolutional design that trains reliably. Their
guidelines, all used in `DCGANGenerator` and `DCGANDiscriminator`:

* no pooling: the generator grows the image with **transposed convolutions** of stride 2, the
  discriminator shrinks it with convolutions of stride 2;
* **batch norm** in both networks, but not in the generator's output layer nor the discriminator's input layer;
* ReLU in the generator, $\tanh$ at its output; LeakyReLU (slope 0.2) in the discriminator;
* no hidden fully connected layers beyond the first projection of $z$ and the last logit;
* Adam with $\beta_1 = 0.5$, weights drawn from $\mathcal N(0, 0.02^2)$ (standard deviation 0.02).

Our generator goes $z\,(64) \to (64, 7, 7) \to (32, 14, 14) \to (1, 28, 28)$.
A transposed convolution with kernel 4, stride 2 and padding 1 doubles the size: $(7-1)\cdot 2 - 2 + 4 = 14$.
""")

code(r"""
# NBVAL_CHECK_OUTPUT
dc_cfg = DCGANConfig(image_size=28, channels=1, latent_dim=64, base_channels=32)
print(DCGANGenerator(dc_cfg))
up = nn.ConvTranspose2d(64, 32, kernel_size=4, stride=2, padding=1)
print("transposed conv:", tuple(torch.zeros(1, 64, 7, 7).shape), "->", tuple(up(torch.zeros(1, 64, 7, 7)).shape))
""")

code(r"""
# NBVAL_IGNORE_OUTPUT: depends on training length
seed_everything(4)
dc_task = GANTask(DCGANGenerator(dc_cfg), DCGANDiscriminator(dc_cfg), lr_g=5e-4, lr_d=5e-4)
dc_start = time.perf_counter()
dc_trainer = Trainer(max_steps=2400, log_every=50, **QUIET)
dc_shots = train_in_stages(dc_trainer, dc_task, TensorBatches(x_train, batch_size=64, seed=0), 4,
                           lambda: (generate(dc_task.generator, 16, seed=0).cpu() + 1) / 2)
fig, axes = plt.subplots(1, 4, figsize=(12, 3.2))
for ax, (step, imgs) in zip(axes, dc_shots):
    show_images(imgs, nrow=4, ax=ax, title=f"DCGAN, step {step}")
plt.show()
print(f"DCGAN: {dc_trainer.step} steps in {time.perf_counter() - dc_start:.0f} s (with the snapshots)")
""")

md(r"""
The same 16 latent vectors are shown at each stage, so we can watch each digit form. With a learning rate
of 5e-4 (higher than DCGAN's 2e-4) the network learns fast enough for our small CPU budget.

**Latent interpolation.** If the generator has learned a smooth map, points on the straight line between
two latent vectors give images that change smoothly from one digit to another.
""")

code(r"""
# NBVAL_IGNORE_OUTPUT: depends on training length
g = torch.Generator().manual_seed(7)
z_ends = torch.randn(3, 2, dc_cfg.latent_dim, generator=g)                  # 3 pairs of latent vectors
ts = torch.linspace(0, 1, 9)[:, None]
z_path = torch.cat([(1 - ts) * a[None] + ts * b[None] for a, b in z_ends])   # (27, latent_dim)
show_images((generate(dc_task.generator, len(z_path), z=z_path).cpu() + 1) / 2, nrow=9,
            title="straight lines in latent space")
plt.show()
""")

# ----------------------------------------------------------------------------- WGAN MNIST
md(r"""
### WGAN-GP on MNIST

The critic is the DCGAN discriminator with one change: **layer norm** instead of batch norm. The penalty
is a gradient per example, and batch norm would mix the examples of a batch {cite}`gulrajani2017wgangp`
(`WGANGPTask` refuses a critic with batch norm). Adam uses $\beta = (0.5, 0.9)$. Each training step
is 5 critic steps and 1 generator step, and the penalty needs a second backward pass, so one step costs
about 6 times a DCGAN step. We give it fewer steps.
""")

code(r"""
# NBVAL_IGNORE_OUTPUT: depends on training length
seed_everything(5)
critic_cfg = DCGANConfig(image_size=28, channels=1, latent_dim=64, base_channels=32, d_norm="layer")
wgan_task = WGANGPTask(DCGANGenerator(critic_cfg), DCGANDiscriminator(critic_cfg), n_critic=5, lr=5e-4, betas=(0.5, 0.9))
wgan_start = time.perf_counter()
wgan_trainer = Trainer(max_steps=250, log_every=10, **QUIET)
wgan_shots = train_in_stages(wgan_trainer, wgan_task, TensorBatches(x_train, batch_size=5 * 64, seed=0), 3,
                             lambda: (generate(wgan_task.generator, 16, seed=0).cpu() + 1) / 2)
fig, axes = plt.subplots(1, 4, figsize=(12, 3.2))
for ax, (step, imgs) in zip(axes[:3], wgan_shots):
    show_images(imgs, nrow=4, ax=ax, title=f"WGAN-GP, step {step}")
plot_history(wgan_trainer.history, ["train/D_wasserstein"], ax=axes[3], title="Wasserstein estimate")
plt.tight_layout()
plt.show()
print(f"WGAN-GP: {wgan_trainer.step} steps in {time.perf_counter() - wgan_start:.0f} s (with the snapshots)")
""")

md(r"""
After 250 generator steps (1,250 critic steps) WGAN-GP already draws digit-like shapes, and its
Wasserstein estimate falls steadily: the curve tells us how training goes, which the BCE losses of a GAN
do not. Within our CPU budget, though, the DCGAN, which trained about twice as long in wall-clock time, reaches a lower
classifier FID (see the table in the evaluation section).
""")

# ----------------------------------------------------------------------------- conditional
md(r"""
## A class-conditional GAN

A conditional GAN {cite}`mirza2014conditional` gives both networks the label $y$ (here the digit 0–9). The
generator gets a one-hot code of $y$ next to $z$ and must draw that digit. The discriminator judges the pair
(image, label): a perfect "3" with the label 7 is a fake. Our discriminator reads the label as 10 extra
input channels and also through a *projection* term $\langle \mathrm{embed}(y), h\rangle$ added to its logit,
where $h$ is its last feature vector {cite}`miyato2018cgans`. Batches are now pairs `(images, labels)`; the
fakes of a batch use the labels of its real images.
""")

code(r"""
# NBVAL_CHECK_OUTPUT
cond_cfg = DCGANConfig(image_size=28, channels=1, latent_dim=64, base_channels=32, n_classes=10)
for bad_label in (torch.tensor([3, 10]), torch.tensor([-1, 3])):
    try:
        DCGANGenerator(cond_cfg)(torch.randn(2, 64), bad_label)
    except IndexError as e:
        print("IndexError:", e)
""")

code(r"""
# NBVAL_IGNORE_OUTPUT: depends on training length
seed_everything(6)
cond_task = GANTask(DCGANGenerator(cond_cfg), DCGANDiscriminator(cond_cfg), lr_g=2e-4, lr_d=2e-4)
cond_trainer = Trainer(max_steps=2000, log_every=50, **QUIET)
cond_trainer.fit(cond_task, TensorBatches(x_train, y_train, batch_size=64, seed=0))
digits = torch.arange(10).repeat_interleave(8)                   # 8 samples of each digit, one row per digit
show_images((generate(cond_task.generator, 80, labels=digits, seed=0).cpu() + 1) / 2, nrow=8,
            title="conditional GAN: row k asks for digit k")
plt.show()
""")

md(r"""
**Explore it yourself.** Choose a digit and a latent vector (by its seed), and move along one random
direction in latent space. The label fixes *which* digit; the latent vector fixes *how* it is written
(slant, thickness, style). The static page cannot run Python, so a still figure after the widget shows
what it displays.
""")

code(r"""
# NBVAL_IGNORE_OUTPUT: an interactive widget
import ipywidgets as widgets

direction = torch.randn(cond_cfg.latent_dim, generator=torch.Generator().manual_seed(11))
direction = direction / direction.norm()


def cond_sample(digit, seed, t):
    z = torch.randn(1, cond_cfg.latent_dim, generator=torch.Generator().manual_seed(seed)) + t * direction
    return (generate(cond_task.generator, 1, labels=torch.tensor([digit]), z=z).cpu() + 1) / 2


def show_one(digit=3, seed=0, t=0.0):
    fig, ax = plt.subplots(figsize=(1.6, 1.6))
    show_images(cond_sample(digit, seed, t), ax=ax, title=f"digit {digit}")
    plt.show()


widgets.interact(show_one, digit=widgets.IntSlider(3, 0, 9), seed=widgets.IntSlider(0, 0, 50),
                 t=widgets.FloatSlider(0.0, min=-3.0, max=3.0, step=0.25));
""")

code(r"""
# NBVAL_IGNORE_OUTPUT: depends on training length
ts_still = [-3.0, -1.5, 0.0, 1.5, 3.0]
still = torch.cat([cond_sample(d, seed=0, t=t) for d in range(10) for t in ts_still])
show_images(still, nrow=len(ts_still), title="still: rows = digits 0-9, columns = t from -3 to 3")
plt.show()
""")

# ----------------------------------------------------------------------------- evaluation
md(r"""
## Evaluation: a classifier FID and a label check

Looking at samples is not enough to compare models. The **Fréchet Inception Distance** (FID)
{cite}`heusel2017fid` compares two sets of images through the features of a trained network: it fits a
Gaussian $\mathcal N(\mu, \Sigma)$ to the features of each set and computes the Fréchet (2-Wasserstein)
distance between the two Gaussians,

$$
d^2 = \lVert \mu_1 - \mu_2 \rVert^2 + \operatorname{Tr}\big(\Sigma_1 + \Sigma_2 - 2(\Sigma_1\Sigma_2)^{1/2}\big).
$$

Lower is better; identical sets give about 0.

**Our version is not the FID of papers.** The real FID uses the Inception-v3 network, trained on
ImageNet photos, and its 2,048 features, with 50,000 samples. We use instead a small CNN trained on MNIST
(`aigc_lib.mnist_classifier`, weights shipped with the library and checked by their sha256) and its 64
features, with 1,000 samples. The features are different, so the numbers are on a different scale:
compare them only with each other, inside this chapter. The estimate also depends on the number of samples,
so every row below uses 1,000. In 1-D the formula reduces to $(\mu_1-\mu_2)^2 + (\sigma_1-\sigma_2)^2$:
""")

code(r"""
# NBVAL_CHECK_OUTPUT
d = frechet_distance(torch.tensor([1.0]).numpy(), [[4.0]], torch.tensor([-2.0]).numpy(), [[0.25]])
print(f"Frechet distance N(1, 2^2) to N(-2, 0.5^2): {d:.6f}; closed form (1+2)^2 + (2-0.5)^2 = {3 ** 2 + 1.5 ** 2:.6f}")
""")

code(r"""
# NBVAL_IGNORE_OUTPUT: depends on which MNIST is available
classifier = load_mnist_classifier(device=device)
test_acc = label_accuracy(classifier, mnist_test.images, mnist_test.labels)
print(f"classifier accuracy on {len(mnist_test):,} test digits: {100 * test_acc:.1f}%")
""")

md(r"""
We compare 1,000 samples from each model with the 1,000 test digits. The **floor** is 1,000 real
training digits against the same test digits: no generator can be expected to do better. The
**untrained generator** is a fresh DCGAN generator: a reference for a very bad score (not the worst
possible one, as we will see).
""")

code(r"""
# NBVAL_IGNORE_OUTPUT: depends on training length
N_EVAL = 1000
reference = mnist_test.images[:N_EVAL]
real_idx = torch.randperm(len(mnist_train), generator=torch.Generator().manual_seed(0))[:N_EVAL]
eval_labels = torch.arange(10).repeat(N_EVAL // 10)
seed_everything(9)
untrained = DCGANGenerator(dc_cfg).to(device)


def gan_images(task_or_gen, labels=None):
    gen = getattr(task_or_gen, "generator", task_or_gen)
    return (generate(gen, N_EVAL, labels=labels, seed=123).cpu() + 1) / 2   # back to [0, 1]


candidates = {
    "real training digits (floor)": mnist_train.images[real_idx],
    "untrained DCGAN generator": gan_images(untrained),
    "MLP GAN": gan_images(mlp_task),
    "DCGAN": gan_images(dc_task),
    "WGAN-GP": gan_images(wgan_task),
    "conditional GAN": gan_images(cond_task, eval_labels),
}
fid = {name: classifier_fid(classifier, imgs, reference) for name, imgs in candidates.items()}
print(f"{'model':32s} {'classifier FID':>15s}")
for name, value in fid.items():
    print(f"{name:32s} {value:15.1f}")
""")

code(r"""
# NBVAL_IGNORE_OUTPUT: depends on training length
cond_acc = label_accuracy(classifier, candidates["conditional GAN"], eval_labels)
ratio = fid["DCGAN"] / fid["untrained DCGAN generator"]
print(f"conditional GAN: {100 * cond_acc:.1f}% of generated digits are classified as the digit requested "
      f"(target >= 90%: {cond_acc >= 0.9})")
print(f"DCGAN classifier FID / untrained generator's = {ratio:.3f} (target <= 0.1: {ratio <= 0.1})")
""")

md(r"""
### What the metric sees and what it misses

We feed the metric a few deliberately broken "generators", made from real digits so that we know
exactly what is wrong with each:

* **half the digits**: only real 0–4 (the other modes are missing);
* **one digit**: the same real image 1,000 times (total mode collapse);
* **blurred**: real digits through a 3×3 box blur;
* **noisy**: real digits plus Gaussian noise of standard deviation 0.3;
* **memoriser**: 1,000 real *training* digits, copied. A useless generator: it only returns its
  training set.
""")

code(r"""
# NBVAL_IGNORE_OUTPUT: depends on the data subset
pool = mnist_train.images[torch.randperm(len(mnist_train), generator=torch.Generator().manual_seed(1))]
low = pool[mnist_train.labels[torch.randperm(len(mnist_train), generator=torch.Generator().manual_seed(1))] < 5]
g = torch.Generator().manual_seed(2)
broken = {
    "half the digits (0-4 only)": low[:N_EVAL],
    "one digit, 1,000 times": pool[:1].repeat(N_EVAL, 1, 1, 1),
    "blurred (3x3 box)": F.avg_pool2d(pool[:N_EVAL], 3, stride=1, padding=1),
    "noisy (std 0.3)": (pool[:N_EVAL] + 0.3 * torch.randn(N_EVAL, 1, 28, 28, generator=g)).clamp(0, 1),
    "memoriser (training copies)": pool[:N_EVAL],
}
print(f"{'broken generator':32s} {'classifier FID':>15s}")
for name, imgs in broken.items():
    print(f"{name:32s} {classifier_fid(classifier, imgs, reference):15.1f}")
show_images(torch.cat([imgs[:6] for imgs in broken.values()]), nrow=6, title="rows: the broken generators above")
plt.show()
""")

md(r"""
What we learn:

* The metric **sees missing modes and collapse**: "half the digits" and "one digit" score badly although
  every single image is a perfect digit. Judging samples one at a time would miss this.
* It **sees damaged images** (blur, noise), because they change the classifier's features.
* It **misses memorisation**: copying the training set gets a score close to the floor (16.9 against 15.0 in our run). A low FID
  does not show that a model creates anything new; one must also check, for example, the nearest training
  image of each sample.
* It only knows what the classifier learned. Our classifier was trained to tell digits apart, so its
  features may ignore details that do not matter for the label, such as the exact stroke texture.
  The label check has the same limit: a blurry but readable "7" passes.
""")

# ----------------------------------------------------------------------------- summary
md(r"""
## Summary

* A GAN is a two-player game. The discriminator minimises binary cross-entropy; the generator uses the
  non-saturating loss, because the minimax loss has almost no gradient when the discriminator is confident.
* Against the best discriminator $D^* = p_\text{data}/(p_\text{data}+p_g)$ the game measures the
  Jensen–Shannon divergence.
* GAN training is fragile: learning rates and batch sizes decide between mode collapse and full coverage.
* DCGAN's convolutional guidelines make image GANs train well; WGAN-GP trades speed for a meaningful loss
  curve and stable training; a conditional GAN lets us choose the digit.
* Our classifier FID is a useful *relative* score for MNIST models. It is not the Inception FID of papers,
  and it cannot detect memorisation.

## Exercises

1. Train the ring GAN with `GANTask(..., generator_loss="minimax")`. Plot the generator's gradient norm
   during the first 200 steps and compare with the non-saturating loss.
2. Put 16 modes on the ring (`ring_of_gaussians(n, n_modes=16)`) and keep the budget. How many modes are
   covered? What do you need to change to cover them all?
3. Compute the classifier FID between the test digits and blurred copies of them, for several blur
   strengths. Plot FID against the blur. Is the relation smooth?
4. Train WGAN-GP with `gp_weight=0` (no penalty). Follow the Wasserstein estimate and the critic's
   outputs. What goes wrong, and why does the penalty fix it?
5. With the conditional GAN, fix the latent vector $z$ and change the label from 0 to 9. What stays the
   same across the ten digits?
""")

code(r"""
# NBVAL_IGNORE_OUTPUT: timing
print(f"whole chapter: {time.perf_counter() - chapter_start:.0f} s on {device}")
""")

write_notebook("06_gan.ipynb")
