"""Importing your own questions into a suite: formats, field mapping, ids, options, splits and
bad rows, on the hand-written files of tests/fixtures/import/ and small files written here."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from router_svc.errors import DataError
from router_svc.questions.grading import parse_options
from router_svc.questions.importers.common import (
    category_of_file,
    seeded_split,
    split_of_file,
    stable_id,
)
from router_svc.questions.importers.suite import SuiteMapping, import_suite, render_options
from router_svc.questions.importers.tables import read_table
from router_svc.questions.suites import load_suite

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "import"
ROOT = Path(__file__).resolve().parent.parent.parent


def _lines(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _write_jsonl(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


def test_symbolic_moe_file_is_read_as_it_is(tmp_path: Path) -> None:
    summary = import_suite([FIXTURES / "symbolic_moe.json"], "smoe", tmp_path)
    suite = load_suite(tmp_path / "smoe")
    questions = suite.validation + suite.test
    assert len(questions) == 12
    assert summary.rows_read == 12
    assert summary.written == {"validation": 6, "test": 6}
    assert summary.answer_kinds == {"choice": 8, "number": 4}
    assert summary.categories == {"biology": 4, "chemistry": 4, "math": 3, "(none)": 1}
    assert all(q.id.startswith("smoe-") for q in questions)
    photosynthesis = next(q for q in questions if "photosynthesis" in q.question)
    assert photosynthesis.gold_answer == "C"
    assert parse_options(photosynthesis.question)["C"].startswith("carbon dioxide")


def test_generated_ids_and_split_are_the_same_on_every_run(tmp_path: Path) -> None:
    import_suite([FIXTURES / "symbolic_moe.json"], "a", tmp_path, SuiteMapping(id_prefix="s"))
    import_suite([FIXTURES / "symbolic_moe.json"], "b", tmp_path, SuiteMapping(id_prefix="s"))
    for split in ("validation", "test"):
        first = (tmp_path / "a" / f"{split}.jsonl").read_bytes()
        assert first == (tmp_path / "b" / f"{split}.jsonl").read_bytes()


def test_stable_id_hashes_the_text_and_numbers_repeats() -> None:
    taken: set[str] = set()
    first = stable_id("p", "What is 2 + 2?", taken)
    again = stable_id("p", " What is 2 + 2? ", taken)
    assert first == "p-" + first.split("-")[1]
    assert again == f"{first}-2"
    assert stable_id("p", "What is 2 + 2?", set()) == first


def test_mmlu_pro_options_are_written_into_the_question(tmp_path: Path) -> None:
    summary = import_suite([FIXTURES / "mmlu_pro.jsonl"], "mmlu", tmp_path)
    suite = load_suite(tmp_path / "mmlu")
    by_id = {q.id: q for q in suite.validation + suite.test}
    assert set(by_id) == {"101", "102", "103", "104", "201", "202", "203", "204"}
    force = by_id["102"]
    assert force.question == (
        "What is the SI unit of force? The options are: (A) joule (B) watt (C) newton (D) pascal"
    )
    assert force.gold_answer == "C"
    assert summary.answer_kinds == {"choice": 8}


def test_answer_given_as_option_text_or_index_becomes_the_letter(tmp_path: Path) -> None:
    rows = [
        {"q": "Pick the fruit.", "opts": ["stone", "apple"], "a": "Apple", "i": 1},
        {"q": "Pick the metal.", "opts": ["iron", "wood", "glass"], "a": "iron", "i": 0},
    ]
    source = _write_jsonl(tmp_path / "own.jsonl", list(rows))
    for name, mapping in {
        "text": SuiteMapping(question="q", options="opts", answer="a"),
        "index": SuiteMapping(question="q", options="opts", answer="i", answer_is_index=True),
    }.items():
        import_suite([source], name, tmp_path, mapping)
        suite = load_suite(tmp_path / name)
        golds = {q.question.split(" The")[0]: q.gold_answer for q in suite.validation + suite.test}
        assert golds == {"Pick the fruit.": "B", "Pick the metal.": "A"}


def test_render_options_matches_the_suite_format() -> None:
    question = render_options("Which is blue?", ["grass", "sky"])
    assert question == "Which is blue? The options are: (A) grass (B) sky"
    assert parse_options(question) == {"A": "grass", "B": "sky"}


def test_csv_with_mapped_fields(tmp_path: Path) -> None:
    mapping = SuiteMapping(id="qid", question="prompt", answer="expected", category="subject")
    summary = import_suite([FIXTURES / "questions.csv"], "csv", tmp_path, mapping)
    suite = load_suite(tmp_path / "csv")
    by_id = {q.id: q for q in suite.validation + suite.test}
    assert by_id["c8"].question == "Which ocean lies between Africa and Australia?"
    assert by_id["c8"].gold_answer == "Indian Ocean"
    assert by_id["c1"].category == "arithmetic"
    assert summary.answer_kinds == {"number": 4, "text": 4}


def test_csv_options_cell_holding_a_json_list(tmp_path: Path) -> None:
    source = tmp_path / "mc.csv"
    source.write_text(
        'question,options,answer\nOdd one?,"[""2"", ""3"", ""4""]",B\nEven?,"[""1"", ""2""]",B\n'
    )
    import_suite([source], "mc", tmp_path)
    suite = load_suite(tmp_path / "mc")
    texts = sorted(q.question for q in suite.validation + suite.test)
    assert texts == [
        "Even? The options are: (A) 1 (B) 2",
        "Odd one? The options are: (A) 2 (B) 3 (C) 4",
    ]


def test_parquet_with_an_options_list(tmp_path: Path) -> None:
    table = pa.table(
        {
            "question": ["Largest planet?", "Smallest planet?", "Red planet?"],
            "options": [["Mars", "Jupiter"], ["Mercury", "Earth"], ["Mars", "Venus"]],
            "answer": ["B", "A", "Mars"],
            "category": ["astronomy"] * 3,
        }
    )
    pq.write_table(table, tmp_path / "planets.parquet")
    import_suite([tmp_path / "planets.parquet"], "planets", tmp_path)
    suite = load_suite(tmp_path / "planets")
    golds = {q.question.split(" The")[0]: q.gold_answer for q in suite.validation + suite.test}
    assert golds == {"Largest planet?": "B", "Smallest planet?": "A", "Red planet?": "A"}
    assert len(suite.test) in (1, 2)


def test_pickle_is_read_only_when_trusted(tmp_path: Path) -> None:
    import pandas as pd

    frame = pd.DataFrame({"question": ["One?", "Two?"], "answer": [1, 2]})
    path = tmp_path / "frame.pkl"
    with path.open("wb") as handle:
        pickle.dump(frame, handle)
    with pytest.raises(DataError, match="--trust-pickle"):
        read_table(path)
    rows = read_table(path, trust_pickle=True)
    assert [row.values for row in rows] == [
        {"question": "One?", "answer": 1},
        {"question": "Two?", "answer": 2},
    ]
    assert rows[1].where == f"{path} row 2"


def test_missing_pyarrow_names_the_extra(tmp_path: Path) -> None:
    pq.write_table(pa.table({"question": ["x"], "answer": ["1"]}), tmp_path / "x.parquet")
    script = textwrap.dedent(
        f"""
        import sys
        class Missing:
            def find_spec(self, name, path=None, target=None):
                if name.partition(".")[0] == "pyarrow":
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        sys.meta_path.insert(0, Missing())
        from pathlib import Path
        from router_svc.questions.importers.tables import read_table
        try:
            read_table(Path({str(tmp_path / "x.parquet")!r}))
        except ModuleNotFoundError as exc:
            print(exc)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert "'import' extra" in result.stdout
    assert "pip install 'router-svc[import]'" in result.stdout


