"""Answer extraction and grading: a table of tricky responses, then canonical forms and votes."""

from __future__ import annotations

import threading

import pytest

from router_svc.questions.grading import (
    Grade,
    answer_kind,
    canonical,
    extract_answer,
    grade,
    is_equivalent,
    majority,
    parse_options,
    question_kind,
)

CAPITAL = "What is the capital of France? The options are: (A) Berlin (B) Paris (C) Rome (D) Madrid"
SYMBOL = "Which element is C? The options are: (A) helium (B) iron (C) carbon (D) gold"
HELIUM = "Symbol of helium? The options are: (A) He (B) Fe (C) Au (D) Ne"

# (response, gold, question, expected answer, expected correct)
CASES = [
    # --- multiple choice: the stated forms
    ("The answer is (C).", "C", "", "C", True),
    ("answer: C", "C", "", "C", True),
    ("C) Rome", "C", "", "C", True),
    ("**C**", "C", "", "C", True),
    ("Answer: C.", "C", "", "C", True),
    ("The correct option is (b)", "B", "", "B", True),
    ("Final answer: **(D)**", "D", "", "D", True),
    ("I think the answer is b", "B", "", "B", True),
    ("So we get $\\boxed{B}$.", "(B)", "", "B", True),
    ("The answer is A because cats purr.", "A", "", "A", True),
    ("Option D is what I pick.", "D", "", "D", True),
    ("B", "B", CAPITAL, "B", True),
    ("The answer is (B) Paris.", "B", CAPITAL, "B", True),
    ("**Answer: C**", "C", "", "C", True),
    ("**Answer:** C", "C", "", "C", True),
    ("**Final Answer: (D)**", "D", "", "D", True),
    ("The answer is C", "B", CAPITAL, "C", False),
    # --- multiple choice: the last stated answer wins
    ("The answer is (B). Wait, no: the answer is (C).", "C", "", "C", True),
    ("Answer: A\nHmm, let me check again.\nAnswer: D", "A", "", "D", False),
    ("(A) is wrong; the correct answer is (B).", "B", "", "B", True),
    # --- multiple choice: the article 'A' and other prose is not an answer
    ("A cat is an animal.", "A", "", None, False),
    ("A good answer needs thought.", "A", "", None, False),
    ("The answer is A cat.", "A", "", None, False),
    ("I am not sure about this one.", "I", "", None, False),
    ("A cat is an animal. The answer is B", "B", "", "B", True),
    ("Q: What is it?\nA: The capital is Paris.", "B", CAPITAL, "B", True),
    # --- multiple choice: echoed options are skipped; option text names the letter
    ("The options are: (A) Berlin (B) Paris (C) Rome (D) Madrid", "B", CAPITAL, None, False),
    ("(A) Berlin (B) Paris (C) Rome (D) Madrid\nThe answer is B", "B", CAPITAL, "B", True),
    ("The capital of France is Paris.", "B", CAPITAL, "B", True),
    ("Paris", "Paris", CAPITAL, "B", True),
    ("It is carbon.", "C", SYMBOL, "C", True),
    ("he is sure", "A", HELIUM, None, False),
    # --- numbers: boxed, nested boxed, last box wins
    ("The answer is $\\boxed{42}$.", "42", "", "42", True),
    ("\\boxed{\\boxed{1} + \\frac{1}{2}} and finally \\boxed{7}", "7", "", "7", True),
    ("First \\boxed{3}, then \\boxed{5}", "3", "", "5", False),
    ("\\boxed{x = 12}", "12", "", "12", True),
    ("\\boxed{5 \\text{ km}}", "5", "", "5", True),
    # --- numbers: anchored answers, commas, units, $ and %
    ("The answer is 1,234 km.", "1234", "", "1234", True),
    ("It costs $1,200.50 in total.", "1200.5", "", "1200.5", True),
    ("Half of them, so 50%.", "50", "", "50", True),
    ("The answer is 2 + 3 = 5.", "5", "", "5", True),
    ("The answer is 12 because 3 times 4 is 12.", "12", "", "12", True),
    ("The answer is 7. Next question: what is 2 + 9?", "7", "", "7", True),
    ("#### 18", "18", "", "18", True),
    ("The answer is 1000.0", "1,000", "", "1000", True),
    ("The answer is 4.", "4.0", "", "4", True),
    # --- numbers: last number in the text otherwise; negatives and subtraction
    ("First 3, then 4, so 9", "9", "", "9", True),
    ("x = -3", "-3", "", "-3", True),
    ("10 - 3 = 7", "7", "", "7", True),
    ("We get 5 -3", "-3", "", "-3", True),
    ("The temperature is -4.5 degrees", "-4.5", "", "-4.5", True),
    ("I have no idea.", "4", "", None, False),
    ("", "4", "", None, False),
    # --- numbers: fractions and decimals, LaTeX, and math-verify for expressions
    ("The answer is 3/4.", "0.75", "", "0.75", True),
    ("\\boxed{\\dfrac{1}{2}}", "0.5", "", "0.5", True),
    ("The answer is 0.5", "\\frac{1}{2}", "", "0.5", True),
    ("So 2/6 of them", "1/3", "", "1/3", True),
    ("About 0.333333", "1/3", "", "0.333333", True),
    ("About 0.33", "1/3", "", "0.33", False),
    ("\\boxed{2^{3}}", "8", "", "8", True),
    ("\\boxed{\\sqrt{16}}", "4", "", "4", True),
    ("\\boxed{\\frac{1}{\\sqrt{4}}}", "0.5", "", "0.5", True),
    ("The answer is 2^{10}", "1024", "", "1024", True),
    ("The answer is $2^{10}$.", "1024", "", "1024", True),
    ("The answer is 2^{10} ways.", "1024", "", "1024", True),
    ("The answer is 3 \\cdot 5 = 15.", "15", "", "15", True),
    ("The answer is 2^{10}", "1000", "", "1024", False),
    ("The answer is \\sqrt{2}.", "1.41421356", "", "\\sqrt{2}", True),
    ("\\boxed{9^{9^{9^{9}}}}", "4", "", "9^{9^{9^{9}}}", False),
    # --- free text
    ("The answer is Paris.", "paris", "", "Paris", True),
    ("Thinking...\n\nMount Everest\n", "mount everest", "", "Mount Everest", True),
    ("Answer: **New   York**", "new york!", "", "New   York", True),
    ("\\boxed{\\frac{\\sqrt{2}}{2}}", "\\sqrt{2}/2", "", "\\frac{\\sqrt{2}}{2}", True),
    ("\\boxed{x^2+1}", "1 + x^2", "", "x^2+1", True),
    ("The answer is Pairs", "Paris", "", "Pairs", False),
    ("   \n  ", "Paris", "", None, False),
]


