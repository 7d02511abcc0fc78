"""Small instruction tasks whose answers a program can check.

Each task turns an *instance* (a word, a pair of numbers) into a prompt in
one of several *phrasings*, and knows the one right answer::

    reverse   "Reverse the word candle."             -> "eldnac"
    spell     "Spell plague with dashes."             -> "p-l-a-g-u-e"
    upper     "Write sweet in capital letters."       -> "SWEET"
    count     "How many times does e appear in sweet?" -> "2"
    length    "How many letters are in sweet?"        -> "5"
    sort      "Sort the letters of sweet."            -> "eestw"
    add       "What is 23 plus 45?"                   -> "68"
    subtract  "What is 73 minus 45?"                  -> "28"

Words come from Tiny Shakespeare (lower-case words of 3 to 6 letters that
occur at least 5 times), numbers are two-digit. :func:`make_split` holds out
**instances** (a fraction of the words and number pairs) *and* **phrasings**
(some templates of each task) for evaluation: every evaluation prompt uses a
word or pair never seen in training, written in a way never seen in
training. The split depends only on its seed.

An answer is right when it equals the reference after :func:`normalise`
(surrounding white space removed, inner runs of white space made single).
Case matters ("SWEET" is not "sweet").
"""
from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

from ..core.checks import check_float, check_int, check_str

__all__ = ["skill_text", "skill_prompt", "SKILL_FORMS", "Example", "InstructionTask", "TASKS", "SplitConfig", "InstructionSplit", "make_split", "normalise",
           "is_correct", "task_words"]


def normalise(text: str) -> str:
    """Strip surrounding white space and collapse inner runs of white space to one space."""
    if not isinstance(text, str):
        raise TypeError(f"an answer must be a string, got {type(text).__name__}")
    return " ".join(text.split())


def is_correct(output: str, answer: str) -> bool:
    """Exact match after :func:`normalise`."""
    return normalise(output) == normalise(answer)


@dataclass(frozen=True)
class Example:
    """One prompt with its reference answer.

    Attributes:
        task: the task's name, e.g. ``"reverse"``.
        prompt: the user's text.
        answer: the one right answer.
        instance: the instance as text (``"candle"``, ``"23,45"``): what :func:`make_split` holds out.
        phrasing: index of the phrasing in the task's list.
        letter: the letter asked about (task ``"count"`` only, else ``""``).
    """

    task: str
    prompt: str
    answer: str
    instance: str
    phrasing: int
    letter: str = ""

    def check(self, output: str) -> bool:
        """Whether ``output`` is right (exact match after normalisation)."""
        return is_correct(output, self.answer)


@lru_cache(maxsize=1)
def task_words(min_count: int = 5) -> tuple[str, ...]:
    """Lower-case words of 3-6 letters that occur at least ``min_count`` times in Tiny Shakespeare, sorted."""
    from ..data.shakespeare import load_tiny_shakespeare
    counts = Counter(re.findall(r"\b[a-z]+\b", load_tiny_shakespeare()))
    return tuple(sorted(w for w, c in counts.items() if 3 <= len(w) <= 6 and c >= min_count))


def _count_letter_instance(word: str, rng: random.Random) -> tuple[str, str]:
    # Mostly a letter of the word (counts 1-3), sometimes one it lacks (count 0).
    letter = rng.choice(word) if rng.random() < 0.8 else rng.choice([c for c in "abcdefghijklmnopqrstuvwxyz"
                                                                   if c not in word])
    return letter, str(word.count(letter))


@dataclass(frozen=True)
class InstructionTask:
    """A task: its phrasings (templates with ``{w}`` or ``{a}``/``{b}``, and ``{c}`` for a letter) and its answer rule."""

    name: str
    phrasings: tuple[str, ...]
    kind: str                                   # "word" or "pair"
    answer: Callable[..., str]

    def example(self, instance: str, phrasing: int, rng: random.Random) -> Example:
        template = self.phrasings[phrasing]
        if self.kind == "pair":
            a, b = (int(v) for v in instance.split(","))
            return Example(self.name, template.format(a=a, b=b), self.answer(a, b), instance, phrasing)
        if self.name == "count":
            letter, ans = _count_letter_instance(instance, rng)
            return Example(self.name, template.format(w=instance, c=letter), ans, instance, phrasing, letter)
        return Example(self.name, template.format(w=instance), self.answer(instance), instance, phrasing)


