"""One test per finding of the review ``library-bad-input-and-faults.md`` (F1-F19).

Each test reproduces the finding's failure and asserts the fixed behaviour: it
fails on the library before the fix (commit e19c298 and the layout move) and
passes after it. Disk-full errors are simulated by monkeypatching the write.
"""
from __future__ import annotations

import errno
import hashlib
import json
import multiprocessing as mp
import os
import random
import shutil
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from aigc_lib import SupervisedTask, Trainer, load_checkpoint, save_checkpoint
from aigc_lib.core import checkpoint as ckpt
from aigc_lib.core import lock as lockmod
from aigc_lib.core.checkpoint import CheckpointError
from aigc_lib.core.ema import EMA
from aigc_lib.core.lock import acquire_lock, release_lock
from aigc_lib.data import TensorBatches
from aigc_lib.diffusion import (DDPMTask, FlowMatchingTask, MLPDenoiser, MLPDenoiserConfig, NoiseSchedule, UNet,
                                UNetConfig, cosine_betas, ddim_sample, ddpm_sample, ddpm_step, flow_interpolate,
                                flow_sample, guided_prediction, predict_x0)

QUIET = dict(progress=False, live_plot=False, device="cpu")
NAN, INF = float("nan"), float("inf")


def denoiser():
    return MLPDenoiser(MLPDenoiserConfig(data_shape=(2,), hidden=16, depth=1, time_dim=8))


def points():
    return TensorBatches(torch.randn(64, 2, generator=torch.Generator().manual_seed(0)), batch_size=16)


# ------------------------------------------------------------------ F1: a resumed run must be of the same task
@pytest.mark.parametrize("first, second, named", [
    (lambda: DDPMTask(denoiser(), NoiseSchedule.cosine(10)), lambda: DDPMTask(denoiser(), NoiseSchedule.linear(10)),
     "schedule"),
    (lambda: DDPMTask(denoiser(), NoiseSchedule.cosine(10)), lambda: DDPMTask(denoiser(), NoiseSchedule.cosine(12)),
     "schedule"),
    (lambda: DDPMTask(denoiser(), NoiseSchedule.cosine(10)), lambda: FlowMatchingTask(denoiser()), "FlowMatchingTask"),
    (lambda: FlowMatchingTask(denoiser()), lambda: FlowMatchingTask(denoiser(), time_scale=1.0), "time_scale"),
    (lambda: DDPMTask(denoiser(), NoiseSchedule.cosine(10)),
     lambda: DDPMTask(denoiser(), NoiseSchedule.cosine(10), label_dropout=0.3), "label_dropout"),
], ids=["linear-for-cosine", "other-T", "flow-for-ddpm", "time_scale", "label_dropout"])
def test_f1_resume_refuses_another_task(tmp_path, first, second, named):
    Trainer(max_steps=2, checkpoint_dir=tmp_path, **QUIET).fit(first(), points())
    with pytest.raises(ValueError, match="task") as info:
        Trainer(max_steps=4, checkpoint_dir=tmp_path, **QUIET).fit(second(), points())
    assert named in str(info.value) and str(tmp_path) in str(info.value)


def test_f1_same_task_still_resumes(tmp_path):
    Trainer(max_steps=2, checkpoint_dir=tmp_path, **QUIET).fit(DDPMTask(denoiser(), NoiseSchedule.cosine(10)), points())
    t = Trainer(max_steps=4, checkpoint_dir=tmp_path, **QUIET)
    t.fit(DDPMTask(denoiser(), NoiseSchedule.cosine(10)), points())
    assert t.step == 4


def test_f1_default_signature_covers_any_task_subclass(tmp_path):
    class MyTask(SupervisedTask):              # a task written elsewhere, with no signature code of its own
        def __init__(self, beta: float, mode: str = "a"):
            super().__init__(torch.nn.Linear(3, 1), F.mse_loss, lambda p: torch.optim.SGD(p, lr=0.1))
            self.beta, self.mode, self.sizes = beta, mode, (3, 1)
            self.buffer_like = torch.zeros(3)      # tensors are not hyper-parameters

    sig = MyTask(0.5).config_signature()
    assert sig["class"].endswith("MyTask") and sig["beta"] == 0.5 and sig["mode"] == "a"
    assert "buffer_like" not in sig and "training" not in sig
    x = torch.randn(32, 3)
    data = lambda: TensorBatches(x, x.sum(1, keepdim=True), batch_size=8)
    Trainer(max_steps=2, checkpoint_dir=tmp_path, **QUIET).fit(MyTask(0.5), data())
    with pytest.raises(ValueError, match="beta: checkpoint 0.5, now 0.25"):
        Trainer(max_steps=4, checkpoint_dir=tmp_path, **QUIET).fit(MyTask(0.25), data())