@pytest.mark.parametrize(("response", "gold", "question", "answer", "correct"), CASES)
def test_grade(response: str, gold: str, question: str, answer: str | None, correct: bool) -> None:
    assert grade(response, gold, question) == Grade(answer=answer, correct=correct)


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 45


@pytest.mark.parametrize(
    ("gold", "question", "kind"),
    [
        ("C", "", "choice"),
        ("(C)", "", "choice"),
        ("Paris", CAPITAL, "choice"),
        ("B", CAPITAL, "choice"),
        ("42", "", "number"),
        ("1,234 km", "", "number"),
        ("-3", "", "number"),
        ("0.5", "", "number"),
        ("3/4", "", "number"),
        ("\\frac{3}{4}", "", "number"),
        ("$12", "", "number"),
        ("Paris", "", "text"),
        ("x^2 + 1", "", "text"),
        ("Lyon", CAPITAL, "text"),
        ("K", "", "text"),
    ],
)
def test_answer_kind(gold: str, question: str, kind: str) -> None:
    assert answer_kind(gold, question) == kind


GASES = "Which gas makes up most of the air? The options are: (A) Oxygen (B) Nitrogen (C) Argon"


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        (GASES, "choice"),
        (CAPITAL, "choice"),
        ("Which gas is inert?\nA) Oxygen\nB) Argon\nC) Hydrogen", "choice"),
        ("Which gas is inert?\nA. Oxygen\nB. Argon", "choice"),
        ("Pick one: (A) yes (B) no", "choice"),
        ("What is 2 + 2?", "number"),
        ("What is 10 times 6?", "number"),
        ("How many centimetres are in 7 metres?", "number"),
        ("Solve for x: x + 2 = 10. What is x?", "number"),
        ("In which year did World War II end?", "number"),
        ("What is the atomic number of carbon?", "number"),
        ("What does this Python code print? print(9 * 5)", "number"),
        ("What is the capital of France?", "text"),
        ("Which letter comes after B?", "text"),
        ("A cat sat.\nB is a letter.", "text"),
    ],
)
def test_question_kind(question: str, kind: str) -> None:
    """The kind comes from the question alone: a served question (no gold) reads as a graded
    one does, so a served math question is compared as a number."""
    assert question_kind(question) == kind