TASKS: dict[str, InstructionTask] = {t.name: t for t in [
    InstructionTask("reverse", (
        "Reverse the word {w}.", "Write {w} backwards.", "What is {w} spelled backwards?", "Reverse: {w}",
        "Please reverse {w}.", "Turn {w} around, last letter first.", "Give me {w} in reverse.",
        "Can you write the word {w} backwards?"), "word", lambda w: w[::-1]),
    InstructionTask("spell", (
        "Spell {w} with dashes.", "Spell the word {w}, letters joined by dashes.", "Spell out {w}.",
        "Spell: {w}", "How do you spell {w}? Use dashes.", "Please spell {w}.", "Spell {w} letter by letter.",
        "Can you spell the word {w}?"), "word", lambda w: "-".join(w)),
    InstructionTask("upper", (
        "Write {w} in capital letters.", "Make {w} upper case.", "Uppercase: {w}", "Shout the word {w}.",
        "Write the word {w} in capitals.", "Please capitalise every letter of {w}.", "Put {w} in upper case.",
        "Can you write {w} in all caps?"), "word", lambda w: w.upper()),
    InstructionTask("count", (
        "How many times does {c} appear in {w}?", "Count the letter {c} in {w}.", "Count {c} in {w}.",
        "How many {c} are in the word {w}?", "In {w}, how often is the letter {c}?",
        "Number of {c} in {w}?", "Please count how many {c} the word {w} has.",
        "Can you count the letter {c} in {w}?"), "word", None),
    InstructionTask("length", (
        "How many letters are in {w}?", "How long is the word {w}?", "Length of {w}?",
        "Count the letters of {w}.", "How many letters does {w} have?", "Please give the length of {w}.",
        "What is the number of letters in {w}?", "Can you count the letters in the word {w}?"),
        "word", lambda w: str(len(w))),
    InstructionTask("sort", (
        "Sort the letters of {w}.", "Put the letters of {w} in alphabetical order.", "Sort: {w}",
        "Arrange the letters of {w} from a to z.", "Sort the letters in the word {w}.",
        "Please sort {w} alphabetically.", "Alphabetise the letters of {w}.",
        "Can you sort the letters of {w}?"), "word", lambda w: "".join(sorted(w))),
    InstructionTask("add", (
        "What is {a} plus {b}?", "Add {a} and {b}.", "{a} + {b} = ?", "Compute {a} + {b}.",
        "What is the sum of {a} and {b}?", "Please add {a} to {b}.", "Calculate {a} plus {b}.",
        "Can you add {a} and {b}?"), "pair", lambda a, b: str(a + b)),
    InstructionTask("subtract", (
        "What is {a} minus {b}?", "Subtract {b} from {a}.", "{a} - {b} = ?", "Compute {a} - {b}.",
        "What is {a} take away {b}?", "Please subtract {b} from {a}.", "Calculate {a} minus {b}.",
        "Can you work out {a} minus {b}?"), "pair", lambda a, b: str(a - b)),
]}


def _instances(task: InstructionTask) -> list[str]:
    if task.kind == "word":
        return list(task_words())
    pairs = [(a, b) for a in range(10, 100) for b in range(10, 100)]
    if task.name == "subtract":
        pairs = [(a, b) for a, b in pairs if a >= b]
    return [f"{a},{b}" for a, b in pairs]


