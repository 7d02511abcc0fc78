"""Chapter 11, RL: PPO's clipped surrogate, the k3 KL estimator, GRPO advantages, loss, sampling and task.

The GRPO reference test runs trl 1.16's own loss code, ``GRPOTrainer._compute_loss``
(trl/trainer/grpo_trainer.py: ``coef_2 = torch.clamp(coef_1, 1 - self.epsilon_low, 1 + self.epsilon_high)``,
``per_token_loss = -torch.min(per_token_loss1, per_token_loss2)``, ``per_token_kl = torch.exp(ref - logps)
- (ref - logps) - 1``, and the ``loss_type`` aggregations ``"grpo"``, ``"bnpo"``, ``"dr_grpo"``), on a tiny
random ``GPT2LMHeadModel``, with hand-made old/reference log-probabilities and advantages; ours runs on
the same weights converted with :func:`aigc_lib.lm.gpt2.gpt_from_hf`.
"""
import copy
import math

import pytest
import torch

from aigc_lib import Trainer, TrainerConfig
from aigc_lib.lm.gpt import GPT, GPTConfig
from aigc_lib.lm.gpt2 import gpt_from_hf
from aigc_lib.posttraining.grpo import (GRPOTask, PromptBatches, arithmetic_reward, completion_mask_until_eos, group_advantages,
                                        grpo_loss, sample_group)
from aigc_lib.posttraining.logprobs import per_token_log_probs
from aigc_lib.posttraining.ppo import clipped_surrogate_loss, kl_k1, kl_k3, kl_penalised_token_rewards

from .posttraining_refs import EOS, VOCAB, grpo_trainer, hf_gpt2, perturbed

QUIET = dict(progress=False, live_plot=False)


def tiny(seed=0, **kw) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(**{**dict(vocab_size=len(VOCAB), block_size=32, n_layer=2, n_head=2, n_embd=32), **kw}))


# ------------------------------------------------------------------ PPO pieces


def test_clipped_surrogate_matches_the_formula_and_clips_only_beyond_the_range():
    logps = torch.log(torch.tensor([[0.5, 0.9, 0.3]]))
    old = torch.log(torch.tensor([[0.25, 0.9, 0.6]]))          # ratios 2.0, 1.0, 0.5
    for a in (1.0, -1.0):
        loss = clipped_surrogate_loss(logps, old, torch.tensor([a]), clip_eps=0.2)
        ratio = torch.tensor([2.0, 1.0, 0.5])
        expected = -torch.min(ratio * a, ratio.clamp(0.8, 1.2) * a)
        torch.testing.assert_close(loss[0], expected)
    # A > 0: a ratio of 2 is clipped to 1.2 (no more push up); A < 0: a ratio of 0.5 is clipped to 0.8
    torch.testing.assert_close(clipped_surrogate_loss(logps, old, torch.tensor([1.0]))[0, 0], torch.tensor(-1.2))
    torch.testing.assert_close(clipped_surrogate_loss(logps, old, torch.tensor([-1.0]))[0, 2], torch.tensor(0.8))
    # the gradient of a clipped token is zero; of an unclipped one it is -A * ratio
    lp = logps.clone().requires_grad_(True)
    clipped_surrogate_loss(lp, old, torch.tensor([1.0])).sum().backward()
    torch.testing.assert_close(lp.grad, torch.tensor([[0.0, -1.0, -0.5]]))


def test_k3_is_a_nonnegative_unbiased_kl_estimate():
    g = torch.Generator().manual_seed(0)
    p = torch.softmax(torch.randn(6, generator=g), 0)
    q = torch.softmax(torch.randn(6, generator=g), 0)
    exact = (p * (p / q).log()).sum()
    x = torch.multinomial(p, 200_000, replacement=True, generator=g)
    lp, lq = p.log()[x][None], q.log()[x][None]
    k3 = kl_k3(lp, lq)
    assert bool((k3 >= 0).all())
    assert k3.mean().item() == pytest.approx(exact.item(), rel=0.03)
    assert kl_k1(lp, lq).mean().item() == pytest.approx(exact.item(), rel=0.05)
    # a broken variant, the estimator with the ratio upside down, is biased
    d = lp - lq
    assert (torch.exp(d) - d - 1).mean().item() != pytest.approx(exact.item(), rel=0.1)


