"""`bench --replay --holdout-category`: an unseen task, with every choice made without it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from router_svc.cli.bench import bench
from router_svc.errors import ConfigError
from router_svc.evaluation.replay_bench import BenchOptions, ReplayBench, holdout
from router_svc.replay.data import load_replay

SMALL = Path(__file__).resolve().parents[1] / "fixtures" / "replay_small.jsonl"
QUICK = {"bootstrap": 50, "ablation": False, "vectors": "hashing"}


def _line(number: int, category: str, split: str, scores: tuple[float, float]) -> str:
    words = {"algebra": "solve the equation for x", "poetry": "write a rhyme about the sea"}
    return json.dumps(
        {
            "id": f"q{number}",
            "question": f"Task {number}: {words[category]} number {number}.",
            "category": category,
            "split": split,
            "outcomes": {
                "xavier": {"score": scores[0], "cost": 0.001},
                "yolanda": {"score": scores[1], "cost": 0.001},
            },
        }
    )


def _two_tasks(path: Path) -> Path:
    """xavier is right on algebra, yolanda on poetry; poetry has more validation lines, so
    the best single model of the whole validation split is yolanda, of algebra alone xavier."""
    plan = [("algebra", "validation", 20), ("poetry", "validation", 30)]
    plan += [("algebra", "test", 6), ("poetry", "test", 10)]
    right = {"algebra": (1.0, 0.0), "poetry": (0.0, 1.0)}
    lines, number = [], 0
    for category, split, count in plan:
        for _ in range(count):
            lines.append(_line(number, category, split, right[category]))
            number += 1
    path.write_text("\n".join(lines) + "\n")
    return path


def test_holdout_keeps_other_validation_and_the_category_test() -> None:
    data = load_replay(SMALL)
    validation, test = holdout(data.table("validation"), data.table("test"), "math")
    assert len(validation) == 72 and "math" not in validation.categories
    assert len(test) == 32 and set(test.categories) == {"math"}


def test_baselines_are_chosen_without_the_held_out_task(tmp_path: Path) -> None:
    path = _two_tasks(tmp_path / "two.jsonl")
    whole = ReplayBench(BenchOptions(**QUICK)).run(path, tmp_path / "whole")  # type: ignore[arg-type]
    held = ReplayBench(BenchOptions(**QUICK, holdout_category="poetry")).run(  # type: ignore[arg-type]
        path, tmp_path / "held"
    )
    assert whole.results["strategies"]["best-single"]["accuracy"] == pytest.approx(0.625)
    strategies = held.results["strategies"]
    assert held.results["questions"] == {"validation": 20, "test": 10}
    assert strategies["best-single"]["accuracy"] == 0.0  # xavier, the best on algebra
    assert strategies["per-category-best"]["accuracy"] == 0.0  # no poetry to choose on
    assert strategies["oracle"]["accuracy"] == 1.0
    assert held.results["settings"]["holdout_category"] == "poetry"
    assert "Hold-out category 'poetry'" in (held.folder / "report.md").read_text()


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command()(bench)
    return app


def _invoke(*arguments: str) -> Any:
    return CliRunner().invoke(_cli(), ["--no-ablation", "--vectors", "hashing", *arguments])


def test_cli_holdout_category(tmp_path: Path) -> None:
    result = _invoke("--replay", str(SMALL), "--out", str(tmp_path), "--holdout-category", "code")
    assert result.exit_code == 0, result.output
    assert "unseen category 'code'" in result.output.replace("\n", "")
    (folder,) = tmp_path.iterdir()
    results = json.loads((folder / "results.json").read_text())
    assert results["questions"] == {"validation": 64, "test": 27}
    lines = (folder / "questions.jsonl").read_text().splitlines()
    assert {json.loads(line)["category"] for line in lines} == {"code"}


def test_cli_unknown_category_names_the_known_ones(tmp_path: Path) -> None:
    result = _invoke("--replay", str(SMALL), "--out", str(tmp_path), "--holdout-category", "maths")
    assert result.exit_code == 1
    output = result.output.replace("\n", "")
    assert "holdout_category 'maths' is not a category" in output
    assert "known: code, math, science" in output
    assert not list(tmp_path.iterdir())


def test_holdout_needs_the_category_on_both_sides() -> None:
    data = load_replay(SMALL)
    validation = data.table("validation")
    only_math = validation.take(np.array([c == "math" for c in validation.categories]))
    with pytest.raises(ConfigError, match="validation lines of another category"):
        holdout(only_math, data.table("test"), "math")