# ------------------------------------------------------------------ F2: exactly one holder of a stale lock
def _dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def _racer(folders, barrier, results, seed):
    # Jitter inside the read of the lock file widens the window between reading a stale owner and acting on it
    # (the review's reproducer pauses there): it makes the old take-over race show up in a few hundred trials.
    rng = random.Random(seed)
    real = Path.read_text
    Path.read_text = lambda self, *a, **k: (real(self, *a, **k), time.sleep(rng.random() * 0.002))[0]
    for i, folder in enumerate(folders):
        barrier.wait()
        try:
            acquire_lock(folder)
            got = True
        except CheckpointError:
            got = False
        barrier.wait()                         # everyone has tried before the holder lets go
        results.put((i, got))
        if got:
            release_lock(folder)


def stale_lock_race(base: Path, trials: int, n_proc: int = 3) -> tuple[int, int]:
    """``n_proc`` processes released together on a folder with a stale lock, ``trials`` times.

    Returns the number of trials with two or more holders, and with none.
    """
    dead = _dead_pid()
    folders = []
    for i in range(trials):
        f = base / f"race{i}"
        f.mkdir()
        (f / ".lock").write_text(f"{dead} {socket.gethostname()}\n")     # what a SIGKILLed run leaves
        folders.append(f)
    ctx = mp.get_context("fork")
    barrier, results = ctx.Barrier(n_proc), ctx.Queue()
    procs = [ctx.Process(target=_racer, args=(folders, barrier, results, k)) for k in range(n_proc)]
    for p in procs:
        p.start()
    holders = [0] * trials
    for _ in range(trials * n_proc):
        i, got = results.get(timeout=60)
        holders[i] += got
    for p in procs:
        p.join(timeout=60)
    return sum(h > 1 for h in holders), sum(h == 0 for h in holders)


def test_f2_stale_lock_has_exactly_one_holder(tmp_path):
    t0 = time.perf_counter()
    doubles, nobody = stale_lock_race(tmp_path, trials=200)
    assert (doubles, nobody) == (0, 0)
    assert time.perf_counter() - t0 < 20


def test_f2_slow_reader_cannot_take_over_a_fresh_lock(tmp_path):
    """The review's reproducer: the first process pauses after reading the stale owner."""
    (tmp_path / ".lock").write_text(f"{_dead_pid()} {socket.gethostname()}\n")
    ctx = mp.get_context("fork")
    results = ctx.Queue()

    def run(pause):
        real = Path.read_text
        Path.read_text = lambda self, *a, **k: (real(self, *a, **k), time.sleep(pause))[0]
        try:
            acquire_lock(tmp_path)
            results.put(True)
            time.sleep(1.0)
        except CheckpointError:
            results.put(False)

    procs = [ctx.Process(target=run, args=(pause,)) for pause in (0.5, 0.0)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=30)
    assert sorted(results.get(timeout=5) for _ in procs) == [False, True]


def test_f2_lock_of_a_live_run_is_refused_and_taken_after_it_ends(tmp_path):
    ctx = mp.get_context("fork")
    ready, done = ctx.Event(), ctx.Event()

    def hold():
        acquire_lock(tmp_path)
        ready.set()
        done.wait(30)

    p = ctx.Process(target=hold)
    p.start()
    assert ready.wait(30)
    with pytest.raises(CheckpointError, match=f"in use by another run \\(process {p.pid}"):
        acquire_lock(tmp_path)
    p.kill()                                   # SIGKILL: the kernel frees its lock
    p.join()
    assert acquire_lock(tmp_path) == tmp_path / ".lock"
    release_lock(tmp_path)
    assert not (tmp_path / ".lock").exists()