def test_a_bad_row_names_file_row_and_field_and_nothing_is_written(tmp_path: Path) -> None:
    source = _write_jsonl(
        tmp_path / "bad.jsonl",
        [
            {"question": "Fine?", "gold_answer": "yes"},
            {"question": "No answer here"},
            {"question": "Also fine?", "gold_answer": "no"},
        ],
    )
    with pytest.raises(DataError) as caught:
        import_suite([source], "bad", tmp_path)
    assert f"{source} line 2: field 'gold_answer': missing or empty" in str(caught.value)
    assert not (tmp_path / "bad").exists()


def test_skip_bad_writes_the_good_rows_and_lists_the_skipped(tmp_path: Path) -> None:
    source = _write_jsonl(
        tmp_path / "mixed.jsonl",
        [
            {"question": "A?", "gold_answer": "1"},
            {"question": "", "gold_answer": "2"},
            {"question": "C?", "gold_answer": "3"},
            {"question": "D? The options are: (A) x (B) y", "gold_answer": "E"},
        ],
    )
    summary = import_suite([source], "mixed", tmp_path, skip_bad=True)
    suite = load_suite(tmp_path / "mixed")
    assert len(suite.validation) + len(suite.test) == 2
    skipped = _lines(tmp_path / "mixed" / "skipped.jsonl")
    assert skipped == [
        {"where": f"{source} line 2", "field": "question", "reason": "missing or empty"},
        {
            "where": f"{source} line 4",
            "field": "gold_answer",
            "reason": "answer 'E' is not one of the options A-B",
        },
    ]
    assert summary.skip_reasons()["question: missing or empty"] == 1


