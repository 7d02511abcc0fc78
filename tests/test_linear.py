import pytest
import torch
import torch.nn.functional as F
from torch import nn

import aigc_lib.transformer.linear as linear_module
from aigc_lib.transformer import MAX_SPLIT_ROWS, MIN_SPLIT_BYTES, Linear, row_split_linear


@pytest.mark.parametrize("out_f, in_f", [(7, 5), (65, 128), (96, 32)])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("parts", [1, 2, 3, 4])
@pytest.mark.parametrize("shape", [(), (1,), (3,), (1, 1), (2, 8)])
def test_row_split_equals_f_linear(out_f, in_f, bias, parts, shape):
    torch.manual_seed(0)
    w, b = torch.randn(out_f, in_f), (torch.randn(out_f) if bias else None)
    x = torch.randn(*shape, in_f)
    got = row_split_linear(x, w, b, parts)
    assert got.shape == (*shape, out_f)
    torch.testing.assert_close(got, F.linear(x, w, b), atol=1e-5, rtol=1e-5)


def test_row_split_gradients_equal_f_linear():
    torch.manual_seed(0)
    tensors = [torch.randn(3, 10), torch.randn(7, 10), torch.randn(7)]
    grads = []
    for fn in (lambda x, w, b: F.linear(x, w, b), lambda x, w, b: row_split_linear(x, w, b, 2)):
        leaves = [t.clone().requires_grad_() for t in tensors]
        (fn(*leaves) * torch.arange(7.0)).sum().backward()
        grads.append([t.grad for t in leaves])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)


def test_row_split_errors():
    w = torch.randn(4, 3)
    with pytest.raises(ValueError, match="parts must be between 1 and out_features=4, got 5"):
        row_split_linear(torch.randn(1, 3), w, None, 5)
    with pytest.raises(ValueError, match=r"in_features=3 .* got shape \(1, 2\)"):
        row_split_linear(torch.randn(1, 2), w, None, 2)


def test_linear_is_a_drop_in_nn_linear():
    torch.manual_seed(0)
    ours = Linear(6, 5)
    torch.manual_seed(0)
    theirs = nn.Linear(6, 5)
    assert isinstance(ours, nn.Linear)
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    for k, v in ours.state_dict().items():   # same initialisation from the same seed
        assert torch.equal(v, theirs.state_dict()[k])


def spy_on_split(monkeypatch) -> list[int]:
    """Record the ``parts`` of every call of ``row_split_linear`` made by ``Linear``."""
    calls = []
    real = linear_module.row_split_linear
    monkeypatch.setattr(linear_module, "row_split_linear", lambda *a: calls.append(a[3]) or real(*a))
    return calls


@pytest.mark.parametrize("threads", [1, 3], indirect=True)
@pytest.mark.parametrize("rows", [1, 5, MAX_SPLIT_ROWS, MAX_SPLIT_ROWS + 1, 100])
def test_linear_splits_only_few_rows_on_several_threads(threads, rows, monkeypatch):
    calls = spy_on_split(monkeypatch)
    layer = Linear(16, 23)                      # 23 outputs: 3 blocks of 7 plus 2 rows left over
    reference = nn.Linear(16, 23)
    reference.load_state_dict(layer.state_dict())
    x = torch.randn(1, rows, 16)
    torch.testing.assert_close(layer(x), reference(x), atol=1e-6, rtol=1e-5)
    split = threads > 1 and rows <= MAX_SPLIT_ROWS
    assert calls == ([threads] if split else [])


def test_linear_splits_only_weights_of_at_least_min_split_bytes(monkeypatch):
    calls = spy_on_split(monkeypatch)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        small = Linear(128, 65)                                   # 33 KB: the split would cost more than it saves
        big = Linear(768, MIN_SPLIT_BYTES // (4 * 768) + 1)       # just over MIN_SPLIT_BYTES of float32
        with torch.no_grad():
            small(torch.randn(1, 128))
            assert calls == []
            x = torch.randn(1, 768)
            torch.testing.assert_close(big(x), F.linear(x, big.weight, big.bias), atol=1e-5, rtol=1e-5)
            assert calls == [2]
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("threads", [2], indirect=True)
def test_linear_keeps_autocast_dtype_and_handles_strided_weights_and_other_dtypes(threads, monkeypatch):
    calls = spy_on_split(monkeypatch)
    layer = Linear(8, 6)
    x = torch.randn(1, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got, want = layer(x), F.linear(x, layer.weight, layer.bias)
    assert got.dtype == want.dtype == torch.bfloat16 and calls == [2]
    torch.testing.assert_close(got.float(), want.float())
    layer.weight = nn.Parameter(torch.randn(8, 6).t())   # (6, 8) but not contiguous: still split, still right
    torch.testing.assert_close(layer(x), F.linear(x, layer.weight, layer.bias))
    assert calls == [2, 2]
    with pytest.raises(RuntimeError, match="same dtype"):          # nn.Linear's own message, not the split's
        layer(x.double())
    assert calls == [2, 2]


@pytest.mark.filterwarnings("ignore:`torch.jit.trace")
@pytest.mark.parametrize("threads", [2], indirect=True)
def test_linear_leaves_the_kernel_to_torch_compile_and_jit_trace(threads):
    # The split inside a compiled graph would fix the thread count and the input size in it.
    layer = Linear(8, 6)
    for rows in (1, 40):
        explanation = torch._dynamo.explain(layer)(torch.randn(rows, 8))
        assert explanation.graph_count == 1 and explanation.graph_break_count == 0
        calls = [n.target for g in explanation.graphs for n in g.graph.nodes if n.op == "call_function"]
        assert F.linear in calls and torch.baddbmm not in calls
    traced = torch.jit.trace(layer, torch.randn(1, 8))
    x = torch.randn(2, 5, 8)                                     # another shape than the traced one
    torch.testing.assert_close(traced(x), F.linear(x, layer.weight, layer.bias))
