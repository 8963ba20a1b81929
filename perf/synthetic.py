"""Synthetic mixed-task replay data, seeded: several task families, each with sub-skills.

Expert ``e`` answers question ``q`` (family ``c``, sub-skill ``s``) right with probability
``sigmoid(offset + ability[e] + family[e, c] + skill[e, s] - difficulty[q])``. The per-sub-skill
strengths make different experts best on different sub-skills of one family, so a router that
recognises the sub-skill from the question's words can beat the best expert per family; the
shared difficulty makes experts' mistakes correlate, as real ones do. Bigger experts are more
able on average and cost more; prices are per 1,000 tokens, like experts.yaml's.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

FAMILIES: dict[str, dict[str, tuple[str, ...]]] = {
    "math": {
        "algebra": ("equation", "variable", "polynomial", "quadratic", "coefficient", "linear"),
        "geometry": ("triangle", "circle", "radius", "angle", "perimeter", "hypotenuse"),
        "probability": ("dice", "coin", "marbles", "odds", "expected value", "random draw"),
        "number theory": ("prime", "divisor", "remainder", "modulo", "factorial", "gcd"),
    },
    "code": {
        "python": ("dictionary", "list comprehension", "generator", "decorator", "tuple"),
        "sql": ("query", "join", "table", "column", "primary key", "aggregate"),
        "algorithms": ("recursion", "binary search", "heap", "sorting", "graph", "complexity"),
        "debugging": ("exception", "traceback", "null pointer", "race condition", "stack"),
    },
    "science": {
        "physics": ("velocity", "momentum", "friction", "acceleration", "gravity", "torque"),
        "chemistry": ("molecule", "acid", "oxidation", "covalent bond", "electron", "catalyst"),
        "biology": ("enzyme", "mitochondria", "protein", "gene", "membrane", "cell division"),
        "earth science": ("volcano", "tectonic plate", "erosion", "sediment", "earthquake"),
    },
    "history": {
        "ancient": ("pharaoh", "roman senate", "dynasty", "city state", "caesar", "bronze age"),
        "medieval": ("feudal", "crusade", "monastery", "knight", "black death", "manor"),
        "modern": ("revolution", "treaty", "parliament", "colonial", "independence"),
        "economic": ("tariff", "currency", "great depression", "merchant", "gold standard"),
    },
    "law": {
        "contracts": ("offer", "breach", "consideration", "clause", "acceptance", "warranty"),
        "criminal": ("defendant", "mens rea", "jury", "prosecution", "verdict", "burglary"),
        "constitutional": ("amendment", "free speech", "due process", "federalism"),
        "torts": ("negligence", "liability", "duty of care", "plaintiff", "causation"),
    },
    "medicine": {
        "cardiology": ("heart", "artery", "arrhythmia", "blood pressure", "ecg", "cardiac"),
        "pharmacology": ("dose", "receptor", "antibiotic", "side effect", "half life"),
        "neurology": ("neuron", "seizure", "stroke", "dementia", "spinal cord", "migraine"),
        "infectious disease": ("virus", "bacteria", "vaccine", "fever", "pathogen", "sepsis"),
    },
}

FRAMES: dict[str, tuple[str, ...]] = {
    "math": ("Solve the problem.", "A math exercise.", "Work out the result."),
    "code": ("Read the program.", "A coding task.", "Review this snippet."),
    "science": ("A science question.", "Use scientific reasoning.", "Think about nature."),
    "history": ("A history question.", "Recall the past.", "Think about the period."),
    "law": ("A legal question.", "Apply the doctrine.", "Consider the case."),
    "medicine": ("A clinical question.", "Consider the patient.", "Apply medical knowledge."),
}

SENTENCES = (
    "It concerns the {a} and the {b}.",
    "Consider the {a} together with the {b}.",
    "Think about the {a}, then the {b}.",
    "The {a} matters here, as does the {b}.",
    "Start from the {a}; the {b} follows.",
)

FILLERS = (
    "student",
    "report",
    "scenario",
    "teacher",
    "example",
    "notes",
    "exam",
    "textbook",
    "worksheet",
    "lecture",
    "homework",
    "summary",
    "detail",
    "draft",
    "review",
    "session",
)

ROSTER: tuple[tuple[str, float], ...] = (
    ("atlas-70b", 70.0),
    ("bolt-8b", 8.0),
    ("cedar-32b", 32.0),
    ("dune-3b", 3.0),
    ("ember-14b", 14.0),
    ("fjord-7b", 7.0),
    ("grove-1b", 1.5),
    ("helix-27b", 27.0),
    ("iris-4b", 4.0),
    ("jade-12b", 12.0),
)
"""Expert names and sizes (billions of parameters); the first ``experts`` are used."""


@dataclass(frozen=True)
class SyntheticConfig:
    """How much data, and how strongly experts differ."""

    questions: int = 2000
    experts: int = 5
    families: int = 6
    validation_share: float = 0.5
    responses: bool = True
    """Record each expert's response text (majority votes then count real answers)."""
    seed: int = 0
    offset: float = 1.0
    skill_spread: float = 1.0
    family_spread: float = 0.5
    difficulty_spread: float = 2.0
    vague_share: float = 0.1
    """Questions that name their family but none of their sub-skill's words."""

    def __post_init__(self) -> None:
        if not 1 <= self.experts <= len(ROSTER):
            raise ValueError(f"experts must be 1..{len(ROSTER)}, not {self.experts}")
        if not 1 <= self.families <= len(FAMILIES):
            raise ValueError(f"families must be 1..{len(FAMILIES)}, not {self.families}")
        if self.questions < 2 or not 0.0 < self.validation_share < 1.0:
            raise ValueError("need at least 2 questions and a validation share in (0, 1)")


