"""Answer extraction and grading: what a response answers, and whether it matches the gold.

Three kinds of answer are graded: a multiple-choice ``choice`` (a letter A-J), a ``number``
(commas, units, $, % and LaTeX fractions allowed) and free ``text``. Extraction takes the
last stated answer; comparison goes through :func:`canonical`, with math-verify as the
fallback for expressions (fractions, roots, powers) that plain number parsing cannot settle.

math-verify runs without its signal-based timeouts, so grading is safe from any thread; it only
sees short, plain expressions (see ``_safe_for_math_verify``) so that it cannot hang.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

AnswerKind = Literal["choice", "number", "text"]

_LETTERS = "ABCDEFGHIJ"
_REL_TOLERANCE = Fraction(1, 10**6)
_ABS_TOLERANCE = Fraction(1, 10**9)

# --- numbers -------------------------------------------------------------------------------

_NUMBER_BODY = (
    r"\\frac\{\s*-?\d+\s*\}\{\s*-?\d+\s*\}"  # \frac{3}{4}
    r"|\d+\s*/\s*\d+(?!\d|[.,]\d)"  # 3/4
    r"|\d{1,3}(?:,\d{3})+(?:\.\d+)?"  # 1,234.5
    r"|\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"  # 12, 0.5, 1e5
    r"|\.\d+"  # .5
)
_NUMBER_TOKEN = re.compile(rf"(?:(?<![\w)\]}}])-)?(?<![\w.])(?:{_NUMBER_BODY})")
_NUMBER_FULL = re.compile(
    rf"(?P<sign>[-+]?)\s*(?P<body>{_NUMBER_BODY})(?:\s*%|\s*[A-Za-zµ°²³/.][A-Za-zµ°²³/.\s]*)?"
)
_LATEX_NOISE = re.compile(r"\\[,;!: ]|\\left|\\right|\$")
_LATEX_WRAPPER = re.compile(r"\\(?:text|mathrm|textbf|mathbf)\s*\{([^{}]*)\}")


def _clean_latex(text: str) -> str:
    """Spacing, wrappers and variants gone: '\\dfrac{1}{2}\\text{ km}' -> '\\frac{1}{2} km'."""
    text = _LATEX_WRAPPER.sub(r"\1", text)
    text = _LATEX_NOISE.sub("", text)
    text = re.sub(r"\\[dt]frac", r"\\frac", text)
    text = text.replace("{,}", ",").replace("\\%", "%").replace("\u2212", "-")  # unicode minus
    return re.sub(r"\^\s*\{?\\circ\}?", "°", text)


def _body_value(body: str) -> Fraction | None:
    """The value of one number body as matched by ``_NUMBER_BODY``."""
    parts = re.findall(r"-?\d+", body) if ("/" in body or "frac" in body) else None
    try:
        if parts is not None:
            numerator, denominator = (int(part) for part in parts)
            return Fraction(numerator, denominator) if denominator else None
        return Fraction(body.replace(",", ""))
    except (ValueError, ZeroDivisionError):
        return None


def _parse_number(text: str) -> Fraction | None:
    """The value of a string that is one number, maybe with a sign, $, % or units; else None."""
    match = _NUMBER_FULL.fullmatch(_clean_latex(text).strip())
    if match is None:
        return None
    value = _body_value(match["body"])
    if value is not None and match["sign"] == "-":
        value = -value
    return value


def _format_number(value: Fraction) -> str:
    """'1234', '0.5', '-3'; a fraction whose decimal does not terminate stays 'p/q'."""
    if value.denominator == 1:
        return str(value.numerator)
    denominator, places = value.denominator, 0
    while denominator % 2 == 0 or denominator % 5 == 0:
        denominator //= 2 if denominator % 2 == 0 else 5
        places += 1
    if denominator != 1:
        return f"{value.numerator}/{value.denominator}"
    scaled = abs(value) * 10**places
    digits = str(scaled.numerator).rjust(places + 1, "0")
    text = f"{digits[:-places]}.{digits[-places:]}".rstrip("0").rstrip(".")
    return f"-{text}" if value < 0 else text


def _close(a: Fraction, b: Fraction) -> bool:
    """Equal up to a small relative tolerance (or a tiny absolute one near zero)."""
    return abs(a - b) <= max(_ABS_TOLERANCE, _REL_TOLERANCE * max(abs(a), abs(b)))


# --- boxed and anchored answers --------------------------------------------------------------

_BOX_START = re.compile(r"\\(?:boxed|fbox)\s*\{")
_ANSWER_ANCHOR = re.compile(
    r"\banswer\s*(?:is|:|=|would be|will be|should be)?\s*:?|####", re.IGNORECASE
)
_SEGMENT_END = re.compile(r"\.(?=\s|$)|\n")
_SEGMENT_CHARS = 200  # an answer is stated in a short sentence


def _boxed(text: str) -> list[tuple[int, str]]:
    """(position, content) of every outermost \\boxed{...}, with nested braces balanced."""
    found: list[tuple[int, str]] = []
    index = 0
    for start in _BOX_START.finditer(text):
        if start.start() < index:
            continue  # a box inside the previous box
        depth, index = 1, start.end()
        while index < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[index], 0)
            index += 1
        if depth == 0:
            found.append((start.start(), text[start.end() : index - 1].strip()))
    return found


def _anchored_segments(text: str) -> Iterator[str]:
    """The text after each 'answer is'/'Answer:' anchor up to the sentence end, last first."""
    for anchor in reversed(list(_ANSWER_ANCHOR.finditer(text))):
        rest = text[anchor.end() : anchor.end() + _SEGMENT_CHARS]
        end = _SEGMENT_END.search(rest)
        yield rest[: end.start()] if end else rest


# --- choice letters ----------------------------------------------------------------------------

_CHOICE_ANCHOR = re.compile(
    r"\b(?:answer\s*(?:is|:|=|would be|will be|should be)?|(?:option|choice)\s*(?:is|:))"
    r"\s*:?\s*(?:\*\*\s*)?(?:option|choice|letter)?\s*:?\s*",
    re.IGNORECASE,
)
_ANCHORED_LETTER = re.compile(
    r"\(([A-Ja-j])\)"  # (C) or (c)
    r"|\*\*\(?([A-J])(?:\)|\.|:)?\*\*"  # **C**, **(C)**, **C.**
    r"|\*\*\(?([A-J])[).:]"  # **C) Paris**
    r"|\[([A-J])\]"  # [C]
    r"|([A-J])(?=[.,;:!?)*]|\s*$|\s*\n|\s+(?:because|since|as|which)\b|\s*[-\u2013\u2014]\s)"  # C.
    r"|([a-j])(?=[.!]?\s*(?:$|\n))"  # c (only at the end of a line)
)
_LOOSE_LETTER = re.compile(
    r"\(([A-J])\)"  # (C) anywhere
    r"|\*\*\(?([A-J])(?:[).:]|\*\*)"  # **C** or **C) ...
    r"|^[ \t]*([A-J])[).](?:\s|$)"  # 'C) Paris' or 'C. Paris' at a line start
    r"|^[ \t]*([A-J])[ \t]*$"  # a letter alone on its line
    r"|\b(?:option|choice)\s+\(?([A-J])\b(?!')",  # option C
    re.MULTILINE | re.IGNORECASE,
)
_OPTION_SPLIT = re.compile(r"\(([A-J])\)")
_GOLD_LETTER = re.compile(r"\s*\(?([A-J])\)?\s*")
_LINE_OPTION = re.compile(r"^[ \t]*\(?([A-J])[).:][ \t]+\S", re.MULTILINE)


def _is_option_echo(line: str) -> bool:
    """A line that repeats the options '(A) x (B) y ...' states no answer by itself."""
    start = line.find("(A)")
    return start >= 0 and line.find("(B)", start) >= 0


def _letter_of(match: re.Match[str]) -> str:
    return next(group for group in match.groups() if group).upper()


def _box_letter(content: str) -> str | None:
    content = _clean_latex(content).strip().strip("()*. ")
    return content.upper() if len(content) == 1 and content.upper() in _LETTERS else None


def _anchored_letters(text: str) -> Iterator[tuple[int, str]]:
    """(position, letter) for letters stated after an anchor or inside \\boxed{}."""
    for anchor in _CHOICE_ANCHOR.finditer(text):
        letter = _ANCHORED_LETTER.match(text, anchor.end())
        if letter is not None:
            yield anchor.start(), _letter_of(letter)
    for position, content in _boxed(text):
        boxed = _box_letter(content)
        if boxed is not None:
            yield position, boxed


def _loose_letters(text: str) -> Iterator[tuple[int, str]]:
    """(position, letter) for unanchored forms; echoed option lists are skipped."""
    lines = text.split("\n")
    text = "\n".join(" " * len(line) if _is_option_echo(line) else line for line in lines)
    for match in _LOOSE_LETTER.finditer(text):
        letter = next(group for group in match.groups() if group)
        if letter.isupper():
            yield match.start(), letter


def _extract_choice(text: str) -> str | None:
    for candidates in (_anchored_letters(text), _loose_letters(text)):
        found = max(candidates, default=None)
        if found is not None:
            return found[1]
    return None


def parse_options(question: str) -> dict[str, str]:
    """The options of 'The options are: (A) x (B) y ...' as {'A': 'x', ...}; {} if none."""
    tail = re.split(r"options are\s*:?", question, flags=re.IGNORECASE)[-1]
    parts = _OPTION_SPLIT.split(tail)
    letters, texts = parts[1::2], parts[2::2]
    if len(letters) < 2 or "".join(letters) != _LETTERS[: len(letters)]:
        return {}
    return {letter: text.strip().rstrip(",;") for letter, text in zip(letters, texts, strict=True)}


def _option_letter(answer: str, options: dict[str, str]) -> str | None:
    """The letter whose option text equals ``answer`` (ignoring case and punctuation)."""
    wanted = _normalise_text(answer)
    matches = [letter for letter, text in options.items() if _normalise_text(text) == wanted]
    return matches[0] if len(matches) == 1 else None


def _mentioned_option(response: str, options: dict[str, str]) -> str | None:
    """The one option whose text the response names, when it names exactly one."""
    named = [letter for letter, text in options.items() if text and _names(response, text)]
    return named[0] if len(named) == 1 else None


def _names(response: str, text: str) -> bool:
    """Whether ``text`` occurs as a whole word; short texts match case ('He' is not 'he')."""
    flags = 0 if len(text) <= 3 else re.IGNORECASE
    return re.search(rf"(?<!\w){re.escape(text)}(?!\w)", response, flags) is not None


# --- numbers and text in responses ---------------------------------------------------------------


def _first_number(segment: str) -> str | None:
    """The number a segment states: the one after its last '=', else its first one; a leading
    expression ('2^{10}', '\\sqrt{2}') is the answer as a whole, not its first number."""
    tail = segment.rsplit("=", 1)[-1] if "=" in segment else segment
    expression = _leading_expression(tail)
    if expression is not None:
        return canonical(expression, "number")
    for token in _NUMBER_TOKEN.finditer(_clean_latex(tail)):
        value = _parse_number(token.group())
        if value is not None:
            return _format_number(value)
    return None


def _extract_number(text: str) -> str | None:
    boxes = _boxed(text)
    boxed = canonical(boxes[-1][1].rsplit("=", 1)[-1], "number") if boxes else ""
    if boxed:
        return boxed
    for segment in _anchored_segments(text):
        number = _first_number(segment)
        if number is not None:
            return number
    values = [_parse_number(token.group()) for token in _NUMBER_TOKEN.finditer(_clean_latex(text))]
    found = [value for value in values if value is not None]
    return _format_number(found[-1]) if found else None


def _strip_answer(text: str) -> str:
    return text.strip().strip("*_`\"' ").rstrip(".").strip()


def _extract_text(text: str) -> str | None:
    boxes = _boxed(text)
    if boxes:
        return _strip_answer(_clean_latex(boxes[-1][1])) or None
    for segment in _anchored_segments(text):
        if _strip_answer(segment):
            return _strip_answer(segment)
    lines = [_strip_answer(line) for line in text.splitlines()]
    return next((line for line in reversed(lines) if line), None)


def _normalise_text(text: str) -> str:
    """Lower case, single spaces, no punctuation at word edges ('3.5' keeps its point)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"(?<!\w)[^\w\s]+|[^\w\s]+(?!\w)", " ", text)
    return " ".join(text.split())


