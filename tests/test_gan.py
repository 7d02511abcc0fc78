import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from aigc_lib import NonFiniteLossError, Trainer
from aigc_lib.data import TensorBatches, ring_centers
from aigc_lib.gan import (DCGANConfig, DCGANDiscriminator, DCGANGenerator, MLPGANConfig, MLPDiscriminator,
                          MLPGenerator, generate)
from aigc_lib.gan import copy_check, mode_coverage, nearest_distances
from aigc_lib.gan.metrics import shifted
from aigc_lib.gan import (GANTask, WGANGPTask, critic_loss, discriminator_loss, generator_loss_minimax,
                          generator_loss_nonsaturating, gradient_penalty, interpolate, wgan_generator_loss)

QUIET = dict(progress=False, live_plot=False)


def small_dcgan(**kw):
    cfg = DCGANConfig(image_size=kw.pop("image_size", 28), latent_dim=8, base_channels=4, **kw)
    return DCGANGenerator(cfg), DCGANDiscriminator(cfg)


# --------------------------------------------------------------------------- shapes
def test_mlp_shapes_points_and_images():
    cfg = MLPGANConfig(data_shape=(2,), latent_dim=3, hidden_dim=8, n_hidden=2)
    g, d = MLPGenerator(cfg), MLPDiscriminator(cfg)
    x = g(torch.randn(5, 3))
    assert x.shape == (5, 2) and d(x).shape == (5,)
    cfg = MLPGANConfig(data_shape=(1, 28, 28), latent_dim=3, hidden_dim=8, output="tanh")
    g, d = MLPGenerator(cfg), MLPDiscriminator(cfg)
    x = g(torch.randn(4, 3))
    assert x.shape == (4, 1, 28, 28) and d(x).shape == (4,)
    assert x.abs().max() <= 1


@pytest.mark.parametrize("size,channels", [(28, 1), (16, 3)])
def test_dcgan_shapes_and_range(size, channels):
    g, d = small_dcgan(image_size=size, channels=channels)
    x = g(torch.randn(6, 8))
    assert x.shape == (6, channels, size, size)
    assert x.min() >= -1 and x.max() <= 1
    assert d(x).shape == (6,)
    assert any(isinstance(m, nn.ConvTranspose2d) for m in g.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in g.modules())


def test_dcgan_init_follows_the_paper():
    g = DCGANGenerator(DCGANConfig(base_channels=64))
    w = g.upsample[0].weight
    w = w.detach()
    assert abs(float(w.std()) - 0.02) < 0.002 and abs(float(w.mean())) < 0.002


def test_conditional_models_use_the_label():
    g, d = small_dcgan(n_classes=10)
    z = torch.randn(1, 8).repeat(2, 1)
    g.eval()
    x = g(z, torch.tensor([3, 7]))
    assert x.shape == (2, 1, 28, 28)
    assert not torch.allclose(x[0], x[1])
    same = x[:1].repeat(2, 1, 1, 1)
    d.eval()
    logits = d(same, torch.tensor([3, 7]))
    assert logits.shape == (2,) and logits[0] != logits[1]


def test_generate_is_deterministic_and_restores_mode():
    g, _ = small_dcgan()
    g.train()
    a, b = generate(g, 5, seed=3), generate(g, 5, seed=3)
    torch.testing.assert_close(a, b)
    assert g.training
    assert not torch.allclose(a, generate(g, 5, seed=4))


# ------------------------------------------------------------------ clear errors
def test_wrong_image_size_or_channels():
    _, d = small_dcgan()
    with pytest.raises(ValueError, match=r"1 channel\(s\) of 28x28.*3 channel\(s\) of 28x28"):
        d(torch.randn(2, 3, 28, 28))
    with pytest.raises(ValueError, match=r"28x28 pixels.*32x32"):
        d(torch.randn(2, 1, 32, 32))
    with pytest.raises(ValueError, match=r"shape \(B, 1, 28, 28\), got \(2, 784\)"):
        d(torch.randn(2, 784))
    mlp = MLPDiscriminator(MLPGANConfig(data_shape=(2,)))
    with pytest.raises(ValueError, match=r"\(B, 2\), got \(4, 3\)"):
        mlp(torch.randn(4, 3))