def test_a_served_choice_question_lets_every_letter_form_agree() -> None:
    kind = question_kind(GASES)
    answers = [extract_answer(text, kind) for text in ("(B)", "B", "(B) Nitrogen")]
    assert answers == ["B", "B", "B"]
    assert majority(answers, kind) == "B"


@pytest.mark.parametrize(
    ("answer", "kind", "expected"),
    [
        ("1,000", "number", "1000"),
        ("1000.0", "number", "1000"),
        ("-0", "number", "0"),
        ("0.50", "number", "0.5"),
        ("3/4", "number", "0.75"),
        ("2/6", "number", "1/3"),
        ("\\dfrac{1}{2}", "number", "0.5"),
        ("1.5e3", "number", "1500"),
        ("12 km", "number", "12"),
        ("\\sqrt{2}", "number", "\\sqrt{2}"),
        ("2^{10}", "number", "1024"),
        ("10^{-3}", "number", "0.001"),
        ("(c)", "choice", "C"),
        ("**B**", "choice", "B"),
        ("  New   York! ", "text", "new york"),
        ("3.5", "text", "3.5"),
    ],
)
def test_canonical(answer: str, kind: str, expected: str) -> None:
    assert canonical(answer, kind) == expected  # type: ignore[arg-type]


def test_extract_answer_returns_canonical_strings() -> None:
    assert extract_answer("The answer is (c)", "choice") == "C"
    assert extract_answer("Total: $1,234.50", "number") == "1234.5"
    assert extract_answer("The answer is: Blue whale.", "text") == "Blue whale"
    assert extract_answer("no letters here", "choice") is None


def test_is_equivalent() -> None:
    assert is_equivalent("1000", "1,000.0", "number")
    assert is_equivalent("3.1415927", "3.14159265", "number")
    assert not is_equivalent("3.14", "3.14159265", "number")
    assert is_equivalent("\\frac{6}{8}", "0.75", "number")
    assert is_equivalent("c", "(C)", "choice")
    assert not is_equivalent(None, "C", "choice")
    assert not is_equivalent("", "0", "number")
    assert is_equivalent("the Nile", "The Nile.", "text")


def test_parse_options() -> None:
    assert parse_options(CAPITAL) == {"A": "Berlin", "B": "Paris", "C": "Rome", "D": "Madrid"}
    assert parse_options("What is 2 + 2?") == {}
    assert parse_options("Pick (B) or (C)") == {}


def test_majority_votes_on_canonical_forms() -> None:
    assert majority(["1,000", "5", "1000.0", None, "5", "1000"], "number") == "1000"
    assert majority(["0.5", "1/2", "2/4", "3"], "number") == "0.5"
    assert majority(["2^{10}", "1024", "1000", "1000"], "number") == "1024"
    assert majority(["(b)", "C", "B"], "choice") == "B"
    assert majority(["Paris ", "paris.", "Rome"], "text") == "paris"


def test_majority_ties_go_to_the_first_seen() -> None:
    assert majority(["B", "C", "C", "B"], "choice") == "B"
    assert majority(["7", "3"], "number") == "7"


def test_majority_of_nothing_is_none() -> None:
    assert majority([], "number") is None
    assert majority([None, None], "choice") is None


def test_math_verify_runs_outside_the_main_thread() -> None:
    results: list[bool] = []
    errors: list[BaseException] = []

    def check() -> None:
        try:
            results.append(is_equivalent("\\frac{\\sqrt{2}}{2}", "\\sqrt{2}/2", "text"))
            results.append(grade("\\boxed{\\sqrt{16}}", "4").correct)
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=check)
    worker.start()
    worker.join()
    assert errors == []
    assert results == [True, True]


def test_math_verify_logs_no_timeout_notice(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """math-verify warns once per process that its timeout is off; we drop that notice."""
    import math_verify.grader
    import math_verify.parser

    monkeypatch.setattr(math_verify.parser, "TIMEOUT_WARNING_SHOWN", False)
    monkeypatch.setattr(math_verify.grader, "TIMEOUT_WARNING_SHOWN", False)
    assert is_equivalent("\\sqrt{9}", "3", "number")
    assert [record.getMessage() for record in caplog.records] == []
    assert math_verify.parser.TIMEOUT_WARNING_SHOWN  # the notice was raised, and filtered