# --- math-verify ---------------------------------------------------------------------------------

_MV_ALLOWED = re.compile(r"[\w\s+\-*/^(){}\[\].,=<>|\\%]*")
_MV_COMMANDS = frozenset(
    {"frac", "sqrt", "pi", "cdot", "times", "div", "infty", "le", "ge", "leq", "geq", "neq"}
)
_MV_LOGGERS = ("math_verify.parser", "math_verify.grader")
_MATH_OPERATOR = re.compile(r"\^|\*|\\(?:frac|sqrt|cdot|times|div)\b")
_EXPRESSION_HEAD = re.compile(r"(?:\\[A-Za-z]+|[\d\s+\-*/^(){}.])+")


def _drop_timeout_notice(record: logging.LogRecord) -> bool:
    """Drops math-verify's 'Timeout is disabled' notice: we turn the timeout off on purpose."""
    return not record.getMessage().startswith("Timeout is disabled")


@functools.cache
def _math_verify() -> tuple[Callable[..., list[object]], Callable[..., bool]]:
    """math-verify's parse and verify, imported on first use (it pulls in sympy)."""
    from math_verify import parse, verify

    for name in _MV_LOGGERS:
        logging.getLogger(name).addFilter(_drop_timeout_notice)
    return parse, verify


def _safe_for_math_verify(expression: str) -> bool:
    """Short, plain arithmetic only: sympy would hang on '9^{9^{9^9}}' or '(10^6)!'."""
    commands = set(re.findall(r"\\([A-Za-z]+)", expression))
    exponents = re.findall(r"\^\s*\{?\s*(\d+)", expression)
    return (
        0 < len(expression) <= 120
        and _MV_ALLOWED.fullmatch(expression) is not None
        and commands <= _MV_COMMANDS
        and expression.count("^") <= 1
        and all(int(exponent) <= 1000 for exponent in exponents)
        and re.search(r"\d{16,}", expression) is None
    )


