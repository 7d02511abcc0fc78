"""EMA of weights: the update formula, the swap-in context, state round trips and exact Trainer resume."""
import pytest
import torch
from torch import nn

from aigc_lib import Trainer, TrainerConfig, load_checkpoint, save_checkpoint
from aigc_lib.data import TensorBatches
from aigc_lib.core import EMA
from tests.tasks import RegressionTask, full_and_resumed_runs, regression_data

QUIET = dict(progress=False, live_plot=False)


def test_update_is_the_exponential_average_and_buffers_follow():
    torch.manual_seed(0)
    m = nn.BatchNorm1d(3)
    ema = EMA(m, decay=0.9, warmup=False)
    start = m.weight.detach().clone()
    with torch.no_grad():
        m.weight.add_(1.0)
    m(torch.randn(8, 3))                    # changes running_mean (float) and num_batches_tracked (int)
    ema.update(m)
    assert torch.allclose(ema.shadow["weight"], 0.9 * start + 0.1 * m.weight.detach())
    assert torch.allclose(ema.shadow["running_mean"], 0.1 * m.running_mean)
    assert ema.shadow["num_batches_tracked"] == m.num_batches_tracked == 1   # integer buffer: copied


def test_warmup_decay_starts_small():
    ema = EMA(nn.Linear(2, 2), decay=0.999)
    assert ema.current_decay() == pytest.approx(0.1)
    ema.num_updates = 10_000
    assert ema.current_decay() == 0.999
    assert EMA(nn.Linear(2, 2), decay=0.999, warmup=False).current_decay() == 0.999


def test_average_parameters_swaps_in_and_restores():
    m = nn.Linear(3, 2)
    ema = EMA(m, decay=0.5, warmup=False)
    trained = {k: v.detach().clone() for k, v in m.state_dict().items()}
    with torch.no_grad():
        m.weight.mul_(3.0)
    ema.update(m)
    current = m.weight.detach().clone()
    with ema.average_parameters(m):
        assert torch.allclose(m.weight, 0.5 * trained["weight"] + 0.5 * current)
    assert torch.equal(m.weight, current)
    with pytest.raises(RuntimeError), ema.average_parameters(m):   # restored even after an error
        raise RuntimeError("boom")
    assert torch.equal(m.weight, current)


def test_state_dict_round_trip_and_mismatch_errors():
    m = nn.Linear(3, 2)
    ema = EMA(m, decay=0.9)
    with torch.no_grad():
        m.weight.add_(1)
    ema.update(m)
    other = EMA(nn.Linear(3, 2), decay=0.5)
    other.load_state_dict(ema.state_dict())
    assert other.num_updates == 1 and other.decay == 0.9
    assert all(torch.equal(other.shadow[k], ema.shadow[k]) for k in ema.shadow)
    with pytest.raises(ValueError, match="shape"):
        EMA(nn.Linear(4, 2)).load_state_dict(ema.state_dict())
    with pytest.raises(ValueError, match="does not match"):
        ema.update(nn.Linear(3, 2, bias=False))


@pytest.mark.parametrize("decay", [1.0, -0.1, float("nan"), True])
def test_bad_decay_is_rejected(decay):
    with pytest.raises(ValueError, match="decay"):
        EMA(nn.Linear(2, 2), decay=decay)
    if not isinstance(decay, bool):
        with pytest.raises(ValueError, match="ema_decay"):
            TrainerConfig(ema_decay=decay)


def test_trainer_ema_tracks_the_weights_and_respects_the_start_step():
    x, y = regression_data()
    task = RegressionTask(dropout=0.0)
    trainer = Trainer(max_steps=20, ema_decay=0.9, ema_start_step=10, **QUIET)
    assert trainer.ema is None
    trainer.fit(task, TensorBatches(x, y, batch_size=16))
    assert trainer.ema.num_updates == 10          # steps 11..20; steps 1..10 only copied the weights
    w = task.net[0].weight
    with trainer.ema.average_parameters(task):
        avg = w.detach().clone()
    assert not torch.equal(avg, w)                # an average, not the last weights
    assert (avg - w).abs().max() < 0.5


def test_resumed_run_equals_uninterrupted_run_ema_included(tmp_path):
    cfg = dict(max_steps=40, lr_schedule="cosine", warmup_steps=5, log_every=5, ema_decay=0.95, **QUIET)

    def check(folder):
        state = load_checkpoint(folder / "last.pt")
        assert state["step"] == 15 and state["ema"]["num_updates"] == 15

    full, full_task, resumed, resumed_task = full_and_resumed_runs(cfg, tmp_path, 18, 12345, check)

    assert resumed.ema.num_updates == full.ema.num_updates == 40
    for k, v in full.ema.shadow.items():
        assert torch.equal(v, resumed.ema.shadow[k]), k
    for k, v in full_task.state_dict().items():
        assert torch.equal(v, resumed_task.state_dict()[k]), k


def test_resume_without_saved_ema_would_differ(tmp_path):
    """The check above can fail: dropping the EMA from the checkpoint changes the resumed average."""
    x, y = regression_data()
    cfg = dict(max_steps=20, log_every=5, ema_decay=0.95, **QUIET)
    torch.manual_seed(1)
    full_task = RegressionTask()
    full = Trainer(**cfg)
    full.fit(full_task, TensorBatches(x, y, batch_size=16, seed=3))

    torch.manual_seed(1)
    Trainer(**{**cfg, "max_steps": 10}, checkpoint_dir=tmp_path).fit(RegressionTask(), TensorBatches(x, y, batch_size=16, seed=3))
    state = load_checkpoint(tmp_path / "last.pt")
    del state["ema"]
    save_checkpoint(state, tmp_path / "last.pt")   # a valid checkpoint (with its checksum), minus the EMA
    resumed = Trainer(**cfg, checkpoint_dir=tmp_path)
    resumed.fit(RegressionTask(), TensorBatches(x, y, batch_size=16, seed=3))
    assert not all(torch.equal(v, resumed.ema.shadow[k]) for k, v in full.ema.shadow.items())
