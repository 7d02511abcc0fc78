"""Chat template, special tokens, loss masking and the task split of aigc_lib.posttraining."""
import pytest
import torch
import torch.nn.functional as F

from aigc_lib.posttraining import (END, TASKS, ChatTemplate, ChatTokenizer, SFTBatches, SplitConfig,
                                   assistant_tokenizer, encode_conversation, encode_prompt, make_split,
                                   masked_cross_entropy, normalise, render_conversation)
from aigc_lib.posttraining.tasks import Example
from aigc_lib.lm.tokenizers import CharTokenizer


@pytest.fixture(scope="module")
def tok():
    return assistant_tokenizer()


@pytest.fixture(scope="module")
def split():
    return make_split(SplitConfig(n_train_per_task=300, n_eval_per_task=25))


def test_special_tokens_are_one_id_each_and_round_trip(tok):
    text = "<|user|>Reverse the word candle.<|end|><|assistant|>eldnac<|end|>"
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert len(ids) == len("Reverse the word candle.") + len("eldnac") + 4
    assert ids.count(tok.token_id(END)) == 2
    assert tok.vocab_size == tok.base.vocab_size + 3
    # '<' and '|' are not characters of the vocabulary: a special token cannot be typed by accident.
    with pytest.raises(ValueError, match="not in the vocabulary"):
        tok.encode("<|end")


def test_render_and_mask_mark_exactly_the_answer_and_its_end(tok):
    msgs = [{"role": "user", "content": "Spell ab."}, {"role": "assistant", "content": "a-b"}]
    assert render_conversation(msgs) == "<|user|>Spell ab.<|end|><|assistant|>a-b<|end|>"
    ids, mask = encode_conversation(msgs, tok)
    assert len(ids) == len(mask)
    assert tok.decode([i for i, m in zip(ids, mask) if m]) == "a-b<|end|>"
    assert ids[:len(encode_prompt("Spell ab.", tok))] == encode_prompt("Spell ab.", tok)
    assert tok.decode(encode_prompt("Spell ab.", tok)).endswith("<|assistant|>")


def test_template_without_answer_marker_or_stop_marker_is_an_error():
    with pytest.raises(ValueError, match="answer marker"):
        ChatTemplate(assistant_format="<|assistant|>answer<|end|>")
    with pytest.raises(ValueError, match="stop marker"):
        ChatTemplate(assistant_format="<|assistant|>{content}")
    with pytest.raises(ValueError, match="exactly once"):
        ChatTemplate(user_format="{content}{content}")


def test_bad_messages_and_tokenizers_give_clear_errors(tok):
    with pytest.raises(ValueError, match="role"):
        render_conversation([{"role": "system", "content": "x"}])
    with pytest.raises(ValueError, match="non-empty"):
        render_conversation([])
    with pytest.raises(ValueError, match="at least 2 characters"):
        ChatTokenizer(CharTokenizer("abc"), ("a",))
    with pytest.raises(ValueError, match="not in the vocabulary"):
        tok.encode("é")
    with pytest.raises(KeyError, match="not a special token"):
        tok.token_id("<|system|>")


def masked_loss_by_hand(logits, y, mask):
    """The loss over answer tokens only, one token at a time."""
    total, n = 0.0, 0
    for b in range(y.shape[0]):
        for t in range(y.shape[1]):
            if mask[b, t]:
                total += F.cross_entropy(logits[b, t][None], y[b, t][None]).item()
                n += 1
    return total / n


def test_masked_loss_equals_the_loss_over_answer_tokens_only(tok, split):
    batches = SFTBatches(split.train[:50], tok, batch_size=6, block_size=64, seed=1)
    x, y, answer, real = batches.batch(0)
    assert x.shape == y.shape == answer.shape == real.shape
    assert torch.equal(x[:, 1:], y[:, :-1])
    # every answer token is a real token; every row has an answer ending in <|end|>
    assert bool((answer <= real).all()) and bool(answer.any(dim=1).all())
    logits = torch.randn(*y.shape, tok.vocab_size, generator=torch.Generator().manual_seed(0))
    expected = masked_loss_by_hand(logits, y, answer)
    assert masked_cross_entropy(logits, y, answer).item() == pytest.approx(expected, rel=1e-5)
    # The answer tokens decoded are the reference answers followed by <|end|>.
    for row in range(y.shape[0]):
        text = tok.decode(y[row][answer[row]].tolist())
        assert text.endswith("<|end|>")
    # A broken mask (shifted one place, the usual off-by-one) gives a different loss.
    shifted = torch.zeros_like(answer)
    shifted[:, :-1] = answer[:, 1:]
    assert masked_cross_entropy(logits, y, shifted).item() != pytest.approx(expected, rel=1e-3)
    # Whole-sequence loss counts every real token, no padding.
    assert masked_cross_entropy(logits, y, real).item() == pytest.approx(masked_loss_by_hand(logits, y, real), rel=1e-5)


