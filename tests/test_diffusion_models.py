"""Denoising networks, guidance, samplers and tasks: shapes, errors, overfitting a batch, sampler identities."""
import math

import pytest
import torch

from aigc_lib import Trainer
from aigc_lib.data import TensorBatches, ring_of_gaussians
from aigc_lib.diffusion import (DDPMTask, FlowMatchingTask, MLPDenoiser, MLPDenoiserConfig, NoiseSchedule, UNet,
                                UNetConfig, classifier_free_guidance, ddim_sample, ddim_step, ddpm_loss, ddpm_sample,
                                drop_labels, flow_matching_loss, flow_sample, guided_prediction, to_image_range,
                                to_model_range)

QUIET = dict(progress=False, live_plot=False)


def tiny_unet(**kw):
    cfg = dict(base_channels=8, channel_mults=(1, 2), attention_levels=(1,), num_heads=2, groups=4, image_size=8)
    return UNet(UNetConfig(**{**cfg, **kw}))


@pytest.mark.parametrize("kw, shape", [
    ({}, (3, 1, 8, 8)),
    ({"in_channels": 3, "num_classes": 5}, (2, 3, 8, 8)),
    ({"patch_size": 2, "channel_mults": (1, 2), "image_size": 8}, (2, 1, 8, 8)),
    ({"channel_mults": (1, 2, 2), "attention_levels": (), "image_size": 8}, (2, 1, 8, 8)),
])
def test_unet_output_has_the_input_shape_and_gradients_reach_every_parameter(kw, shape):
    net = tiny_unet(**kw)
    x = torch.randn(shape)
    y = torch.arange(shape[0]) % 5 if net.num_classes else None
    out = net(x, torch.randint(1000, (shape[0],)), y)
    assert out.shape == shape
    # the last conv starts at zero (the network starts by predicting 0); make it non-zero to check gradients
    torch.nn.init.normal_(net.conv_out.weight, std=0.1)
    for m in net.modules():
        if hasattr(m, "conv2"):
            torch.nn.init.normal_(m.conv2.weight, std=0.1)
    net(x, torch.randint(1000, (shape[0],)), y).square().sum().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    if net.num_classes:   # only the rows of the labels used get gradients
        missing = [n for n in missing if n != "class_emb.weight"]
    assert not missing


def test_unet_on_mnist_size_with_attention_at_7x7():
    net = UNet(UNetConfig(base_channels=16, channel_mults=(1, 2), attention_levels=(1,), patch_size=2, num_classes=10))
    assert net(torch.randn(2, 1, 28, 28), torch.tensor([0, 999]), torch.tensor([3, 10])).shape == (2, 1, 28, 28)
    assert net(torch.randn(2, 1, 28, 28), 5).shape == (2, 1, 28, 28)      # one t for the batch, y None = null


def test_class_labels_change_the_prediction():
    net = tiny_unet(num_classes=3)
    torch.nn.init.normal_(net.conv_out.weight, std=0.1)
    for m in net.modules():
        if hasattr(m, "conv2"):
            torch.nn.init.normal_(m.conv2.weight, std=0.1)
    x, t = torch.randn(2, 1, 8, 8), torch.tensor([5, 5])
    assert not torch.allclose(net(x, t, torch.tensor([0, 0])), net(x, t, torch.tensor([1, 1])))
    assert torch.equal(net(x, t), net(x, t, torch.tensor([3, 3])))          # None is the null class 3


