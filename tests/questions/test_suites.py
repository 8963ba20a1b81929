"""Suite loading: malformed files fail with file and line; the shipped starter suite is sound."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from router_svc.errors import DataError
from router_svc.questions.grading import answer_kind, grade, parse_options
from router_svc.questions.suites import Suite, dataset_hash, load_questions, load_suite
from router_svc.types import Question

ROOT = Path(__file__).resolve().parents[2]
SUITES = ROOT / "eval" / "suites"
STARTER_CATEGORIES = {
    "arithmetic",
    "algebra",
    "unit_conversion",
    "chemistry",
    "biology",
    "geography",
    "history",
    "python_code",
}


def record(id: str | int, question: str = "What is 1 + 1?", gold: str = "2") -> str:
    return json.dumps({"id": id, "question": question, "gold_answer": gold})


def write(path: Path, *lines: str) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def make_suite(root: Path, name: str, validation: list[str], test: list[str]) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    write(folder / "validation.jsonl", *validation)
    write(folder / "test.jsonl", *test)
    return folder


# --- load_questions -----------------------------------------------------------------------------


def test_load_questions_reads_jsonl(tmp_path: Path) -> None:
    path = write(
        tmp_path / "q.jsonl",
        record("a"),
        "",
        '{"id": 7, "question": "Capital of Peru?", "gold_answer": "Lima", "category": "geo",'
        ' "source": "hand"}',
    )
    assert load_questions(path) == [
        Question("a", "What is 1 + 1?", "2", None),
        Question("7", "Capital of Peru?", "Lima", "geo"),
    ]


def test_numeric_gold_answers_become_strings(tmp_path: Path) -> None:
    path = write(tmp_path / "q.jsonl", '{"id": "n", "question": "Half of 1?", "gold_answer": 0.5}')
    assert load_questions(path)[0].gold_answer == "0.5"


def test_invalid_json_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.jsonl", record("a"), record("b"), '{"id": "c", "question": ')
    with pytest.raises(DataError, match=r"bad\.jsonl line 3: invalid JSON: Expecting value"):
        load_questions(path)


def test_missing_field_names_file_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path / "test.jsonl", record("a"), '{"id": "b", "gold_answer": "1"}')
    with pytest.raises(DataError, match=r"test\.jsonl line 2: missing field 'question'$"):
        load_questions(path)


def test_wrong_field_type_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path / "q.jsonl", '{"id": "a", "question": ["x"], "gold_answer": "1"}')
    with pytest.raises(DataError, match=r"q\.jsonl line 1: field 'question': .*valid string"):
        load_questions(path)


def test_a_line_that_is_not_an_object_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path / "q.jsonl", record("a"), "42")
    with pytest.raises(DataError, match=r"line 2: expected a JSON object, got int"):
        load_questions(path)


def test_duplicate_ids_are_reported_with_both_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "q.jsonl", record("a"), record("b"), record("a"))
    with pytest.raises(DataError, match=r"line 3: duplicate id 'a' \(first on line 1\)"):
        load_questions(path)


def test_int_and_string_ids_collide(tmp_path: Path) -> None:
    path = write(tmp_path / "q.jsonl", record(5), record("5"))
    with pytest.raises(DataError, match="duplicate id '5'"):
        load_questions(path)


def test_json_list_form(tmp_path: Path) -> None:
    items = [json.loads(record("a")), json.loads(record(2, "Capital of Peru?", "Lima"))]
    path = tmp_path / "list.jsonl"
    path.write_text("  \n" + json.dumps(items, indent=2), encoding="utf-8")
    assert [q.id for q in load_questions(path)] == ["a", "2"]


def test_json_list_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text('[\n  {"id": "a", "question": "q", "gold_answer": "1"},\n  {"id": "b"}\n]\n')
    with pytest.raises(DataError, match=r"list\.json line 3: missing field 'question'"):
        load_questions(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[{"id": "a", "question": "q", "gold_answer": "1"}', "not closed"),
        ('[{"id": "a", "question": "q", "gold_answer": "1"},]', "trailing comma"),
        ('[{"id": "a", "question": "q", "gold_answer": "1"} {"id": "b"}]', "expected ','"),
        ('[{"id": "a", "question": "q", "gold_answer": "1"}] extra', "not closed"),
        ('[\n\n{"id": "a", "question": }]', r"line 3: invalid JSON: Expecting value"),
    ],
)
def test_malformed_json_lists(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "list.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        load_questions(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.jsonl: no such file"):
        load_questions(tmp_path / "nope.jsonl")


# --- load_suite ---------------------------------------------------------------------------------


def test_load_suite_by_name_and_by_path(tmp_path: Path) -> None:
    folder = make_suite(tmp_path, "mini", [record("v1"), record("v2")], [record("t1")])
    by_name = load_suite("mini", root=tmp_path)
    assert by_name == Suite(
        name="mini",
        path=folder,
        validation=[Question("v1", "What is 1 + 1?", "2"), Question("v2", "What is 1 + 1?", "2")],
        test=[Question("t1", "What is 1 + 1?", "2")],
    )
    assert load_suite(folder) == by_name
    assert load_suite(str(folder)) == by_name


def test_unknown_suite_lists_known_ones_and_suggests_the_closest(tmp_path: Path) -> None:
    make_suite(tmp_path, "starter", [record("v")], [record("t")])
    make_suite(tmp_path, "chemistry", [record("v")], [record("t")])
    message = r"no suite named 'startr' .*known: chemistry, starter\. Did you mean 'starter'\?"
    with pytest.raises(DataError, match=message):
        load_suite("startr", root=tmp_path)


def test_unknown_suite_without_a_close_match(tmp_path: Path) -> None:
    make_suite(tmp_path, "starter", [record("v")], [record("t")])
    with pytest.raises(DataError, match=r"known: starter$"):
        load_suite("zzz", root=tmp_path)


def test_load_suite_validates_both_files_before_returning(tmp_path: Path) -> None:
    make_suite(tmp_path, "broken", [record("v")], [record("t"), '{"id": "u", "question": "q"}'])
    with pytest.raises(DataError, match=r"broken/test\.jsonl line 2: missing field 'gold_answer'"):
        load_suite("broken", root=tmp_path)


def test_a_split_file_may_not_be_missing_or_empty(tmp_path: Path) -> None:
    folder = tmp_path / "half"
    folder.mkdir()
    write(folder / "validation.jsonl", record("v"))
    with pytest.raises(DataError, match=r"half/test\.jsonl: no such file"):
        load_suite(folder)
    write(folder / "test.jsonl", "")
    with pytest.raises(DataError, match=r"half/test\.jsonl: no questions"):
        load_suite(folder)


def test_ids_may_not_be_shared_between_splits(tmp_path: Path) -> None:
    make_suite(tmp_path, "leaky", [record("x"), record("y")], [record("x")])
    with pytest.raises(DataError, match=r"ids in both validation\.jsonl and test\.jsonl: x"):
        load_suite("leaky", root=tmp_path)


def test_dataset_hash_is_stable_and_content_sensitive() -> None:
    questions = [Question("a", "What is 1 + 1?", "2", "arithmetic"), Question("b", "Hi?", "x")]
    digest = dataset_hash(questions)
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert dataset_hash(list(questions)) == digest
    assert dataset_hash(questions[::-1]) != digest
    assert dataset_hash([questions[0], Question("b", "Hi?", "y")]) != digest


# --- the shipped starter suite --------------------------------------------------------------


@pytest.fixture(scope="module")
def starter() -> Suite:
    return load_suite("starter", root=SUITES)


def test_starter_is_big_and_covers_every_category(starter: Suite) -> None:
    questions = starter.validation + starter.test
    assert len(questions) >= 300
    assert {q.category for q in questions} == STARTER_CATEGORIES
    assert starter.validation and starter.test
    assert {q.category for q in starter.validation} == STARTER_CATEGORIES
    assert {q.category for q in starter.test} == STARTER_CATEGORIES


def test_starter_splits_are_balanced_per_category(starter: Suite) -> None:
    validation = Counter(q.category for q in starter.validation)
    test = Counter(q.category for q in starter.test)
    for category in STARTER_CATEGORIES:
        assert abs(validation[category] - test[category]) <= 1, category


def test_starter_ids_follow_the_naming_scheme(starter: Suite) -> None:
    for question in starter.validation + starter.test:
        assert re.fullmatch(r"starter-[a-z]+-\d{4}", question.id), question.id


def test_starter_gold_letters_are_among_the_options(starter: Suite) -> None:
    for question in starter.validation + starter.test:
        gold = question.gold_answer or ""
        options = parse_options(question.question)
        if re.fullmatch(r"[A-J]", gold):
            assert gold in options, question.id
            assert len(options) == 4 and len(set(options.values())) == 4, question.id
        else:
            assert not options, question.id
            assert answer_kind(gold, question.question) == "number", question.id


def test_starter_mixes_formats(starter: Suite) -> None:
    kinds = Counter(
        (q.category, answer_kind(q.gold_answer or "", q.question))
        for q in starter.validation + starter.test
    )
    for category in ("arithmetic", "algebra", "unit_conversion", "python_code"):
        assert kinds[category, "number"] > kinds[category, "choice"], category
    for category in ("chemistry", "biology", "geography", "history"):
        assert kinds[category, "choice"] > kinds[category, "number"], category


def test_starter_gold_answers_grade_as_correct(starter: Suite) -> None:
    for question in starter.validation + starter.test:
        gold = question.gold_answer or ""
        response = f"The answer is ({gold})." if len(gold) == 1 else f"The answer is {gold}."
        assert grade(response, gold, question.question).correct, question.id


def test_starter_build_is_reproducible(tmp_path: Path) -> None:
    script = SUITES / "starter" / "build.py"
    subprocess.run(
        [sys.executable, str(script), "--out", str(tmp_path)], check=True, capture_output=True
    )
    for split in ("validation", "test"):
        shipped = (SUITES / "starter" / f"{split}.jsonl").read_bytes()
        assert (tmp_path / f"{split}.jsonl").read_bytes() == shipped, split
