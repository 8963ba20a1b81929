"""Build the starter suite: very easy questions over eight skill areas, for tiny experts.

Run ``python eval/suites/starter/build.py``; it writes ``validation.jsonl`` and ``test.jsonl``
next to this file (or under ``--out DIR``). The output is deterministic: every random choice
comes from a ``random.Random`` seeded with the category name, so re-running gives identical
bytes. Knowledge facts are written by hand in the tables below; wrong options are drawn from
the same table. Arithmetic, algebra, unit conversion and Python answers are computed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
LETTERS = "ABCD"


@dataclass(frozen=True)
class Item:
    """One question before it gets an id: its text, gold answer and category."""

    question: str
    gold_answer: str
    category: str


class Quiz:
    """Makes 4-option questions; gold letters come in shuffled blocks of A-D, so they balance."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.positions: list[int] = []

    def ask(self, stem: str, answer: str, pool: Sequence[str]) -> Item:
        """A question whose wrong options come from ``pool``; the gold is the letter."""
        if not self.positions:
            self.positions = list(range(len(LETTERS)))
            self.rng.shuffle(self.positions)
        position = self.positions.pop()
        wrong = self.rng.sample(sorted({option for option in pool if option != answer}), 3)
        options = [*wrong[:position], answer, *wrong[position:]]
        listed = " ".join(
            f"({letter}) {text}" for letter, text in zip(LETTERS, options, strict=True)
        )
        return Item(f"{stem} The options are: {listed}", LETTERS[position], "")


# --- arithmetic, algebra, unit conversion ----------------------------------------------------

Numeric = tuple[str, int]
Template = Callable[[random.Random], Numeric]


def fill(rng: random.Random, templates: Sequence[Template], per_template: int) -> list[Numeric]:
    """``per_template`` distinct questions from each template, drawn in a fixed order."""
    items: list[Numeric] = []
    for template in templates:
        seen: dict[str, int] = {}
        while len(seen) < per_template:
            question, answer = template(rng)
            seen.setdefault(question, answer)
        items += seen.items()
    return items


def add(rng: random.Random) -> Numeric:
    a, b = rng.randint(1, 20), rng.randint(1, 20)
    return f"What is {a} + {b}?", a + b


def subtract(rng: random.Random) -> Numeric:
    a, b = rng.randint(5, 20), rng.randint(1, 5)
    return f"What is {a} - {b}?", a - b


def multiply(rng: random.Random) -> Numeric:
    a, b = rng.randint(2, 10), rng.randint(2, 10)
    return f"What is {a} times {b}?", a * b


def divide(rng: random.Random) -> Numeric:
    a, b = rng.randint(2, 10), rng.randint(2, 9)
    return f"What is {a * b} divided by {b}?", a


def arithmetic(rng: random.Random) -> list[Numeric]:
    return fill(rng, [add, subtract, multiply, divide], 12)


def solve_add(rng: random.Random) -> Numeric:
    x, b = rng.randint(1, 12), rng.randint(1, 9)
    return f"Solve for x: x + {b} = {x + b}. What is x?", x


def solve_subtract(rng: random.Random) -> Numeric:
    b = rng.randint(1, 9)
    x = rng.randint(b + 1, b + 10)
    return f"Solve for x: x - {b} = {x - b}. What is x?", x


def solve_multiply(rng: random.Random) -> Numeric:
    x, a = rng.randint(1, 10), rng.randint(2, 5)
    return f"Solve for x: {a}x = {a * x}. What is x?", x


def solve_two_step(rng: random.Random) -> Numeric:
    x, a, b = rng.randint(1, 6), rng.randint(2, 3), rng.randint(1, 5)
    return f"Solve for x: {a}x + {b} = {a * x + b}. What is x?", x


def algebra(rng: random.Random) -> list[Numeric]:
    return fill(rng, [solve_add, solve_subtract, solve_multiply, solve_two_step], 12)


CONVERSIONS = [  # (from unit, to unit, factor): 1 from-unit is factor to-units
    ("metres", "centimetres", 100),
    ("kilometres", "metres", 1000),
    ("centimetres", "millimetres", 10),
    ("kilograms", "grams", 1000),
    ("litres", "millilitres", 1000),
    ("hours", "minutes", 60),
    ("minutes", "seconds", 60),
    ("days", "hours", 24),
    ("weeks", "days", 7),
    ("years", "months", 12),
    ("dozen", "eggs", 12),
]


def unit_conversion(rng: random.Random) -> list[Numeric]:
    items: list[Numeric] = []
    for source, target, factor in CONVERSIONS:
        for n in rng.sample(range(2, 10), 3):
            items.append((f"How many {target} are in {n} {source}?", n * factor))
        n = rng.randint(2, 9)
        items.append((f"How many {source} are {n * factor} {target}?", n))
    return items