def test_kl_penalised_token_rewards_put_the_score_on_the_last_answer_token():
    logps, ref = torch.full((2, 4), -1.0), torch.full((2, 4), -1.5)
    mask = torch.tensor([[0, 1, 1, 0], [0, 1, 1, 1]])
    r = kl_penalised_token_rewards(torch.tensor([2.0, 3.0]), logps, ref, mask, kl_coef=0.1)
    torch.testing.assert_close(r, torch.tensor([[0.0, -0.05, 1.95, 0.0], [0.0, -0.05, -0.05, 2.95]]))


# ------------------------------------------------------------------ GRPO advantages


def test_group_advantages_normalise_each_group_and_report_flat_groups():
    rewards = torch.tensor([[1.0, 0.0, 0.0, 1.0], [1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0]])
    adv, flat = group_advantages(rewards)
    assert flat.tolist() == [False, True, True, False]
    assert bool((adv[1:3] == 0).all())                           # a flat group teaches nothing
    torch.testing.assert_close(adv[0], (rewards[0] - 0.5) / (rewards[0].std() + 1e-4))
    torch.testing.assert_close(adv.sum(1), torch.zeros(4), atol=1e-6, rtol=0)
    assert group_advantages(rewards, scale=False)[0][3].tolist() == [-0.5, 1.5, -0.5, -0.5]


def test_group_advantage_errors():
    with pytest.raises(ValueError, match="at least one answer"):
        group_advantages(torch.zeros(3, 0))
    with pytest.raises(ValueError, match="at least one answer"):
        group_advantages(torch.zeros(0, 4))
    with pytest.raises(ValueError, match="G >= 2"):
        group_advantages(torch.zeros(3, 1))
    with pytest.raises(ValueError, match="finite"):
        group_advantages(torch.tensor([[0.0, float("nan")]]))
    with pytest.raises(TypeError, match="floating-point"):
        group_advantages(torch.zeros(2, 2, dtype=torch.long))


# ------------------------------------------------------------------ GRPO loss vs trl


def grpo_inputs(seed=0, B=4, Tp=3, Tc=5):
    g = torch.Generator().manual_seed(seed)
    prompt = torch.randint(2, len(VOCAB), (B, Tp), generator=g)
    completion = torch.randint(2, len(VOCAB), (B, Tc), generator=g)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 1, 1, 1, 0]])[:B, :Tc]
    return prompt, completion, mask, g


