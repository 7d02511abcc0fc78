"""Write book/07_vae.ipynb (without outputs). Run it, then execute the notebook:

    .venv/bin/python scripts/make_07_vae.py
    make run-notebook NB=book/07_vae.ipynb
"""
from nbbuild import code, md, write_notebook


# ----------------------------------------------------------------------------- intro
md(r"""
# Variational autoencoders

A **generative model** learns a probability distribution $p(x)$ from examples, so that it can draw new
examples and say how likely an example is. This chapter builds one of the most useful generative models,
the **variational autoencoder** (VAE) {cite}`kingma2014auto,rezende2014stochastic`, on handwritten digits.

The plan:

1. a plain **autoencoder**, and why its code space is not a generator;
2. the VAE as a **latent-variable model**; the **evidence lower bound** (ELBO) derived step by step; its two
   terms (a KL divergence in closed form and a Bernoulli reconstruction term), each checked in code;
3. the **reparameterisation trick**, and an experiment on the variance of its gradients;
4. training with `aigc_lib.Trainer`: reconstructions and samples;
5. a 2-D latent space and interpolation;
6. the **β-VAE** and the rate–distortion trade-off, with posterior collapse;
7. a **conditional VAE** that draws the digit we ask for;
8. a latent-space explorer;
9. a real **likelihood**: the importance-weighted estimate of $\log p(x)$ in nats.
""")

code(r"""
# NBVAL_IGNORE_OUTPUT: the device depends on the machine (cpu, cuda or mps)
import math
import time

import matplotlib.pyplot as plt
import torch

import aigc_lib
from aigc_lib import SupervisedTask, Trainer, budget
from aigc_lib.data import TensorBatches, load_mnist
from aigc_lib.plotting import plot_history, show_images
from aigc_lib.vae import (Autoencoder, AutoencoderConfig, VAE, VAEConfig, VAETask, held_out_likelihood,
                          iwae_log_likelihood, reconstruction_loss)
from aigc_lib.vae_losses import (bernoulli_log_likelihood, binarize_dynamic, binarize_fixed, gaussian_kl,
                                 gaussian_log_prob, reparameterize, standard_normal_log_prob)

device = aigc_lib.setup_notebook(seed=0)  # seeds every random generator, sets the plot style
chapter_start = time.perf_counter()
print("PyTorch", torch.__version__, "| device:", device)
""")

# ----------------------------------------------------------------------------- data
md(r"""
## The data: binarised MNIST

We use MNIST digits {cite}`lecun1998mnist`: grey images of $28 \times 28$ pixels with values in $[0, 1]$.
Without a network connection, `load_mnist` falls back to a 5,000-digit subset (4,000 for training,
1,000 for testing) and prints a message that says so. We keep one training digit in eight aside as a
**validation set**: we watch it during training to see whether the model starts to **over-fit**, that is,
to learn its training digits by heart instead of the shape of digits in general.
""")

code(r"""
# NBVAL_IGNORE_OUTPUT: the message depends on whether the full MNIST can be downloaded
train = load_mnist("train")
test = load_mnist("test")

perm = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))
n_val = len(train) // 8
val_idx, train_idx = perm[:n_val], perm[n_val:]
x_train, y_train = train.images[train_idx], train.labels[train_idx]   # grey values, (N, 1, 28, 28)
x_val, y_val = binarize_fixed(train.images[val_idx]), train.labels[val_idx]
x_test, y_test = binarize_fixed(test.images), test.labels
examples = torch.stack([(y_test == d).nonzero()[0, 0] for d in range(10)])   # one test digit of each class
subset = torch.randperm(len(x_test), generator=torch.Generator().manual_seed(0))   # a random order of the test set
print(f"train {len(x_train):,} | validation {len(x_val):,} | test {len(x_test):,} digits of shape {tuple(x_test.shape[1:])}")
""")

md(r"""
Our decoder will model each pixel as a coin flip: black (0) or white (1). So the data must be **binary**.
We turn a grey value $g$ into 1 with probability $g$ and into 0 otherwise (*stochastic binarisation*,
{cite}`salakhutdinov2008quantitative`). We use it in two ways:

- **training digits: dynamic binarisation.** Each training batch is binarised afresh (`binarize_dynamic`,
  with PyTorch's seeded global generator). The model sees a new 0/1 version of each digit every time. This
  acts like extra data and reduces over-fitting, which matters with only a few thousand digits.
- **validation and test digits: one fixed binarisation** (`binarize_fixed`, seed 1234). Every model in this
  chapter, and every re-run, is scored on exactly the same 0/1 pixels.

Why it matters for comparing numbers: a log-likelihood is a property of a model *and* a data set. Other
papers threshold at 0.5, which gives cleaner digits and much lower (better-looking) numbers, or use one
particular published binarisation. A number in nats can only be compared with numbers measured on the
same binarisation of the same digits. Below: grey digits, our fixed binarisation, and a second, dynamic one.
""")

code(r"""
# NBVAL_IGNORE_OUTPUT: a figure
grey = test.images[:10]
show_images(torch.cat([grey, x_test[:10], binarize_dynamic(grey)]), nrow=10,
            title="grey (top), fixed binarisation (middle), a dynamic one (bottom)");
""")

# ----------------------------------------------------------------------------- autoencoder
md(r"""
## 1. A plain autoencoder and the holes in its code space

An **autoencoder** has two networks. The **encoder** maps an image $x$ to a short vector $z$, the **code**
(here 2 numbers, so that we can plot it). The **decoder** maps $z$ back to an image. Both are trained
together to make the output close to the input. Our decoder outputs one **logit** per pixel (a number in
$\mathbb{R}$; the sigmoid $\sigma(l) = 1/(1+e^{-l})$ turns it into the probability that the pixel is white),
and the loss is the Bernoulli negative log-likelihood $-\log p(x \mid \text{logits})$, in **nats** (units of
the natural logarithm). The library's `Autoencoder` is a multi-layer perceptron (MLP); we train it with the
`Trainer` and a `SupervisedTask` whose target is the input itself.
""")