# --- python ---------------------------------------------------------------------------------


WORDS = ["cat", "hello", "python", "apple", "sun", "banana", "tree", "robot"]
PY_TYPES = [("3.5", "float"), ("'hello'", "str"), ("7", "int"), ("True", "bool")]
PY_TYPES += [("[1, 2]", "list"), ("{'a': 1}", "dict")]


def python_snippets(rng: random.Random) -> list[str]:
    """One round of one-line snippets, each with its own small numbers."""
    a, b, c, d, e, f = (rng.randint(2, 9) for _ in range(6))
    word, other = rng.sample(WORDS, 2)
    return [
        f"print({a} + {b})",
        f"print({c} * {d})",
        f"print({e + f + a} - {f})",
        f"print({b + c * d} // {c})",
        f"print({d + e * f} % {e})",
        f"print(len('{word}'))",
        f"print(len([{a}, {c}, {e}]))",
        f"print(max({b}, {d + 10}, {f}))",
        f"print(min({a + 10}, {c}, {e + 10}))",
        f"print(abs(-{f}))",
        f"print({d} ** 2)",
        f"x = {e}; x += {a}; print(x)",
        f"print(sum([{b}, {d}, {f}]))",
        f"print([{c}, {a}, {f}][1])",
        f"x = {b}; y = x * 2; print(y)",
        f"print(len('{other}') + {c})",
    ]


def run_snippet(code: str) -> int:
    """What our own one-line snippet prints, as an int (the generator's answer key)."""
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        exec(code, {})
    return int(output.getvalue().strip())


def python_code(rng: random.Random) -> list[Numeric]:
    items: list[Numeric] = []
    seen: set[str] = set()
    while len(items) < 44:
        for code in python_snippets(rng):
            if code not in seen and len(items) < 44:
                seen.add(code)
                items.append((f"What does this Python code print? {code}", run_snippet(code)))
    return items


def python_types(quiz: Quiz) -> list[Item]:
    pool = [name for _, name in PY_TYPES]
    return [
        quiz.ask(f"What is the type of the Python value {value}?", name, pool)
        for value, name in PY_TYPES
    ]


# --- chemistry ------------------------------------------------------------------------------

ELEMENTS = [  # (name, symbol, atomic number)
    ("hydrogen", "H", 1),
    ("helium", "He", 2),
    ("lithium", "Li", 3),
    ("carbon", "C", 6),
    ("nitrogen", "N", 7),
    ("oxygen", "O", 8),
    ("fluorine", "F", 9),
    ("neon", "Ne", 10),
    ("sodium", "Na", 11),
    ("magnesium", "Mg", 12),
    ("aluminium", "Al", 13),
    ("silicon", "Si", 14),
    ("phosphorus", "P", 15),
    ("sulfur", "S", 16),
    ("chlorine", "Cl", 17),
    ("argon", "Ar", 18),
    ("potassium", "K", 19),
    ("calcium", "Ca", 20),
    ("iron", "Fe", 26),
    ("nickel", "Ni", 28),
    ("copper", "Cu", 29),
    ("zinc", "Zn", 30),
    ("silver", "Ag", 47),
    ("tin", "Sn", 50),
    ("iodine", "I", 53),
    ("platinum", "Pt", 78),
    ("gold", "Au", 79),
    ("mercury", "Hg", 80),
    ("lead", "Pb", 82),
    ("uranium", "U", 92),
    ("boron", "B", 5),
    ("beryllium", "Be", 4),
]
FORMULAS = [
    ("water", "H2O"),
    ("carbon dioxide", "CO2"),
    ("table salt (sodium chloride)", "NaCl"),
    ("methane", "CH4"),
    ("ammonia", "NH3"),
    ("oxygen gas", "O2"),
    ("hydrogen gas", "H2"),
    ("ozone", "O3"),
    ("hydrochloric acid", "HCl"),
    ("sulfuric acid", "H2SO4"),
]


def is_letter_like(symbol: str) -> bool:
    """A symbol such as 'C' or 'B' would read as an option letter, so it is never an option."""
    return len(symbol) == 1 and symbol in "ABCDEFGHIJ"