@pytest.mark.parametrize("loss_type,correction", [("grpo", True), ("bnpo", True), ("dr_grpo", True), ("grpo", False)])
def test_grpo_loss_and_gradient_equal_trl_grpo_trainer(loss_type, correction, tmp_path):
    """trl 1.16 ``GRPOTrainer._compute_loss`` (trl/trainer/grpo_trainer.py) with beta=0.1, epsilon=0.2,
    temperature=0.7, the given ``loss_type`` and ``use_bias_correction_kl`` (trl's default: True),
    vs :func:`grpo_loss` on our converted model."""
    hf_ref = hf_gpt2(seed=0)
    hf_pol = perturbed(hf_ref, seed=1, scale=0.15)
    beta, eps, temp, tc = 0.1, 0.2, 0.7, 5
    trainer = grpo_trainer(hf_pol, hf_ref, tmp_path, beta=beta, epsilon=eps, temperature=temp, loss_type=loss_type,
                           max_completion_length=tc, use_bias_correction_kl=correction)
    trainer.model.eval()        # trl's eval mode: no division by gradient-accumulation steps; dropout is off anyway
    prompt, completion, cmask, g = grpo_inputs()
    policy = gpt_from_hf(hf_pol).requires_grad_(True)
    reference = gpt_from_hf(hf_ref).requires_grad_(False)
    ids = torch.cat([prompt, completion], 1)
    full_mask = torch.cat([torch.zeros_like(prompt), cmask], 1)
    with torch.no_grad():
        now = per_token_log_probs(policy, ids, full_mask, temp)[:, -tc:]
        ref = per_token_log_probs(reference, ids, full_mask, temp)[:, -tc:]
    # old log-probs 0.4 nats away on some tokens, so that ratios leave [0.8, 1.2] and clipping acts
    old = now + 0.4 * torch.randn(now.shape, generator=g)
    adv = torch.tensor([1.0, -1.0, 0.5, -0.5])
    inputs = {"prompt_ids": prompt, "prompt_mask": torch.ones_like(prompt), "completion_ids": completion,
              "completion_mask": cmask, "advantages": adv, "old_per_token_logps": old, "ref_per_token_logps": ref}
    theirs = trainer.compute_loss(trainer.model, inputs)
    theirs.backward()

    logps = per_token_log_probs(policy, ids, full_mask, temp)[:, -tc:]
    ours, per_token = grpo_loss(logps, old, adv, cmask, ref_logps=ref, beta=beta, clip_eps=eps, loss_type=loss_type,
                                max_completion_length=tc, kl_ratio_correction=correction)
    ours.backward()
    torch.testing.assert_close(ours, theirs.detach(), atol=1e-6, rtol=1e-5)
    scale = hf_pol.transformer.wte.weight.grad.abs().max().item()
    torch.testing.assert_close(policy.token_embedding.weight.grad, hf_pol.transformer.wte.weight.grad,
                               atol=1e-5 * scale, rtol=1e-4)
    ratio = torch.exp(logps.detach() - old)
    assert bool((((ratio < 0.8) | (ratio > 1.2)) & cmask.bool()).any())    # clipping is exercised

    # broken variants fail the comparison
    with torch.no_grad():
        lp = logps.detach()
        kl = kl_k3(lp, ref) * (ratio if correction else 1.0)
        unclipped = -(ratio * adv[:, None]) + beta * kl
        k1 = clipped_surrogate_loss(lp, old, adv, eps) + beta * kl_k1(lp, ref) * (ratio if correction else 1.0)
        other_correction = clipped_surrogate_loss(lp, old, adv, eps) + beta * kl_k3(lp, ref) * (1.0 if correction else ratio)
        no_kl = clipped_surrogate_loss(lp, old, adv, eps)
        m = cmask.float()
        other_mean = ((per_token * m).sum() / m.sum()) if loss_type != "bnpo" else ((per_token * m).sum(1) / m.sum(1)).mean()
        broken = {"no clipping": (unclipped * m).sum() / m.sum(), "k1 instead of k3": (k1 * m).sum() / m.sum(),
                  "no KL": (no_kl * m).sum() / m.sum(), "other aggregation": other_mean,
                  "other KL correction": (other_correction * m).sum() / m.sum()}
    for name, value in broken.items():
        assert not torch.allclose(value, theirs.detach(), atol=1e-4), name


def test_grpo_loss_errors():
    lp = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="loss_type must be one of"):
        grpo_loss(lp, lp, torch.zeros(2), torch.ones(2, 3), loss_type="ppo")
    with pytest.raises(ValueError, match="needs ref_logps"):
        grpo_loss(lp, lp, torch.zeros(2), torch.ones(2, 3), beta=0.1)
    with pytest.raises(ValueError, match="needs max_completion_length"):
        grpo_loss(lp, lp, torch.zeros(2), torch.ones(2, 3), loss_type="dr_grpo")
    with pytest.raises(ValueError, match="mask has shape"):
        grpo_loss(lp, lp, torch.zeros(2), torch.ones(2, 4))
    with pytest.raises(ValueError, match="advantages has 3 rows"):
        grpo_loss(lp, lp, torch.zeros(3), torch.ones(2, 3))
    with pytest.raises(ValueError, match="clip_eps must be > 0"):
        clipped_surrogate_loss(lp, lp, torch.zeros(2), clip_eps=0.0)


# ------------------------------------------------------------------ sampling, reward, task


def test_completion_mask_stops_after_the_first_eos_and_the_reward_is_exact():
    ids = torch.tensor([[5, EOS, 7, EOS], [5, 6, 7, 8], [EOS, 5, 6, 7]])
    assert completion_mask_until_eos(ids, EOS).tolist() == [[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]]
    assert arithmetic_reward(" 42", 42) == 1.0 and arithmetic_reward("420", 42) == 0.0 and arithmetic_reward("", 0) == 0.0
    assert arithmetic_reward("43", 42, partial=0.5) == 0.25 and arithmetic_reward("157", "158", partial=0.5) == pytest.approx(1 / 3)
    assert arithmetic_reward("99", 42, partial=0.5) == 0.0 and arithmetic_reward("42", 42, partial=0.5) == 1.0
    with pytest.raises(ValueError, match=r"partial must be in \[0, 1\)"):
        arithmetic_reward("1", 1, partial=1.0)


