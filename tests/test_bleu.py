import random

import pytest
import sacrebleu

from aigc_lib.transformer import corpus_bleu, corpus_bleu_stats, ngrams

WORDS = "the a cat dog sat on mat rug and ran".split()


def random_corpus(seed, n=20):
    rng = random.Random(seed)
    refs = [" ".join(rng.choices(WORDS, k=rng.randint(3, 12))) for _ in range(n)]
    hyps = []
    for r in refs:
        toks = r.split()
        toks = [t if rng.random() < 0.7 else rng.choice(WORDS) for t in toks]
        toks = toks[:rng.randint(max(1, len(toks) - 3), len(toks) + 1)] + rng.choices(WORDS, k=rng.randint(0, 2))
        hyps.append(" ".join(toks))
    return hyps, refs


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("smooth", ["exp", "none"])
def test_word_bleu_equals_sacrebleu(seed, smooth):
    hyps, refs = random_corpus(seed)
    ours = corpus_bleu(hyps, refs, smooth=smooth)
    theirs = sacrebleu.corpus_bleu(hyps, [refs], tokenize="none", smooth_method=smooth).score
    assert ours == pytest.approx(theirs, abs=1e-9)


def test_multiple_references_equal_sacrebleu():
    hyps, refs1 = random_corpus(1)
    _, refs2 = random_corpus(2)
    ours = corpus_bleu(hyps, list(zip(refs1, refs2)))
    theirs = sacrebleu.corpus_bleu(hyps, [refs1, refs2], tokenize="none").score
    assert ours == pytest.approx(theirs, abs=1e-9)


def test_character_bleu_on_dates_equals_sacrebleu():
    refs = ["2031-03-04", "1999-12-31", "2000-01-01"]
    hyps = ["2031-03-04", "1999-12-30", "2001-01-10"]
    ours = corpus_bleu(hyps, refs, tokenize=list)
    assert ours == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs], tokenize="char").score, abs=1e-9)


def test_perfect_and_disjoint_outputs():
    assert corpus_bleu(["a b c d e"], ["a b c d e"]) == pytest.approx(100.0)
    assert corpus_bleu(["x y z w"], ["a b c d"]) == 0.0


def test_brevity_penalty_and_clipping():
    # "the the the the" against "the cat": unigram matches are clipped to 1.
    correct, total, c, r = corpus_bleu_stats([["the"] * 4], [[["the", "cat"]]])
    assert correct[0] == 1 and total[0] == 4 and (c, r) == (4, 2)
    short = corpus_bleu(["a b c d"], ["a b c d e f g h"], smooth="none")
    assert short == pytest.approx(100.0 * 2.718281828459045 ** (1 - 8 / 4))


def test_ngrams_and_errors():
    assert ngrams(["a", "b", "a", "b"], 2) == {("a", "b"): 2, ("b", "a"): 1}
    with pytest.raises(ValueError, match="2 hypotheses but 1 reference"):
        corpus_bleu(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="smooth"):
        corpus_bleu(["a"], ["a"], smooth="add-k")
    with pytest.raises(TypeError, match="list of token lists"):
        corpus_bleu_stats([["a"]], ["a"])


def test_strings_where_lists_are_expected_are_errors():
    with pytest.raises(TypeError, match="hypotheses must be a list of strings, .* single string 'the cat sat'"):
        corpus_bleu("the cat sat", "the dog sat")          # would score characters as sentences
    with pytest.raises(TypeError, match="references must be a list of strings"):
        corpus_bleu(["the cat sat"], "the cat sat")
    with pytest.raises(TypeError, match="hypotheses as strings, got list"):
        corpus_bleu([["the", "cat"]], ["the cat"])
    with pytest.raises(TypeError, match="token list, .* got the string 'the cat'"):
        corpus_bleu_stats(["the cat"], [[["the", "cat"]]])  # would count character n-grams
    with pytest.raises(ValueError, match="max_n must be >= 1, got 0"):
        corpus_bleu(["the cat"], ["the cat"], max_n=0)
    assert corpus_bleu((h for h in ["the cat sat on the mat"]), ["the cat sat on the mat"]) == pytest.approx(100.0)