code(r"""
# NBVAL_IGNORE_OUTPUT: depends on training length
x_train_fixed = binarize_fixed(x_train, seed=1)
torch.manual_seed(0)
ae = Autoencoder(AutoencoderConfig(hidden=(400,), latent_dim=2))
ae_task = SupervisedTask(ae, reconstruction_loss, lambda p: torch.optim.AdamW(p, lr=2e-3))
ae_history = Trainer(max_steps=1500, eval_every=500, eval_batches=None, lr_schedule="cosine", warmup_steps=100,
                     progress=False, live_plot=False).fit(ae_task, TensorBatches(x_train_fixed, x_train_fixed, batch_size=100),
                                          TensorBatches(x_val, x_val, batch_size=500, repeat=False))
print(f"validation reconstruction loss: {ae_history.last('val/loss'):.1f} nats per digit")
""")

md(r"""
Now we encode the test digits and look at where their codes land. Then we decode random points from the
rectangle that holds the codes. A point is in a **hole** when no test digit has its code nearby (here:
farther than 5 % of the rectangle's diagonal from every code). Nothing in the training asked the encoder to
fill the space, or to put codes near $0$ with a known spread, so we have no rule for choosing a code that
decodes to a digit.
""")

code(r"""
# NBVAL_IGNORE_OUTPUT: depends on training length
ae.eval()
with torch.no_grad():
    codes = ae.encode(x_test.to(device)).cpu()                       # (N, 2)
lo, hi = codes.min(0).values, codes.max(0).values
g = torch.Generator().manual_seed(0)
points = lo + (hi - lo) * torch.rand(2000, 2, generator=g)            # random points in the rectangle
nearest = torch.cdist(points, codes).min(1).values
in_hole = nearest > 0.05 * (hi - lo).norm()
print(f"code mean {codes.mean(0).numpy().round(2)}, std {codes.std(0).numpy().round(2)} (not 0 and 1)")
print(f"{in_hole.float().mean():.0%} of random points in the rectangle are in holes")

fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
sc = axes[0].scatter(codes[:, 0], codes[:, 1], c=y_test, cmap="tab10", s=4)
axes[0].scatter(*points[in_hole][:300].T, marker="x", c="k", s=8, alpha=0.4, label="points in holes")
axes[0].legend(loc="upper right"); axes[0].set_title("autoencoder codes of test digits")
fig.colorbar(sc, ax=axes[0], ticks=range(10))
farthest = nearest.argsort(descending=True)[:24]                      # the 24 points farthest from any code
with torch.no_grad():
    decoded = torch.sigmoid(ae.decode(points[farthest].to(device))).cpu()
show_images(decoded, nrow=6, ax=axes[1], title="decoded from the 24 points deepest in holes")
plt.show()
""")

# ----------------------------------------------------------------------------- ELBO
md(r"""
## 2. The VAE: a latent-variable model and its evidence lower bound

A **latent-variable model** explains each image $x$ by an unseen (*latent*) vector $z$:

1. draw $z$ from a fixed **prior** $p(z) = \mathcal{N}(0, I)$ (a standard normal in $Z$ dimensions);
2. draw the image from the **decoder** $p_\theta(x \mid z)$: each pixel is white with probability
   $\sigma(\text{logit}_i)$, where the logits come from a network with weights $\theta$.

Because the prior is fixed, we know how to pick a code: draw it from $\mathcal{N}(0, I)$. The probability of
an image is an average over all codes, $p_\theta(x) = \int p_\theta(x \mid z)\, p(z)\, dz$. We would like to
maximise $\log p_\theta(x)$ on the training digits, but this integral over $Z$ dimensions has no closed form.

The VAE adds an **encoder** $q_\phi(z \mid x) = \mathcal{N}\big(\mu_\phi(x), \operatorname{diag}\sigma^2_\phi(x)\big)$,
a guess of which codes could have produced $x$ (it is called the *approximate posterior*). Then, step by step:

$$
\begin{aligned}
\log p_\theta(x) &= \log \int q_\phi(z \mid x)\, \frac{p_\theta(x \mid z)\, p(z)}{q_\phi(z \mid x)}\, dz
  && \text{multiply and divide by } q \\
&= \log \mathbb{E}_{z \sim q_\phi(z \mid x)} \left[ \frac{p_\theta(x \mid z)\, p(z)}{q_\phi(z \mid x)} \right]
  && \text{an integral against } q \text{ is an expectation} \\
&\ge \mathbb{E}_{z \sim q_\phi(z \mid x)} \left[ \log \frac{p_\theta(x \mid z)\, p(z)}{q_\phi(z \mid x)} \right]
  && \text{Jensen: } \log \mathbb{E}[w] \ge \mathbb{E}[\log w] \text{ (log is concave)} \\
&= \underbrace{\mathbb{E}_{q_\phi} \left[ \log p_\theta(x \mid z) \right]}_{-\text{distortion}}
   - \underbrace{\mathrm{KL}\big(q_\phi(z \mid x) \,\|\, p(z)\big)}_{\text{rate}}
  =: \mathrm{ELBO}(x).
\end{aligned}
$$

The last line splits $\log \frac{p(x|z) p(z)}{q(z|x)} = \log p(x|z) - \log \frac{q(z|x)}{p(z)}$ and uses the
definition of the **Kullback–Leibler divergence**, $\mathrm{KL}(q \,\|\, p) = \mathbb{E}_q[\log q - \log p] \ge 0$.
The bound is called the **evidence lower bound** (ELBO; the "evidence" is $\log p(x)$). Its two terms:

- the **distortion** $-\mathbb{E}_q[\log p_\theta(x \mid z)]$: how badly the decoder rebuilds $x$ from codes
  drawn from the encoder (a reconstruction loss, as in the autoencoder);
- the **rate** $\mathrm{KL}(q_\phi(z \mid x) \,\|\, p(z))$: how far the encoder's codes are from the prior. Averaged
  over the data, it is also an upper bound on the information (in nats) that the code carries about $x$
  {cite}`alemi2018fixing`.

How loose is the bound? Write $p_\theta(x \mid z)\, p(z) = p_\theta(z \mid x)\, p_\theta(x)$ inside the ELBO (the
expectation in the third line) instead of using Jensen; this gives the exact gap:
$\log p_\theta(x) - \mathrm{ELBO}(x) = \mathrm{KL}\big(q_\phi(z \mid x) \,\|\, p_\theta(z \mid x)\big) \ge 0$.
So maximising the ELBO over $\phi$ and $\theta$ does two things at once: it raises $\log p_\theta(x)$, and it
makes the encoder a better guess of the true posterior $p_\theta(z \mid x)$.
""")