@pytest.mark.parametrize("call, error, match", [
    (lambda n: n(torch.randn(2, 3, 8, 8), torch.tensor([1, 2])), ValueError, "in_channels=1, got 3"),
    (lambda n: n(torch.randn(2, 1, 7, 8), torch.tensor([1, 2])), ValueError, "cannot be halved"),
    (lambda n: n(torch.randn(2, 8, 8), torch.tensor([1, 2])), ValueError, r"\(B, C, H, W\)"),
    (lambda n: n(torch.randn(2, 1, 8, 8), torch.tensor([1, 2, 3])), ValueError, "one per example"),
    (lambda n: n(torch.randn(2, 1, 8, 8), torch.tensor([1.0, float("nan")])), ValueError, "NaN"),
    (lambda n: n(torch.randn(2, 1, 8, 8), torch.tensor([1, 2]), torch.tensor([0, 4])), ValueError, r"0\.\.2"),
    (lambda n: n(torch.randn(2, 1, 8, 8), torch.tensor([1, 2]), torch.tensor([0, -1])), ValueError, r"0\.\.2"),
    (lambda n: n(torch.randn(2, 1, 8, 8), torch.tensor([1, 2]), torch.tensor([0.0, 1.0])), TypeError, "integers"),
    (lambda n: n(torch.zeros(2, 1, 8, 8, dtype=torch.long), torch.tensor([1, 2])), TypeError, "floating"),
])
def test_unet_errors(call, error, match):
    with pytest.raises(error, match=match):
        call(tiny_unet(num_classes=3))


def test_unconditional_unet_rejects_labels():
    with pytest.raises(ValueError, match="unconditional"):
        tiny_unet()(torch.randn(1, 1, 8, 8), 3, torch.tensor([1]))


@pytest.mark.parametrize("kw, match", [
    ({"image_size": 30, "channel_mults": (1, 2, 2)}, "cannot be halved"),
    ({"image_size": 28, "channel_mults": (1, 2, 2), "patch_size": 2}, "divisible by 8"),
    ({"base_channels": 12, "groups": 8}, "groups"),
    ({"attention_levels": (3,)}, "attention_levels"),
    ({"num_classes": -1}, "num_classes"),
    ({"in_channels": 0}, "in_channels"),
    ({"patch_size": 1.5}, "patch_size"),
])
def test_bad_unet_config_is_rejected(kw, match):
    with pytest.raises(ValueError, match=match):
        UNetConfig(**kw)


def test_mlp_denoiser_shapes_and_errors():
    net = MLPDenoiser(MLPDenoiserConfig(hidden=32, depth=2, num_classes=4))
    assert net(torch.randn(5, 2), torch.arange(5), torch.arange(5) % 4).shape == (5, 2)
    img = MLPDenoiser(MLPDenoiserConfig(data_shape=(1, 4, 4), hidden=16, depth=1))
    assert img(torch.randn(3, 1, 4, 4), torch.zeros(3)).shape == (3, 1, 4, 4)
    with pytest.raises(ValueError, match=r"\(B, 2\)"):
        net(torch.randn(5, 3), torch.arange(5))
    with pytest.raises(ValueError, match=r"0\.\.3"):
        net(torch.randn(2, 2), torch.arange(2), torch.tensor([0, 5]))
    with pytest.raises(ValueError, match="time_dim"):
        MLPDenoiserConfig(time_dim=7)


# ------------------------------------------------------------------------------------------------- guidance
def conditional_mlp():
    torch.manual_seed(0)
    net = MLPDenoiser(MLPDenoiserConfig(hidden=32, depth=2, num_classes=4))
    torch.nn.init.normal_(net.out.weight, std=0.3)
    for b in net.blocks:
        torch.nn.init.normal_(b.fc2.weight, std=0.3)
    return net


def test_guidance_scale_one_is_the_conditional_model_and_zero_the_unconditional():
    net = conditional_mlp()
    x, t, y = torch.randn(6, 2), torch.randint(1000, (6,)), torch.tensor([0, 1, 2, 3, 0, 1])
    cond, uncond = net(x, t, y), net(x, t, torch.full((6,), 4))
    assert torch.allclose(classifier_free_guidance(net, y, 1.0)(x, t), cond, atol=1e-5)
    assert torch.allclose(classifier_free_guidance(net, y, 0.0)(x, t), uncond, atol=1e-5)
    guided = classifier_free_guidance(net, y, 3.0)(x, t)
    assert not torch.allclose(guided, cond, atol=1e-3)                  # the check can fail
    assert torch.allclose(guided, uncond + 3 * (cond - uncond), atol=1e-4)