def chemistry(quiz: Quiz) -> list[Item]:
    names = [name for name, _, _ in ELEMENTS]
    symbols = [symbol for _, symbol, _ in ELEMENTS if not is_letter_like(symbol)]
    items: list[Item] = []
    for index, (name, symbol, _) in enumerate(ELEMENTS):
        if index % 2 or is_letter_like(symbol):
            stem = f"Which element has the chemical symbol {symbol}?"
            items.append(quiz.ask(stem, name, names))
        else:
            stem = f"What is the chemical symbol for {name}?"
            items.append(quiz.ask(stem, symbol, symbols))
    formulas = [formula for _, formula in FORMULAS]
    for compound, formula in FORMULAS:
        stem = f"What is the chemical formula of {compound}?"
        items.append(quiz.ask(stem, formula, formulas))
    return items


def chemistry_numeric(rng: random.Random) -> list[Numeric]:
    light = [(name, number) for name, _, number in ELEMENTS if number <= 10]
    return [(f"What is the atomic number of {name}?", number) for name, number in light]


# --- biology --------------------------------------------------------------------------------

BIOLOGY: dict[str, list[tuple[str, str]]] = {
    "organ": [
        ("Which organ pumps blood around the human body?", "heart"),
        ("Which organs do humans use to breathe air?", "lungs"),
        ("Which organ do humans think with?", "brain"),
        ("Which organs filter the blood and make urine?", "kidneys"),
        ("Which organ breaks down food using acid right after the food is swallowed?", "stomach"),
        ("Which is the largest organ of the human body?", "skin"),
        ("Which organ makes bile?", "liver"),
        ("Which organs do humans see with?", "eyes"),
        ("Which organs do humans hear with?", "ears"),
    ],
    "animal class": [
        ("What kind of animal is a whale?", "mammal"),
        ("What kind of animal is a bat?", "mammal"),
        ("What kind of animal is a dolphin?", "mammal"),
        ("What kind of animal is a penguin?", "bird"),
        ("What kind of animal is an eagle?", "bird"),
        ("What kind of animal is an ostrich?", "bird"),
        ("What kind of animal is a shark?", "fish"),
        ("What kind of animal is a salmon?", "fish"),
        ("What kind of animal is a snake?", "reptile"),
        ("What kind of animal is a crocodile?", "reptile"),
        ("What kind of animal is a frog?", "amphibian"),
        ("What kind of animal is a salamander?", "amphibian"),
        ("What kind of animal is an ant?", "insect"),
        ("What kind of animal is a bee?", "insect"),
        ("What kind of animal is a butterfly?", "insect"),
    ],
    "gas": [
        ("Which gas do plants take in from the air for photosynthesis?", "carbon dioxide"),
        ("Which gas do plants give off during photosynthesis?", "oxygen"),
        ("Which gas do humans need to breathe in to stay alive?", "oxygen"),
        ("Which waste gas do humans breathe out?", "carbon dioxide"),
    ],
    "molecule": [
        ("Which green pigment do plants use to capture sunlight?", "chlorophyll"),
        ("Which molecule carries genetic information in cells?", "DNA"),
        ("Which protein in red blood cells carries oxygen?", "hemoglobin"),
        ("Which hormone lowers the level of sugar in the blood?", "insulin"),
        ("Which protein are hair and nails mostly made of?", "keratin"),
    ],
    "cell part": [
        ("Which part of a cell holds most of its DNA?", "nucleus"),
        ("Which part of a cell is called the powerhouse of the cell?", "mitochondria"),
        ("Which part of a plant cell carries out photosynthesis?", "chloroplast"),
        ("Which thin layer surrounds every animal cell?", "cell membrane"),
        ("Which part of a cell builds proteins?", "ribosome"),
    ],
    "blood": [
        ("Which blood cells carry oxygen around the body?", "red blood cells"),
        ("Which blood cells fight infections?", "white blood cells"),
        ("Which parts of the blood help it clot after a cut?", "platelets"),
        ("What is the liquid part of blood called?", "plasma"),
    ],
}
BIOLOGY_NUMBERS = [
    ("How many legs does a spider have?", 8),
    ("How many legs does an insect have?", 6),
    ("How many chambers does the human heart have?", 4),
    ("How many bones does an adult human skeleton usually have?", 206),
    ("How many teeth does an adult human usually have, counting wisdom teeth?", 32),
    ("How many pairs of chromosomes do humans usually have?", 23),
]


def biology(quiz: Quiz) -> list[Item]:
    items: list[Item] = []
    for facts in BIOLOGY.values():
        pool = [answer for _, answer in facts]
        if len(set(pool)) < 4:
            pool += ["nitrogen", "helium", "hydrogen"]  # the gas table is short
        items.extend(quiz.ask(stem, answer, pool) for stem, answer in facts)
    return items


def biology_numeric(rng: random.Random) -> list[Numeric]:
    return list(BIOLOGY_NUMBERS)