md(r"""
### The rate in closed form

For one dimension, $q = \mathcal{N}(\mu, \sigma^2)$ and $p = \mathcal{N}(0, 1)$:

$$
\mathrm{KL}(q \,\|\, p) = \mathbb{E}_q\!\left[-\tfrac12\log(2\pi\sigma^2) - \tfrac{(z-\mu)^2}{2\sigma^2}
  + \tfrac12\log(2\pi) + \tfrac{z^2}{2}\right]
= -\tfrac12\log\sigma^2 - \tfrac12 + \tfrac12(\mu^2 + \sigma^2),
$$

because $\mathbb{E}_q[(z-\mu)^2] = \sigma^2$ and $\mathbb{E}_q[z^2] = \mu^2 + \sigma^2$. The dimensions are
independent, so their KLs add up:
$\mathrm{KL} = \tfrac12 \sum_j \left(\mu_j^2 + \sigma_j^2 - 1 - \log \sigma_j^2\right)$
{cite}`kingma2014auto`. The encoder outputs $\log \sigma^2$ ("logvar"), which can be any real number.

We check the formula, written by hand and in `aigc_lib.vae_losses.gaussian_kl`, against PyTorch's
`torch.distributions` and against a **Monte-Carlo** estimate: the average of $\log q(z) - \log p(z)$ over
200,000 samples $z \sim q$. A Monte-Carlo average has a **standard error** (SE), the standard deviation of the
samples divided by $\sqrt{n}$. A correct formula falls within 1 SE of the estimate about 68 % of the time and
within 3 SE 99.7 % of the time, so we assert 3 SE and print how many SEs away each value is.
""")

code(r"""
# NBVAL_CHECK_OUTPUT
mu = torch.tensor([[0.5, -0.5], [1.0, 2.0], [-2.0, 0.1]])          # (3, 2): three 2-D Gaussians
logvar = torch.tensor([[0.0, -1.0], [0.5, 1.0], [-2.0, 0.3]])
by_hand = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(-1)
closed = gaussian_kl(mu, logvar)
torch.testing.assert_close(closed, by_hand)
reference = torch.distributions.kl_divergence(torch.distributions.Normal(mu, (0.5 * logvar).exp()),
                                              torch.distributions.Normal(0.0, 1.0)).sum(-1)
torch.testing.assert_close(closed, reference)

n = 200_000
z = reparameterize(mu, logvar, generator=torch.Generator().manual_seed(0), n_samples=n)     # (n, 3, 2)
log_ratio = gaussian_log_prob(z, mu, logvar) - standard_normal_log_prob(z)                 # (n, 3)
mc, se = log_ratio.mean(0), log_ratio.std(0) / math.sqrt(n)
for i in range(3):
    print(f"closed form {closed[i]:.4f} | Monte Carlo {mc[i]:.4f} ± {se[i]:.4f} (SE) | "
          f"{abs(closed[i] - mc[i]) / se[i]:.1f} SE apart")
assert torch.all((closed - mc).abs() < 3 * se), "the closed form disagrees with Monte Carlo"
print("closed form = torch.distributions = Monte Carlo (within 3 standard errors)")
""")

md(r"""
### The distortion: a Bernoulli decoder

Each pixel $x_i \in \{0, 1\}$ is white with probability $p_i = \sigma(l_i)$, so
$\log p(x \mid z) = \sum_i \big[x_i \log p_i + (1 - x_i) \log(1 - p_i)\big]$, a sum over the 784 pixels. This
is minus the **binary cross-entropy**; `bernoulli_log_likelihood` computes it from the logits in a numerically
stable way. We check it on a tiny example against the formula and against `torch.distributions.Bernoulli`.
""")

code(r"""
# NBVAL_CHECK_OUTPUT
logits = torch.tensor([[2.0, -1.0, 0.0, 4.0]])
x = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
p = torch.sigmoid(logits)
by_hand = (x * p.log() + (1 - x) * (1 - p).log()).sum(-1)
reference = torch.distributions.Bernoulli(logits=logits).log_prob(x).sum(-1)
print("by hand:", by_hand.tolist(), "| library:", bernoulli_log_likelihood(logits, x).tolist(),
      "| torch.distributions:", reference.tolist())
torch.testing.assert_close(bernoulli_log_likelihood(logits, x), by_hand)
torch.testing.assert_close(bernoulli_log_likelihood(logits, x), reference)
""")

md(r"""
Pixel values must lie in $[0, 1]$. A common mistake is to pass raw bytes (0 to 255); the library stops with
a clear message (we catch the error here to print it):
""")

code(r"""
# NBVAL_CHECK_OUTPUT
try:
    bernoulli_log_likelihood(torch.zeros(1, 784), 255 * test.images[:1].flatten(1))
except ValueError as error:
    print(f"ValueError: {error}")
""")

