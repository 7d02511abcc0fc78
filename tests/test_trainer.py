import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import aigc_lib.core.checkpoint as ckpt_mod
from aigc_lib import NonFiniteLossError, Task, Trainer, load_checkpoint, save_checkpoint
from aigc_lib.data import TensorBatches
from aigc_lib.core import inverse_sqrt, warmup_cosine
from tests.tasks import RegressionTask, full_and_resumed_runs, regression_data

QUIET = dict(progress=False, live_plot=False)


def params_of(task):
    return {k: v.detach().clone() for k, v in task.state_dict().items()}


def test_trainer_fits_a_regression_problem():
    x, y = regression_data()
    task = RegressionTask(dropout=0.0)
    before = Trainer(**QUIET).evaluate(task, TensorBatches(x, y, batch_size=64, repeat=False))["loss"]
    history = Trainer(max_steps=300, eval_every=100, **QUIET).fit(
        task, TensorBatches(x, y, batch_size=32), TensorBatches(x, y, batch_size=64, repeat=False))
    after = history.last("val/loss")
    assert after < 0.05 * before
    assert history.steps("val/loss") == [100, 200, 300]
    assert len(history.values("train/loss")) == 30  # logged every 10 steps


def test_overfits_a_single_batch():
    torch.manual_seed(0)
    x, y = regression_data(n=8)
    task = RegressionTask(hidden=64, dropout=0.0, lr=3e-2)
    history = Trainer(max_steps=400, log_every=1, **QUIET).fit(task, TensorBatches(x, y, batch_size=8))
    assert history.values("train/loss")[-1] < 1e-3 * history.values("train/loss")[0]


def test_resumed_run_equals_uninterrupted_run(tmp_path):
    cfg = dict(max_steps=40, lr_schedule="cosine", warmup_steps=5, clip_grad_norm=1.0, log_every=5, **QUIET)

    def check(folder):   # dies during step 18; the last checkpoint is at step 15
        assert load_checkpoint(folder / "last.pt")["step"] == 15

    # The resumed run starts from scratch: new task object, new data stream, another RNG state.
    full, full_task, resumed, resumed_task = full_and_resumed_runs(cfg, tmp_path, 18, 12345, check)

    assert resumed.step == 40
    for k, v in params_of(full_task).items():
        assert torch.equal(v, resumed_task.state_dict()[k]), k
    assert full.history.values("train/loss") == resumed.history.values("train/loss")
    assert full.history.values("lr") == resumed.history.values("lr")


def test_checkpoint_loads_with_weights_only(tmp_path):
    x, y = regression_data()
    Trainer(max_steps=3, checkpoint_dir=tmp_path, **QUIET).fit(RegressionTask(), TensorBatches(x, y, batch_size=8))
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    assert state["step"] == 3 and set(state) >= {"task", "optimizers", "schedulers", "rng", "train_data"}


