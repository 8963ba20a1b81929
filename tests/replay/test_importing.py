"""Importing recorded outcomes (wide RouterBench-style and long tables) into replay files that
``load_replay`` reads, on the hand-written tables of tests/fixtures/import/."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from router_svc.errors import DataError
from router_svc.replay.data import load_replay
from router_svc.replay.importing import ReplayMapping, import_replay, skipped_path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "import"
WIDE = FIXTURES / "routerbench_wide.csv"
LONG = FIXTURES / "outcomes_long.csv"
MODELS = ["gpt-4-1106-preview", "mistralai/mixtral-8x7b-chat", "meta/llama-2-70b-chat"]


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _records(path: Path) -> dict[str, dict[str, object]]:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return {line["id"]: line for line in lines}


def test_routerbench_wide_csv(tmp_path: Path) -> None:
    summary = import_replay([WIDE], tmp_path / "rb.jsonl")
    data = load_replay(tmp_path / "rb.jsonl")
    assert data.experts == MODELS
    assert summary.experts == MODELS
    assert len(data.questions) == 16
    assert {q.category for q in data.questions} == {"mmlu-astronomy", "grade-school-math"}
    assert summary.written == {"validation": 8, "test": 8}
    assert data.has_cost
    record = _records(tmp_path / "rb.jsonl")["mmlu-astronomy.1"]
    assert record["outcomes"] == {
        "gpt-4-1106-preview": {"score": 1.0, "cost": 0.00341, "response": "The answer is (A)."},
        "mistralai/mixtral-8x7b-chat": {
            "score": 0.0,
            "cost": 0.00044,
            "response": "The answer is (D).",
        },
        "meta/llama-2-70b-chat": {"score": 1.0, "cost": 0.00066, "response": "The answer is (A)."},
    }
    assert "gold_answer" not in record
    test = data.table("test")
    assert test.answers is not None  # responses are recorded, so votes extract answers


def test_split_is_stratified_by_eval_name(tmp_path: Path) -> None:
    import_replay([WIDE], tmp_path / "rb.jsonl")
    data = load_replay(tmp_path / "rb.jsonl")
    test_categories = [data.questions[i].category for i in data.rows("test")]
    assert test_categories.count("mmlu-astronomy") == 4
    assert test_categories.count("grade-school-math") == 4


def test_same_table_as_jsonl_parquet_and_pickle_gives_the_same_file(tmp_path: Path) -> None:
    frame = pd.read_csv(WIDE)
    frame.to_json(tmp_path / "rb.jsonl", orient="records", lines=True)
    pq.write_table(pa.Table.from_pandas(frame), tmp_path / "rb.parquet")
    frame.to_pickle(tmp_path / "rb.pkl")
    import_replay([WIDE], tmp_path / "from_csv.jsonl")
    expected = (tmp_path / "from_csv.jsonl").read_text()
    for source in ("rb.jsonl", "rb.parquet", "rb.pkl"):
        out = tmp_path / f"out_{source}.jsonl"
        import_replay([tmp_path / source], out, trust_pickle=True)
        assert out.read_text() == expected, source


def test_pickle_needs_trust(tmp_path: Path) -> None:
    pd.read_csv(WIDE).to_pickle(tmp_path / "rb.pkl")
    with pytest.raises(DataError, match="--trust-pickle"):
        import_replay([tmp_path / "rb.pkl"], tmp_path / "out.jsonl")
    assert not (tmp_path / "out.jsonl").exists()


def test_long_table_with_a_split_column(tmp_path: Path) -> None:
    summary = import_replay([LONG], tmp_path / "long.jsonl")
    data = load_replay(tmp_path / "long.jsonl")
    assert data.experts == ["small-1b", "medium-8b", "large-70b"]
    assert [data.questions[i].id for i in data.rows("validation")] == ["lq1", "lq2", "lq4"]
    assert [data.questions[i].id for i in data.rows("test")] == ["lq3", "lq5", "lq6"]
    assert summary.answer_kinds == {"number": 3, "text": 3}
    record = _records(tmp_path / "long.jsonl")["lq4"]
    assert record["gold_answer"] == "Shakespeare"
    assert record["outcomes"]["large-70b"] == {  # type: ignore[index]
        "score": 1.0,
        "cost": 0.002,
        "response": "The answer is Shakespeare.",
    }


def test_several_files_take_the_split_from_their_names(tmp_path: Path) -> None:
    rows = _csv_rows(WIDE)
    train = _write_csv(tmp_path / "rb_train.csv", rows[:5] + rows[8:13])
    test = _write_csv(tmp_path / "rb_test.csv", rows[5:8] + rows[13:])
    summary = import_replay([train, test], tmp_path / "pair.jsonl")
    data = load_replay(tmp_path / "pair.jsonl")
    assert summary.files == {str(train): 10, str(test): 6}
    assert {data.questions[i].id for i in data.rows("test")} == {
        row["sample_id"] for row in rows[5:8] + rows[13:]
    }


def test_one_file_per_task_with_a_seeded_split(tmp_path: Path) -> None:
    rows = _csv_rows(WIDE)
    first = _write_csv(tmp_path / "astronomy.csv", rows[:8])
    second = _write_csv(tmp_path / "gsm.csv", rows[8:])
    import_replay([first, second], tmp_path / "tasks.jsonl", ReplayMapping(seed=3))
    data = load_replay(tmp_path / "tasks.jsonl")
    assert len(data.rows("test")) == 8


def test_models_can_be_named_and_ids_generated(tmp_path: Path) -> None:
    rows = [{k: v for k, v in row.items() if k != "sample_id"} for row in _csv_rows(WIDE)]
    source = _write_csv(tmp_path / "no_ids.csv", rows)
    mapping = ReplayMapping(models=("gpt-4-1106-preview", "meta/llama-2-70b-chat"), id_prefix="rb")
    import_replay([source], tmp_path / "two.jsonl", mapping)
    data = load_replay(tmp_path / "two.jsonl")
    assert data.experts == ["gpt-4-1106-preview", "meta/llama-2-70b-chat"]
    assert all(q.id.startswith("rb-") and len(q.id) == 15 for q in data.questions)


def test_a_bad_score_names_file_row_and_column_and_nothing_is_written(tmp_path: Path) -> None:
    rows = _csv_rows(WIDE)
    rows[2]["meta/llama-2-70b-chat"] = "1.5"
    rows[4]["gpt-4-1106-preview|total_cost"] = "-0.1"
    source = _write_csv(tmp_path / "bad.csv", rows)
    out = tmp_path / "bad.jsonl"
    with pytest.raises(DataError) as caught:
        import_replay([source], out)
    message = str(caught.value)
    assert "2 bad row(s); nothing was written" in message
    assert (
        f"{source} row 3 (line 4): field 'meta/llama-2-70b-chat': score 1.5 is outside" in message
    )
    assert f"{source} row 5 (line 6): field 'gpt-4-1106-preview|total_cost': cost -0.1" in message
    assert not out.exists()
    assert not skipped_path(out).exists()


def test_skip_bad_writes_the_good_rows_and_out_skipped(tmp_path: Path) -> None:
    rows = _csv_rows(WIDE)
    rows[2]["meta/llama-2-70b-chat"] = "high"
    source = _write_csv(tmp_path / "bad.csv", rows)
    out = tmp_path / "good.jsonl"
    summary = import_replay([source], out, skip_bad=True)
    assert len(load_replay(out).questions) == 15
    skipped = [json.loads(line) for line in skipped_path(out).read_text().splitlines()]
    assert skipped == [
        {
            "where": f"{source} row 3 (line 4)",
            "field": "meta/llama-2-70b-chat",
            "reason": "expected a number, got 'high'",
        }
    ]
    assert skipped_path(out) == tmp_path / "good.skipped.jsonl"
    assert summary.outputs == [out, skipped_path(out)]


def test_long_table_missing_a_model_for_a_question(tmp_path: Path) -> None:
    rows = [
        row
        for row in _csv_rows(LONG)
        if not (row["question_id"] == "lq5" and row["model"] == "small-1b")
    ]
    source = _write_csv(tmp_path / "gap.csv", rows)
    with pytest.raises(
        DataError, match=r"row 13 \(line 14\): field 'model': no outcome for small-1b"
    ):
        import_replay([source], tmp_path / "gap.jsonl")


def test_long_table_repeated_model_row(tmp_path: Path) -> None:
    rows = _csv_rows(LONG)
    source = _write_csv(tmp_path / "twice.csv", [*rows, rows[0]])
    with pytest.raises(
        DataError, match=r"row 19 \(line 20\): field 'model': model 'small-1b' again"
    ):
        import_replay([source], tmp_path / "twice.jsonl")


def test_a_table_without_model_columns(tmp_path: Path) -> None:
    source = _write_csv(tmp_path / "plain.csv", [{"prompt": "A?", "score": "1"}])
    with pytest.raises(DataError, match="no model columns found"):
        import_replay([source], tmp_path / "plain.jsonl")


def test_an_existing_output_is_kept_unless_forced(tmp_path: Path) -> None:
    out = tmp_path / "rb.jsonl"
    import_replay([WIDE], out)
    with pytest.raises(DataError, match="already exists"):
        import_replay([LONG], out)
    import_replay([LONG], out, force=True)
    assert len(load_replay(out).questions) == 6