# ----------------------------------------------------------------------------- reparameterisation
md(r"""
## 3. The reparameterisation trick

To train the encoder we need the gradient of $\mathbb{E}_{z \sim q_\phi}[f(z)]$ with respect to $\phi$, where
$f(z) = \log p_\theta(x \mid z)$. Sampling is not a differentiable operation, so we cannot back-propagate
through "draw $z$". There are two unbiased ways out:

- the **score-function** estimator, also called **REINFORCE** {cite}`williams1992simple`:
  $\nabla_\phi \mathbb{E}_q[f(z)] = \mathbb{E}_q\big[f(z)\, \nabla_\phi \log q_\phi(z)\big]$. It works for any
  $f$, even a non-differentiable one, but it only uses the *value* of $f$;
- the **reparameterisation trick** {cite}`kingma2014auto,rezende2014stochastic`: write
  $z = \mu + \sigma \odot \varepsilon$ with $\varepsilon \sim \mathcal{N}(0, I)$. Now the randomness does not
  depend on $\phi$, so $\nabla_\phi \mathbb{E}_\varepsilon[f(\mu + \sigma \varepsilon)] = \mathbb{E}_\varepsilon[\nabla_\phi f(\mu + \sigma\varepsilon)]$
  and back-propagation goes through $f$. It uses the *slope* of $f$.

An experiment with a known answer: $q = \mathcal{N}(\mu, I)$ in $D$ dimensions, $f(z) = \lVert z - c \rVert^2$
with $c = (1, \dots, 1)$, at $\mu = 0$. Then $\mathbb{E}_q[f] = \lVert \mu - c \rVert^2 + D$ and the true gradient
is $2(\mu - c) = -2$ in every coordinate. We make 2,000 independent estimates of the gradient with each method,
from $S$ samples each, and look at their mean and variance (first coordinate). For REINFORCE we let autograd do
the work with a *surrogate loss* $f(z)\log q_\phi(z)$ in which $f(z)$ and $z$ are treated as constants.
""")

code(r"""
def gradient_estimates(D: int, S: int, R: int = 2000, seed: int = 0):
    # R independent estimates of d/dmu E[||z - c||^2] at mu = 0, each from S samples: two (R, D) tensors
    eps = torch.randn(R, S, D, generator=torch.Generator().manual_seed(seed))
    c = torch.ones(D)
    mu = torch.zeros(R, D, requires_grad=True)        # one copy of mu per estimate
    z = mu[:, None, :] + eps                           # (R, S, D): the reparameterisation
    f = ((z - c) ** 2).sum(-1)                         # (R, S)
    (grad_reparam,) = torch.autograd.grad(f.mean(1).sum(), mu)
    log_q = -0.5 * ((z.detach() - mu[:, None, :]) ** 2).sum(-1)   # log N(z; mu, I) up to a constant
    (grad_score,) = torch.autograd.grad((f.detach() * log_q).mean(1).sum(), mu)
    return grad_reparam, grad_score

rows = []
for D in (1, 16):
    for S in (1, 10, 100):
        rep, sf = gradient_estimates(D, S)
        rows.append((D, S, rep[:, 0], sf[:, 0]))
""")

code(r"""
# NBVAL_CHECK_OUTPUT
print(" D    S | reparameterisation: mean   variance | score function: mean   variance | variance ratio")
for D, S, rep, sf in rows:
    print(f"{D:2d} {S:4d} | {rep.mean():22.2f} {rep.var():10.3f} | {sf.mean():18.2f} {sf.var():10.2f} | "
          f"{sf.var() / rep.var():8.0f}x")
    for est in (rep, sf):   # both are unbiased: the mean is -2 within 4 standard errors
        assert abs(est.mean() + 2) < 4 * est.std() / math.sqrt(len(est))
    assert sf.var() > 5 * rep.var()
""")

md(r"""
Both estimators are centred on the true value $-2$, but the score-function estimates are far more spread out,
and the gap grows with the dimension $D$: $f(z)$ is a large number whose random fluctuations multiply every
coordinate of $\nabla \log q$. With $S$ samples the variance of both shrinks like $1/S$, so REINFORCE would need
about 8 times more samples for the same precision when $D = 1$, and about 300 times more when $D = 16$. This is why VAEs use the reparameterisation trick. We
repeat the comparison on a trained VAE below.
""")

code(r"""
# NBVAL_IGNORE_OUTPUT: a figure
S_values = [1, 3, 10, 30, 100]
fig, ax = plt.subplots(figsize=(5, 3.2))
for D, style in ((1, "--"), (16, "-")):
    var = [[v.var().item() for v in gradient_estimates(D, S)] for S in S_values]
    ax.plot(S_values, [v[0] for v in var], "o" + style, c="C0", label=f"reparameterisation, D={D}")
    ax.plot(S_values, [v[1] for v in var], "s" + style, c="C3", label=f"score function, D={D}")
ax.set(xscale="log", yscale="log", xlabel="samples per estimate S", ylabel="variance of the gradient",
       title="gradient variance (lower is better)")
ax.legend(fontsize=7); plt.show()
""")

# ----------------------------------------------------------------------------- training
md(r"""
## 4. Training a VAE

`aigc_lib.vae.VAE` is an MLP encoder $x \mapsto (\mu, \log\sigma^2)$ and an MLP decoder $z \mapsto$ logits.
`VAETask` gives the `Trainer` the loss $\text{distortion} + \beta \cdot \text{rate}$, averaged over a batch
($\beta = 1$ here: the negative ELBO), using one sample $z = \mu + \sigma\varepsilon$ per digit and the closed-form
KL. It logs the rate and the distortion separately. It also grows the weight of the rate from 0 to $\beta$ over
the first 200 steps (**KL warm-up**), so that the decoder learns to use the code before the rate is charged
in full.

With only a few thousand training digits, over-fitting is the main risk. We keep the model modest (one hidden
layer of 400 units, $Z = 32$), use dropout and dynamic binarisation, decay the learning rate with a cosine
schedule, and watch the validation loss.
""")