def test_interrupted_checkpoint_write_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint({"step": 1, "w": torch.ones(3)}, path)
    real_save = torch.save

    def crash_half_way(obj, f, *args, **kwargs):
        f.write(b"partial bytes of a checkpoint")
        raise KeyboardInterrupt("killed during the write")

    monkeypatch.setattr(ckpt_mod.torch, "save", crash_half_way)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint({"step": 2, "w": torch.zeros(3)}, path)
    monkeypatch.setattr(ckpt_mod.torch, "save", real_save)
    state = load_checkpoint(path)
    assert state["step"] == 1 and torch.equal(state["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temporary file left behind


def test_missing_checkpoint_error_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "nothing.pt")


class NaNAtStep(RegressionTask):
    def __init__(self, bad_step):
        super().__init__()
        self.bad_step, self.calls = bad_step, 0

    def training_loss(self, batch, optimizer_name="main"):
        loss = super().training_loss(batch)
        self.calls += 1
        return loss * float("nan") if self.calls == self.bad_step + 1 else loss


def test_non_finite_loss_stops_and_names_the_step():
    x, y = regression_data()
    trainer = Trainer(max_steps=10, **QUIET)
    with pytest.raises(NonFiniteLossError, match=r"at step 4 for optimizer 'main'"):
        trainer.fit(NaNAtStep(bad_step=4), TensorBatches(x, y, batch_size=8))
    assert trainer.step == 4


def test_gradient_accumulation_equals_one_large_batch():
    x, y = regression_data(n=64)
    torch.manual_seed(0)
    big = RegressionTask(dropout=0.0)
    small = RegressionTask(dropout=0.0)
    small.load_state_dict(big.state_dict())
    Trainer(max_steps=8, **QUIET).fit(big, TensorBatches(x, y, batch_size=16, shuffle=False))
    Trainer(max_steps=8, grad_accum_steps=4, **QUIET).fit(small, TensorBatches(x, y, batch_size=4, shuffle=False))
    for k, v in big.state_dict().items():
        torch.testing.assert_close(small.state_dict()[k], v, rtol=1e-5, atol=1e-6)


class TwoPlayerTask(Task):
    """Records the order in which optimisers step and the gradients each one saw."""

    def __init__(self, schedule=None):
        super().__init__()
        self.d = nn.Linear(2, 1)
        self.g = nn.Linear(2, 2)
        self.log: list[str] = []
        self.schedule = schedule

    def configure_optimizers(self):
        return {"D": torch.optim.SGD(self.d.parameters(), lr=0.1), "G": torch.optim.SGD(self.g.parameters(), lr=0.1)}

    def optimizer_schedule(self, step):
        return self.schedule

    def training_loss(self, batch, optimizer_name):
        self.log.append(optimizer_name)
        fake = self.g(batch)
        if optimizer_name == "D":
            return {"loss": self.d(fake.detach()).mean() - self.d(batch).mean(), "extra": torch.tensor(1.0)}
        return -self.d(fake).mean()


def test_several_optimizers_step_in_order_with_their_own_gradients():
    x = torch.randn(32, 2)
    task = TwoPlayerTask()
    g_before = task.g.weight.detach().clone()
    hist = Trainer(max_steps=3, log_every=1, **QUIET).fit(task, TensorBatches(x, batch_size=8))
    assert task.log == ["D", "G"] * 3
    assert "train/D_loss" in hist and "train/G_loss" in hist and "train/D_extra" in hist
    assert "lr/D" in hist and "lr/G" in hist
    assert not torch.equal(task.g.weight, g_before)



def test_gan_phase_gradients_do_not_leak_between_optimizers():
    torch.manual_seed(0)
    x = torch.randn(16, 2)
    task = TwoPlayerTask(schedule=["G", "D"])
    ref = TwoPlayerTask()
    ref.load_state_dict(task.state_dict())
    Trainer(max_steps=1, **QUIET).fit(task, TensorBatches(x, batch_size=16, shuffle=False))
    # Reference: G steps, then D steps on gradients of the D loss alone.
    opt_g = torch.optim.SGD(ref.g.parameters(), lr=0.1)
    opt_d = torch.optim.SGD(ref.d.parameters(), lr=0.1)
    opt_g.zero_grad(); (-ref.d(ref.g(x)).mean()).backward(); opt_g.step()
    ref.zero_grad(set_to_none=True)
    (ref.d(ref.g(x).detach()).mean() - ref.d(x).mean()).backward(); opt_d.step()
    for k, v in ref.state_dict().items():
        torch.testing.assert_close(task.state_dict()[k], v)


def test_optimizer_schedule_with_unknown_name_is_a_clear_error():
    task = TwoPlayerTask(schedule=["critic"])
    with pytest.raises(KeyError, match="'critic'.*\\['D', 'G'\\]"):
        Trainer(max_steps=1, **QUIET).fit(task, TensorBatches(torch.randn(8, 2), batch_size=8))


def test_learning_rate_schedules():
    m = warmup_cosine(warmup_steps=10, total_steps=110, min_ratio=0.1)
    assert m(0) == pytest.approx(0.1) and m(9) == pytest.approx(1.0)
    assert m(60) == pytest.approx(0.55)  # half-way down the cosine
    assert m(110) == pytest.approx(0.1) and m(500) == pytest.approx(0.1)
    v = inverse_sqrt(100)
    assert v(99) == pytest.approx(1.0) and v(399) == pytest.approx(0.5)
    x, y = regression_data()
    hist = Trainer(max_steps=20, lr_schedule="cosine", warmup_steps=5, log_every=1, **QUIET).fit(
        RegressionTask(lr=1.0e-2), TensorBatches(x, y, batch_size=8))
    lrs = hist.values("lr")
    assert lrs[3] == pytest.approx(1e-2) and lrs[-1] == pytest.approx(1e-3)


@pytest.mark.parametrize("bad", [dict(max_steps=-1), dict(grad_accum_steps=0), dict(precision="fp16"),
                                 dict(lr_schedule="linear"), dict(clip_grad_norm=0.0)])
def test_bad_config_is_rejected(bad):
    with pytest.raises(ValueError, match=list(bad)[0]):
        Trainer(**bad)


def test_non_scalar_loss_is_rejected():
    class VectorLoss(RegressionTask):
        def training_loss(self, batch, optimizer_name="main"):
            x, y = batch
            return (self.net(x).squeeze(-1) - y) ** 2

    x, y = regression_data()
    with pytest.raises(ValueError, match=r"scalar, got shape \(8,\)"):
        Trainer(max_steps=1, **QUIET).fit(VectorLoss(), TensorBatches(x, y, batch_size=8))


def test_smoke_mode_caps_the_steps(monkeypatch):
    monkeypatch.setenv("AIGC_SMOKE", "1")
    x, y = regression_data()
    trainer = Trainer(max_steps=5000, **QUIET)
    trainer.fit(RegressionTask(), TensorBatches(x, y, batch_size=8))
    assert trainer.step == 20


def test_evaluate_rewinds_a_stateful_loader():
    x, y = regression_data()
    val = TensorBatches(x, y, batch_size=8, seed=5)
    trainer = Trainer(eval_batches=3, **QUIET)
    task = RegressionTask()
    task.eval()
    assert trainer.evaluate(task, val) == trainer.evaluate(task, val)
    assert val.state_dict() == {"epoch": 0, "index": 0}


def test_bf16_autocast_path_trains_on_cpu():
    x, y = regression_data()
    hist = Trainer(max_steps=60, precision="bf16", log_every=20, **QUIET).fit(
        RegressionTask(dropout=0.0), TensorBatches(x, y, batch_size=32))
    losses = hist.values("train/loss")
    assert all(math.isfinite(v) for v in losses) and losses[-1] < 0.5 * losses[0]


@pytest.mark.filterwarnings("ignore:CUDA is not available:UserWarning")   # this test fakes a CUDA device
@pytest.mark.parametrize("native_bf16", [True, False])
def test_auto_precision_uses_bf16_only_on_gpus_with_native_bf16(monkeypatch, native_bf16):
    calls = []

    def fake_is_bf16_supported(including_emulation=True):
        calls.append(including_emulation)
        return native_bf16 or including_emulation      # an older GPU (e.g. a T4) only emulates bf16

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", fake_is_bf16_supported)
    trainer = Trainer(**QUIET)
    trainer.device = torch.device("cuda")                # only the precision decision is tested here
    ctx = trainer._autocast()
    assert calls == [False]
    assert isinstance(ctx, torch.autocast) == native_bf16
    trainer.device = torch.device("cpu")
    assert not isinstance(trainer._autocast(), torch.autocast)


def test_torch_compile_gives_the_same_losses():
    pytest.importorskip("torch._inductor")
    x, y = regression_data()
    torch.manual_seed(0)
    a = RegressionTask(dropout=0.0)
    b = RegressionTask(dropout=0.0)
    b.load_state_dict(a.state_dict())
    ha = Trainer(max_steps=5, log_every=1, **QUIET).fit(a, TensorBatches(x, y, batch_size=16))
    hb = Trainer(max_steps=5, log_every=1, compile=True, **QUIET).fit(b, TensorBatches(x, y, batch_size=16))
    torch.testing.assert_close(torch.tensor(ha.values("train/loss")), torch.tensor(hb.values("train/loss")),
                               rtol=1e-4, atol=1e-5)


DDP_SCRIPT = Path(__file__).with_name("ddp_worker.py")


def test_ddp_with_two_cpu_processes_matches_single_process(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[1])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(DDP_SCRIPT), str(tmp_path)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for k in rank0:
        assert torch.equal(rank0[k], rank1[k]), f"ranks disagree on {k}"

    # The same run in one process on the whole batch: DDP averages the two half-batch gradients.
    from tests.ddp_worker import make_task_and_data
    task, data = make_task_and_data()
    Trainer(max_steps=10, **QUIET).fit(task, data)
    for k, v in task.state_dict().items():
        torch.testing.assert_close(rank0[k], v, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bad, message", [
    (dict(eval_every=-5), r"eval_every must be >= 0 \(0: only at the end\), got -5"),
    (dict(checkpoint_every=-5), r"checkpoint_every must be >= 0 \(0: only at the end\), got -5"),
    (dict(eval_batches=0), r"eval_batches must be >= 1 or None .*, got 0"),
    (dict(warmup_steps=-1), "warmup_steps must be >= 0, got -1"),
    (dict(min_lr_ratio=1.5), r"min_lr_ratio must be in \[0, 1\], got 1.5"),
])
def test_out_of_range_periods_are_rejected(bad, message):
    """A negative period used to run silently as its absolute value (Python's step % -n)."""
    with pytest.raises(ValueError, match=message):
        Trainer(**bad, **QUIET)