# --- geography ------------------------------------------------------------------------------

CAPITALS = [
    ("France", "Paris"),
    ("Germany", "Berlin"),
    ("Italy", "Rome"),
    ("Spain", "Madrid"),
    ("the United Kingdom", "London"),
    ("Japan", "Tokyo"),
    ("China", "Beijing"),
    ("Russia", "Moscow"),
    ("Egypt", "Cairo"),
    ("Greece", "Athens"),
    ("Canada", "Ottawa"),
    ("Australia", "Canberra"),
    ("India", "New Delhi"),
    ("Brazil", "Brasilia"),
    ("Mexico", "Mexico City"),
    ("Argentina", "Buenos Aires"),
    ("Portugal", "Lisbon"),
    ("Ireland", "Dublin"),
    ("Norway", "Oslo"),
    ("Sweden", "Stockholm"),
    ("Finland", "Helsinki"),
    ("Denmark", "Copenhagen"),
    ("Poland", "Warsaw"),
    ("Austria", "Vienna"),
    ("Hungary", "Budapest"),
    ("Belgium", "Brussels"),
    ("Turkey", "Ankara"),
    ("South Korea", "Seoul"),
    ("Thailand", "Bangkok"),
    ("Kenya", "Nairobi"),
    ("Peru", "Lima"),
    ("Cuba", "Havana"),
    ("the Philippines", "Manila"),
    ("Vietnam", "Hanoi"),
    ("Iran", "Tehran"),
    ("the Czech Republic", "Prague"),
    ("Saudi Arabia", "Riyadh"),
    ("New Zealand", "Wellington"),
    ("the United States", "Washington D.C."),
]
CONTINENTS = [
    ("Brazil", "South America"),
    ("Argentina", "South America"),
    ("Peru", "South America"),
    ("Egypt", "Africa"),
    ("Kenya", "Africa"),
    ("Nigeria", "Africa"),
    ("Japan", "Asia"),
    ("India", "Asia"),
    ("France", "Europe"),
    ("Germany", "Europe"),
    ("Canada", "North America"),
    ("Mexico", "North America"),
]


def geography(quiz: Quiz) -> list[Item]:
    capitals = [city for _, city in CAPITALS]
    items = [
        quiz.ask(f"What is the capital of {country}?", city, capitals) for country, city in CAPITALS
    ]
    continents = sorted({continent for _, continent in CONTINENTS})
    items += [
        quiz.ask(f"On which continent is {country}?", continent, continents)
        for country, continent in CONTINENTS
    ]
    return items


# --- history --------------------------------------------------------------------------------

YEARS = [
    ("In which year did World War II end?", 1945),
    ("In which year did World War II begin?", 1939),
    ("In which year did World War I begin?", 1914),
    ("In which year did World War I end?", 1918),
    ("In which year did Christopher Columbus first reach the Americas?", 1492),
    ("In which year did humans first land on the Moon?", 1969),
    ("In which year did the Berlin Wall fall?", 1989),
    ("In which year was the United States Declaration of Independence adopted?", 1776),
    ("In which year did the French Revolution begin?", 1789),
    ("In which year did the Titanic sink?", 1912),
    ("In which year was the Battle of Hastings fought?", 1066),
    ("In which year was Magna Carta sealed by King John?", 1215),
    ("In which year did the Soviet Union break up?", 1991),
    ("In which year did the September 11 attacks on the United States happen?", 2001),
    ("In which year did India become independent from Britain?", 1947),
    ("In which year did the American Civil War begin?", 1861),
    ("In which year did the American Civil War end?", 1865),
    ("In which year did the Russian October Revolution take place?", 1917),
    ("In which year did the Wright brothers make their first powered flight?", 1903),
    ("In which year was the Battle of Waterloo fought?", 1815),
    ("In which year did the Great Fire of London happen?", 1666),
    ("In which year did Nelson Mandela become President of South Africa?", 1994),
    ("In which year did euro notes and coins first come into use?", 2002),
    ("In which year did Yuri Gagarin become the first person in space?", 1961),
    ("In which year was the People's Republic of China founded?", 1949),
    ("In which year did the Wall Street Crash happen?", 1929),
    ("In which year were East and West Germany reunified?", 1990),
    ("In which year did Japan attack Pearl Harbor?", 1941),
    ("In which year did Martin Luther publish his Ninety-five Theses?", 1517),
    ("In which year did the Chernobyl nuclear disaster happen?", 1986),
    ("In which year did the first iPhone go on sale?", 2007),
    ("In which year did Queen Victoria become queen?", 1837),
    ("In which year did the Spanish Armada sail against England?", 1588),
    ("In which year did Constantinople fall to the Ottoman Turks?", 1453),
    ("In which year did Barack Obama first become President of the United States?", 2009),
]
PEOPLE = [
    ("Who was the first President of the United States?", "George Washington"),
    ("Who was the first person to walk on the Moon?", "Neil Armstrong"),
    ("Who was the first person to travel into space?", "Yuri Gagarin"),
    ("Who was the main author of the Declaration of Independence?", "Thomas Jefferson"),
    ("Who was the British Prime Minister for most of World War II?", "Winston Churchill"),
    ("Who led India's non-violent struggle for independence?", "Mahatma Gandhi"),
    ("Which French general crowned himself Emperor of the French in 1804?", "Napoleon"),
    ("Who was the first Roman emperor?", "Augustus"),
    ("Who led the 1492 voyage that reached the Americas?", "Christopher Columbus"),
    ("Who gave the 'I Have a Dream' speech in 1963?", "Martin Luther King Jr."),
    ("Who was President of the United States during the American Civil War?", "Abraham Lincoln"),
    ("Who was the first woman to win a Nobel Prize?", "Marie Curie"),
]