code(r"""
# NBVAL_IGNORE_OUTPUT: depends on training length
torch.manual_seed(0)
vae = VAE(VAEConfig(hidden=(400,), latent_dim=32, dropout=0.1))
task = VAETask(vae, lr=2e-3, kl_warmup_steps=200)
trainer = Trainer(max_steps=2000, eval_every=250, eval_batches=None, lr_schedule="cosine", warmup_steps=100)
history = trainer.fit(task, TensorBatches(x_train, batch_size=100),
                      TensorBatches(x_val, batch_size=500, repeat=False))
print(f"{trainer.seconds:.0f} s | validation: rate {history.last('val/rate'):.1f} nats, distortion "
      f"{history.last('val/distortion'):.1f} nats, negative ELBO {history.last('val/neg_elbo'):.1f} nats")
""")

code(r"""
# NBVAL_IGNORE_OUTPUT: depends on training length
fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
plot_history(history, ["train/distortion", "val/distortion"], ax=axes[0], title="distortion (nats)", logy=False)
plot_history(history, ["train/rate", "val/rate"], ax=axes[1], title="rate = KL (nats)", logy=False)
axes[0].set_ylim(top=200); plt.tight_layout(); plt.show()
""")

md(r"""
The validation distortion keeps falling with the training distortion, so the model has not started to learn
the training digits by heart. The rate jumps up early, while the KL warm-up makes information almost free, then
settles and rises slowly: the code carries more and more information about each digit.

**Reconstructions.** Top: test digits the model never saw. Bottom: the decoder's pixel probabilities for the
encoder's mean code $\mu(x)$.
""")

code(r"""
# NBVAL_IGNORE_OUTPUT: depends on training length
vae.eval()
with torch.no_grad():
    mu_test, logvar_test = vae.encode(x_test.to(device))
    recon = torch.sigmoid(vae.decode(mu_test[examples])).cpu()
show_images(torch.cat([x_test[examples], recon]), nrow=10, title="test digits (top) and reconstructions (bottom)");
""")

md(r"""
**Samples from the prior.** This is what the autoencoder could not do: draw $z \sim \mathcal{N}(0, I)$ and
decode it. We show the pixel probabilities (the mean of $p(x \mid z)$), which look smoother than a 0/1 sample.
""")

code(r"""
# NBVAL_IGNORE_OUTPUT: depends on training length
show_images(vae.sample(40, generator=torch.Generator(device).manual_seed(0)).cpu(), nrow=10,
            title="decoded from z ~ N(0, I)");
""")

md(r"""
**Reparameterisation vs REINFORCE on the trained model.** For one test digit we estimate the gradient of the
distortion $-\mathbb{E}_q[\log p(x \mid z)]$ with respect to the encoder's mean $\mu$ (all 32 coordinates), 10,000
times with one sample each, with both estimators. Here $f$ is a real decoder, not a toy. We compare the variances,
and we check that the two averages agree within 3 standard errors of their difference, coordinate by coordinate.
""")

code(r"""
# NBVAL_IGNORE_OUTPUT: depends on training length
R = 10_000
x1 = x_test[:1].to(device)
with torch.no_grad():
    mu1, logvar1 = vae.encode(x1)
mu_r = mu1.repeat(R, 1).requires_grad_()                            # (R, Z): one copy per estimate
eps = torch.randn(R, vae.latent_dim, generator=torch.Generator().manual_seed(1)).to(device)
z = mu_r + (0.5 * logvar1).exp() * eps
distortion = -bernoulli_log_likelihood(vae.decode(z), x1.expand(R, -1, -1, -1))     # (R,)
(grad_reparam,) = torch.autograd.grad(distortion.sum(), mu_r)
log_q = gaussian_log_prob(z.detach(), mu_r, logvar1)
(grad_score,) = torch.autograd.grad((distortion.detach() * log_q).sum(), mu_r)
se_diff = ((grad_reparam.var(0) + grad_score.var(0)) / R).sqrt()                  # (Z,)
agree = ((grad_reparam.mean(0) - grad_score.mean(0)).abs() < 3 * se_diff).sum()
print(f"total variance over the 32 coordinates: reparameterisation {grad_reparam.var(0).sum():.0f}, score function "
      f"{grad_score.var(0).sum():.0f} ({grad_score.var(0).sum() / grad_reparam.var(0).sum():.0f}x larger)")
print(f"the two averages agree within 3 standard errors in {agree} of {vae.latent_dim} coordinates")
""")

# ----------------------------------------------------------------------------- 2-D latent
md(r"""
## 5. A 2-D latent space

To *see* a latent space we train a second VAE with only $Z = 2$. We plot the encoder means $\mu(x)$ of the
test digits, coloured by digit, and a **manifold grid**: we decode a regular grid of codes. The grid is
regular in probability, not in $z$: we take evenly spaced quantiles $0.05, \dots, 0.95$ and map them through
the inverse of the normal distribution function, so each cell holds the same prior mass {cite}`kingma2014auto`.
""")

code(r"""
# NBVAL_IGNORE_OUTPUT: depends on training length
torch.manual_seed(0)
vae2 = VAE(VAEConfig(hidden=(400,), latent_dim=2))
history2 = Trainer(max_steps=1500, eval_every=500, eval_batches=None, lr_schedule="cosine", warmup_steps=100,
                   progress=False, live_plot=False).fit(VAETask(vae2, lr=2e-3), TensorBatches(x_train, batch_size=100),
                                        TensorBatches(x_val, batch_size=500, repeat=False))
print(f"2-D VAE, validation: rate {history2.last('val/rate'):.1f}, distortion {history2.last('val/distortion'):.1f}, "
      f"negative ELBO {history2.last('val/neg_elbo'):.1f} nats")
""")