class ReturnsWrongThing(RegressionTask):
    def __init__(self, kind):
        super().__init__()
        self.kind = kind

    def training_loss(self, batch, optimizer_name="main"):
        loss = super().training_loss(batch)
        return {"float": loss.item(), "dict": {"mse": loss}, "detached": loss.detach()}[self.kind]


@pytest.mark.parametrize("kind, error, message", [
    ("float", TypeError, "must return a scalar tensor .* got float for optimizer 'main'"),
    ("dict", KeyError, r"dict without a 'loss' entry \(keys: \['mse'\]\)"),
    ("detached", ValueError, "loss for optimizer 'main' does not require grad"),
])
def test_training_loss_of_the_wrong_kind_is_rejected(kind, error, message):
    x, y = regression_data()
    with pytest.raises(error, match=message):
        Trainer(max_steps=1, **QUIET).fit(ReturnsWrongThing(kind), TensorBatches(x, y, batch_size=8))


def test_resuming_into_a_different_model_names_the_checkpoint(tmp_path):
    x, y = regression_data()
    Trainer(max_steps=2, checkpoint_dir=tmp_path, **QUIET).fit(RegressionTask(), TensorBatches(x, y, batch_size=8))
    with pytest.raises(RuntimeError, match=r"(?s)cannot resume from .*last.pt: .*resume=False.*size mismatch for net.0.weight"):
        Trainer(max_steps=4, checkpoint_dir=tmp_path, **QUIET).fit(RegressionTask(hidden=32),
                                                                    TensorBatches(x, y, batch_size=8))