def test_wrong_latent_width():
    g, _ = small_dcgan()
    with pytest.raises(ValueError, match=r"\(B, 8\), got \(2, 9\)"):
        g(torch.randn(2, 9))
    with pytest.raises(ValueError, match=r"\(B, 16\), got \(16,\)"):
        MLPGenerator(MLPGANConfig())(torch.randn(16))


def test_integer_images_or_latents_are_a_clear_error():
    g, d = small_dcgan()
    with pytest.raises(TypeError, match=r"DCGANDiscriminator expects floating-point samples, got torch.uint8; "
                                        r"convert uint8 images to \[-1, 1\]"):
        d(torch.randint(0, 256, (2, 1, 28, 28), dtype=torch.uint8))
    with pytest.raises(TypeError, match="MLPDiscriminator expects floating-point samples, got torch.int64"):
        MLPDiscriminator(MLPGANConfig())(torch.randint(0, 3, (4, 2)))
    with pytest.raises(TypeError, match="latent vectors must be floating point .* got torch.int64"):
        g(torch.randint(0, 3, (2, 8)))


@pytest.mark.parametrize("bad", [10, -1])
def test_label_outside_0_to_9(bad):
    g, d = small_dcgan(n_classes=10)
    with pytest.raises(IndexError, match=rf"labels must be in 0..9, got {bad}"):
        g(torch.randn(2, 8), torch.tensor([1, bad]))
    with pytest.raises(IndexError, match=rf"0..9, got {bad}"):
        d(torch.zeros(2, 1, 28, 28), torch.tensor([bad, 1]))


def test_label_presence_shape_and_type():
    g, _ = small_dcgan(n_classes=10)
    with pytest.raises(ValueError, match="needs labels"):
        g(torch.randn(2, 8))
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        g(torch.randn(2, 8), torch.tensor([1, 2, 3]))
    with pytest.raises(TypeError, match="integers"):
        g(torch.randn(2, 8), torch.tensor([1.0, 2.0]))
    plain, _ = small_dcgan()
    with pytest.raises(ValueError, match="unconditional"):
        plain(torch.randn(2, 8), torch.tensor([1, 2]))


def test_pair_built_for_different_image_sizes():
    g, _ = small_dcgan(image_size=28)
    _, d = small_dcgan(image_size=32)
    with pytest.raises(ValueError, match=r"\(1, 28, 28\) but the discriminator expects \(1, 32, 32\)"):
        GANTask(g, d)
    with pytest.raises(ValueError, match=r"\(1, 28, 28\) but the discriminator expects \(3, 28, 28\)"):
        GANTask(g, small_dcgan(channels=3)[1])
    with pytest.raises(ValueError, match="n_classes=10"):
        GANTask(small_dcgan(n_classes=10)[0], small_dcgan()[1])


def test_config_errors():
    with pytest.raises(ValueError, match="multiple of 4"):
        DCGANConfig(image_size=30)
    with pytest.raises(ValueError, match="d_norm"):
        DCGANConfig(d_norm="instance")
    with pytest.raises(ValueError, match="generator_loss"):
        GANTask(*small_dcgan(), generator_loss="least-squares")
    g, d = small_dcgan()  # batch norm in d
    with pytest.raises(ValueError, match="batch norm"):
        WGANGPTask(g, d)