@pytest.mark.parametrize("scale", [-0.5, float("nan"), "2", True])
def test_bad_guidance_scale_is_rejected(scale):
    with pytest.raises(ValueError, match="guidance scale"):
        guided_prediction(torch.zeros(2), torch.zeros(2), scale)
    with pytest.raises(ValueError, match="guidance scale"):
        classifier_free_guidance(conditional_mlp(), torch.tensor([0]), scale)


def test_guidance_label_errors():
    net = conditional_mlp()
    with pytest.raises(ValueError, match=r"0\.\.3"):
        classifier_free_guidance(net, torch.tensor([0, 4]), 2.0)          # the null class is not a target
    with pytest.raises(ValueError, match="class-conditional"):
        classifier_free_guidance(MLPDenoiser(), torch.tensor([0]), 2.0)
    with pytest.raises(ValueError, match="2 labels"):
        classifier_free_guidance(net, torch.tensor([0, 1]), 2.0)(torch.randn(3, 2), torch.zeros(3, dtype=torch.long))


def test_drop_labels_uses_the_null_class_at_the_given_rate():
    y = torch.zeros(20_000, dtype=torch.long)
    dropped = drop_labels(y, 0.2, null_label=10, generator=torch.Generator().manual_seed(0))
    assert set(dropped.unique().tolist()) == {0, 10}
    assert abs((dropped == 10).float().mean() - 0.2) < 0.01
    with pytest.raises(ValueError, match="p must be"):
        drop_labels(y, 1.5, 10)
    with pytest.raises(ValueError, match=r"0\.\.10"):
        drop_labels(torch.tensor([11]), 0.1, 10)


# ---------------------------------------------------------------------------------------- losses and samplers
def test_tiny_mlp_overfits_one_batch_with_fixed_noise():
    torch.manual_seed(0)
    sched = NoiseSchedule.cosine(100)
    net = MLPDenoiser(MLPDenoiserConfig(hidden=64, depth=2))
    x0, _ = ring_of_gaussians(16, generator=torch.Generator().manual_seed(0))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(200):
        loss = ddpm_loss(net, sched, x0, generator=torch.Generator().manual_seed(7))   # same t and noise each step
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.01 * losses[0]


def test_tiny_unet_overfits_one_batch_with_flow_matching():
    torch.manual_seed(0)
    net = tiny_unet()
    x1 = torch.rand(2, 1, 8, 8) * 2 - 1
    opt = torch.optim.Adam(net.parameters(), lr=5e-3)
    losses = []
    for _ in range(80):
        loss = flow_matching_loss(net, x1, generator=torch.Generator().manual_seed(3))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.05 * losses[0]