SMALL_FIXTURE = SyntheticConfig(questions=200, experts=5, families=3, seed=7)
"""The config of tests/fixtures/replay_small.jsonl (a test checks the file matches it)."""


@dataclass(frozen=True)
class _World:
    """The hidden truth the outcomes are drawn from."""

    names: list[str]
    ability: np.ndarray
    family: np.ndarray
    skill: np.ndarray
    price: np.ndarray
    verbosity: np.ndarray
    skills: list[tuple[str, str]]


def generate(config: SyntheticConfig) -> list[dict[str, Any]]:
    """The replay records (one dict per line), reproducible from ``config.seed``."""
    rng = np.random.default_rng(config.seed)
    world = _world(config, rng)
    choice = rng.integers(0, len(world.skills), config.questions)
    difficulty = rng.normal(0.0, config.difficulty_spread, config.questions)
    split = rng.random(config.questions) < config.validation_share
    split[:2] = [True, False]  # both splits always present
    return [
        _record(i, world, int(choice[i]), float(difficulty[i]), bool(split[i]), config, rng)
        for i in range(config.questions)
    ]


def write_replay(path: Path, config: SyntheticConfig) -> Path:
    """Write the records of ``generate`` as a replay JSONL file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = (json.dumps(record, ensure_ascii=False) for record in generate(config))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _world(config: SyntheticConfig, rng: np.random.Generator) -> _World:
    families = list(FAMILIES)[: config.families]
    skills = [(f, s) for f in families for s in FAMILIES[f]]
    names = [name for name, _ in ROSTER[: config.experts]]
    size = np.array([b for _, b in ROSTER[: config.experts]])
    return _World(
        names=names,
        ability=0.35 * np.log(size) - 0.35 * np.log(size).mean(),
        family=rng.normal(0.0, config.family_spread, (config.experts, len(families))),
        skill=rng.normal(0.0, config.skill_spread, (config.experts, len(skills))),
        price=0.00004 * size,
        verbosity=rng.uniform(60, 240, config.experts),
        skills=skills,
    )


def _record(
    index: int,
    world: _World,
    skill: int,
    difficulty: float,
    validation: bool,
    config: SyntheticConfig,
    rng: np.random.Generator,
) -> dict[str, Any]:
    family, name = world.skills[skill]
    family_index = list(FAMILIES).index(family)
    logit = (
        config.offset
        + world.ability
        + world.family[:, family_index]
        + world.skill[:, skill]
        - difficulty
    )
    right = rng.random(len(world.names)) < 1.0 / (1.0 + np.exp(-logit))
    question = _question(family, name, rng.random() < config.vague_share, rng)
    gold = "ABCD"[int(rng.integers(0, 4))]
    outcomes = _outcomes(world, right, question, gold, config.responses, rng)
    return {
        "id": f"q{index:05d}",
        "question": question,
        "gold_answer": gold,
        "category": family,
        "split": "validation" if validation else "test",
        "outcomes": outcomes,
    }


def _question(family: str, skill: str, vague: bool, rng: np.random.Generator) -> str:
    words = FAMILIES[family][skill]
    if vague:
        picked = [str(w) for w in rng.choice(FILLERS, 2, replace=False)]
    else:
        picked = [str(w) for w in rng.choice(words, 2, replace=False)]
    frame = str(rng.choice(FRAMES[family]))
    sentence = str(rng.choice(SENTENCES)).format(a=picked[0], b=picked[1])
    filler = str(rng.choice(FILLERS))
    values = rng.integers(2, 99, 4)
    options = " ".join(f"({letter}) {value}" for letter, value in zip("ABCD", values, strict=True))
    return f"{frame} {sentence} Use the {filler}. The options are: {options}"


def _outcomes(
    world: _World,
    right: np.ndarray,
    question: str,
    gold: str,
    responses: bool,
    rng: np.random.Generator,
) -> dict[str, dict[str, Any]]:
    wrong = [letter for letter in "ABCD" if letter != gold]
    popular = str(rng.choice(wrong))  # a tempting distractor: mistakes often agree
    prompt = math.ceil(len(question) / 4)
    outcomes: dict[str, dict[str, Any]] = {}
    for e, name in enumerate(world.names):
        completion = int(world.verbosity[e] * rng.lognormal(0.0, 0.3))
        cost = (prompt + 3 * completion) * world.price[e] / 1000.0
        outcome: dict[str, Any] = {"score": 1.0 if right[e] else 0.0, "cost": round(cost, 8)}
        outcome |= {"prompt_tokens": prompt, "completion_tokens": completion}
        if responses:
            letter = (
                gold if right[e] else (popular if rng.random() < 0.5 else str(rng.choice(wrong)))
            )
            outcome["response"] = f"Reasoning omitted. The answer is ({letter})."
        outcomes[name] = outcome
    return outcomes