def test_repeated_ids_are_refused(tmp_path: Path) -> None:
    source = _write_jsonl(
        tmp_path / "ids.jsonl",
        [{"id": 7, "question": "A?", "answer": "1"}, {"id": 7, "question": "B?", "answer": "2"}],
    )
    with pytest.raises(DataError, match=r"line 2: field 'id': duplicate id '7' \(first at"):
        import_suite([source], "ids", tmp_path)


def test_a_mapped_field_missing_from_a_row_is_named(tmp_path: Path) -> None:
    source = _write_jsonl(tmp_path / "q.jsonl", [{"question": "A?", "answer": "1"}])
    with pytest.raises(DataError, match=r"line 1: field 'topic': missing or empty"):
        import_suite([source], "q", tmp_path, SuiteMapping(category="topic"))


def test_train_and_test_files_give_the_split(tmp_path: Path) -> None:
    train = _write_jsonl(tmp_path / "set_train.json", [{"question": "A?", "gold_answer": "1"}])
    test = _write_jsonl(
        tmp_path / "set_test.json",
        [{"question": "B?", "gold_answer": "2"}, {"question": "C?", "gold_answer": "3"}],
    )
    summary = import_suite([train, test], "pair", tmp_path)
    suite = load_suite(tmp_path / "pair")
    assert [q.question for q in suite.validation] == ["A?"]
    assert [q.question for q in suite.test] == ["B?", "C?"]
    assert summary.written == {"validation": 1, "test": 2}


def test_split_column(tmp_path: Path) -> None:
    rows = [
        {"question": f"Q{i}?", "answer": str(i), "split": "test" if i % 3 == 0 else "dev"}
        for i in range(6)
    ]
    import_suite([_write_jsonl(tmp_path / "s.jsonl", rows)], "s", tmp_path)
    suite = load_suite(tmp_path / "s")
    assert sorted(q.question for q in suite.test) == ["Q0?", "Q3?"]


def test_unknown_split_value_is_a_bad_row(tmp_path: Path) -> None:
    rows = [{"question": "A?", "answer": "1", "split": "holdout"}]
    with pytest.raises(DataError, match=r"field 'split': unknown split 'holdout'"):
        import_suite([_write_jsonl(tmp_path / "s.jsonl", rows)], "s", tmp_path)


def test_seeded_split_is_stratified_and_seeded() -> None:
    ids = [f"q{i}" for i in range(10)]
    categories = ["a"] * 6 + ["b"] * 4
    first = seeded_split(ids, categories, 0.5, seed=1)
    assert first == seeded_split(list(reversed(ids)), list(reversed(categories)), 0.5, seed=1)
    tests = [qid for qid, split in first.items() if split == "test"]
    assert sum(qid in ids[:6] for qid in tests) == 3
    assert sum(qid in ids[6:] for qid in tests) == 2
    others = [seeded_split(ids, categories, 0.5, seed=s) for s in range(2, 6)]
    assert any(other != first for other in others)


def test_file_names_that_name_a_split() -> None:
    assert split_of_file(Path("MMLU_Pro_train.json")) == "validation"
    assert split_of_file(Path("gpqa-test.jsonl")) == "test"
    assert split_of_file(Path("questions.csv")) is None