# ----------------------------------------------------------------- hardening (issue 12)
import threading
import warnings

from aigc_lib.core import CheckpointError


def run_with_timeout(fn, seconds=30.0):
    """Run ``fn`` in a thread; fail (instead of hanging the suite) if it has not returned after ``seconds``."""
    result = {}

    def target():
        try:
            result["value"] = fn()
        except BaseException as e:  # noqa: BLE001
            result["error"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"still running after {seconds} s: a hang"
    if "error" in result:
        raise result["error"]
    return result.get("value")


def history_of(trainer):
    return {k: list(v) for k, v in trainer.history.state_dict().items()}


@pytest.mark.parametrize("interrupt_at_call", [8, 13, 27, 34])
def test_resumed_history_equals_uninterrupted_history(tmp_path, interrupt_at_call):
    """The running means between log entries are checkpointed: log_every=10, checkpoints every 5 steps."""
    cfg = dict(max_steps=40, lr_schedule="cosine", warmup_steps=5, log_every=10, **QUIET)
    full, full_task, resumed, resumed_task = full_and_resumed_runs(cfg, tmp_path, interrupt_at_call, 999)
    assert history_of(resumed) == history_of(full)
    for k, v in params_of(full_task).items():
        assert torch.equal(v, params_of(resumed_task)[k]), k


def test_endless_validation_stream_with_eval_batches_none_is_an_error_not_a_hang():
    x, y = regression_data()
    trainer = Trainer(max_steps=2, eval_batches=None, **QUIET)
    with pytest.raises(ValueError, match=r"eval_batches=None .* never ends"):
        run_with_timeout(lambda: trainer.fit(RegressionTask(), TensorBatches(x, y, batch_size=8),
                                             TensorBatches(x, y, batch_size=8)))
    with pytest.raises(ValueError, match=r"eval_batches=None .* never ends"):
        run_with_timeout(lambda: Trainer(eval_batches=None, **QUIET).evaluate(
            RegressionTask(), TensorBatches(x, y, batch_size=8)))


def test_stray_world_size_fails_fast_with_a_message(tmp_path):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = ("from aigc_lib import Trainer\nfrom aigc_lib.data import TensorBatches\n"
            "from tests.tasks import RegressionTask, regression_data\n"
            "x, y = regression_data()\n"
            "Trainer(max_steps=1, progress=False, live_plot=False).fit(RegressionTask(), TensorBatches(x, y, batch_size=8))\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1]), "OMP_NUM_THREADS": "1",
           "WORLD_SIZE": "2", "RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
           "AIGC_DIST_TIMEOUT": "2"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=90)
    assert proc.returncode != 0
    assert "WORLD_SIZE=2" in proc.stderr and "unset WORLD_SIZE" in proc.stderr, proc.stderr[-2000:]
    env.pop("MASTER_ADDR")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=90)
    assert proc.returncode != 0 and "MASTER_ADDR is not set" in proc.stderr, proc.stderr[-2000:]


