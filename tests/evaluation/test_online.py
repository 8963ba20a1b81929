"""The online replay: a router learning from each answered question's feedback."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from router_svc.errors import ConfigError
from router_svc.evaluation.online import OnlineOptions, stream_order
from router_svc.routing.feedback_level import FeedbackKnobs

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SMALL = FIXTURES / "replay_small.jsonl"


def _bench(tmp_path: Path, *extra: str) -> tuple[dict, Path]:
    from router_svc.cli.main import app

    arguments = ["bench", "--replay", str(SMALL), "--out", str(tmp_path), "--no-ablation"]
    result = CliRunner().invoke(app, [*arguments, "--vectors", "hashing", "--online", *extra])
    assert result.exit_code == 0, result.output
    (folder,) = tmp_path.iterdir()
    return json.loads((folder / "results.json").read_text()), folder


def test_bandit_feedback_reports_a_learning_curve(tmp_path: Path) -> None:
    results, folder = _bench(tmp_path)
    online = results["online"]
    assert online["questions"] == results["questions"]["test"]
    assert online["feedback"] == online["questions"]
    assert online["extra_generations"] == 0  # only the expert the router ran reveals
    assert 0.0 <= online["accuracy"] <= 1.0
    assert online["frozen_accuracy"] == pytest.approx(
        results["strategies"][results["default_strategy"]]["accuracy"]
    )
    assert "## Online replay" in (folder / "report.md").read_text()
    assert (folder / "online.png").stat().st_size > 0


def test_full_feedback_pays_for_every_other_expert(tmp_path: Path) -> None:
    results, _ = _bench(tmp_path, "--feedback", "full", "--feedback-rate", "0.5", "--shuffle", "3")
    online = results["online"]
    assert 0 < online["feedback"] < online["questions"]
    assert online["extra_generations"] == online["feedback"] * (len(results["experts"]) - 1)


def test_no_feedback_is_the_frozen_router(tmp_path: Path) -> None:
    results, _ = _bench(tmp_path, "--feedback-rate", "0")
    online = results["online"]
    assert online["feedback"] == 0
    assert online["accuracy"] == online["frozen_accuracy"]


def test_a_seeded_shuffle_is_a_permutation() -> None:
    order = stream_order(50, 7)
    assert sorted(order.tolist()) == list(range(50))
    assert order.tolist() == stream_order(50, 7).tolist() != list(range(50))
    assert stream_order(5, None).tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"feedback": "partial"}, "feedback must be 'bandit' or 'full'"),
        ({"rate": 1.5}, "feedback rate must be in [0, 1]"),
        ({"window": 0}, "window must be >= 1"),
    ],
)
def test_bad_options_name_the_field(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        OnlineOptions(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"strength": -0.1}, "coupling strength must be in [0, 1]"),
        ({"pseudo": 0.0}, "pseudo must be > 0, not 0.0"),
        ({"temperature": -1.0}, "temperature must be > 0"),
        ({"neighbour_pseudo": 0.0}, "neighbour_pseudo must be > 0"),
        ({"neighbours": 5000}, "neighbours (5000) must be >= 0 and at most its window (4096)"),
    ],
)
def test_bad_feedback_knobs_name_the_field(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        FeedbackKnobs(**kwargs)
