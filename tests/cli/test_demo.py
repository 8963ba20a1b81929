"""`router-svc demo`'s second act: the default router on recorded outcomes of real models.

Act one (the live tiny pool) is what `make demo` runs on real models; these tests run act two
alone (`--no-live`) through the real command line, and check the rows it picks by hand.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from router_svc.cli.demo_recorded import DEMO_REPLAY, cheaper_point, demo_rows
from router_svc.cli.main import app
from router_svc.config.routers import DEFAULT_ROUTER

ROOT = Path(__file__).resolve().parents[2]
SMALL = ROOT / "tests" / "fixtures" / "replay_small.jsonl"


def _strategy(accuracy: float, cost: float) -> dict[str, float]:
    return {"accuracy": accuracy, "cost_per_query": cost}


def _point(weight: float, accuracy: float, cost: float) -> dict[str, float]:
    return {"cost_weight": weight, "accuracy": accuracy, "cost_per_query": cost}


RESULTS: dict[str, Any] = {
    "default_strategy": "router",
    "strategies": {
        "single:big": _strategy(0.9, 0.010),
        "single:mid": _strategy(0.7, 0.002),
        "single:small": _strategy(0.5, 0.001),
        "single:tiny": _strategy(0.3, 0.0005),
        "router": _strategy(0.91, 0.009),
        "oracle": _strategy(0.98, 0.0007),
    },
    "sweep": {
        "router": [
            _point(0.0, 0.91, 0.009),
            _point(0.1, 0.88, 0.0051),  # just over half of big's cost
            _point(0.2, 0.86, 0.0050),  # the most accurate at <= half
            _point(0.4, 0.80, 0.0030),
        ]
    },
}


def test_rows_pick_router_saving_point_best_cheapest_and_oracle() -> None:
    rows = demo_rows(RESULTS)
    assert [(r.system, r.role) for r in rows] == [
        ("router", "default router"),
        ("router lambda=0.2", "router, <= half the best's cost"),
        ("big", "best single model"),
        ("tiny", "a cheapest single model"),
        ("small", "a cheapest single model"),
        ("oracle", "upper bound (hindsight)"),
    ]
    assert rows[1].per_thousand == pytest.approx(5.0)
    assert rows[2].accuracy == 0.9


def test_no_sweep_point_within_budget() -> None:
    assert cheaper_point(RESULTS["sweep"]["router"], 0.001) is None
    assert cheaper_point([], 1.0) is None


def _demo(*arguments: str, data_dir: Path) -> str:
    result = CliRunner().invoke(
        app,
        ["demo", "--no-live", *arguments],
        env={"ROUTER_SVC_DATA_DIR": str(data_dir)},
        terminal_width=200,
    )
    assert result.exit_code == 0, result.output
    return result.output


def _report(output: str) -> Path:
    match = re.search(r"report: (\S+report\.html)", output)
    assert match is not None, output
    return Path(match.group(1))


def test_act_two_on_a_small_file_prints_the_table_and_the_report(tmp_path: Path) -> None:
    output = _demo("--replay", str(SMALL), "--vectors", "hashing", data_dir=tmp_path)
    page = _report(output)
    assert page.is_file() and page.parent.parent == tmp_path / "demo"
    assert (page.parent / "accuracy_vs_cost.png").is_file()
    assert f"accuracy vs cost: {page.parent / 'accuracy_vs_cost.png'}" in output
    results = json.loads((page.parent / "results.json").read_text())
    router = results["strategies"][DEFAULT_ROUTER]
    assert re.search(
        rf"{DEFAULT_ROUTER} +│ default router +│ {100 * router['accuracy']:.1f}% +│ "
        rf"{1000 * router['cost_per_query']:.2f}",
        output,
    ), output


@pytest.mark.slow
def test_act_two_on_routerbench_saves_against_gpt4(tmp_path: Path) -> None:
    """The shipped RouterBench file with the default (static) vectors: the table `make demo`
    prints."""
    output = _demo("--replay", str(ROOT / DEMO_REPLAY), data_dir=tmp_path)
    results = json.loads((_report(output).parent / "results.json").read_text())
    rows = {r.role: r for r in demo_rows(results)}
    best, saving = rows["best single model"], rows["router, <= half the best's cost"]
    assert best.system == "gpt-4-1106-preview"
    assert saving.cost_per_query <= best.cost_per_query / 2
    assert rows["default router"].accuracy >= best.accuracy - 0.01
    assert re.search(r"gpt-4-1106-preview +│ best single model", output), output


def test_act_one_says_how_many_experts_each_question_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from router_svc.cli.demo import _team_sizes

    out = tmp_path / "results.jsonl"
    sizes = [1, 1, 3, 1]
    out.write_text("".join(json.dumps({"experts": [{}] * n}) + "\n" for n in sizes))
    _team_sizes(out)
    text = " ".join(capsys.readouterr().out.split())
    assert "3 questions with 1 expert, 1 question with 3 experts" in text
    assert "(1.50 experts per question)" in text
