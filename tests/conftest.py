import pytest
import torch


@pytest.fixture(autouse=True)
def _normal_mode(monkeypatch):
    """Unit tests run in normal mode unless a test turns smoke mode on itself."""
    monkeypatch.delenv("AIGC_SMOKE", raising=False)
    torch.manual_seed(0)
