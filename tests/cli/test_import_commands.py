"""`router-svc suite import` and `router-svc replay import` through the real command line, and
`router-svc bench --replay` over what the replay import wrote."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from router_svc.cli.main import app
from router_svc.questions.suites import load_suite
from router_svc.replay.data import load_replay

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "import"


def _invoke(*arguments: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(arguments), terminal_width=200)
    return result.exit_code, result.output


def test_suite_import_writes_the_suite_and_prints_a_summary(tmp_path: Path) -> None:
    code, output = _invoke(
        "suite", "import", str(FIXTURES / "questions.csv"), "--name", "own",
        "--root", str(tmp_path), "--id-field", "qid", "--answer-field", "expected",
        "--category-field", "subject", "--test-fraction", "0.25",
    )  # fmt: skip
    assert code == 0, output
    suite = load_suite(tmp_path / "own")
    assert (len(suite.validation), len(suite.test)) == (6, 2)
    assert "questions.csv: 8 rows" in output
    assert "validation 6, test 2" in output
    assert "arithmetic 4, geography 4" in output
    assert "number 4, text 4" in output


def test_suite_import_says_which_categories_came_from_file_names(tmp_path: Path) -> None:
    """Symbolic-MoE's GPQA and MedMCQA files carry no category: each file's name gives one."""
    files = [str(path) for path in sorted((FIXTURES / "symbolic_moe_tasks").glob("*.json"))]
    base = ["suite", "import", *files, "--root", str(tmp_path), "--name"]
    code, output = _invoke(*base, "on")
    assert code == 0, output
    assert "gpqa_train.json -> gpqa (2 rows without one)" in output
    assert "medmcqa_test.json -> medmcqa (2 rows without one)" in output
    assert "gpqa 4, medmcqa 4" in output
    code, output = _invoke(*base, "off", "--no-category-from-filename")
    assert code == 0, output
    assert "category from file name" not in output
    assert "(none) 8" in output


def test_suite_import_bad_row_exits_1_naming_row_and_field(tmp_path: Path) -> None:
    source = tmp_path / "q.jsonl"
    source.write_text('{"question": "A?", "answer": "1"}\n{"question": "B?"}\n')
    code, output = _invoke("suite", "import", str(source), "--name", "q", "--root", str(tmp_path))
    assert code == 1
    assert f"{source} line 2: field 'gold_answer': missing or empty" in output
    assert not (tmp_path / "q").exists()
    code, output = _invoke(
        "suite", "import", str(source), "--name", "q", "--root", str(tmp_path), "--skip-bad",
        "--default-category", "misc",
    )  # fmt: skip
    assert code == 1  # one good row cannot fill both splits
    assert "no test rows" in output or "no validation rows" in output


def test_replay_import_then_bench(tmp_path: Path) -> None:
    out = tmp_path / "rb.jsonl"
    code, output = _invoke(
        "replay", "import", str(FIXTURES / "routerbench_wide.csv"), "--out", str(out)
    )
    assert code == 0, output
    assert "gpt-4-1106-preview" in output
    assert "mmlu-astronomy 8, grade-school-math 8" in output
    assert len(load_replay(out).questions) == 16
    code, output = _invoke(
        "bench",
        "--replay",
        str(out),
        "--out",
        str(tmp_path / "reports"),
        "--no-ablation",
        "--vectors",
        "hashing",
    )
    assert code == 0, output
    (folder,) = (tmp_path / "reports").iterdir()
    results = json.loads((folder / "results.json").read_text())
    assert results["experts"] == [
        "gpt-4-1106-preview",
        "mistralai/mixtral-8x7b-chat",
        "meta/llama-2-70b-chat",
    ]
    assert "per-category-best" in results["strategies"]


def test_replay_import_long_table_and_skip_bad(tmp_path: Path) -> None:
    source = tmp_path / "long.csv"
    lines = (FIXTURES / "outcomes_long.csv").read_text().splitlines()
    lines[5] = lines[5].replace(",1,0.0005,", ",2,0.0005,")  # lq2 medium-8b: score 2
    source.write_text("\n".join(lines) + "\n")
    out = tmp_path / "long.jsonl"
    code, output = _invoke("replay", "import", str(source), "--out", str(out))
    assert code == 1
    assert f"{source} row 5 (line 6): field 'score': score 2.0 is outside [0, 1]" in output
    code, output = _invoke("replay", "import", str(source), "--out", str(out), "--skip-bad")
    assert code == 0, output
    assert len(load_replay(out).questions) == 5
    assert f"skipped {source} row 5 (line 6): field 'score'" in output
    assert f"skipped {source} row 4 (line 5): field 'model': no outcome for medium-8b" in output
    assert (tmp_path / "long.skipped.jsonl").is_file()


def test_replay_import_refuses_an_unknown_layout(tmp_path: Path) -> None:
    code, output = _invoke(
        "replay", "import", str(FIXTURES / "outcomes_long.csv"), "--out", str(tmp_path / "x.jsonl"),
        "--layout", "tall",
    )  # fmt: skip
    assert code == 2
    assert "'tall'; use wide, long or auto" in output
