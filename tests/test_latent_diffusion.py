"""Latent diffusion in miniature: shapes, the latent scale, round trip, overfitting a batch, errors."""
import pytest
import torch

from aigc_lib import Trainer
from aigc_lib.data import TensorBatches
from aigc_lib.diffusion.latent import (LatentDiffusion, LatentDiffusionConfig, LatentDiffusionTask,
                                       make_autoencoder_task)

QUIET = dict(progress=False, live_plot=False, device="cpu")


def tiny(num_classes: int = 10, **kw) -> LatentDiffusion:
    cfg = dict(image_shape=(1, 8, 8), ae_hidden=(32,), latent_dim=4, hidden=32, depth=2, time_dim=16,
               num_classes=num_classes, num_timesteps=50)
    cfg.update(kw)
    return LatentDiffusion(LatentDiffusionConfig(**cfg))


def images(n: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed))


def fitted(num_classes: int = 10) -> tuple[LatentDiffusion, torch.Tensor]:
    torch.manual_seed(0)
    model, x = tiny(num_classes), images(64)
    model.fit_latent_scale(x)
    return model, x


def test_shapes_of_encode_decode_and_sample():
    model, x = fitted()
    z = model.encode(x[:5])
    assert z.shape == (5, 4)
    out = model.decode(z)
    assert out.shape == (5, 1, 8, 8) and 0 <= float(out.min()) and float(out.max()) <= 1
    g = torch.Generator().manual_seed(0)
    for kw in ({}, {"labels": torch.arange(3)}, {"labels": torch.arange(3), "guidance_scale": 2.0},
               {"num_steps": 50, "eta": 1.0}):
        s = model.sample(3, generator=g, num_steps=kw.pop("num_steps", 5), **kw)
        assert s.shape == (3, 1, 8, 8) and 0 <= float(s.min()) and float(s.max()) <= 1


def test_samples_are_seeded():
    model, _ = fitted()
    a = model.sample(4, generator=torch.Generator().manual_seed(1), num_steps=5)
    b = model.sample(4, generator=torch.Generator().manual_seed(1), num_steps=5)
    c = model.sample(4, generator=torch.Generator().manual_seed(2), num_steps=5)
    assert torch.equal(a, b) and not torch.allclose(a, c)


def test_latent_scale_gives_unit_variance_and_is_saved():
    model, x = fitted()
    raw = model.encoder_means(x)
    assert abs(float(raw.std()) - 1.0) > 0.05          # without the scale the latents are not unit variance ...
    assert float(model.encode(x).std()) == pytest.approx(1.0, abs=1e-5)   # ... with it they are
    assert float(model.latent_scale) == pytest.approx(1.0 / float(raw.std()), rel=1e-6)
    other = tiny()
    other.load_state_dict(model.state_dict())
    assert torch.equal(other.encode(x), model.encode(x))


def test_scale_is_one_number_so_unused_coordinates_stay_small():
    model, x = fitted()
    with torch.no_grad():   # make coordinate 0 nearly constant (an "unused" latent coordinate)
        model.autoencoder.encoder[-1].weight[0].mul_(1e-3)
        model.autoencoder.encoder[-1].bias[0].zero_()
    model.fit_latent_scale(x)
    z = model.encode(x)
    assert float(z[:, 0].std()) < 0.05 * float(z[:, 1:].std())


def test_encode_decode_round_trip_uses_the_scale_both_ways():
    model, x = fitted()
    model.autoencoder.eval()                             # no dropout: encode and decode both run in eval mode
    with torch.no_grad():
        direct = torch.sigmoid(model.autoencoder.decode(model.encoder_means(x)))
    model.autoencoder.train()
    assert torch.allclose(model.decode(model.encode(x)), direct, atol=1e-6)
    z = model.encode(x)
    model.latent_scale.mul_(2.0)                         # a decoder that forgot to undo the scale differs
    assert not torch.allclose(model.decode(z), direct, atol=1e-3)