def _write_run(tmp_path, **kw):
    x, y = regression_data()
    Trainer(max_steps=4, checkpoint_dir=tmp_path, **QUIET, **kw).fit(RegressionTask(), TensorBatches(x, y, batch_size=8))
    return tmp_path / "last.pt"


@pytest.mark.parametrize("damage", ["empty", "truncated", "garbage", "bit flip early", "bit flip late"])
def test_damaged_checkpoint_is_a_clear_error_naming_the_file(tmp_path, damage):
    path = _write_run(tmp_path)
    data = bytearray(path.read_bytes())
    if damage == "empty":
        data = bytearray()
    elif damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "garbage":
        data = bytearray(b"not a checkpoint" * 10)
    else:
        i = 100 if damage == "bit flip early" else len(data) - 300
        data[i] ^= 0x10
    path.write_bytes(bytes(data))
    x, y = regression_data()
    with pytest.raises(CheckpointError) as info:
        Trainer(max_steps=8, checkpoint_dir=tmp_path, **QUIET).fit(RegressionTask(), TensorBatches(x, y, batch_size=8))
    msg = str(info.value)
    assert str(path) in msg and "resume=False" in msg and "weights_only=False" not in msg


def test_every_single_bit_flip_is_detected(tmp_path):
    path = save_checkpoint({"w": torch.arange(4.0), "step": 3}, tmp_path / "c.pt")
    data = path.read_bytes()
    for i in range(0, len(data), 7):
        flipped = bytearray(data)
        flipped[i] ^= 0x01
        path.write_bytes(bytes(flipped))
        with pytest.raises(CheckpointError):
            load_checkpoint(path)


def test_stale_temp_files_are_removed_at_save_and_resume(tmp_path):
    path = _write_run(tmp_path)
    stale = tmp_path / ".last.pt.abc123.tmp"
    stale.write_bytes(b"half a checkpoint")
    load_checkpoint(path)
    assert not stale.exists()
    stale.write_bytes(b"half a checkpoint")
    save_checkpoint(load_checkpoint(path), path)
    assert not stale.exists()


def test_lock_of_a_live_process_refuses_and_a_stale_lock_is_taken_over(tmp_path):
    import socket
    x, y = regression_data()
    lock = tmp_path / ".lock"
    lock.write_text(f"{os.getppid()} {socket.gethostname()}\n")       # a live process that is not us
    with pytest.raises(CheckpointError, match=r"in use by another run .*delete .*\.lock"):
        Trainer(max_steps=2, checkpoint_dir=tmp_path, **QUIET).fit(RegressionTask(), TensorBatches(x, y, batch_size=8))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock.write_text(f"{dead.pid} {socket.gethostname()}\n")
    Trainer(max_steps=2, checkpoint_dir=tmp_path, **QUIET).fit(RegressionTask(), TensorBatches(x, y, batch_size=8))
    assert not lock.exists(), "the lock is released when fit() ends"