# ------------------------------------------------------------------------ losses
def test_gan_losses_match_hand_computation():
    real = torch.tensor([2.0, -1.0, 0.5])
    fake = torch.tensor([-3.0, 0.2])
    d_real, d_fake = torch.sigmoid(real), torch.sigmoid(fake)
    # binary cross-entropy: -mean log D(x) - mean log(1 - D(G(z)))
    expected = -(torch.log(d_real).mean() + torch.log(1 - d_fake).mean())
    torch.testing.assert_close(discriminator_loss(real, fake), expected)
    bce = (F.binary_cross_entropy_with_logits(real, torch.ones(3))
           + F.binary_cross_entropy_with_logits(fake, torch.zeros(2)))
    torch.testing.assert_close(discriminator_loss(real, fake), bce)
    torch.testing.assert_close(generator_loss_minimax(fake), torch.log(1 - d_fake).mean())
    torch.testing.assert_close(generator_loss_nonsaturating(fake), -torch.log(d_fake).mean())
    torch.testing.assert_close(critic_loss(real, fake), fake.mean() - real.mean())
    torch.testing.assert_close(wgan_generator_loss(fake), -fake.mean())


def test_saturating_vs_nonsaturating_gradients():
    logits = torch.tensor([-8.0, -2.0, 0.0, 3.0], requires_grad=True)
    (g_mm,) = torch.autograd.grad(generator_loss_minimax(logits), logits)
    (g_ns,) = torch.autograd.grad(generator_loss_nonsaturating(logits), logits)
    d = torch.sigmoid(logits.detach())
    torch.testing.assert_close(g_mm, -d / 4)
    torch.testing.assert_close(g_ns, -(1 - d) / 4)
    # When D confidently rejects a fake (logit -8) the minimax gradient all but vanishes.
    assert abs(g_mm[0]) < 1e-3 and abs(g_ns[0]) > 0.2


def test_losses_stay_finite_for_extreme_logits():
    big = torch.tensor([100.0, -100.0])
    for value in (discriminator_loss(big, big), generator_loss_minimax(big), generator_loss_nonsaturating(big)):
        assert torch.isfinite(value)