def _math_equal(predicted: str, gold: str) -> bool:
    """math-verify's verdict on two short expressions, without signal-based timeouts."""
    predicted, gold = _clean_latex(predicted).strip(), _clean_latex(gold).strip()
    if not (_safe_for_math_verify(predicted) and _safe_for_math_verify(gold)):
        return False
    parse, verify = _math_verify()
    parsed_gold = parse(f"${gold}$", parsing_timeout=None)
    parsed_predicted = parse(f"${predicted}$", parsing_timeout=None)
    if not parsed_gold or not parsed_predicted:
        return False
    return bool(verify(parsed_gold, parsed_predicted, timeout_seconds=None))


def _math_value(expression: str) -> Fraction | None:
    """The exact value of a short closed form ('2^{10}', '3 \\cdot 5'), via math-verify; None
    for anything else (plain numbers, irrational values, text)."""
    expression = _clean_latex(expression).strip()
    if _MATH_OPERATOR.search(expression) is None or not _safe_for_math_verify(expression):
        return None
    parse, _ = _math_verify()
    parsed = parse(f"${expression}$", parsing_timeout=None)
    value = parsed[0].doit() if parsed and hasattr(parsed[0], "doit") else None
    if not (getattr(value, "is_Rational", False) or getattr(value, "is_Float", False)):
        return None
    return Fraction(str(value))