class LoudTask(RegressionTask):
    def training_loss(self, batch, optimizer_name="main"):
        raise AssertionError("training started although the checkpoint folder cannot be written")


def test_unwritable_checkpoint_dir_is_reported_before_training(tmp_path):
    x, y = regression_data()
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(CheckpointError, match=r"checkpoint_dir .*a_file.* cannot be written"):
        Trainer(max_steps=2, checkpoint_dir=blocker / "sub", **QUIET).fit(LoudTask(), TensorBatches(x, y, batch_size=8))
    if os.geteuid() != 0:  # root may write anywhere
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        with pytest.raises(CheckpointError, match="cannot be written"):
            Trainer(max_steps=2, checkpoint_dir=ro, **QUIET).fit(LoudTask(), TensorBatches(x, y, batch_size=8))


@pytest.mark.parametrize("change, message", [
    (dict(clip_grad_norm=0.5), r"clip_grad_norm: checkpoint None, now 0.5"),
    (dict(log_every=3), r"log_every: checkpoint 10, now 3"),
    (dict(max_steps=2), r"it is at step 4, but max_steps=2 is smaller"),
])
def test_changed_settings_on_resume_are_reported(tmp_path, change, message):
    _write_run(tmp_path)
    x, y = regression_data()
    cfg = {**dict(max_steps=8), **change}
    with pytest.raises(ValueError, match=message):
        Trainer(checkpoint_dir=tmp_path, **QUIET, **cfg).fit(RegressionTask(), TensorBatches(x, y, batch_size=8))


def test_changed_learning_rate_or_missing_data_position_on_resume(tmp_path):
    _write_run(tmp_path)
    x, y = regression_data()
    with pytest.raises(ValueError, match=r"learning rate of optimizer 'main': checkpoint 0.01, now 0.5"):
        Trainer(max_steps=8, checkpoint_dir=tmp_path, **QUIET).fit(RegressionTask(lr=0.5),
                                                                    TensorBatches(x, y, batch_size=8))
    # Allowed changes: more steps, other eval/checkpoint periods.
    Trainer(max_steps=6, checkpoint_every=1, checkpoint_dir=tmp_path, **QUIET).fit(
        RegressionTask(), TensorBatches(x, y, batch_size=8))
    # A checkpoint written from a plain list has no data position; resuming with a TensorBatches warns.
    d2 = tmp_path / "list"
    Trainer(max_steps=2, checkpoint_dir=d2, **QUIET).fit(RegressionTask(), [(x[:8], y[:8])])
    with pytest.warns(UserWarning, match="holds no position of the training data"):
        Trainer(max_steps=4, checkpoint_dir=d2, **QUIET).fit(RegressionTask(), TensorBatches(x, y, batch_size=8))


def test_second_fit_with_a_new_task_is_an_error_not_a_silent_no_op():
    x, y = regression_data()
    trainer = Trainer(max_steps=3, **QUIET)
    trainer.fit(RegressionTask(), TensorBatches(x, y, batch_size=8))
    with pytest.raises(RuntimeError, match="one Trainer trains one task"):
        trainer.fit(RegressionTask(), TensorBatches(x, y, batch_size=8))


@pytest.mark.parametrize("schedule, message", [
    (lambda step: -0.5, r"lr_schedule must return a finite number >= 0 .*got -0.5 at step 0"),
    (lambda step: float("nan"), r"lr_schedule must return a finite number >= 0 .*got nan"),
])
def test_bad_learning_rate_multiplier_is_an_error(schedule, message):
    x, y = regression_data()
    with pytest.raises(ValueError, match=message):
        Trainer(max_steps=3, lr_schedule=schedule, **QUIET).fit(RegressionTask(), TensorBatches(x, y, batch_size=8))


def test_exhausted_generator_as_train_data_is_explained():
    x, y = regression_data(n=16)
    batches = ((x[i:i + 8], y[i:i + 8]) for i in range(0, 16, 8))
    with pytest.raises(ValueError, match="ran out and cannot be restarted"):
        Trainer(max_steps=5, **QUIET).fit(RegressionTask(), batches)