# ------------------------------------------------------------- gradient penalty
def test_penalty_is_computed_on_interpolates():
    real, fake = torch.randn(6, 1, 4, 4), torch.randn(6, 1, 4, 4)
    seen = []

    def critic(x):
        seen.append(x.detach().clone())
        return x.flatten(1).sum(1)

    gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(0))
    (x_hat,) = seen
    expected, eps = interpolate(real, fake, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(x_hat, expected)
    assert eps.shape == (6, 1, 1, 1) and (eps >= 0).all() and (eps <= 1).all()
    # every x_hat lies on the segment from fake to real, with one eps per example
    ratio = (x_hat - fake) / (real - fake)
    torch.testing.assert_close(ratio, eps.expand_as(ratio))


def test_penalty_value_and_gradient_for_a_linear_critic():
    # f(x) = w.x has gradient w everywhere, so the penalty is (||w|| - 1)^2,
    # and its gradient with respect to w is 2 (||w|| - 1) w / ||w||.
    w = torch.tensor([3.0, 4.0], requires_grad=True)
    gp = gradient_penalty(lambda x: x @ w, torch.randn(8, 2), torch.randn(8, 2))
    torch.testing.assert_close(gp, torch.tensor(16.0))
    (grad,) = torch.autograd.grad(gp, w)
    torch.testing.assert_close(grad, 2 * (5 - 1) * w.detach() / 5)


def test_penalty_value_for_a_quadratic_critic():
    # f(x) = ||x||^2 / 2 has gradient x, so the penalty is mean((||x_hat|| - 1)^2).
    real, fake = torch.randn(5, 3), torch.randn(5, 3)
    gp = gradient_penalty(lambda x: 0.5 * (x ** 2).sum(1), real, fake, generator=torch.Generator().manual_seed(1))
    x_hat, _ = interpolate(real, fake, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(gp, ((x_hat.norm(dim=1) - 1) ** 2).mean())


def test_penalty_errors():
    with pytest.raises(ValueError, match="same shape"):
        gradient_penalty(lambda x: x.sum(1), torch.randn(4, 2), torch.randn(3, 2))
    with pytest.raises(ValueError, match=r"one score per example, shape \(4,\)"):
        gradient_penalty(lambda x: x, torch.randn(4, 2), torch.randn(4, 2))


# ---------------------------------------------------------- training through the Trainer
class OrderRecordingGAN(GANTask):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.calls = []

    def training_loss(self, batch, optimizer_name):
        self.calls.append(optimizer_name)
        return super().training_loss(batch, optimizer_name)


def tiny_mlp_pair(**kw):
    cfg = MLPGANConfig(data_shape=(2,), latent_dim=2, hidden_dim=32, n_hidden=2, **kw)
    return MLPGenerator(cfg), MLPDiscriminator(cfg)


def test_gan_step_through_trainer_steps_d_then_g():
    task = OrderRecordingGAN(*tiny_mlp_pair())
    g0 = [p.detach().clone() for p in task.generator.parameters()]
    d0 = [p.detach().clone() for p in task.discriminator.parameters()]
    history = Trainer(max_steps=3, log_every=1, **QUIET).fit(task, TensorBatches(torch.randn(64, 2), batch_size=16))
    assert task.calls == ["D", "G"] * 3
    assert list(task.configure_optimizers()) == ["D", "G"]
    assert all(not torch.equal(a, b) for a, b in zip(g0, task.generator.parameters()))
    assert all(not torch.equal(a, b) for a, b in zip(d0, task.discriminator.parameters()))
    for name in ("train/D_loss", "train/G_loss", "train/D_D_real", "train/D_D_fake"):
        assert len(history.values(name)) == 3


def test_generator_step_leaves_discriminator_alone():
    task = GANTask(*tiny_mlp_pair())
    opts = task.configure_optimizers()
    d0 = [p.detach().clone() for p in task.discriminator.parameters()]
    task.zero_grad()
    task.training_loss(torch.randn(8, 2), "G")["loss"].backward()
    opts["G"].step()
    assert all(torch.equal(a, b) for a, b in zip(d0, task.discriminator.parameters()))
    # the D step must not send gradients into G (fakes are detached)
    task.zero_grad(set_to_none=True)
    task.training_loss(torch.randn(8, 2), "D")["loss"].backward()
    assert all(p.grad is None for p in task.generator.parameters())


def test_tiny_gan_learns_a_shifted_gaussian():
    torch.manual_seed(0)
    data = torch.randn(2048, 2) * 0.2 + torch.tensor([1.5, -1.0])
    task = GANTask(*tiny_mlp_pair(), lr_g=5e-4, lr_d=5e-4)
    before = task.sample(2000, seed=0).mean(0)
    Trainer(max_steps=600, **QUIET).fit(task, TensorBatches(data, batch_size=128))
    mean = task.sample(2000, seed=0).mean(0)
    assert torch.linalg.norm(before - torch.tensor([1.5, -1.0])) > 1.0
    assert torch.linalg.norm(mean - torch.tensor([1.5, -1.0])) < 0.25


def test_wgan_gp_schedule_and_fresh_real_chunks():
    torch.manual_seed(0)
    g, c = tiny_mlp_pair()
    task = WGANGPTask(g, c, n_critic=3)
    assert task.optimizer_schedule(0) == ["D", "D", "D", "G"]
    seen = []
    original = task.critic_terms

    def recording(real, labels):
        seen.append(real.clone())
        return original(real, labels)

    task.critic_terms = recording
    batch = torch.arange(24, dtype=torch.float32).view(12, 2)
    history = Trainer(max_steps=2, log_every=1, **QUIET).fit(task, TensorBatches(batch, batch_size=12, shuffle=False))
    assert len(seen) == 6
    for k in range(3):
        torch.testing.assert_close(seen[k], batch[4 * k:4 * (k + 1)])
    assert "train/D_penalty" in history and "train/D_wasserstein" in history
    with pytest.raises(ValueError, match="divisible by n_critic=3"):
        task.training_loss(torch.randn(10, 2), "D")


def test_conditional_gan_step_needs_labels():
    g, d = small_dcgan(n_classes=10)
    task = GANTask(g, d)
    x, y = torch.rand(8, 1, 28, 28) * 2 - 1, torch.randint(10, (8,))
    Trainer(max_steps=1, **QUIET).fit(task, TensorBatches(x, y, batch_size=4))
    with pytest.raises(ValueError, match=r"batches \(x, y\)"):
        task.training_loss(x, "D")


def test_non_finite_gan_loss_names_the_step():
    data = torch.randn(64, 2)
    data[40] = float("nan")  # in the third batch of 16 (no shuffling)
    task = GANTask(*tiny_mlp_pair())
    with pytest.raises(NonFiniteLossError, match=r"at step 2 for optimizer 'D'"):
        Trainer(max_steps=10, **QUIET).fit(task, TensorBatches(data, batch_size=16, shuffle=False))


# ------------------------------------------------------------------ mode coverage
def test_mode_coverage_counts_modes_and_quality():
    centers = ring_centers(8, 2.0)
    g = torch.Generator().manual_seed(0)
    on_seven = centers[torch.arange(700) % 7] + 0.05 * torch.randn(700, 2, generator=g)
    result = mode_coverage(on_seven, centers, std=0.05)
    assert result.modes_covered == 7 and result.n_modes == 8
    assert result.high_quality_fraction > 0.98  # 3 std in 2-D holds ~98.9 %
    assert result.counts[7] == 0
    far = torch.zeros(100, 2)  # the centre of the ring: 2 units from every mode
    assert mode_coverage(far, centers, std=0.05).high_quality_fraction == 0.0
    few = centers[:1].repeat(10, 1)  # 10 perfect samples on one mode: under min_samples
    assert mode_coverage(few, centers, std=0.05).modes_covered == 0
    assert mode_coverage(few, centers, std=0.05, min_samples=10).modes_covered == 1
    assert "7/8 modes covered" in str(result)
    with pytest.raises(ValueError, match="same D"):
        mode_coverage(torch.zeros(5, 3), centers, std=0.05)


def test_validation_metrics_through_trainer_evaluate():
    data = TensorBatches(torch.randn(64, 2), batch_size=32, repeat=False)
    gan_metrics = Trainer(**QUIET).evaluate(GANTask(*tiny_mlp_pair()), data)
    assert set(gan_metrics) == {"D_loss", "D_real", "D_fake"} and 0 < gan_metrics["D_real"] < 1
    wgan_metrics = Trainer(**QUIET).evaluate(WGANGPTask(*tiny_mlp_pair()), data)  # the penalty needs gradients
    assert set(wgan_metrics) == {"wasserstein", "penalty"} and wgan_metrics["penalty"] >= 0


@pytest.mark.parametrize("task_class", [GANTask, WGANGPTask])
def test_real_images_outside_the_tanh_range_are_an_error(task_class):
    g, d = small_dcgan(d_norm="layer")
    assert g.output_range == (-1.0, 1.0)
    task = task_class(g, d)
    pixels_0_255 = torch.rand(10, 1, 28, 28) * 255
    with pytest.raises(ValueError, match=r"real samples range from .* to 25.*, outside \[-1, 1\] \(tolerance 0.001\)"):
        task.training_loss(pixels_0_255, "D")
    just_over = torch.rand(10, 1, 28, 28) * 2 - 1
    just_over[0, 0, 0, 0] = 1.0011
    with pytest.raises(ValueError, match=r"to 1.0011, outside"):
        task_class(*small_dcgan(d_norm="layer")).training_loss(just_over, "D")


def test_real_images_in_0_1_for_a_tanh_generator_warn_once_and_scaled_images_pass(recwarn):
    task = GANTask(*small_dcgan())
    with pytest.warns(UserWarning, match=r"images in \[0, 1\]: x \* 2 - 1"):
        task.training_loss(torch.rand(8, 1, 28, 28), "D")
    task.training_loss(torch.rand(8, 1, 28, 28), "D")          # checked on the first batch only
    GANTask(*small_dcgan()).training_loss(torch.rand(8, 1, 28, 28) * 2 - 1, "D")
    assert not [w for w in recwarn if "tanh" in str(w.message)]


def test_points_for_a_linear_generator_may_take_any_value():
    g, d = tiny_mlp_pair()
    assert g.output_range is None
    GANTask(g, d).training_loss(torch.randn(16, 2) * 100, "D")


class InterruptedWGAN(WGANGPTask):
    """Raises KeyboardInterrupt (as Ctrl-C would) on its n-th loss computation."""

    resume_may_differ = frozenset({"calls", "interrupt_at_call"})   # test machinery, not settings

    def __init__(self, *args, interrupt_at_call=None, **kw):
        super().__init__(*args, **kw)
        self.calls, self.interrupt_at_call = 0, interrupt_at_call

    def training_loss(self, batch, optimizer_name):
        self.calls += 1
        if self.calls == self.interrupt_at_call:
            raise KeyboardInterrupt
        return super().training_loss(batch, optimizer_name)


@pytest.mark.parametrize("interrupt_at_call", [6, 11, 22, 31])
@pytest.mark.parametrize("same_trainer", [True, False])
def test_wgan_gp_resume_is_exact(tmp_path, interrupt_at_call, same_trainer):
    """Killed inside a step (4 loss calls per step: 3 critic chunks, 1 generator), then resumed:
    weights and history equal the uninterrupted run's. Calling fit() again on the same Trainer is
    what its interrupt message advises."""
    data = torch.randn(96, 2)
    cfg = dict(max_steps=10, log_every=3, **QUIET)

    def make(**kw):
        torch.manual_seed(0)
        return InterruptedWGAN(*tiny_mlp_pair(), n_critic=3, **kw)

    full_task = make()
    full = Trainer(**cfg)
    full.fit(full_task, TensorBatches(data, batch_size=12, seed=1))

    task = make(interrupt_at_call=interrupt_at_call)
    trainer = Trainer(**cfg, checkpoint_dir=tmp_path, checkpoint_every=2)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(task, TensorBatches(data, batch_size=12, seed=1))
    if not same_trainer:
        torch.manual_seed(123)
        task, trainer = make(), Trainer(**cfg, checkpoint_dir=tmp_path, checkpoint_every=2)
    trainer.fit(task, TensorBatches(data, batch_size=12, seed=1))
    assert trainer.history.state_dict() == full.history.state_dict()
    for k, v in full_task.state_dict().items():
        assert torch.equal(v, task.state_dict()[k]), k


# ------------------------------------------------ chapter 6's checks, each shown to fail on a broken variant
def test_mode_coverage_sees_a_collapsed_sampler():
    centers = ring_centers(8, 2.0)
    g = torch.Generator().manual_seed(1)
    spread = centers[torch.arange(2500) % 8] + 0.05 * torch.randn(2500, 2, generator=g)
    collapsed = centers[:1] + 0.05 * torch.randn(2500, 2, generator=g)      # every sample on mode 0
    hopping = centers[torch.arange(2500) % 2] + 0.05 * torch.randn(2500, 2, generator=g)
    assert mode_coverage(spread, centers, 0.05).modes_covered == 8
    collapsed_cov = mode_coverage(collapsed, centers, 0.05)
    # perfect samples, yet one mode: the quality fraction alone would miss the collapse
    assert collapsed_cov.modes_covered == 1 and collapsed_cov.high_quality_fraction > 0.98
    assert mode_coverage(hopping, centers, 0.05).modes_covered == 2


def test_copy_check_flags_memorisers_and_not_fresh_samples():
    g = torch.Generator().manual_seed(0)
    train, heldout, fresh = (torch.randn(n, 32, generator=g) for n in (400, 100, 200))
    assert copy_check(fresh, train, heldout).copied_fraction == 0.0
    memoriser = train[torch.randperm(400, generator=g)[:200]]
    partial = train[:5].repeat(40, 1)                                       # 5 training examples, 40 times each
    for copies in (memoriser, partial):
        result = copy_check(copies, train, heldout)
        assert result.copied_fraction == 1.0 and result.median_ratio == 0.0
        # broken variant: the two reference sets swapped, the copies are no longer flagged
        assert copy_check(copies, heldout, train).copied_fraction == 0.0
    slightly_noisy = memoriser + 0.05 * torch.randn(200, 32, generator=g)
    assert copy_check(slightly_noisy, train, heldout).copied_fraction == 1.0
    assert "100.0% flagged as copies" in str(copy_check(partial, train, heldout))


def _blob_images(n, g):
    """Digit-like test images: smooth random strokes inside the centre 16 x 16 of 24 x 24, zero border."""
    core = (torch.rand(n, 1, 16, 16, generator=g) > 0.75).float()
    core = torch.nn.functional.avg_pool2d(core, 3, stride=1, padding=1)
    return torch.nn.functional.pad(core, (4, 4, 4, 4))


def test_copy_check_with_max_shift_catches_shifted_copies_that_pixel_distance_misses():
    g = torch.Generator().manual_seed(0)
    train, heldout, fresh = (_blob_images(n, g) for n in (300, 100, 100))
    moved = {s: shifted(train[:100], s, -s) for s in (1, 2)}             # copies moved by s pixels down and left
    for s, copies in moved.items():
        # broken variant: plain pixel distance (max_shift=0) misses shifted copies
        assert copy_check(copies, train, heldout).copied_fraction < 0.1, s
        caught = copy_check(copies, train, heldout, max_shift=2)
        assert caught.copied_fraction == 1.0 and caught.median_ratio == 0.0, s
        # a window too small for the shift does not catch it
        if s == 2:
            assert copy_check(copies, train, heldout, max_shift=1).copied_fraction < 0.1
    # new images stay unflagged with the shift-tolerant distance, and exact copies stay flagged
    assert copy_check(fresh, train, heldout, max_shift=2).copied_fraction == 0.0
    assert copy_check(train[:50], train, heldout, max_shift=2).copied_fraction == 1.0


def test_shifted_moves_pixels_and_fills_zeros_and_shift_distance_matches_brute_force():
    x = torch.arange(1.0, 17.0).reshape(1, 1, 4, 4)
    down_left = shifted(x, 1, -1)
    torch.testing.assert_close(down_left[..., 1:, :3], x[..., :3, 1:])
    assert down_left[..., 0, :].abs().sum() == 0 and down_left[..., :, 3].abs().sum() == 0
    torch.testing.assert_close(shifted(x, 0, 0), x)
    g = torch.Generator().manual_seed(1)
    q, r = torch.rand(5, 1, 6, 6, generator=g), torch.rand(7, 1, 6, 6, generator=g)
    brute = torch.stack([min((shifted(a[None], dy, dx)[0] - b).norm() for b in r
                             for dy in (-1, 0, 1) for dx in (-1, 0, 1)) for a in q])
    torch.testing.assert_close(nearest_distances(q, r, max_shift=1), brute)
    with pytest.raises(ValueError, match="images"):
        nearest_distances(q.flatten(1), r.flatten(1), max_shift=1)
    with pytest.raises(ValueError, match="max_shift"):
        nearest_distances(q, r, max_shift=-1)


def test_nearest_distances_match_brute_force_and_copy_check_errors():
    g = torch.Generator().manual_seed(0)
    q, r = torch.rand(7, 1, 4, 4, generator=g), torch.rand(9, 1, 4, 4, generator=g)
    brute = torch.stack([min((a - b).norm() for b in r) for a in q])
    torch.testing.assert_close(nearest_distances(q, r, batch_size=3), brute)
    with pytest.raises(ValueError, match="same shape after the first"):
        nearest_distances(q, torch.rand(9, 16))
    with pytest.raises(ValueError, match="at least one"):
        nearest_distances(q, r[:0])
    with pytest.raises(ValueError, match="threshold"):
        copy_check(q, r, r, threshold=1.5)
    with pytest.raises(ValueError, match="NaN|finite"):
        copy_check(q, r, torch.full_like(r, float("nan")))
    with pytest.raises(TypeError, match="floating-point"):
        copy_check(q, r.long(), r)


def test_equilibrium_loss_values_do_not_depend_on_batch_sizes():
    # each BCE term is a mean over its own batch, so at D = 1/2 the loss is 2 ln 2 for any batch sizes
    for n_real, n_fake in ((3, 5), (64, 64), (1, 100)):
        d_loss = discriminator_loss(torch.zeros(n_real), torch.zeros(n_fake))
        assert d_loss.item() == pytest.approx(2 * math.log(2))
    assert generator_loss_nonsaturating(torch.zeros(7)).item() == pytest.approx(math.log(2))
    # broken variant: summing instead of averaging gives a number that grows with the batch
    broken = F.softplus(-torch.zeros(64)).sum() + F.softplus(torch.zeros(64)).sum()
    assert broken.item() != pytest.approx(2 * math.log(2))


def _log_normal(x, mean, std):
    return -0.5 * ((x - mean) / std) ** 2 - math.log(std * math.sqrt(2 * math.pi))


def test_optimal_discriminator_brute_force_and_a_wrong_formula():
    xs = torch.linspace(-4, 4, 201, dtype=torch.float64)
    p_data, p_g = _log_normal(xs, 1.0, 0.5).exp(), _log_normal(xs, -0.5, 1.0).exp()
    candidates = torch.linspace(1e-4, 1 - 1e-4, 10_001, dtype=torch.float64)
    d_best = candidates[(p_data[:, None] * torch.log(candidates) + p_g[:, None] * torch.log(1 - candidates)).argmax(1)]
    assert (d_best - p_data / (p_data + p_g)).abs().max() <= 1e-4 + 1e-12
    assert (d_best - p_g / (p_data + p_g)).abs().max() > 0.5          # the formula with p_data and p_g swapped


def test_nonsaturating_gradient_is_that_of_kl_minus_two_jsd():
    """Arjovsky & Bottou (2017), Theorem 2.5, checked on 1-D Gaussians as in chapter 6."""
    xs = torch.linspace(-10, 10, 8001, dtype=torch.float64)
    log_pd = _log_normal(xs, 1.0, 0.5)
    mu = torch.tensor(-0.5, dtype=torch.float64, requires_grad=True)
    log_pg = _log_normal(xs, mu, 1.0)
    pd, pg = log_pd.exp(), log_pg.exp()
    log_m = torch.logaddexp(log_pd, log_pg) - math.log(2)
    kl = torch.trapezoid(pg * (log_pg - log_pd), xs)
    jsd = 0.5 * torch.trapezoid(pd * (log_pd - log_m), xs) + 0.5 * torch.trapezoid(pg * (log_pg - log_m), xs)
    log_d_star = -F.softplus(log_pg - log_pd).detach()                 # log D* of the current generator, fixed
    log_1m_d_star = -F.softplus(log_pd - log_pg).detach()

    def grad(f):
        return torch.autograd.grad(f, mu, retain_graph=True)[0]

    nonsat, minimax = grad(torch.trapezoid(pg * -log_d_star, xs)), grad(torch.trapezoid(pg * log_1m_d_star, xs))
    torch.testing.assert_close(nonsat, grad(kl - 2 * jsd))
    torch.testing.assert_close(minimax, grad(2 * jsd))                 # the minimax loss: the JSD
    assert abs(nonsat - grad(kl - jsd)) > 0.1 and abs(nonsat - grad(kl)) > 0.1   # wrong factors fail