code(r"""
# NBVAL_IGNORE_OUTPUT: depends on training length
vae2.eval()
with torch.no_grad():
    mu2 = vae2.encode(x_test.to(device))[0].cpu()
    q = torch.distributions.Normal(0.0, 1.0).icdf(torch.linspace(0.05, 0.95, 15))
    grid = torch.stack(torch.meshgrid(q, -q, indexing="xy"), -1).reshape(-1, 2)   # rows: z2 from high to low
    manifold = torch.sigmoid(vae2.decode(grid.to(device))).cpu()
fig, axes = plt.subplots(1, 2, figsize=(10, 4.4))
sc = axes[0].scatter(mu2[:, 0], mu2[:, 1], c=y_test, cmap="tab10", s=4)
fig.colorbar(sc, ax=axes[0], ticks=range(10))
axes[0].add_patch(plt.Rectangle((q[0], q[0]), q[-1] - q[0], q[-1] - q[0], fill=False, ls="--"))
axes[0].set(xlabel="$z_1$", ylabel="$z_2$", title="encoder means of test digits")
show_images(manifold, nrow=15, ax=axes[1], title="decoded grid (dashed square)")
plt.tight_layout(); plt.show()
""")

md(r"""
Unlike the autoencoder's codes, these gather around $0$, mostly within two or three units, because the rate term
pulls every $q(z \mid x)$ towards $\mathcal{N}(0, I)$. Every point of the grid decodes to something digit-like,
and neighbouring codes decode to similar images. Two dimensions are too few to keep all details, so some
digits blur into each other.

**Interpolation.** Back in the 32-D model, we encode two test digits, walk on the straight line between their
codes, and decode each point (top row). Compare with mixing the pixels directly (bottom row): pixel mixing
fades one digit out and the other in, while the latent path passes through digit-like shapes.
""")

code(r"""
# NBVAL_IGNORE_OUTPUT: depends on training length
i, j = int((y_test == 4).nonzero()[0]), int((y_test == 7).nonzero()[0])
t = torch.linspace(0, 1, 10)[:, None]
with torch.no_grad():
    z_path = (1 - t.to(device)) * mu_test[i] + t.to(device) * mu_test[j]       # (10, Z)
    latent_mix = torch.sigmoid(vae.decode(z_path)).cpu()
pixel_mix = (1 - t[:, :, None, None]) * x_test[i] + t[:, :, None, None] * x_test[j]
show_images(torch.cat([latent_mix, pixel_mix]), nrow=10, title="latent interpolation (top), pixel mixing (bottom)");
""")

# ----------------------------------------------------------------------------- beta-VAE
md(r"""
## 6. β-VAE: the rate–distortion trade-off and posterior collapse

A **β-VAE** {cite}`higgins2017beta` minimises $\text{distortion} + \beta \cdot \text{rate}$. With $\beta > 1$ each nat
of information in the code costs more; with $\beta < 1$ it costs less. Seen as a trade-off between two numbers,
each $\beta$ picks one point on a **rate–distortion** curve {cite}`alemi2018fixing`: a low rate means a short,
vague code and blurry reconstructions; a high rate means a detailed code. The ELBO ($\beta = 1$) is one point on
this curve, the one with the best bound on $\log p(x)$.

We train the same model for several values of $\beta$ and measure rate and distortion on the validation digits.
For each latent dimension $j$ we also measure its own KL (averaged over test digits). A dimension with a KL near
0 is **inactive**: its $q(z_j \mid x)$ equals the prior for every $x$, so it carries no information.
""")

code(r"""
# NBVAL_IGNORE_OUTPUT: depends on training length
betas = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0]
sweep = {}
for beta in betas:
    torch.manual_seed(0)
    model = VAE(VAEConfig(hidden=(400,), latent_dim=32, dropout=0.1))
    tr = Trainer(max_steps=800, eval_batches=None, lr_schedule="cosine", warmup_steps=100, progress=False,
                 live_plot=False)
    h = tr.fit(VAETask(model, beta=beta, lr=2e-3, kl_warmup_steps=200), TensorBatches(x_train, batch_size=100),
               TensorBatches(x_val, batch_size=500, repeat=False))
    model.eval()
    with torch.no_grad():
        m, lv = model.encode(x_test.to(device))
        kl_per_dim = (0.5 * (m**2 + lv.exp() - 1 - lv)).mean(0).cpu()              # (Z,)
    sweep[beta] = dict(model=model, rate=h.last("val/rate"), distortion=h.last("val/distortion"),
                       active=int((kl_per_dim > 0.05).sum()), kl_per_dim=kl_per_dim)
    print(f"beta {beta:5.2f}: rate {sweep[beta]['rate']:6.1f} | distortion {sweep[beta]['distortion']:6.1f} | "
          f"negative ELBO {sweep[beta]['rate'] + sweep[beta]['distortion']:6.1f} | active dimensions "
          f"{sweep[beta]['active']:2d} of 32 | {tr.seconds:.0f} s")
""")

code(r"""
# NBVAL_IGNORE_OUTPUT: depends on training length
fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
rates = [sweep[b]["rate"] for b in betas]
distortions = [sweep[b]["distortion"] for b in betas]
axes[0].plot(rates, distortions, "o-")
for b, r, d in zip(betas, rates, distortions):
    axes[0].annotate(f"β={b:g}", (r, d), textcoords="offset points", xytext=(4, 4), fontsize=8)
axes[0].set(xlabel="rate (nats)", ylabel="distortion (nats)", title="rate–distortion on validation digits")
axes[1].bar([f"{b:g}" for b in betas], [sweep[b]["active"] for b in betas])
axes[1].set(xlabel="β", ylabel="active dimensions (KL > 0.05 nats)", title="latent dimensions in use")
plt.tight_layout(); plt.show()
with torch.no_grad():
    rows = [x_test[examples]]
    for b in (0.25, 1.0, 4.0, 16.0):
        model_b = sweep[b]["model"]
        rows.append(torch.sigmoid(model_b.decode(model_b.encode(x_test[examples].to(device))[0])).cpu())
show_images(torch.cat(rows), nrow=10, title="test digits; reconstructions with β = 0.25, 1, 4, 16 (top to bottom)");
""")