# ------------------------------------------------------------------ F3/F4: disk full
def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_f3_failed_lock_write_leaves_no_lock(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "pwrite", _enospc)     # the disk fills up as the owner is written
    with pytest.raises(CheckpointError, match="No space left on device") as info:
        acquire_lock(tmp_path)
    assert str(tmp_path / ".lock") in str(info.value)
    monkeypatch.undo()
    assert not (tmp_path / ".lock").exists()
    assert acquire_lock(tmp_path).exists()       # the next run is not blocked
    release_lock(tmp_path)


def test_f3_empty_lock_of_a_crash_does_not_block(tmp_path):
    (tmp_path / ".lock").write_text("")           # a crash between creating the file and writing the PID
    acquire_lock(tmp_path)
    release_lock(tmp_path)


def regression_task():
    return SupervisedTask(torch.nn.Linear(3, 1), F.mse_loss, lambda p: torch.optim.SGD(p, lr=1e-2))


def regression_batches():
    x = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
    return TensorBatches(x, x.sum(1, keepdim=True), batch_size=8)


def test_f4_disk_full_during_save_names_file_and_intact_checkpoint(tmp_path, monkeypatch):
    Trainer(max_steps=2, checkpoint_dir=tmp_path, **QUIET).fit(regression_task(), regression_batches())
    before = (tmp_path / "last.pt").read_bytes()
    real_fdopen = ckpt.os.fdopen

    class Full:
        def __init__(self, f): self.f = f
        def __enter__(self): return self
        def __exit__(self, *a): self.f.close()
        def write(self, data): _enospc()
        def flush(self): pass
        def fileno(self): return self.f.fileno()

    monkeypatch.setattr(ckpt.os, "fdopen", lambda fd, mode: Full(real_fdopen(fd, mode)))
    with pytest.raises(CheckpointError) as info:
        Trainer(max_steps=4, checkpoint_dir=tmp_path, **QUIET).fit(regression_task(), regression_batches())
    msg = str(info.value)
    assert str(tmp_path / "last.pt") in msg and "No space left on device" in msg
    assert "step 2" in msg and "intact" in msg
    monkeypatch.undo()
    assert (tmp_path / "last.pt").read_bytes() == before
    assert not list(tmp_path.glob("*.tmp")) and not (tmp_path / ".lock").exists()
    t = Trainer(max_steps=4, checkpoint_dir=tmp_path, **QUIET)
    t.fit(regression_task(), regression_batches())
    assert t.step == 4


@pytest.mark.parametrize("where", ["fsync", "replace"])
def test_f4_fsync_and_rename_errors_are_wrapped(tmp_path, monkeypatch, where):
    monkeypatch.setattr(ckpt.os, where, _enospc)
    with pytest.raises(CheckpointError, match="could not write checkpoint") as info:
        save_checkpoint({"a": 1}, tmp_path / "c.pt")
    assert str(tmp_path / "c.pt") in str(info.value)
    assert not list(tmp_path.glob("*.tmp"))


# ------------------------------------------------------------------ F5: samplers check the model's output
S10 = NoiseSchedule.cosine(10)


@pytest.mark.parametrize("sampler", [
    lambda m: ddim_sample(m, S10, (2, 1, 8, 8), num_steps=5),
    lambda m: ddpm_sample(m, S10, (2, 1, 8, 8)),
    lambda m: flow_sample(m, (2, 1, 8, 8), num_steps=3),
], ids=["ddim", "ddpm", "flow"])
def test_f5_sampler_refuses_a_wrongly_shaped_model_output(sampler):
    with pytest.raises(ValueError, match=r"model.*\(2, 1, 8, 8\).*\(2, 3, 8, 8\)"):
        sampler(lambda x, t: torch.randn(x.shape[0], 3, 8, 8))


@pytest.mark.parametrize("sampler", [
    lambda m: ddim_sample(m, S10, (2, 1, 8, 8), num_steps=5),
    lambda m: ddpm_sample(m, S10, (2, 1, 8, 8)),
    lambda m: flow_sample(m, (2, 1, 8, 8), num_steps=3),
], ids=["ddim", "ddpm", "flow"])
def test_f5_sampler_refuses_nan_from_the_model(sampler):
    with pytest.raises(ValueError, match="NaN"):
        sampler(lambda x, t: torch.full_like(x, NAN))