def history(quiz: Quiz) -> list[Item]:
    years = [str(year) for _, year in YEARS]
    items = [quiz.ask(stem, str(year), years) for stem, year in YEARS]
    people = [person for _, person in PEOPLE]
    items += [quiz.ask(stem, person, people) for stem, person in PEOPLE]
    return items


# --- assembly -------------------------------------------------------------------------------

NumericMaker = Callable[[random.Random], list[Numeric]]
ChoiceMaker = Callable[[Quiz], list[Item]]
CATEGORIES: list[tuple[str, str, list[NumericMaker], list[ChoiceMaker]]] = [
    ("arithmetic", "arith", [arithmetic], []),
    ("algebra", "alg", [algebra], []),
    ("unit_conversion", "unit", [unit_conversion], []),
    ("python_code", "py", [python_code], [python_types]),
    ("chemistry", "chem", [chemistry_numeric], [chemistry]),
    ("biology", "bio", [biology_numeric], [biology]),
    ("geography", "geo", [], [geography]),
    ("history", "hist", [], [history]),
]


def category_items(
    category: str, numeric: list[NumericMaker], choice: list[ChoiceMaker]
) -> list[Item]:
    rng = random.Random(f"starter-{category}")
    items: list[Item] = []
    for make in numeric:
        items += [Item(question, str(answer), category) for question, answer in make(rng)]
    quiz = Quiz(rng)
    for make_choice in choice:
        items += [Item(item.question, item.gold_answer, category) for item in make_choice(quiz)]
    questions = [item.question for item in items]
    if len(set(questions)) != len(questions):
        raise SystemExit(f"duplicate questions in {category}")
    return items


def split(
    category: str, prefix: str, items: list[Item]
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Half of a category's questions to validation and half to test, chosen by its seed."""
    records = [
        {
            "id": f"starter-{prefix}-{index:04d}",
            "question": item.question,
            "gold_answer": item.gold_answer,
            "category": category,
        }
        for index, item in enumerate(items)
    ]
    order = list(range(len(records)))
    random.Random(f"starter-split-{category}").shuffle(order)
    validation = sorted(order[: (len(order) + 1) // 2])
    test = sorted(order[(len(order) + 1) // 2 :])
    return [records[i] for i in validation], [records[i] for i in test]


def write_jsonl(path: Path, records: list[dict[str, str]]) -> None:
    lines = [json.dumps(record, ensure_ascii=False) + "\n" for record in records]
    path.write_bytes("".join(lines).encode("utf-8"))


def build(out: Path) -> dict[str, tuple[int, int]]:
    """Write both splits under ``out``; returns {category: (validation, test) counts}."""
    validation: list[dict[str, str]] = []
    test: list[dict[str, str]] = []
    counts: dict[str, tuple[int, int]] = {}
    for category, prefix, numeric, choice in CATEGORIES:
        part_validation, part_test = split(
            category, prefix, category_items(category, numeric, choice)
        )
        validation += part_validation
        test += part_test
        counts[category] = (len(part_validation), len(part_test))
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "validation.jsonl", validation)
    write_jsonl(out / "test.jsonl", test)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description="Build the starter suite.")
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write the splits to")
    counts = build(parser.parse_args().out)
    for category, (n_validation, n_test) in counts.items():
        print(f"{category:16} validation {n_validation:3}  test {n_test:3}")
    total = sum(a + b for a, b in counts.values())
    print(f"{'total':16} {total} questions")


if __name__ == "__main__":
    main()