md(r"""
As $\beta$ grows, the rate falls and the distortion rises: the model trades detail for a cheaper code. Fewer and
fewer latent dimensions stay active. This is **posterior collapse**: for an inactive dimension, the best move
under a high price for information is to copy the prior, $q(z_j \mid x) = p(z_j)$, and to let the decoder ignore
$z_j$. When all dimensions collapse, the decoder can only draw the *average* digit, and reconstructions of
different digits look alike. Collapse also happens at $\beta = 1$ when the decoder is strong enough to model
the data without the code, for example an autoregressive text decoder {cite}`bowman2016generating`. Our
small VAE still uses all or nearly all of its 32 dimensions at β = 1 (see the bar), but {cite}`burda2016importance`
found that larger VAEs leave many dimensions inactive even at β = 1.
Remedies include the KL warm-up we used, limits on the decoder, or "free bits" of rate that are not charged.
""")

# ----------------------------------------------------------------------------- conditional VAE
md(r"""
## 7. A conditional VAE: draw the digit you ask for

A **conditional VAE** {cite}`sohn2015learning` models $p(x \mid y)$ for a label $y$ (here the digit 0–9). Both
networks see the label as a one-hot vector: the encoder is $q(z \mid x, y)$ and the decoder is $p(x \mid z, y)$;
the prior stays $\mathcal{N}(0, I)$. Because the label already says *which* digit it is, the code is free to
describe *how* it is written: slant, thickness, size. In `aigc_lib` it is the same `VAE` with `num_classes=10`;
the batches are `(images, labels)` pairs.
""")

code(r"""
# NBVAL_IGNORE_OUTPUT: depends on training length
torch.manual_seed(0)
cvae = VAE(VAEConfig(hidden=(400,), latent_dim=16, num_classes=10, dropout=0.1))
history_c = Trainer(max_steps=1500, eval_every=500, eval_batches=None, lr_schedule="cosine", warmup_steps=100,
                    progress=False, live_plot=False).fit(VAETask(cvae, lr=2e-3, kl_warmup_steps=200),
                                         TensorBatches(x_train, y_train, batch_size=100),
                                         TensorBatches(x_val, y_val, batch_size=500, repeat=False))
print(f"conditional VAE, validation: rate {history_c.last('val/rate'):.1f}, distortion "
      f"{history_c.last('val/distortion'):.1f} nats")
""")

md(r"""
Each row below asks for one digit. Each column uses one code $z \sim \mathcal{N}(0, I)$, the same for all rows,
so a column shows one handwriting *style* applied to every digit.
""")

code(r"""
# NBVAL_IGNORE_OUTPUT: depends on training length
cvae.eval()
z_styles = torch.randn(8, cvae.latent_dim, generator=torch.Generator().manual_seed(3)).to(device)
with torch.no_grad():
    drawn = torch.cat([torch.sigmoid(cvae.decode(z_styles, digit)) for digit in range(10)]).cpu()
show_images(drawn, nrow=8, title="rows: the digit asked for (0-9); columns: one shared style z");
""")

md(r"""
The label must be a digit from 0 to 9. Anything else is a clear error (caught here to print it):
""")

code(r"""
# NBVAL_CHECK_OUTPUT
try:
    cvae.sample(4, y=10)
except ValueError as error:
    print(f"ValueError: {error}")
""")

# ----------------------------------------------------------------------------- widget
md(r"""
## 8. A latent-space explorer

The sliders below set five coordinates of the 32-D model's code (the five dimensions with the largest KL, that
is, the ones that are likely to carry the most information); the other coordinates stay at 0, the prior mean. Move a slider
to see what that dimension controls. The static web page cannot run Python, so the figure after the widget
shows the same thing: each row moves one of the five coordinates from $-2.5$ to $2.5$.
""")

code(r"""
# NBVAL_IGNORE_OUTPUT: an interactive widget
import ipywidgets as widgets
from IPython.display import display

kl_dims = (0.5 * (mu_test**2 + logvar_test.exp() - 1 - logvar_test)).mean(0).cpu()
top_dims = kl_dims.argsort(descending=True)[:5].tolist()
sliders = [widgets.FloatSlider(value=0.0, min=-3.0, max=3.0, step=0.1, description=f"z[{d}]") for d in top_dims]
image_out = widgets.Output()

def redraw(_=None):
    z = torch.zeros(1, vae.latent_dim)
    for d, s in zip(top_dims, sliders):
        z[0, d] = s.value
    with torch.no_grad():
        image = torch.sigmoid(vae.decode(z.to(device))).cpu()
    with image_out:
        image_out.clear_output(wait=True)
        show_images(image, nrow=1)
        plt.show()

for s in sliders:
    s.observe(redraw, names="value")
redraw()
display(widgets.HBox([widgets.VBox(sliders), image_out]))
""")

code(r"""
# NBVAL_IGNORE_OUTPUT: depends on training length
values = torch.linspace(-2.5, 2.5, 11)
z = torch.zeros(len(top_dims), len(values), vae.latent_dim)
for r, d in enumerate(top_dims):
    z[r, :, d] = values
with torch.no_grad():
    traversal = torch.sigmoid(vae.decode(z.reshape(-1, vae.latent_dim).to(device))).cpu()
ax = show_images(traversal, nrow=len(values), labels=[f"{v:.1f}" for v in values])
ax.set_title(f"rows: coordinates {top_dims} of z from -2.5 to 2.5, the others 0", pad=14);
""")

