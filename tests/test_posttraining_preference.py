"""Chapter 11, preferences: completion log-probabilities, rule-made pairs, the Bradley-Terry reward model, DPO.

The DPO reference test runs ``trl.DPOTrainer.compute_loss`` (trl 1.16,
``trl/trainer/dpo_trainer.py``, ``_compute_loss``: ``loss_type="sigmoid"``,
``per_sequence_loss = -F.logsigmoid(self.beta * delta_score)``) on a tiny random
``GPT2LMHeadModel`` and our :class:`~aigc_lib.posttraining.dpo.DPOTask` on the
same weights converted with :func:`aigc_lib.lm.gpt2.gpt_from_hf`.
"""
import copy
import math
import random

import pytest
import torch
import torch.nn.functional as F

from aigc_lib import Trainer, TrainerConfig
from aigc_lib.data import TensorBatches
from aigc_lib.lm.gpt import GPT, GPTConfig
from aigc_lib.lm.gpt2 import gpt_from_hf
from aigc_lib.posttraining.dpo import DPOTask, check_frozen_reference, dpo_loss
from aigc_lib.posttraining.logprobs import per_token_log_probs, sequence_log_probs
from aigc_lib.posttraining.preferences import (PreferencePair, encode_pairs, judge, make_pairs, response_score,
                                               split_by_prompt, wrong_answer)
from aigc_lib.posttraining.reward_model import (RewardModel, RewardModelTask, bradley_terry_loss,
                                                gpt_hidden_states, lengths_from_mask, pair_accuracy)
from aigc_lib.posttraining.stats import paired_gain_interval, t_interval, wilson_interval

from .posttraining_refs import EOS, PAD, VOCAB, dpo_trainer, hf_gpt2, perturbed

QUIET = dict(progress=False, live_plot=False)
CHARS = {c: i for i, c in enumerate(VOCAB)}


def tiny(seed=0, **kw) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(**{**dict(vocab_size=len(VOCAB), block_size=32, n_layer=2, n_head=2, n_embd=32), **kw}))


def encode(prompt: str, answer: str):
    return [CHARS[c] for c in prompt + "="], [CHARS[c] for c in answer] + [EOS]


def pair_batch(n=6, seed=0, max_len=None):
    """Random preference pairs of different lengths, right-padded: (chosen_ids, chosen_mask, rejected_ids, rejected_mask)."""
    rng = random.Random(seed)
    examples = [("".join(rng.choice("abcdef") for _ in range(rng.randint(2, 5))), str(rng.randint(0, 999)))
                for _ in range(n)]
    return encode_pairs(make_pairs(examples, seed=seed), encode, pad_id=PAD, max_length=max_len)


# ------------------------------------------------------------------ log-probabilities


def test_per_token_log_probs_equal_a_token_by_token_loop_and_ignore_padding():
    model = tiny().eval()
    c_ids, c_mask, _, _ = pair_batch()
    lp = per_token_log_probs(model, c_ids, c_mask)
    assert lp.shape == (c_ids.shape[0], c_ids.shape[1] - 1)
    for b in range(c_ids.shape[0]):
        total = 0.0
        for t in range(1, c_ids.shape[1]):
            if c_mask[b, t]:
                logits = model(c_ids[b:b + 1, :t])[0, -1]
                total += torch.log_softmax(logits, -1)[c_ids[b, t]].item()
        assert sequence_log_probs(model, c_ids, c_mask)[b].item() == pytest.approx(total, abs=1e-4)
    # padding after the answer changes nothing; the GPT's own helper agrees on an unpadded row
    longer = torch.cat([c_ids, torch.full((c_ids.shape[0], 3), PAD)], 1)
    torch.testing.assert_close(sequence_log_probs(model, longer, F.pad(c_mask, (0, 3))),
                               sequence_log_probs(model, c_ids, c_mask))
    b = int(c_mask.sum(1).argmax())
    last = int(lengths_from_mask(c_mask)[b])
    start = int(c_mask[b].nonzero()[0])
    assert model.sequence_log_prob(c_ids[b:b + 1, :last], start).item() == pytest.approx(
        sequence_log_probs(model, c_ids[b:b + 1], c_mask[b:b + 1]).item(), abs=1e-5)