def test_sample_group_is_reproducible_with_a_generator():
    model = tiny().eval()
    prompt = torch.tensor([3, 4, 5])
    a = sample_group(model, prompt, 4, 6, EOS, generator=torch.Generator().manual_seed(1))
    b = sample_group(model, prompt, 4, 6, EOS, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a[0], b[0]) and a[0].shape == (4, 6)
    with pytest.raises(ValueError, match="must have 1 dimension"):
        sample_group(model, prompt[None], 4, 6, EOS)


def first_token_reward(answer_ids, target):
    """1 if the answer starts with a token id of the target's parity (half the vocabulary), else 0."""
    return 1.0 if answer_ids[:1] and answer_ids[0] % 2 == target else 0.0


def grpo_task(policy, beta=0.02, **kw):
    ref = copy.deepcopy(policy).requires_grad_(False) if beta > 0 else None
    return GRPOTask(policy, ref, first_token_reward, eos_id=EOS, group_size=8, max_new_tokens=3, beta=beta, lr=3e-3,
                    **kw)


def test_grpo_task_raises_a_verifiable_reward():
    """A tiny random model learns to start its answer with a token of the asked parity (reward 1, else 0)."""
    torch.manual_seed(0)
    policy = tiny()
    task = grpo_task(policy)
    data = PromptBatches([(torch.tensor([5, 6, 7]), 0), (torch.tensor([8, 9]), 1)], batch_size=2)
    with torch.no_grad():
        before = task.training_loss(next(iter(data)))["reward"].item()
    Trainer(TrainerConfig(max_steps=40, **QUIET)).fit(task, data)
    with torch.no_grad():
        out = task.training_loss(next(iter(data)))
    assert before < 0.7 and out["reward"].item() > 0.9, (before, out["reward"].item())
    assert 0.0 <= out["flat_groups"].item() <= 1.0 and out["kl"].item() > 0


def test_grpo_flat_groups_give_zero_policy_gradient():
    """Every answer gets the same reward: the advantages, the loss and its gradient (without KL) are zero,
    and the task reports flat_groups = 1: the failure mode of a reward that never varies."""
    torch.manual_seed(0)
    policy = tiny()
    task = GRPOTask(policy, None, lambda ids, target: 1.0, eos_id=EOS, group_size=4, max_new_tokens=3, beta=0.0)
    out = task.training_loss([(torch.tensor([5, 6, 7]), 0)])
    assert out["flat_groups"].item() == 1.0 and out["loss"].item() == 0.0
    out["loss"].backward()
    assert all(p.grad is None or bool((p.grad == 0).all()) for p in policy.parameters())


def test_grpo_task_errors():
    policy = tiny()
    with pytest.raises(ValueError, match="needs a frozen reference"):
        GRPOTask(policy, None, first_token_reward, eos_id=EOS, beta=0.1)
    with pytest.raises(ValueError, match="must be frozen"):
        GRPOTask(policy, copy.deepcopy(policy), first_token_reward, eos_id=EOS, beta=0.1)
    with pytest.raises(ValueError, match="group_size must be >= 2"):
        GRPOTask(policy, None, first_token_reward, eos_id=EOS, beta=0.0, group_size=1)
    with pytest.raises(TypeError, match="reward_fn must be a function"):
        GRPOTask(policy, None, "reward", eos_id=EOS, beta=0.0)
    task = GRPOTask(policy, None, first_token_reward, eos_id=EOS, beta=0.0)
    with pytest.raises(TypeError, match="non-empty list"):
        task.training_loss([])


def test_grpo_run_resumes_exactly(tmp_path):
    def run(steps, ckpt):
        torch.manual_seed(0)
        task = grpo_task(tiny(dropout=0.1))
        data = PromptBatches([(torch.tensor([5, 6, 7]), 0), (torch.tensor([8, 9]), 1), (torch.tensor([4]), 0)],
                             batch_size=1)
        Trainer(TrainerConfig(max_steps=steps, checkpoint_dir=ckpt, **QUIET)).fit(task, data)
        return task
    straight = run(6, None)
    run(3, tmp_path / "ck")
    resumed = run(6, tmp_path / "ck")
    for (n, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), n
