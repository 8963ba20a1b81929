"""The replay loader: tables from a valid file, DataError with file and line otherwise."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from router_svc.errors import DataError
from router_svc.replay.data import load_replay
from router_svc.replay.outcomes import NO_ANSWER

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TINY = FIXTURES / "replay_tiny.jsonl"


def test_tiny_file_as_tables() -> None:
    data = load_replay(TINY)
    assert data.experts == ["a", "b", "c"]
    assert data.has_cost
    validation, test = data.table("validation"), data.table("test")
    assert validation.ids == ["v1", "v2", "v3", "v4", "v5"]
    assert test.ids == ["t1", "t2", "t3", "t4", "t5", "t6"]
    assert test.categories == ["x", "x", "y", "y", "y", "x"]
    assert test.scores[5].tolist() == [0.5, 1.0, 0.0]
    assert test.costs[0].tolist() == [0.01, 0.002, 0.005]
    assert validation.answers is None  # no validation line records responses
    assert test.answers is not None
    assert test.answers[0].tolist() == [0, 1, 1]  # A, B, "I think (B)." -> B
    assert test.answers[3].tolist() == [0, 1, 2]
    assert (test.answers[1] == NO_ANSWER).all()
    assert data.row_of("  What is 2 + 2? ") == 6


def _line(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": "q1",
        "question": "What is 1 + 1?",
        "gold_answer": "2",
        "split": "validation",
        "outcomes": {"a": {"score": 1}, "b": {"score": 0}},
    }
    record.update(changes)
    return record


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GOOD_TEST = json.dumps(_line(id="t1", split="test"))


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ('{"id": "q2", "question": ', "line 2: invalid JSON"),
        (json.dumps(_line(id="q2", question=None)), "line 2: field 'question'"),
        (json.dumps({k: v for k, v in _line(id="q2").items() if k != "outcomes"}),
         "line 2: missing field 'outcomes'"),
        (json.dumps(_line(id="q2", split="train")), "line 2: field 'split'"),
        (json.dumps(_line(id="q2", outcomes={"a": {"score": 1.5}, "b": {"score": 0}})),
         "line 2: field 'outcomes.a.score'"),
        (json.dumps(_line(id="q2", outcomes={"a": {"score": 1}, "b": {"score": 0, "cost": -1}})),
         "line 2: field 'outcomes.b.cost'"),
        (json.dumps(_line()), "line 2: duplicate id 'q1' (first on line 1)"),
        (json.dumps(_line(id="q2", outcomes={"a": {"score": 1}})), "line 2: every line must"),
        (json.dumps(_line(id="q2", outcomes={})), "line 2: field 'outcomes'"),
        ("[1, 2]", "line 2: "),
    ],
)  # fmt: skip
def test_bad_lines_name_file_and_line(tmp_path: Path, bad: str, message: str) -> None:
    path = _write(tmp_path / "bad.jsonl", [json.dumps(_line()), bad, GOOD_TEST])
    with pytest.raises(DataError) as caught:
        load_replay(path)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


def test_blank_lines_are_skipped_and_numbers_become_strings(tmp_path: Path) -> None:
    record = _line(id=7, gold_answer=2, category="math")
    path = _write(tmp_path / "ok.jsonl", [json.dumps(record), "", GOOD_TEST])
    data = load_replay(path)
    assert data.questions[0].id == "7"
    assert data.questions[0].gold_answer == "2"
    assert data.table("test").categories == ["(none)"]
    assert not data.has_cost
    np.testing.assert_array_equal(data.costs, 0.0)


def test_each_split_is_required(tmp_path: Path) -> None:
    path = _write(tmp_path / "one.jsonl", [json.dumps(_line())])
    with pytest.raises(DataError, match="no test lines"):
        load_replay(path)


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        load_replay(tmp_path / "absent.jsonl")
    with pytest.raises(DataError, match="no questions"):
        load_replay(_write(tmp_path / "empty.jsonl", [""]))
