"""Checks that the chapters print, each shown to fail on a broken variant.

A check that cannot fail proves nothing, so every test here runs the chapter's
check once as written (it passes) and once on a deliberately broken input (it fails).
"""
import pytest
import torch

# ------------------------------------------------------------------ chapter 1: finite differences


def finite_difference_errors(f, df, x=2.0, hs=(1e-1, 1e-2, 1e-3)):
    """|central difference - df(x)| for each h (chapter 1's check)."""
    out = []
    for h in hs:
        fd = (f(torch.tensor(x + h, dtype=torch.float64)) - f(torch.tensor(x - h, dtype=torch.float64))) / (2 * h)
        out.append(abs(fd.item() - df(x)))
    return out


def test_finite_difference_error_shrinks_like_h_squared_only_for_the_right_derivative():
    def f(x):
        return x**3 + 3 * x

    x = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    f(x).backward()
    errors = finite_difference_errors(f, lambda _: x.grad.item())
    assert errors[0] > 1e-3                                     # not zero: the check is not trivial
    for e, h in zip(errors, (1e-1, 1e-2, 1e-3)):
        assert e / h**2 == pytest.approx(1.0, rel=1e-3)          # error = h^2 f'''/6 = h^2
    # a wrong derivative (2x + 3, the derivative of the old quadratic) leaves a gap that does not shrink
    wrong = finite_difference_errors(f, lambda x: 2 * x + 3)
    assert min(wrong) > 5 and wrong[-1] / wrong[0] > 0.9


# ------------------------------------------------------------------ chapter 1: AdamW by hand


def adamw_by_hand(w, grads, lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01,
                  bias_correction=True, coupled_decay=False):
    """Chapter 1's AdamW; the two flags make the broken variants."""
    m, v = torch.zeros_like(w), torch.zeros_like(w)
    for t, g in enumerate(grads, start=1):
        if coupled_decay:                       # Adam + L2: decay added to the gradient
            g = g + weight_decay * w
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g**2
        m_hat, v_hat = (m / (1 - betas[0] ** t), v / (1 - betas[1] ** t)) if bias_correction else (m, v)
        w = w - (0 if coupled_decay else lr * weight_decay * w) - lr * m_hat / (v_hat.sqrt() + eps)
    return w


def torch_adamw(w0, grads):
    w = w0.clone().requires_grad_()
    opt = torch.optim.AdamW([w], lr=1e-2)
    for grad in grads:
        w.grad = grad.clone()
        opt.step()
    return w.detach()


def test_adamw_by_hand_matches_torch_and_the_check_catches_broken_variants():
    g = torch.Generator().manual_seed(0)
    w0 = torch.randn(3, generator=g, dtype=torch.float64)
    scale = torch.tensor([1e-4, 1.0, 100.0], dtype=torch.float64)
    grads = [scale * torch.randn(3, generator=g, dtype=torch.float64) for _ in range(5)]
    ref = torch_adamw(w0, grads)
    torch.testing.assert_close(adamw_by_hand(w0, grads), ref, rtol=0, atol=1e-12)
    for broken in (dict(bias_correction=False), dict(coupled_decay=True)):
        assert (adamw_by_hand(w0, grads, **broken) - ref).abs().max() > 1e-6, broken
    # first step: every weight moves by about lr, whatever the size of its gradient
    first = (adamw_by_hand(w0, grads[:1]) - w0).abs()
    torch.testing.assert_close(first, torch.full_like(first, 1e-2), rtol=0, atol=1e-3)