@dataclass
class SplitConfig:
    """How :func:`make_split` builds the training and evaluation examples.

    Attributes:
        tasks: names of the tasks to use (keys of :data:`TASKS`).
        n_train_per_task: training examples per task (instances drawn with replacement from the training ones).
        n_eval_per_task: evaluation examples per task (distinct held-out instances).
        heldout_phrasings: phrasings per task kept for evaluation only.
        heldout_instance_fraction: fraction of each task's instances kept for evaluation only.
        seed: seed of the split and of the drawing.
    """

    tasks: tuple[str, ...] = tuple(TASKS)
    n_train_per_task: int = 2000
    n_eval_per_task: int = 25
    heldout_phrasings: int = 2
    heldout_instance_fraction: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.tasks, str) or not isinstance(self.tasks, (tuple, list)) or not self.tasks:
            raise ValueError(f"tasks must be a non-empty tuple of task names from {tuple(TASKS)}, got {self.tasks!r}")
        unknown = [t for t in self.tasks if t not in TASKS]
        if unknown:
            raise ValueError(f"unknown task(s) {unknown}; the tasks are {tuple(TASKS)}")
        self.tasks = tuple(self.tasks)
        self.n_train_per_task = check_int(self.n_train_per_task, "n_train_per_task", min=1)
        self.n_eval_per_task = check_int(self.n_eval_per_task, "n_eval_per_task", min=1)
        self.heldout_phrasings = check_int(self.heldout_phrasings, "heldout_phrasings", min=1, max=7,
                                           note=" (each task has 8 phrasings; at least one must stay for training)")
        check_float(self.heldout_instance_fraction, "heldout_instance_fraction", min=0.0, max=1.0,
                    min_open=True, max_open=True)
        self.seed = check_int(self.seed, "seed", min=0)


@dataclass
class InstructionSplit:
    """The result of :func:`make_split`.

    Attributes:
        train: training examples (training instances, training phrasings).
        eval: evaluation examples (held-out instances, held-out phrasings).
        eval_seen_phrasings: the same held-out instances written with *training* phrasings
            (to separate "new words" from "new wording").
        heldout_phrasings: task name -> indices of its held-out phrasings.
        heldout_instances: task name -> its held-out instances.
    """

    train: list[Example]
    eval: list[Example]
    eval_seen_phrasings: list[Example]
    heldout_phrasings: dict[str, tuple[int, ...]] = field(default_factory=dict)
    heldout_instances: dict[str, frozenset[str]] = field(default_factory=dict)


def make_split(config: SplitConfig | None = None) -> InstructionSplit:
    """Training and held-out evaluation examples (see :class:`SplitConfig`); deterministic in ``config.seed``."""
    config = SplitConfig() if config is None else config
    if not isinstance(config, SplitConfig):
        raise TypeError(f"config must be a SplitConfig, got {type(config).__name__}")
    train, evals, evals_seen = [], [], []
    held_p, held_i = {}, {}
    for name in config.tasks:
        task = TASKS[name]
        # Which phrasings and instances are held out depends only on (seed, task, fraction, count),
        # not on how many examples are drawn: a split of the same seed always holds out the same ones.
        split_rng = random.Random(f"split-{config.seed}-{name}")
        rng = random.Random(f"draw-{config.seed}-{name}")
        order = list(range(len(task.phrasings)))
        split_rng.shuffle(order)
        eval_phr, train_phr = sorted(order[:config.heldout_phrasings]), sorted(order[config.heldout_phrasings:])
        instances = _instances(task)
        split_rng.shuffle(instances)
        n_held = max(1, round(config.heldout_instance_fraction * len(instances)))
        if n_held < config.n_eval_per_task or n_held >= len(instances):
            raise ValueError(f"task {name!r}: {n_held} held-out instances of {len(instances)} cannot give "
                             f"n_eval_per_task={config.n_eval_per_task} distinct evaluation instances and "
                             f"leave some for training; change heldout_instance_fraction")
        held, kept = instances[:n_held], instances[n_held:]
        held_p[name], held_i[name] = tuple(eval_phr), frozenset(held)
        for _ in range(config.n_train_per_task):
            train.append(task.example(rng.choice(kept), rng.choice(train_phr), rng))
        for k, inst in enumerate(held[:config.n_eval_per_task]):
            # The same random state for the letter of "count" in both versions of the prompt.
            state = rng.getstate()
            evals.append(task.example(inst, eval_phr[k % len(eval_phr)], rng))
            rng.setstate(state)
            evals_seen.append(task.example(inst, train_phr[k % len(train_phr)], rng))
    rng = random.Random(f"shuffle-{config.seed}")
    rng.shuffle(train)
    return InstructionSplit(train, evals, evals_seen, held_p, held_i)