def test_masked_cross_entropy_rejects_empty_and_mismatched_masks():
    logits, y = torch.randn(2, 3, 5), torch.zeros(2, 3, dtype=torch.long)
    with pytest.raises(ValueError, match="selects no token"):
        masked_cross_entropy(logits, y, torch.zeros(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="must agree"):
        masked_cross_entropy(logits, y, torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(TypeError, match="bool"):
        masked_cross_entropy(logits, y, torch.ones(2, 3))


def test_split_holds_out_instances_and_phrasings(split):
    assert len(split.eval) == len(split.eval_seen_phrasings) == 25 * len(TASKS)
    for name in TASKS:
        train = [e for e in split.train if e.task == name]
        held = split.heldout_instances[name]
        assert not {e.instance for e in train} & held
        assert not {e.phrasing for e in train} & set(split.heldout_phrasings[name])
        assert {e.phrasing for e in split.eval if e.task == name} <= set(split.heldout_phrasings[name])
        assert {e.instance for e in split.eval if e.task == name} <= held
    train_prompts = {e.prompt for e in split.train}
    assert not train_prompts & {e.prompt for e in split.eval}
    assert make_split(SplitConfig(n_train_per_task=300)).eval == split.eval      # deterministic
    assert make_split(SplitConfig(n_train_per_task=300, seed=1)).eval != split.eval


def test_answers_are_right_and_checker_normalises_only_white_space(split, tok):
    for e in split.eval + split.train[:500]:
        tok.encode(e.prompt + e.answer)                       # every character is in the vocabulary
        if e.task == "reverse":
            assert e.answer == e.instance[::-1]
        if e.task == "add":
            a, b = map(int, e.instance.split(","))
            assert int(e.answer) == a + b
    e = Example("upper", "Shout sweet.", "SWEET", "sweet", 0)
    assert e.check("  SWEET ") and not e.check("sweet") and not e.check("SWEET.")
    assert normalise(" a \n b ") == "a b"


def test_bad_split_configs_are_errors():
    with pytest.raises(ValueError, match="unknown task"):
        SplitConfig(tasks=("juggle",))
    with pytest.raises(ValueError, match="heldout_phrasings"):
        SplitConfig(heldout_phrasings=8)
    with pytest.raises(TypeError):
        SplitConfig(n_eval_per_task=2.5)
    with pytest.raises(ValueError, match="n_eval_per_task"):
        make_split(SplitConfig(tasks=("add",), n_eval_per_task=5000))


def skill_line_instance(line):
    """(task, instance) of one line of skill text, read back from its form."""
    import re
    from aigc_lib.posttraining.tasks import SKILL_FORMS
    for name, form in SKILL_FORMS.items():
        pattern = re.escape(form).replace(r"\{w\}", r"(?P<w>[a-z]+)").replace(r"\{c\}", r"(?P<c>[a-z])")
        pattern = pattern.replace(r"\{a\}", r"(?P<a>\d+)").replace(r"\{b\}", r"(?P<b>\d+)")
        m = re.fullmatch(pattern.replace(r"\{ans\}", r"(?P<ans>\S+)"), line)
        if m:
            return name, m.group("w") if "w" in m.groupdict() else f"{m.group('a')},{m.group('b')}"
    raise AssertionError(f"unknown skill line {line!r}")


def test_skill_text_never_shows_a_held_out_instance():
    from aigc_lib.posttraining.tasks import skill_text
    held = make_split(SplitConfig(n_train_per_task=1)).heldout_instances
    lines = skill_text(60_000, exclude=held, seed=0).splitlines()
    seen = [skill_line_instance(line) for line in lines]
    assert {t for t, _ in seen} == set(TASKS)
    assert not [(t, i) for t, i in seen if i in held[t]]
    # A broken exclusion (nothing held out) does show held-out instances.
    leaky = [skill_line_instance(line) for line in skill_text(60_000, exclude={}, seed=0).splitlines()]
    assert [(t, i) for t, i in leaky if i in held[t]]