def test_f5_course_generator_with_nan_weights_raises():
    from aigc_lib import generators as CG
    from aigc_lib.diffusion.pretrained import load_mnist_diffusion
    m = load_mnist_diffusion()
    m.conv_out.bias.data.fill_(NAN)
    with pytest.raises(ValueError, match="NaN"):
        CG.sample("ddim50", 2, model=m, num_steps=2)


def test_f5_ddpm_step_and_predict_x0_check_eps():
    x = torch.randn(4, 1, 8, 8)
    with pytest.raises(ValueError, match="eps"):
        ddpm_step(S10, torch.randn(1, 1, 8, 8), 3, x)
    with pytest.raises(ValueError, match="eps"):
        predict_x0(S10, x, 3, torch.randn(1, 1, 8, 8))
    with pytest.raises(ValueError, match="eps.*NaN"):
        ddpm_step(S10, torch.full_like(x, NAN), 3, x)


# ------------------------------------------------------------------ F6: sampler and schedule parameters
@pytest.mark.parametrize("call, name", [
    (lambda: ddpm_step(S10, torch.zeros(2, 1, 8, 8), 0, torch.zeros(2, 1, 8, 8), clip_x0=-1.0), "clip_x0"),
    (lambda: ddpm_step(S10, torch.zeros(2, 1, 8, 8), 0, torch.zeros(2, 1, 8, 8), clip_x0=NAN), "clip_x0"),
    (lambda: ddim_sample(lambda x, t: torch.zeros_like(x), S10, (2, 1, 8, 8), num_steps=5, eta=INF), "eta"),
    (lambda: guided_prediction(torch.ones(2), torch.zeros(2), INF), "scale"),
    (lambda: cosine_betas(4, s=NAN), "s"),
    (lambda: cosine_betas(4, s=-1.0), "s"),
    (lambda: flow_interpolate(torch.zeros(1, 2), torch.ones(1, 2), torch.tensor([1.5])), "t"),
    (lambda: flow_interpolate(torch.zeros(1, 2), torch.ones(1, 2), torch.tensor([-0.5])), "t"),
    (lambda: flow_interpolate(torch.zeros(4, 2), torch.ones(4, 2), torch.tensor([0.5])), "t"),
    (lambda: __import__("aigc_lib.diffusion", fromlist=["q_sample"]).q_sample(
        S10, torch.zeros(2, 2), 1, noise=torch.full((2, 2), NAN)), "noise"),
    (lambda: ddpm_sample(lambda x, t: torch.zeros_like(x), S10, (2, 2), trajectory_every=-1), "trajectory_every"),
    (lambda: __import__("aigc_lib.diffusion", fromlist=["flow_matching_loss"]).flow_matching_loss(
        lambda x, t: x, torch.zeros(2, 2), time_scale=INF), "time_scale"),
], ids=["clip-neg", "clip-nan", "eta-inf", "scale-inf", "s-nan", "s-neg", "t-1.5", "t-neg", "t-one-for-4",
        "noise-nan", "trajectory-neg", "time_scale-inf"])
def test_f6_parameter_is_checked(call, name):
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    assert name in str(info.value)


# ------------------------------------------------------------------ F7: U-Net times and labels
def small_unet():
    return UNet(UNetConfig(image_size=8, base_channels=8, channel_mults=(1, 2), attention_levels=(), groups=4,
                           num_classes=10)).eval()


def test_f7_unet_rejects_infinite_time_and_float_labels():
    u, x = small_unet(), torch.randn(2, 1, 8, 8)
    with pytest.raises(ValueError, match="t .*finite|t must"):
        u(x, torch.tensor([INF, 1.0]))
    with pytest.raises(TypeError, match=r"labels y must be integers.*1\.5"):
        u(x, torch.tensor([3, 3]), [1.5, 2.7])
    with pytest.raises(TypeError, match="labels y must be integers"):
        u(x, torch.tensor([3, 3]), np.array([3.9, 0.2]))