def test_log_prob_input_errors():
    model = tiny()
    ids = torch.randint(2, 10, (2, 5))
    with pytest.raises(ValueError, match=r"completion_mask\[:, 0\] must be 0"):
        per_token_log_probs(model, ids, torch.ones(2, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="at least one completion token"):
        per_token_log_probs(model, ids, torch.zeros(2, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="must have the shape of input_ids"):
        per_token_log_probs(model, ids, torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(TypeError, match="integer tensor"):
        per_token_log_probs(model, ids.float(), torch.zeros(2, 5))
    with pytest.raises(ValueError, match="only 0 and 1"):
        per_token_log_probs(model, ids, torch.full((2, 5), 2))
    with pytest.raises(ValueError, match="temperature must be > 0"):
        per_token_log_probs(model, ids, torch.tensor([[0, 1, 1, 1, 1]] * 2), temperature=0.0)


# ------------------------------------------------------------------ preference pairs


def test_rule_made_pairs_are_ranked_right_by_the_judge_and_split_by_prompt():
    examples = [(f"q{i}", str(10 * i + 7)) for i in range(30)] + [(f"w{i}", "abc, de") for i in range(6)]
    pairs = make_pairs(examples, seed=1)
    assert {p.rule for p in pairs} == {"correct", "format", "concise"}
    for p in pairs:
        assert p.chosen != p.rejected
        assert judge(p.chosen, p.rejected, p.chosen) == 1.0 and judge(p.rejected, p.chosen, p.chosen) == 0.0
    assert make_pairs(examples, seed=1) == pairs and make_pairs(examples, seed=2) != pairs   # seeded
    train, test = split_by_prompt(pairs, 0.25)
    assert not {p.prompt for p in train} & {p.prompt for p in test} and len(train) + len(test) == len(pairs)
    assert judge("12", "12", "12") == 0.5
    assert response_score("12 ok", "12") > response_score("13", "12")   # right but padded beats wrong
    rng = random.Random(0)
    assert all(wrong_answer("0", rng) != "0" and int(wrong_answer("5", rng)) >= 0 for _ in range(50))


def test_pair_errors():
    with pytest.raises(ValueError, match="chosen and rejected must differ"):
        PreferencePair("p", "a", "a", "correct")
    with pytest.raises(ValueError, match="rule must be one of"):
        PreferencePair("p", "a", "b", "nicer")
    with pytest.raises(ValueError, match="unknown rule"):
        make_pairs([("p", "1")], rules=("nicer",))
    with pytest.raises(TypeError, match=r"\(prompt, answer\) string pairs"):
        make_pairs(["p"])
    with pytest.raises(ValueError, match="empty"):
        make_pairs([])
    with pytest.raises(ValueError, match="more than max_length=4"):
        pair_batch(max_len=4)


# ------------------------------------------------------------------ reward model


def test_bradley_terry_loss_is_minus_log_sigmoid_and_a_broken_sign_fails():
    rc, rr = torch.tensor([2.0, 1.5, 0.5]), torch.tensor([1.0, 0.0, 0.5])
    expected = -sum(math.log(1 / (1 + math.exp(-(c - r)))) for c, r in zip(rc.tolist(), rr.tolist())) / 3
    assert bradley_terry_loss(rc, rr).item() == pytest.approx(expected, rel=1e-6)
    assert bradley_terry_loss(rr, rc).item() != pytest.approx(expected, rel=1e-3)    # swapped sides: a broken variant
    assert pair_accuracy(rc, rr).item() == pytest.approx(2 / 3)                       # a tie counts as wrong
    with pytest.raises(ValueError, match="differ in shape"):
        bradley_terry_loss(rc, rr[:2])
    with pytest.raises(ValueError, match="no pairs"):
        bradley_terry_loss(torch.zeros(0), torch.zeros(0))


def test_reward_model_reads_the_last_real_token_and_ignores_padding():
    gpt = tiny()
    rm = RewardModel(gpt).eval()
    ids = torch.randint(2, 20, (3, 9))
    lengths = torch.tensor([9, 5, 2])
    r = rm(ids, lengths)
    h = gpt_hidden_states(gpt, ids)
    torch.testing.assert_close(r, rm.head(h[torch.arange(3), lengths - 1]).squeeze(-1))
    padded = ids.clone()
    padded[1, 5:] = PAD
    torch.testing.assert_close(rm(padded, lengths), r)
    # the trunk equals the GPT's own forward pass before its output layer
    torch.testing.assert_close(gpt.lm_head(h), gpt(ids))
    assert rm.trunk is not gpt       # the language model is left untouched
    with pytest.raises(ValueError, match=r"lengths must be in \[1, T=9\]"):
        rm(ids, torch.tensor([0, 1, 2]))
    with pytest.raises(TypeError, match="RewardModel"):
        RewardModelTask(gpt)


def test_tiny_reward_model_overfits_pairs_through_the_trainer():
    torch.manual_seed(0)
    batch = pair_batch(n=12)
    task = RewardModelTask(RewardModel(tiny()), lr=3e-3)
    rc, rr = task.rewards(batch)
    assert bradley_terry_loss(rc, rr).item() == pytest.approx(math.log(2), abs=0.05)   # a fresh head: r ~ 0
    Trainer(TrainerConfig(max_steps=150, **QUIET)).fit(task, TensorBatches(*batch, batch_size=12))
    with torch.no_grad():
        metrics = task.validation_metrics(batch)
    assert metrics["accuracy"].item() == 1.0 and metrics["loss"].item() < 0.05


# ------------------------------------------------------------------ DPO


def frozen(model):
    return copy.deepcopy(model).requires_grad_(False).eval()


def test_dpo_loss_starts_at_ln2_when_the_policy_is_the_reference():
    policy = tiny()
    task = DPOTask(policy, frozen(policy), beta=0.1)
    out = task.training_loss(pair_batch())
    assert out["loss"].item() == pytest.approx(math.log(2), abs=1e-6)
    assert out["reward_margin"].item() == pytest.approx(0.0, abs=1e-6)


def test_dpo_loss_formula_with_implicit_rewards():
    pc, pr, rc, rr = torch.tensor([-3.0, -1.0]), torch.tensor([-4.0, -0.5]), torch.tensor([-3.5, -1.0]), torch.tensor([-3.0, -1.5])
    losses, reward_c, reward_r = dpo_loss(pc, pr, rc, rr, beta=0.5)
    z = 0.5 * ((pc - rc) - (pr - rr))
    torch.testing.assert_close(losses, torch.log1p(torch.exp(-z)))
    torch.testing.assert_close(reward_c - reward_r, z)


@pytest.mark.parametrize("beta", [0.1, 0.5])
def test_dpo_loss_and_gradient_equal_trl_dpo_trainer(beta, tmp_path):
    """trl 1.16 ``DPOTrainer.compute_loss`` -> ``_compute_loss`` (trl/trainer/dpo_trainer.py, the
    ``loss_type == "sigmoid"`` branch) on GPT2LMHeadModel; ours on the same converted weights."""
    hf_ref = hf_gpt2(seed=0)
    hf_pol = perturbed(hf_ref, seed=1, scale=0.3)
    trainer = dpo_trainer(hf_pol, copy.deepcopy(hf_ref), beta, tmp_path)
    c_ids, c_mask, r_ids, r_mask = batch = pair_batch(n=5)
    ids = torch.cat([c_ids, r_ids])
    inputs = {"input_ids": ids, "attention_mask": (ids != PAD).long(), "completion_mask": torch.cat([c_mask, r_mask])}
    theirs = trainer.compute_loss(trainer.model, inputs)
    theirs.backward()

    policy = gpt_from_hf(hf_pol).train().requires_grad_(True)
    ours = DPOTask(policy, frozen(gpt_from_hf(hf_ref)), beta=beta).training_loss(batch)["loss"]
    ours.backward()
    assert abs(ours.item() - math.log(2)) > 0.01           # the two models really differ
    torch.testing.assert_close(ours, theirs.detach(), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(policy.token_embedding.weight.grad, hf_pol.transformer.wte.weight.grad,
                               atol=1e-6, rtol=1e-4)
    torch.testing.assert_close(policy.blocks[1].ff.linear1.weight.grad, hf_pol.transformer.h[1].mlp.c_fc.weight.grad.t(),
                               atol=1e-6, rtol=1e-4)

    # broken variants of the loss fail the comparison
    with torch.no_grad():
        task = DPOTask(policy, frozen(gpt_from_hf(hf_ref)), beta=beta)
        pc, pr, rc, rr = task._logps(batch)
        broken = {
            "wrong sign": -F.logsigmoid(-beta * ((pc - rc) - (pr - rr))).mean(),
            "missing beta": -F.logsigmoid((pc - rc) - (pr - rr)).mean(),
            "no reference": -F.logsigmoid(beta * (pc - pr)).mean(),
            "mean instead of sum over tokens": -F.logsigmoid(beta * ((pc - rc) / c_mask.sum(1) - (pr - rr) / r_mask.sum(1))).mean(),
        }
    for name, value in broken.items():
        assert not torch.allclose(value, theirs.detach(), atol=1e-4), name


def test_dpo_bad_inputs():
    policy = tiny()
    with pytest.raises(ValueError, match="beta must be > 0"):
        DPOTask(policy, frozen(policy), beta=0.0)
    with pytest.raises(ValueError, match="beta must be > 0"):
        dpo_loss(*torch.zeros(4, 2), beta=-0.1)
    with pytest.raises(ValueError, match="beta must be a finite number"):
        DPOTask(policy, frozen(policy), beta=float("nan"))
    with pytest.raises(ValueError, match="must be frozen"):
        DPOTask(policy, copy.deepcopy(policy), beta=0.1)
    with pytest.raises(ValueError, match="the policy itself"):
        check_frozen_reference(policy, policy)
    with pytest.raises(ValueError, match="different tokenizers: vocab_size"):
        DPOTask(policy, frozen(tiny(vocab_size=50)), beta=0.1)
    task = DPOTask(policy, frozen(policy), beta=0.1)
    c_ids, c_mask, r_ids, r_mask = pair_batch()
    with pytest.raises(ValueError, match="must have one shape"):
        task.training_loss((c_ids, c_mask, r_ids[:, :-1], r_mask[:, :-1]))
    with pytest.raises(TypeError, match="DPOTask expects batches"):
        task.training_loss((c_ids, c_mask))
    task.reference.requires_grad_(True)
    with pytest.raises(ValueError, match="must stay frozen"):
        task.training_loss((c_ids, c_mask, r_ids, r_mask))


def test_dpo_training_raises_the_implicit_reward_margin():
    torch.manual_seed(0)
    policy = tiny()
    task = DPOTask(policy, frozen(policy), beta=0.5, lr=3e-3)
    batch = pair_batch(n=12)
    Trainer(TrainerConfig(max_steps=30, **QUIET)).fit(task, TensorBatches(*batch, batch_size=12))
    out = task.validation_metrics(batch)
    assert out["loss"].item() < 0.2 and out["reward_accuracy"].item() == 1.0


def dpo_run(tmp_path, steps, ckpt=None):
    torch.manual_seed(0)
    policy = tiny(dropout=0.1)
    task = DPOTask(policy, frozen(policy), beta=0.2, lr=1e-3)
    data = TensorBatches(*pair_batch(n=12), batch_size=4, seed=3)
    trainer = Trainer(TrainerConfig(max_steps=steps, checkpoint_dir=ckpt, **QUIET))
    trainer.fit(task, data)
    return task


def test_dpo_run_resumes_exactly_from_a_checkpoint(tmp_path):
    straight = dpo_run(tmp_path, 8)
    dpo_run(tmp_path, 4, ckpt=tmp_path / "ck")
    resumed = dpo_run(tmp_path, 8, ckpt=tmp_path / "ck")
    for (n, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), n
    # a checkpoint of another setting is refused
    torch.manual_seed(0)
    other = DPOTask(tiny(n_embd=16), frozen(tiny(n_embd=16)), beta=0.2, lr=1e-3)
    with pytest.raises(ValueError, match="differ from the checkpoint"):   # the task signature (issue 20, F1) names them
        Trainer(TrainerConfig(max_steps=9, checkpoint_dir=tmp_path / "ck", **QUIET)).fit(
            other, TensorBatches(*pair_batch(n=12), batch_size=4, seed=3))


# ------------------------------------------------------------------ intervals


def test_intervals():
    lo, hi = wilson_interval(45, 50)
    assert 0.78 < lo < 0.9 < hi < 0.97
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == pytest.approx(1.0)
    m, lo, hi = t_interval([10.0, 12.0, 14.0])
    assert m == 12.0 and lo == pytest.approx(12 - 4.302653 * 2 / math.sqrt(3), rel=1e-5)
    with pytest.raises(ValueError, match="at least 2 values"):
        t_interval([1.0])
    with pytest.raises(ValueError, match=r"successes must be in \[0, 5\]"):
        wilson_interval(6, 5)


def test_paired_gain_interval():
    before = [True] * 50 + [False] * 50
    after = [[True] * 70 + [False] * 30, [True] * 60 + [False] * 40]
    gain, lo, hi = paired_gain_interval(before, after)
    assert gain == pytest.approx(15.0) and lo < 15.0 < hi
    same, lo0, hi0 = paired_gain_interval(before, [before, before])
    assert same == 0.0 and lo0 == 0.0 == hi0            # the same answers: no gain, no spread
    with pytest.raises(ValueError, match="K lists of N=100"):
        paired_gain_interval(before, [[True] * 99])