#: How each skill is written in plain text (no chat format) in the base model's pretraining text.
SKILL_FORMS: dict[str, str] = {
    "reverse": "{w} backwards is {ans}.", "spell": "{w} is spelled {ans}.", "upper": "{w} in capitals is {ans}.",
    "count": "in {w} the letter {c} appears {ans} times.", "length": "{w} has {ans} letters.",
    "sort": "{w} sorted is {ans}.", "add": "{a} plus {b} is {ans}.", "subtract": "{a} minus {b} is {ans}.",
}


#: How often each skill is drawn in :func:`skill_text` (arithmetic is the hardest to learn).
SKILL_WEIGHTS: dict[str, int] = {"reverse": 2, "spell": 1, "upper": 1, "count": 1, "length": 1, "sort": 2,
                                 "add": 3, "subtract": 3}


def skill_text(num_chars: int, exclude: dict[str, frozenset[str]], seed: int = 0) -> str:
    """Plain-text lines that show the tasks' skills, never on an instance in ``exclude``.

    Web text is full of such facts ("23 plus 45 is 68"), and a base model learns its
    skills from them. Each line uses one form of :data:`SKILL_FORMS`, never an
    instruction phrasing, e.g. ``"qmrof backwards is formq."``. The word skills are shown
    on **random strings** of 3 to 6 letters, not on words: the model cannot memorise
    an answer per word and has to learn the rule, which then also works on words.

    Args:
        num_chars: length of the text (whole lines, at least this many characters).
        exclude: task name -> instances to leave out (the held-out instances of a split,
            ``InstructionSplit.heldout_instances``), so that evaluation stays unseen.
        seed: seed of the drawing.
    """
    num_chars = check_int(num_chars, "num_chars", min=1)
    if not isinstance(exclude, dict) or set(exclude) - set(TASKS):
        raise ValueError(f"exclude must map task names {tuple(TASKS)} to sets of held-out instances")
    rng = random.Random(seed)
    pairs = {name: [i for i in _instances(TASKS[name]) if i not in exclude.get(name, frozenset())]
             for name in ("add", "subtract")}
    names = [name for name, w in SKILL_WEIGHTS.items() for _ in range(w)]
    letters = "abcdefghijklmnopqrstuvwxyz"
    lines, n = [], 0
    while n < num_chars:
        name = rng.choice(names)
        if TASKS[name].kind == "pair":
            inst = rng.choice(pairs[name])
        else:
            inst = "".join(rng.choice(letters) for _ in range(rng.randint(3, 6)))
            if inst in exclude.get(name, frozenset()):
                continue
        e = TASKS[name].example(inst, 0, rng)
        a, _, b = inst.partition(",")
        line = SKILL_FORMS[name].format(w=inst, c=e.letter, a=a, b=b, ans=e.answer)
        lines.append(line + "\n")
        n += len(line) + 1
    return "".join(lines)


def skill_prompt(example: Example) -> str:
    """The plain-text form of ``example`` up to its answer, e.g. ``"candle backwards is "``."""
    if not isinstance(example, Example):
        raise TypeError(f"example must be an Example, got {type(example).__name__}")
    form = SKILL_FORMS[example.task].split("{ans}")[0]
    if TASKS[example.task].kind == "pair":
        a, b = example.instance.split(",")
        return form.format(a=a, b=b)
    return form.format(w=example.instance, c=example.letter)