# ----------------------------------------------------------------------------- IWAE
md(r"""
## 9. A real likelihood: the importance-weighted bound

The negative ELBO is an *upper* bound on the negative log-likelihood (NLL) $-\log p(x)$. To estimate the NLL
more tightly we use the **importance-weighted** estimate {cite}`burda2016importance`. Draw $k$ codes
$z_1, \dots, z_k \sim q(z \mid x)$ and compute the **importance weights** $w_i = p(x \mid z_i)\, p(z_i) / q(z_i \mid x)$.
Each $w_i$ is an unbiased estimate of $p(x)$ (that is the second line of the ELBO derivation). Then

$$
\mathcal{L}_k(x) = \log \frac{1}{k} \sum_{i=1}^k w_i \;\le\; \log p(x) \quad \text{(Jensen, as before).}
$$

$\mathcal{L}_1$ is the ELBO estimated with one sample. Averaging $k$ weights *before* the log makes the estimate of
$p(x)$ less noisy, and Jensen's gap shrinks with the noise. So $\mathbb{E}[\mathcal{L}_k]$ grows with $k$ and
tends to $\log p(x)$ {cite}`burda2016importance`. It is tighter than the ELBO because one good code $z_i$ (one
with a large weight) is enough to raise the average, while the ELBO averages $\log w_i$ and pays for every
poor code. `iwae_log_likelihood` computes $\mathcal{L}_k$ with the log-sum-exp trick, drawing the $k$ samples in
chunks so that memory does not grow with $k$. First, how $-\mathcal{L}_k$ falls as $k$ grows, on 200 random test digits:
""")

code(r"""
# NBVAL_IGNORE_OUTPUT: depends on training length
ks = [1, 4, 16, 64, 256, 1024]
x_few = x_test[subset[:200]].to(device)
g = torch.Generator(device).manual_seed(0)
with torch.no_grad():
    nll_k = [-iwae_log_likelihood(vae, x_few, k=k, chunk_size=128, generator=g).mean().item() for k in ks]
for k, v in zip(ks, nll_k):
    print(f"k = {k:4d}: -L_k = {v:6.2f} nats")
fig, ax = plt.subplots(figsize=(4.5, 3))
ax.plot(ks, nll_k, "o-"); ax.set(xscale="log", xlabel="k", ylabel="-L_k (nats)", title="200 random test digits")
plt.show()
""")

md(r"""
Now the chapter's main number: the held-out NLL on all test digits, with $k$ importance samples per digit (at
least 256), beside the negative ELBO estimated from the *same* samples. `held_out_likelihood` uses the model in
evaluation mode (no dropout) and a seeded generator, so the numbers are reproducible.
""")

code(r"""
# NBVAL_IGNORE_OUTPUT: depends on training length
k_eval = budget(1000, smoke=256)
t0 = time.perf_counter()
report = held_out_likelihood(vae, x_test, k=k_eval, batch_size=200, chunk_size=100, seed=0)
print(f"data: {test.source}, {report.n:,} test digits, fixed binarisation (seed 1234), k = {report.k}")
print(f"held-out NLL, IWAE estimate : {report.iwae_nll:6.2f} nats")
print(f"negative ELBO (same samples): {report.elbo_nll:6.2f} nats")
print(f"the IWAE estimate is {report.elbo_nll - report.iwae_nll:.2f} nats tighter | {time.perf_counter() - t0:.0f} s")
""")

md(r"""
The likelihood also answers a question from section 6: which β gives the best model of the data? We estimate
the NLL of each β-VAE on 500 random test digits with $k = 256$ (a smaller budget than above; the 32-D model above
was trained longer, so its number is lower). A low distortion alone (small β) or a low rate alone (large β) does
not give a good likelihood; the ELBO's balance, β = 1, is the objective that targets $\log p(x)$.
""")

code(r"""
# NBVAL_IGNORE_OUTPUT: depends on training length
n_beta = budget(500, smoke=100)
for beta in betas:
    r = held_out_likelihood(sweep[beta]["model"], x_test[subset[:n_beta]], k=256, batch_size=250, chunk_size=64, seed=0)
    print(f"beta {beta:5.2f}: NLL (IWAE) {r.iwae_nll:6.1f} nats | negative ELBO {r.elbo_nll:6.1f} nats")
""")

md(r"""
## Summary

- An autoencoder's code space has holes and no known distribution, so it cannot generate.
- A VAE adds a prior $\mathcal{N}(0, I)$ and an encoder $q(z \mid x)$, and maximises the ELBO
  $= -\text{distortion} - \text{rate}$, a lower bound on $\log p(x)$ whose gap is
  $\mathrm{KL}(q(z \mid x) \,\|\, p(z \mid x))$. The rate has a closed form for Gaussians (checked above against
  Monte Carlo).
- The reparameterisation trick gives gradients with far lower variance than the score function.
- β trades rate against distortion; a high price for information collapses the posterior onto the prior.
- A conditional VAE separates *what* (the label) from *how* (the code).
- The IWAE bound $\mathcal{L}_k$ turns a trained VAE into a likelihood estimate that tightens as $k$ grows. Numbers
  are comparable only on the same data and the same binarisation.

## Exercises

1. Check the closed-form KL divergence of a 2-D Gaussian with $\mu = (1, -2)$ and $\sigma = (0.5, 2)$
   against the prior by Monte Carlo, with a standard error.
2. Train the 2-D VAE with $\beta = 0.5$ and $\beta = 4$ and draw both latent scatter plots. How do
   the clusters of the digits change?
3. Train with `kl_warmup_steps=0` and with a long warm-up. Count the active dimensions in both runs.
4. On 100 test digits, plot $-\mathcal{L}_k$ against $k$ for $k = 1, 4, \dots, 1024$ with error bars from
   several repeats. Why does the spread shrink as $k$ grows?
5. Interpolate between the codes of two digits along a straight line and along a great circle
   (*spherical* interpolation). Which path stays where the prior puts its mass?
""")

code(r"""
# NBVAL_IGNORE_OUTPUT: timing
print(f"whole chapter: {time.perf_counter() - chapter_start:.0f} s on {device}, "
      f"{torch.get_num_threads()} CPU threads")
""")

write_notebook("07_vae.ipynb")
