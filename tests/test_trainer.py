import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import aigc_lib.checkpoint as ckpt_mod
from aigc_lib import NonFiniteLossError, Task, Trainer, load_checkpoint, save_checkpoint
from aigc_lib.data import TensorBatches
from aigc_lib.schedule import inverse_sqrt, warmup_cosine
from tests.tasks import RegressionTask, regression_data

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


class InterruptedTask(RegressionTask):
    """Raises KeyboardInterrupt (as Ctrl-C would) on its n-th loss computation."""

    def __init__(self, interrupt_at_call: int):
        super().__init__()
        self.calls, self.interrupt_at_call = 0, interrupt_at_call

    def training_loss(self, batch, optimizer_name="main"):
        self.calls += 1
        if self.calls == self.interrupt_at_call:
            raise KeyboardInterrupt
        return super().training_loss(batch)


def test_resumed_run_equals_uninterrupted_run(tmp_path):
    x, y = regression_data()
    cfg = dict(max_steps=40, lr_schedule="cosine", warmup_steps=5, clip_grad_norm=1.0, log_every=5, **QUIET)

    torch.manual_seed(1)
    full_task = RegressionTask()
    full = Trainer(**cfg)
    full.fit(full_task, TensorBatches(x, y, batch_size=16, seed=3))

    torch.manual_seed(1)
    task = InterruptedTask(interrupt_at_call=18)  # dies during step 18; last checkpoint is at step 15
    with pytest.raises(KeyboardInterrupt):
        Trainer(**cfg, checkpoint_dir=tmp_path, checkpoint_every=5).fit(task, TensorBatches(x, y, batch_size=16, seed=3))
    assert load_checkpoint(tmp_path / "last.pt")["step"] == 15

    # A new process starts from scratch: new task object, new data stream, another RNG state.
    torch.manual_seed(12345)
    resumed_task = RegressionTask()
    resumed = Trainer(**cfg, checkpoint_dir=tmp_path, checkpoint_every=5)
    resumed.fit(resumed_task, TensorBatches(x, y, batch_size=16, seed=3))

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
    (dict(eval_every=-5), r"eval_every must be an integer >= 0 \(0: only at the end\), got -5"),
    (dict(checkpoint_every=-5), r"checkpoint_every must be an integer >= 0 \(0: only at the end\), got -5"),
    (dict(eval_batches=0), r"eval_batches must be an integer >= 1 or None .*, got 0"),
    (dict(warmup_steps=-1), "warmup_steps must be an integer >= 0, got -1"),
    (dict(min_lr_ratio=1.5), r"min_lr_ratio must be a finite number in \[0, 1\], got 1.5"),
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