def test_ddim_with_eta_one_over_all_steps_is_the_ddpm_sampler():
    sched = NoiseSchedule.linear(50, beta_start=1e-3, beta_end=0.02)   # alpha_bar stays >= 0.5: little rounding
    net = conditional_mlp()
    model = lambda x, t: torch.tanh(net(x, t, torch.zeros(len(x), dtype=torch.long)))   # noqa: E731
    ddpm = ddpm_sample(model, sched, (8, 2), generator=torch.Generator().manual_seed(0))
    ddim = ddim_sample(model, sched, (8, 2), num_steps=50, eta=1.0, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(ddpm, ddim, atol=1e-5)
    det = ddim_sample(model, sched, (8, 2), num_steps=50, eta=0.0, generator=torch.Generator().manual_seed(0))
    assert not torch.allclose(ddpm, det, atol=1e-2)                      # the check can fail


def test_samplers_are_seeded_and_return_trajectories():
    sched = NoiseSchedule.cosine(20)
    net = conditional_mlp()
    a, traj = ddpm_sample(lambda x, t: net(x, t), sched, (4, 2), generator=torch.Generator().manual_seed(1),
                          trajectory_every=5)
    b = ddpm_sample(lambda x, t: net(x, t), sched, (4, 2), generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    assert [t for t, _ in traj] == [19, 14, 9, 4, -1] and torch.equal(traj[-1][1], a)
    c, ftraj = flow_sample(lambda x, t: net(x, t), (4, 2), num_steps=4, trajectory_every=2,
                           generator=torch.Generator().manual_seed(1))
    assert [t for t, _ in ftraj] == [0.0, 0.5, 1.0] and torch.equal(ftraj[-1][1], c)
    _, dtraj = ddim_sample(lambda x, t: net(x, t), sched, (4, 2), num_steps=5, trajectory_every=1)
    assert [t for t, _ in dtraj] == [16, 12, 8, 4, 0, -1]


def test_sampler_argument_errors():
    sched = NoiseSchedule.cosine(20)
    model = lambda x, t: torch.zeros_like(x)   # noqa: E731
    with pytest.raises(ValueError, match="num_steps"):
        ddim_sample(model, sched, (2, 2), num_steps=21)
    with pytest.raises(ValueError, match="decreasing"):
        ddim_sample(model, sched, (2, 2), timesteps=[3, 5])
    with pytest.raises(ValueError, match="0..19"):
        ddim_sample(model, sched, (2, 2), timesteps=[25, 5])
    with pytest.raises(ValueError, match="eta"):
        ddim_step(sched, torch.zeros(2), 5, 4, torch.zeros(2), eta=-1)
    with pytest.raises(ValueError, match="t_prev"):
        ddim_step(sched, torch.zeros(2), 5, 5, torch.zeros(2))
    with pytest.raises(ValueError, match="shape"):
        ddpm_sample(model, sched, (2, 0))
    with pytest.raises(ValueError, match="num_steps"):
        flow_sample(model, (2, 2), num_steps=0)
    with pytest.raises(ValueError, match="NaN"):
        flow_matching_loss(model, torch.tensor([[float("nan"), 0.0]]))


# ---------------------------------------------------------------------------------------------------- tasks
@pytest.mark.parametrize("make", [
    lambda net: DDPMTask(net, NoiseSchedule.cosine(100), lr=3e-3),
    lambda net: FlowMatchingTask(net, lr=3e-3),
])
def test_tasks_train_a_conditional_toy_model_with_the_trainer(make):
    torch.manual_seed(0)
    x, modes = ring_of_gaussians(1024, generator=torch.Generator().manual_seed(0))
    task = make(MLPDenoiser(MLPDenoiserConfig(hidden=64, depth=2, num_classes=8)))
    history = Trainer(max_steps=150, log_every=25, ema_decay=0.9, **QUIET).fit(
        task, TensorBatches(x, modes, batch_size=128))
    losses = history.values("train/loss")
    assert losses[-1] < 0.7 * losses[0]
    with pytest.raises(ValueError, match="pairs"):
        task.training_loss(x[:4])


def test_image_range_helpers():
    x = torch.tensor([0.0, 0.5, 1.0])
    assert torch.equal(to_model_range(x), torch.tensor([-1.0, 0.0, 1.0]))
    assert torch.equal(to_image_range(torch.tensor([-2.0, 0.0, 1.0])), torch.tensor([0.0, 0.5, 1.0]))


# ----------------------------------------------------------------------------------------- shipped weights
def test_pretrained_loader_checks_the_checksum(tmp_path):
    from aigc_lib.data import ChecksumError, file_hash
    from aigc_lib.diffusion.pretrained import load_mnist_diffusion, make_mnist_ddpm_task

    path = tmp_path / "w.pt"
    torch.save(make_mnist_ddpm_task().model.state_dict(), path)
    model = load_mnist_diffusion(path, sha256=file_hash(path))
    assert not model.training and model.num_classes == 10
    with pytest.raises(ChecksumError, match="sha256"):
        load_mnist_diffusion(path, sha256="0" * 64)


def test_shipped_mnist_weights_match_their_checksum():
    from aigc_lib.diffusion.pretrained import WEIGHTS_PATH, WEIGHTS_SHA256, load_mnist_diffusion

    if not WEIGHTS_SHA256:
        pytest.skip("no MNIST diffusion weights shipped yet")
    model = load_mnist_diffusion()
    assert WEIGHTS_PATH.stat().st_size < 5 * 2**20
    x = ddim_sample(lambda x, t: model(x, t), NoiseSchedule.cosine(1000), (2, 1, 28, 28), num_steps=2)
    assert x.shape == (2, 1, 28, 28) and torch.isfinite(x).all()
