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


# ---------------------------------------------------------------- chapter 3: whole-date (sequence) accuracy
def test_sequence_accuracy_counts_whole_sequences_and_ignores_padding():
    """Chapter 3's "whole dates right" metric: a sequence counts only if every real token is right.

    A stub model returns chosen logits, so the expected numbers are known: sequence 0 is all right,
    sequence 1 has one wrong token, sequence 2 is right but padded (the model's guesses at padding are wrong,
    which must not count). Broken variants of the metric give other numbers.
    """
    from aigc_lib.transformer import Seq2SeqConfig, Seq2SeqTask, Seq2SeqTransformer

    pad, V = 0, 6
    target = torch.tensor([[3, 4, 5, 2], [3, 4, 5, 2], [3, 4, 2, pad]])     # (B, T) after the start token
    guess = torch.tensor([[3, 4, 5, 2], [3, 1, 5, 2], [3, 4, 2, 5]])         # row 1: one error; row 2: wrong at pad

    class Stub(Seq2SeqTransformer):
        def forward(self, src, tgt_in):                    # chosen logits instead of the network's
            return torch.nn.functional.one_hot(guess, V).float() * 10

    stub = Stub(Seq2SeqConfig(src_vocab=V, tgt_vocab=V, d_model=8, n_heads=2, dropout=0.0, max_src_len=8,
                              max_tgt_len=8))
    assert stub.config.pad_id == pad
    task = Seq2SeqTask(stub, lr=1e-3)
    src = torch.tensor([[1, 2], [1, 2], [1, 2]])
    tgt = torch.cat([torch.full((3, 1), 1), target], dim=1)                   # (B, T + 1) with a start token
    m = task.validation_metrics((src, tgt))
    assert m["seq_acc_teacher_forced"] == pytest.approx(2 / 3)
    assert m["token_acc"] == pytest.approx(10 / 11)

    # Broken variants give different numbers, so the test can tell them apart.
    real = target != pad
    right = guess == target
    assert right.all(dim=1).float().mean() == pytest.approx(1 / 3)            # padding counted: too low
    assert (right | ~real).any(dim=1).float().mean() == pytest.approx(1.0)    # "any" instead of "all": too high
    assert right.float().mean() == pytest.approx(10 / 12)                     # token accuracy with padding