def _leading_expression(segment: str) -> str | None:
    """The math expression a segment starts with, when it has an operator (not '1-2 hours')."""
    head = _EXPRESSION_HEAD.match(_clean_latex(segment).strip())
    expression = head.group().strip().rstrip(".").strip() if head else ""
    if _MATH_OPERATOR.search(expression) is None or not _safe_for_math_verify(expression):
        return None
    return expression


def _looks_mathematical(text: str) -> bool:
    """Worth a math-verify check: has a digit or a LaTeX command ('Paris' is not: P*a*r*i*s)."""
    return re.search(r"\d|\\[A-Za-z]", text) is not None


# --- public API ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grade:
    """What a response answered (canonical form, None if nothing) and whether it is right."""

    answer: str | None
    correct: bool


def answer_kind(gold: str, question: str = "") -> AnswerKind:
    """'choice' for a letter gold or a question with options, 'number' for a number, else 'text'."""
    if _GOLD_LETTER.fullmatch(gold):
        return "choice"
    options = parse_options(question)
    if options and _option_letter(gold, options) is not None:
        return "choice"
    if _parse_number(gold) is not None:
        return "number"
    return "text"


_ASKS_NUMBER = re.compile(
    r"\bhow\s+(?:many|much|long|far|old|tall|fast)\b"
    r"|\b(?:calculate|compute|evaluate|simplify|solve)\b"
    r"|\b(?:what|which)\s+(?:year|number)\b|\bin\s+(?:what|which)\s+year\b"
    r"|\batomic\s+number\b|\bfind\s+the\s+(?:value|number|sum|product)\b"
    r"|\\boxed|\\frac"
    r"|\d\s*(?:[-+*/^\u00d7\u00f7]|times|plus|minus|divided\s+by|multiplied\s+by)\s*\(?-?\d",
    re.IGNORECASE,
)