def test_an_existing_suite_is_kept_unless_forced(tmp_path: Path) -> None:
    import_suite([FIXTURES / "mmlu_pro.jsonl"], "keep", tmp_path)
    with pytest.raises(DataError, match="already holds a suite"):
        import_suite([FIXTURES / "symbolic_moe.json"], "keep", tmp_path)
    import_suite([FIXTURES / "symbolic_moe.json"], "keep", tmp_path, force=True)
    suite = load_suite(tmp_path / "keep")
    assert len(suite.validation) + len(suite.test) == 12


def test_unknown_file_type_and_bad_name(tmp_path: Path) -> None:
    (tmp_path / "data.xlsx").write_text("x")
    with pytest.raises(DataError, match=r"unknown file type '.xlsx'"):
        import_suite([tmp_path / "data.xlsx"], "x", tmp_path)
    with pytest.raises(DataError, match=r"suite name '\.\./up'"):
        import_suite([FIXTURES / "mmlu_pro.jsonl"], "../up", tmp_path)


TASKS = FIXTURES / "symbolic_moe_tasks"
TASK_FILES = sorted(TASKS.glob("*.json"))  # Symbolic-MoE's GPQA and MedMCQA: no category field


def test_files_without_a_category_field_name_their_rows_task(tmp_path: Path) -> None:
    summary = import_suite(TASK_FILES, "tasks", tmp_path)
    suite = load_suite(tmp_path / "tasks")
    by_split = {
        split: sorted((q.category, q.question.split("?")[0]) for q in questions)
        for split, questions in (("validation", suite.validation), ("test", suite.test))
    }
    assert [category for category, _ in by_split["validation"]] == ["gpqa"] * 2 + ["medmcqa"] * 2
    assert [category for category, _ in by_split["test"]] == ["gpqa"] * 2 + ["medmcqa"] * 2
    assert summary.categories == {"gpqa": 4, "medmcqa": 4}
    assert summary.file_categories == {
        str(TASKS / "gpqa_test.json"): "gpqa",
        str(TASKS / "gpqa_train.json"): "gpqa",
        str(TASKS / "medmcqa_test.json"): "medmcqa",
        str(TASKS / "medmcqa_train.json"): "medmcqa",
    }
    assert set(summary.rows_by_file_category.values()) == {2}


def test_a_category_field_or_default_wins_over_the_file_name(tmp_path: Path) -> None:
    first = _write_jsonl(
        tmp_path / "mixed_train.json",
        [{"question": "A?", "gold_answer": "1", "category": "algebra"},
         {"question": "B?", "gold_answer": "2"}],
    )  # fmt: skip
    second = _write_jsonl(tmp_path / "mixed_test.json", [{"question": "C?", "gold_answer": "3"}])
    summary = import_suite([first, second], "m", tmp_path)
    assert summary.categories == {"algebra": 1, "mixed": 2}
    assert summary.rows_by_file_category == {str(first): 1, str(second): 1}
    defaulted = import_suite([first, second], "d", tmp_path, SuiteMapping(default_category="quiz"))
    assert defaulted.categories == {"algebra": 1, "quiz": 2}
    assert defaulted.file_categories == {}


def test_category_from_file_can_be_turned_off_and_one_file_names_none(tmp_path: Path) -> None:
    off = import_suite(TASK_FILES, "off", tmp_path, SuiteMapping(category_from_file=False))
    assert off.categories == {"(none)": 8}
    assert off.file_categories == {}
    single = import_suite([TASKS / "gpqa_train.json"], "one", tmp_path)
    assert single.categories == {"(none)": 2}  # one file names no task apart from the others


@pytest.mark.parametrize(
    ("name", "category"),
    [
        ("gpqa_train.json", "gpqa"),
        ("MMLU_Pro-test.jsonl", "MMLU_Pro"),
        ("train_medmcqa_v2.csv", "medmcqa_v2"),
        ("contest.json", "contest"),  # "test" inside a word is not a split
        ("test.jsonl", None),
    ],
)
def test_category_of_a_file_name(name: str, category: str | None) -> None:
    assert category_of_file(Path(name)) == category
