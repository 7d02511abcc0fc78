import random

import numpy as np
import pytest
import torch

import aigc_lib
from aigc_lib import History, budget, get_device, seed_everything
from aigc_lib.core import get_rng_state, set_rng_state, heatmap, plot_history, show_images


def test_seed_everything_makes_all_generators_repeat():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()

    seed_everything(3)
    a = draw()
    seed_everything(3)
    assert draw() == a
    with pytest.raises(ValueError):
        seed_everything(-1)


def test_rng_state_round_trip_through_weights_only_checkpoint(tmp_path):
    seed_everything(0)
    state = get_rng_state()
    torch.save(state, tmp_path / "rng.pt")
    expected = (random.random(), np.random.rand(), np.random.randn(), torch.rand(2))
    set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    got = (random.random(), np.random.rand(), np.random.randn(), torch.rand(2))
    assert got[:3] == expected[:3] and torch.equal(got[3], expected[3])


def test_get_device():
    assert get_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="cuda"):
            get_device("cuda")
        assert get_device().type in {"cpu", "mps"}


def test_budget(monkeypatch):
    assert budget(1000, smoke=10) == 1000
    monkeypatch.setenv("AIGC_SMOKE", "1")
    assert aigc_lib.is_smoke() and budget(1000, smoke=10) == 10 and budget(5, smoke=10) == 5
    with pytest.raises(ValueError):
        budget(-1, smoke=1)


def test_history():
    h = History()
    h.log(10, {"train/loss": 2.0})
    h.log(20, {"train/loss": 1.0, "val/loss": 1.5})
    assert h.steps("train/loss") == [10, 20] and h.last("val/loss") == 1.5
    h2 = History()
    h2.load_state_dict(h.state_dict())
    assert h2.values("train/loss") == [2.0, 1.0]
    with pytest.raises(KeyError, match="no metric named 'loss'"):
        h.values("loss")


def test_plot_helpers_draw_and_validate():
    import matplotlib
    matplotlib.use("Agg")
    ax = show_images(torch.rand(10, 1, 28, 28), nrow=5, labels=list(range(10)))
    assert ax.images[0].get_array().shape == (2 * 30 + 2, 5 * 30 + 2)
    with pytest.raises(ValueError, match=r"\(N, 1 or 3, H, W\)"):
        show_images(torch.rand(2, 2, 8, 8))
    hm = heatmap(torch.softmax(torch.randn(4, 5), -1), xlabels=list("abcde"), ylabels=list("wxyz"), annotate=True)
    assert hm.images[0].get_array().shape == (4, 5)
    with pytest.raises(ValueError, match="2-D"):
        heatmap(torch.rand(2, 2, 2))
    h = History()
    h.log(1, {"train/loss": 1.0, "val/loss": 2.0, "lr": 0.1})
    ax = plot_history(h)
    assert len(ax.lines) == 2
    # legends in words, not raw metric keys
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["training loss", "validation loss"]
    h.log(2, {"val/token_acc": 0.5})
    assert plot_history(h, ["val/token_acc"]).get_ylabel() == "validation token acc"