# ------------------------------------------------------------------ F8: all -inf log-probabilities
def test_f8_beam_search_and_greedy_refuse_all_minus_inf():
    from aigc_lib.transformer import beam_search, greedy_decode
    neg = lambda p: torch.full((p.shape[0], 5), -INF)
    with pytest.raises(ValueError, match="-inf"):
        beam_search(neg, [1], 2, 3)
    with pytest.raises(ValueError, match="-inf"):
        greedy_decode(neg, torch.tensor([[1]]), 3)
    second = lambda p: neg(p) if p.shape[1] > 1 else torch.log_softmax(torch.zeros(p.shape[0], 5), -1)
    with pytest.raises(ValueError, match="-inf"):
        beam_search(second, [1], 2, 3)


# ------------------------------------------------------------------ F9: another optimiser class
def test_f9_changed_optimizer_class_is_refused(tmp_path):
    x = torch.randn(64, 3)
    data = lambda: TensorBatches(x, x.sum(1, keepdim=True), batch_size=8)
    task = lambda opt: SupervisedTask(torch.nn.Linear(3, 1), F.mse_loss, opt)
    Trainer(max_steps=4, checkpoint_dir=tmp_path, **QUIET).fit(
        task(lambda p: torch.optim.AdamW(p, lr=1e-2, weight_decay=0.0)), data())
    with pytest.raises(ValueError, match="optimizer 'main': checkpoint AdamW, now SGD"):
        Trainer(max_steps=8, checkpoint_dir=tmp_path, **QUIET).fit(task(lambda p: torch.optim.SGD(p, lr=1e-2)), data())


# ------------------------------------------------------------------ F10: a checkpoint that could not be read back
def test_f10_unloadable_entry_is_refused_at_save_naming_it(tmp_path):
    class Loader(TensorBatches):
        def state_dict(self):
            return {**super().state_dict(), "pos": np.int64(self.index)}

    x = torch.randn(64, 3)
    with pytest.raises(TypeError, match=r"train_data\.pos.*numpy"):
        Trainer(max_steps=4, checkpoint_dir=tmp_path, **QUIET).fit(regression_task(),
                                                                    Loader(x, x.sum(1, keepdim=True), batch_size=8))
    with pytest.raises(TypeError, match=r"'a'.*numpy"):
        save_checkpoint({"a": np.float64(1.0)}, tmp_path / "c.pt")


def test_f10_weights_only_failure_on_load_is_not_called_damaged(tmp_path):
    import io
    buf = io.BytesIO()
    torch.save({"a": np.int64(1), ckpt.CHECKSUM_KEY: ckpt._PLACEHOLDER}, buf)
    data = buf.getvalue()
    data = data.replace(ckpt._PLACEHOLDER.encode(), hashlib.sha256(data).hexdigest().encode())
    (tmp_path / "c.pt").write_bytes(data)
    with pytest.raises(CheckpointError, match="weights_only=True") as info:
        load_checkpoint(tmp_path / "c.pt")
    assert "damaged" not in str(info.value) and "numpy" in str(info.value)
    assert "weights_only=False" not in str(info.value)


# ------------------------------------------------------------------ F11: a checksum is never optional
@pytest.mark.parametrize("sha", ["", "abc", "0" * 63, 3])
def test_f11_load_mnist_diffusion_rejects_empty_or_malformed_sha(tmp_path, sha):
    from aigc_lib.diffusion.pretrained import WEIGHTS_PATH, load_mnist_diffusion
    sd = torch.load(WEIGHTS_PATH, weights_only=True)
    sd["conv_in.bias"] += 1.0
    torch.save(sd, tmp_path / "tampered.pt")
    with pytest.raises((TypeError, ValueError), match="sha256"):
        load_mnist_diffusion(tmp_path / "tampered.pt", sha256=sha)