def test_trained_autoencoder_reconstructs_better_than_untrained():
    torch.manual_seed(0)
    model = tiny()
    x = torch.linspace(0, 1, 64).reshape(1, 1, 8, 8).expand(256, 1, 8, 8) \
        * torch.rand(256, 1, 1, 1, generator=torch.Generator().manual_seed(1))
    err = lambda: float(((model.decode(model.encoder_means(x) * float(model.latent_scale)) - x) ** 2).mean())  # noqa: E731
    model.fit_latent_scale(x)
    before = err()
    Trainer(max_steps=300, **QUIET).fit(make_autoencoder_task(model, kl_warmup_steps=0), TensorBatches(x, batch_size=64))
    assert err() < 0.5 * before


def test_tiny_denoiser_overfits_one_batch_and_autoencoder_stays_frozen():
    model, x = fitted()
    batch = (x[:8], torch.arange(8) % 10)
    task = LatentDiffusionTask(model, lr=3e-3, label_dropout=0.0)
    ae_before = {k: v.clone() for k, v in model.autoencoder.state_dict().items()}
    opt = task.configure_optimizers()
    task.train()
    assert not model.autoencoder.training              # no dropout in the frozen encoder
    losses = []
    for _ in range(200):
        torch.manual_seed(7)                            # the same t and noise each step
        loss = task.training_loss(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.05 * losses[0]
    assert all(torch.equal(v, ae_before[k]) for k, v in model.autoencoder.state_dict().items())


def test_task_trains_with_the_trainer_on_image_label_pairs():
    model, x = fitted()
    y = torch.arange(64) % 10
    history = Trainer(max_steps=60, log_every=10, ema_decay=0.9, **QUIET).fit(
        LatentDiffusionTask(model, lr=3e-3), TensorBatches(x, y, batch_size=32))
    losses = history.values("train/loss")
    assert losses[-1] < losses[0]


def test_unconditional_model_trains_on_images_alone():
    model, x = fitted(num_classes=0)
    task = LatentDiffusionTask(model)
    assert task.training_loss(x[:4]).ndim == 0
    with pytest.raises(ValueError, match="unconditional"):
        model.sample(2, labels=torch.tensor([0, 1]), num_steps=2)


def test_errors():
    model = tiny()
    with pytest.raises(RuntimeError, match="fit_latent_scale"):
        model.encode(images(2))
    with pytest.raises(RuntimeError, match="fit_latent_scale"):
        LatentDiffusionTask(model)
    with pytest.raises(ValueError, match=r"\(B, 1, 8, 8\)"):
        model.fit_latent_scale(torch.rand(4, 1, 28, 28))
    with pytest.raises(ValueError, match="at least 2"):
        model.fit_latent_scale(images(1))
    with pytest.raises(ValueError, match="finite"):
        model.fit_latent_scale(torch.full((4, 1, 8, 8), float("nan")))
    with pytest.raises(TypeError, match="floating-point"):
        model.fit_latent_scale(torch.zeros(4, 1, 8, 8, dtype=torch.long))
    model, x = fitted()
    with pytest.raises(ValueError, match=r"labels must be in 0\.\.9"):
        model.sample(2, labels=torch.tensor([3, 10]), num_steps=2)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        model.sample(2, labels=torch.tensor([3]), num_steps=2)
    with pytest.raises(TypeError, match="integer"):
        model.sample(2, labels=torch.tensor([3.0, 1.0]), num_steps=2)
    with pytest.raises(ValueError, match="guidance_scale"):
        model.sample(2, labels=torch.tensor([3, 1]), guidance_scale=-1.0, num_steps=2)
    with pytest.raises(ValueError, match="num_steps"):
        model.sample(2, num_steps=51)
    with pytest.raises(TypeError, match="n must be"):
        model.sample(2.0)
    with pytest.raises(ValueError, match=r"z must have shape \(B, 4\)"):
        model.decode(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="pairs"):
        LatentDiffusionTask(model).training_loss(x[:4])
    with pytest.raises(TypeError, match="LatentDiffusion"):
        LatentDiffusionTask(torch.nn.Linear(2, 2))


@pytest.mark.parametrize("kw, error", [({"latent_dim": 0}, ValueError), ({"latent_dim": 2.0}, TypeError),
                                       ({"schedule": "sigmoid"}, ValueError), ({"num_classes": -1}, ValueError),
                                       ({"ae_dropout": 1.0}, ValueError), ({"time_dim": 15}, ValueError)])
def test_bad_config_is_rejected(kw, error):
    with pytest.raises(error):
        tiny(**kw)