def question_kind(question: str) -> AnswerKind:
    """The kind of answer ``question`` asks for, from its text alone, so that a served question
    (no gold) and a graded one are read alike: 'choice' when it lists options, 'number' when
    it asks for a count, an amount, a year or a calculation, else 'text'."""
    if parse_options(question) or _lists_options(question):
        return "choice"
    return "number" if _ASKS_NUMBER.search(question) else "text"


def _lists_options(question: str) -> bool:
    """Options one per line, 'A) x' or 'A. x', lettered from A."""
    letters = "".join(match[1] for match in _LINE_OPTION.finditer(question))
    return len(letters) >= 2 and letters == _LETTERS[: len(letters)]


def extract_answer(text: str, kind: AnswerKind) -> str | None:
    """The last answer ``text`` states, in canonical form; None when it states none."""
    if kind == "choice":
        return _extract_choice(text)
    if kind == "number":
        return _extract_number(text)
    return _extract_text(text)


def canonical(answer: str, kind: AnswerKind) -> str:
    """The form answers are compared and voted in: '1,000' and '1000.0' both give '1000'."""
    if kind == "choice":
        return _box_letter(answer) or answer.strip()
    if kind == "number":
        value = _parse_number(answer)
        value = _math_value(answer) if value is None else value
        return _format_number(value) if value is not None else "".join(_clean_latex(answer).split())
    return _normalise_text(answer)


def is_equivalent(predicted: str | None, gold: str, kind: AnswerKind) -> bool:
    """Whether ``predicted`` means the same answer as ``gold``; None never does."""
    if predicted is None or not predicted.strip():
        return False
    if kind == "choice":
        return canonical(predicted, kind) == canonical(gold, kind)
    predicted_value, gold_value = _parse_number(predicted), _parse_number(gold)
    if predicted_value is not None and gold_value is not None:
        return _close(predicted_value, gold_value)
    if kind == "text" and canonical(predicted, kind) == canonical(gold, kind):
        return True
    if kind == "text" and not (_looks_mathematical(predicted) and _looks_mathematical(gold)):
        return False
    return _math_equal(predicted, gold)


def grade(response: str, gold: str, question: str = "") -> Grade:
    """Extract the answer of ``response`` and check it against ``gold``; the kind of answer
    comes from the question as serving reads it (from the gold when there is no question)."""
    kind = question_kind(question) if question else answer_kind(gold)
    options = parse_options(question) if kind == "choice" else {}
    if options and not _GOLD_LETTER.fullmatch(gold):
        gold = _option_letter(gold, options) or gold
    answer = extract_answer(response, kind)
    if answer is None and options:
        answer = _mentioned_option(response, options)
    return Grade(answer=answer, correct=is_equivalent(answer, gold, kind))


def majority(answers: Sequence[str | None], kind: AnswerKind) -> str | None:
    """The most common canonical answer, ignoring None; a tie goes to the first seen."""
    votes = [canonical(answer, kind) for answer in answers if answer is not None]
    counts = Counter(vote for vote in votes if vote)
    if not counts:
        return None
    best = max(counts.values())
    return next(vote for vote in votes if counts.get(vote) == best)