# ------------------------------------------------------------------ F12: course generators
def test_f12_generator_store_errors_name_the_file(tmp_path):
    from aigc_lib import generators as CG
    from aigc_lib.generators import specs
    with pytest.raises(TypeError, match="model.*VAE.*DCGANGenerator"):
        CG.save_course_generator("vae", CG.build_generator("dcgan"), {}, tmp_path / "g")
    with pytest.raises(TypeError, match="model.*VAE.*DCGANGenerator"):
        CG.sample("vae", 2, model=CG.build_generator("dcgan"))
    with pytest.raises(TypeError, match="model"):
        CG.sample("flow", 2, model=CG.build_generator("vae"))
    src = Path(specs.WEIGHTS_DIR)
    for edit, what in [(lambda m: m["generators"]["vae"].pop("sha256"), "sha256"),
                       (lambda m: m.pop("generators"), "generators")]:
        d = tmp_path / f"copy_{what}"
        shutil.copytree(src, d)
        m = json.loads((d / "manifest.json").read_text())
        edit(m)
        (d / "manifest.json").write_text(json.dumps(m))
        with pytest.raises(Exception, match="manifest") as info:
            CG.load_course_generator("vae", d)
        assert str(d / "manifest.json") in str(info.value) and what in str(info.value)
    d = tmp_path / "truncated"
    shutil.copytree(src, d)
    (d / "manifest.json").write_text((d / "manifest.json").read_text()[:200])
    with pytest.raises(Exception, match="manifest") as info:
        CG.load_course_generator("vae", d)
    assert str(d / "manifest.json") in str(info.value)


# ------------------------------------------------------------------ F13: EMA state
def test_f13_ema_load_state_dict_validates_before_assigning():
    m = torch.nn.Linear(2, 2)
    e = EMA(m, decay=0.9)
    before = {k: v.clone() for k, v in e.shadow.items()}
    s = e.state_dict()
    s["decay"] = 1.5
    with pytest.raises(ValueError, match="decay"):
        e.load_state_dict(s)
    s = {"shadow": {k: v + 1 for k, v in e.state_dict()["shadow"].items()}}
    with pytest.raises(KeyError, match="decay"):
        e.load_state_dict(s)
    assert all(torch.equal(before[k], e.shadow[k]) for k in before) and e.decay == 0.9


# ------------------------------------------------------------------ F14: a tokenizer pattern that skips text
def test_f14_bpe_pattern_must_cover_the_text():
    from aigc_lib.lm import ByteBPETokenizer
    tok = ByteBPETokenizer(pattern=r"\w+")
    with pytest.raises(ValueError, match=r"pattern.*' '.*position 1"):
        tok.encode("a b!")
    with pytest.raises(ValueError, match="pattern"):
        ByteBPETokenizer.train("aa bb aa", 258, pattern=r"a+")


# ------------------------------------------------------------------ F15: wrong types in the diffusion API
@pytest.mark.parametrize("call, name", [
    (lambda: small_unet()(torch.randn(2, 1, 8, 8).double(), torch.tensor([3, 3])), "x"),
    (lambda: denoiser()(torch.randn(4, 2).double(), torch.tensor([1, 2, 3, 4])), "x"),
    (lambda: small_unet()(torch.randn(2, 1, 8, 8), "5"), "t must be timesteps"),
    (lambda: ddim_sample(lambda x, t: x, S10, (2, 2), eta="0.5"), "eta"),
    (lambda: __import__("aigc_lib.diffusion", fromlist=["x"]).linear_betas(10, "1e-4"), "beta_start"),
    (lambda: DDPMTask(denoiser(), S10, label_dropout="0.1"), "label_dropout"),
    (lambda: ddpm_sample(lambda x, t: x, "cosine", (2, 2)), "schedule"),
    (lambda: DDPMTask(denoiser(), "cosine"), "schedule"),
    (lambda: UNetConfig(channel_mults=(1, 2.5)), "channel_mults"),
    (lambda: DDPMTask(denoiser(), S10, weight_decay=-1), "weight_decay"),
    (lambda: ddim_sample(lambda x, t: x, S10, (2, 2), timesteps=[]), "timesteps must be a non-empty"),
    (lambda: flow_sample(lambda x, t: x, (2, 2), time_scale=INF), "time_scale"),
    (lambda: flow_sample(lambda x, t: x, (2, 2), time_scale=NAN), "time_scale"),
    (lambda: FlowMatchingTask(denoiser(), time_scale=NAN), "time_scale"),
], ids=["unet-double", "mlp-double", "unet-t-str", "eta-str", "beta-str", "dropout-str", "sample-schedule-str",
        "task-schedule-str", "mults-float", "wd-neg", "timesteps-empty", "time_scale-inf", "time_scale-nan",
        "task-time_scale-nan"])
