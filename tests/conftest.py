import pytest
import torch


@pytest.fixture(autouse=True)
def _normal_mode(monkeypatch):
    """Unit tests run in normal mode unless a test turns smoke mode on itself."""
    monkeypatch.delenv("AIGC_SMOKE", raising=False)
    torch.manual_seed(0)


@pytest.fixture
def threads(request, monkeypatch):
    """Run one test with ``torch.set_num_threads(request.param)``; use with ``indirect=True``.

    CI runs the unit tests with one thread, where ``aigc_lib.transformer.linear.Linear`` never
    splits a product; tests of that path ask for more threads with this fixture.
    It also lets the tests' tiny weights be split (``MIN_SPLIT_BYTES = 0``).
    """
    import aigc_lib.transformer.linear

    monkeypatch.setattr(aigc_lib.transformer.linear, "MIN_SPLIT_BYTES", 0)
    old = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(old)