def test_f15_diffusion_wrong_types_get_clear_errors(call, name):
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    assert name in str(info.value)
    assert "aigc_lib" in info.traceback[-1].path.as_posix()       # raised by the library's own check


def test_f15_wrong_weights_file_is_named(tmp_path):
    from aigc_lib.diffusion.pretrained import load_mnist_diffusion
    torch.save({"w": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="other.pt"):
        load_mnist_diffusion(tmp_path / "other.pt", sha256=hashlib.sha256((tmp_path / "other.pt").read_bytes()).hexdigest())


def test_f15_latent_diffusion_load_state_dict_of_other_size_is_named():
    from aigc_lib.diffusion import LatentDiffusion, LatentDiffusionConfig
    a = LatentDiffusion(LatentDiffusionConfig(latent_dim=2))
    b = LatentDiffusion(LatentDiffusionConfig(latent_dim=3))
    with pytest.raises((ValueError, RuntimeError), match="latent_dim"):
        a.load_state_dict(b.state_dict())


# ------------------------------------------------------------------ F16: MASTER_PORT
@pytest.mark.parametrize("port", ["70000", "-1", "0"])
def test_f16_master_port_out_of_range(monkeypatch, port):
    from aigc_lib.core import distributed
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", port)
    with pytest.raises(ValueError, match=f"MASTER_PORT must be 1..65535, got {port}"):
        distributed.init_from_env("cpu")


# ------------------------------------------------------------------ F17: odd lock files
def test_f17_lock_that_is_a_folder_is_named(tmp_path):
    (tmp_path / ".lock").mkdir()
    with pytest.raises(CheckpointError, match=r"\.lock is a folder"):
        acquire_lock(tmp_path)


def test_f17_lock_with_a_huge_pid_is_taken_over(tmp_path):
    (tmp_path / ".lock").write_text(f"99999999999999999999 {socket.gethostname()}\n")
    acquire_lock(tmp_path)
    release_lock(tmp_path)


# ------------------------------------------------------------------ F18: a tiny temperature
def test_f18_tiny_temperature_acts_greedy():
    from aigc_lib.lm import SamplingConfig, sample_next_token
    logits = torch.tensor([[0.1, 2.0, 1.9]])
    assert sample_next_token(logits, SamplingConfig(temperature=1e-45)).tolist() == [1]


# ------------------------------------------------------------------ F19: NaN through q_step
def test_f19_q_step_rejects_nan_input():
    from aigc_lib.diffusion import q_step
    with pytest.raises(ValueError, match="x_prev"):
        q_step(S10, torch.full((2, 2), NAN), 1)


def test_f1_a_subclass_that_only_stops_early_may_resume_its_base(tmp_path):
    """Chapter 1's pattern: a subclass adds a stop (and its own attributes); the plain task resumes the run."""
    class Base(SupervisedTask):
        def __init__(self, lr: float = 1e-2):
            super().__init__(torch.nn.Linear(3, 1), F.mse_loss, lambda p: torch.optim.SGD(p, lr=lr))
            self.lr = lr

    class StopsEarly(Base):
        def __init__(self, stop_at: int, lr: float = 1e-2):
            super().__init__(lr)
            self.calls, self.stop_at = 0, stop_at

        def training_loss(self, batch, optimizer_name="main"):
            self.calls += 1
            if self.calls == self.stop_at:
                raise KeyboardInterrupt
            return super().training_loss(batch, optimizer_name)

    kw = dict(checkpoint_dir=tmp_path, checkpoint_every=2, **QUIET)
    with pytest.raises(KeyboardInterrupt):
        Trainer(max_steps=8, **kw).fit(StopsEarly(5), regression_batches())
    t = Trainer(max_steps=8, **kw)
    t.fit(Base(), regression_batches())
    assert t.step == 8
    with pytest.raises(ValueError, match="task lr: checkpoint 0.01, now 0.02"):
        Trainer(max_steps=10, **kw).fit(Base(lr=2e-2), regression_batches())
