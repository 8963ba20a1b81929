"""The online replay: the default router learning from feedback as a stream of questions comes in.

The test lines are streamed in file order (or a seeded shuffle). For each question the router
fitted on the validation lines, plus every feedback row so far, chooses one expert; then, for
a seeded fraction ``rate`` of the stream, the outcome is revealed and goes to the router's
feedback level (``KnnShrinkageRouter.with_feedback``, ``routing.feedback_level``), the path
the service's ``FeedbackFollower`` takes:

- ``bandit``: only the expert the router ran reveals its score (what production sees);
- ``full``: every expert's score is revealed (a team that runs every expert on a sample of its
  traffic and grades them; each revealed question costs the other experts' generations).

The feedback level corrects the frozen (validation) estimate by the revealed outcomes of the
rows that resemble a question, shrunk toward no correction by a pseudo-count; a bandit row's
unknown outcomes take on a share of its known error (``FeedbackKnobs.shared``, the default) or
come from coupling (``routing.coupling``, ``FeedbackKnobs.strength``). There is
no exploration: the router always runs its best estimate, so the online accuracy is what the
user gets, and bandit feedback costs no extra generation. The frozen router (the same fit, no
feedback) chooses over the same stream.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from router_svc.config.routers import DEFAULT_ROUTER, router_options
from router_svc.errors import ConfigError
from router_svc.evaluation.improved import MethodBench, RoutedSplit
from router_svc.routing.evidence import Evidence, SkillRows
from router_svc.routing.feedback_level import FeedbackKnobs
from router_svc.routing.inputs import Queries
from router_svc.routing.knn_shrinkage import KnnShrinkageRouter
from router_svc.routing.recruiter import RecruitOptions

FeedbackKind = Literal["bandit", "full"]


@dataclass(frozen=True)
class OnlineOptions:
    """Knobs of the online replay."""

    feedback: FeedbackKind = "bandit"
    rate: float = 1.0
    """Fraction of the stream whose outcome is revealed."""
    shuffle: int | None = None
    """Seed of the stream's order (None: file order)."""
    window: int = 50
    """Questions per point of the learning curve."""
    seed: int = 0
    """Seed of which questions reveal feedback (with ``rate`` < 1)."""
    knobs: FeedbackKnobs = field(default_factory=FeedbackKnobs)
    """The router's feedback level (the service's defaults unless told)."""

    def __post_init__(self) -> None:
        if self.feedback not in ("bandit", "full"):
            raise ConfigError(f"feedback must be 'bandit' or 'full', not {self.feedback!r}")
        if not 0.0 <= self.rate <= 1.0:
            raise ConfigError(f"feedback rate must be in [0, 1], not {self.rate}")
        if self.window < 1:
            raise ConfigError("the learning curve's window must be >= 1 question")


@dataclass(frozen=True, eq=False)
class OnlineRun:
    """One stream: per position, the question, both routers' scores and what was revealed."""

    options: OnlineOptions
    order: np.ndarray
    online: np.ndarray
    """(n,) the online router's score on each question of the stream."""
    frozen: np.ndarray
    best: np.ndarray
    """(n,) the score of the question's category's best expert on the test lines (hindsight)."""
    revealed: np.ndarray
    """(n,) experts whose outcome each question revealed."""
    ran: np.ndarray
    """(n,) experts the online router ran on each question."""

    @property
    def extra_generations(self) -> int:
        """Generations feedback needed beyond what the router ran anyway."""
        return int(np.maximum(self.revealed - self.ran, 0).sum())

    def curve(self) -> list[dict[str, float]]:
        """Accuracy of each consecutive window of the stream (the last one may be shorter)."""
        w = self.options.window
        return [
            {
                "start": float(s),
                "questions": float(min(w, len(self.order) - s)),
                "online": float(self.online[s : s + w].mean()),
                "frozen": float(self.frozen[s : s + w].mean()),
                "category_best": float(self.best[s : s + w].mean()),
            }
            for s in range(0, len(self.order), w)
        ]

    def as_json(self) -> dict[str, Any]:
        return {
            "accuracy": float(self.online.mean()),
            "frozen_accuracy": float(self.frozen.mean()),
            "questions": len(self.order),
            "feedback": int((self.revealed > 0).sum()),
            "extra_generations": self.extra_generations,
            "feedback_kind": self.options.feedback,
            "feedback_rate": self.options.rate,
            "order": "file" if self.options.shuffle is None else f"shuffle {self.options.shuffle}",
            "category_best_accuracy": float(self.best.mean()),
            "curve": self.curve(),
        }


def stream_order(count: int, shuffle: int | None) -> np.ndarray:
    """The stream's order over ``count`` questions: file order or a seeded shuffle."""
    if shuffle is None:
        return np.arange(count)
    return np.random.default_rng(shuffle).permutation(count)


def run_online(router: KnnShrinkageRouter, test: RoutedSplit, options: OnlineOptions) -> OnlineRun:
    """Stream ``test`` (tags mapped onto the router's suite) through ``router``, learning from
    the revealed outcomes; the frozen router chooses over the same stream."""
    if test.vectors is None or test.skills is None:
        raise ConfigError("the online replay needs question vectors and mapped skills")
    table = test.table
    order = stream_order(len(table), options.shuffle)
    reveal = np.random.default_rng(options.seed).random(len(order)) < options.rate
    frozen = _choices(router, test)[order]
    index = router.matrix.skill_index()
    online, ran, revealed = [], [], []
    current = router
    for step, row in enumerate(order.tolist()):
        parts = current.score_queries(_queries(test, row, row + 1))
        chosen = int(current.choose(parts, RecruitOptions(k=1))[0, 0])
        online.append(chosen)
        ran.append(1)
        if not reveal[step]:
            revealed.append(0)
            continue
        extra = feedback_row(test, row, chosen, options.feedback, index)
        revealed.append(int(extra.observed.sum()))
        current = current.with_feedback(extra, options.knobs)
    scores = np.asarray(table.scores, dtype=float)
    return OnlineRun(
        options,
        order,
        scores[order, np.asarray(online)],
        scores[order, frozen],
        _category_best(table.categories, scores)[order],
        np.asarray(revealed),
        np.asarray(ran),
    )


def feedback_row(
    test: RoutedSplit, row: int, chosen: int, kind: FeedbackKind, index: dict[str, int]
) -> Evidence:
    """One evidence row: the question's vector and skills, the revealed outcomes (NaN for the
    experts that stay unknown) and no task (production feedback names none)."""
    table, vectors = test.table, test.vectors
    if vectors is None or test.skills is None:
        raise ConfigError("the online replay needs question vectors and mapped skills")
    scores = np.asarray(table.scores[row : row + 1], dtype=float).copy()
    costs = np.asarray(table.costs[row : row + 1], dtype=float).copy()
    if kind == "bandit":
        hidden = np.ones(scores.shape[1], dtype=bool)
        hidden[chosen] = False
        scores[:, hidden] = np.nan
        costs[:, hidden] = np.nan
    skills = SkillRows.of_matches([[(m.skill, m.similarity) for m in test.skills[row]]], index)
    return Evidence(np.asarray(vectors[row : row + 1], dtype=np.float32), scores, costs, skills)


def _choices(router: KnnShrinkageRouter, test: RoutedSplit) -> np.ndarray:
    parts = router.score_queries(_queries(test, 0, len(test.table)))
    return np.asarray(router.choose(parts, RecruitOptions(k=1))[:, 0])


def _category_best(categories: list[str], scores: np.ndarray) -> np.ndarray:
    """(n,) each question's score from its category's best expert on these lines."""
    names = np.asarray(categories)
    out = np.zeros(len(names))
    for name in set(categories):
        rows = names == name
        out[rows] = scores[rows, int(np.argmax(scores[rows].mean(axis=0)))]
    return out


def online_report(
    folder: Path, bench: MethodBench, options: OnlineOptions, results: dict[str, Any]
) -> dict[str, Any]:
    """Run the online replay of the default router over the bench's test split and add it to
    the report in ``folder``; returns the updated results.json."""
    router = bench.fit(DEFAULT_ROUTER, router_options(DEFAULT_ROUTER))
    if not isinstance(router, KnnShrinkageRouter):
        raise ConfigError(f"the online replay needs a router that takes evidence, not {router}")
    return write_online(folder, run_online(router, bench.test, options), results)


def _queries(view: RoutedSplit, start: int, stop: int) -> Queries:
    return Queries(
        view.table.ids[start:stop],
        view.tags[start:stop],
        (view.skills or [])[start:stop],
        None if view.vectors is None else view.vectors[start:stop],
    )


def write_online(folder: Path, run: OnlineRun, results: dict[str, Any]) -> dict[str, Any]:
    """Add ``online`` to the report's results.json, the learning curve to report.md and
    ``online.png``; returns the updated results."""
    results = {**results, "online": run.as_json()}
    (folder / "results.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    _plot(folder / "online.png", run)
    with (folder / "report.md").open("a", encoding="utf-8") as report:
        report.write(_markdown(run))
    return results


def _markdown(run: OnlineRun) -> str:
    data = run.as_json()
    lines = [
        "",
        "## Online replay: learning from feedback",
        "",
        f"{data['questions']} test questions streamed in {data['order']} order; "
        f"{run.options.feedback} feedback on {data['feedback']} of them "
        f"(rate {run.options.rate:g}), {data['extra_generations']} extra generations. "
        f"Online accuracy {100 * data['accuracy']:.1f} % against "
        f"{100 * data['frozen_accuracy']:.1f} % for the frozen router and "
        f"{100 * data['category_best_accuracy']:.1f} % for each category's best expert "
        "chosen in hindsight.",
        "",
        "![learning curve](online.png)",
        "",
        "| questions | online | frozen | category best |",
        "|---|---|---|---|",
    ]
    for point in data["curve"]:
        start = int(point["start"])
        lines.append(
            f"| {start + 1}-{start + int(point['questions'])} | {100 * point['online']:.1f} % | "
            f"{100 * point['frozen']:.1f} % | {100 * point['category_best']:.1f} % |"
        )
    return "\n".join(lines) + "\n"


def _plot(path: Path, run: OnlineRun) -> None:
    from matplotlib.figure import Figure

    curve = run.curve()
    x = [p["start"] + p["questions"] for p in curve]
    figure = Figure(figsize=(7, 4))
    axes = figure.subplots()
    for key, label, colour in (
        ("online", f"online ({run.options.feedback} feedback)", "#2ca02c"),
        ("frozen", "frozen", "#1f77b4"),
        ("category_best", "category best (hindsight)", "#d62728"),
    ):
        axes.plot(x, [100 * p[key] for p in curve], label=label, color=colour, marker=".")
    n = np.arange(1, len(run.order) + 1)
    axes.plot(n, 100 * np.cumsum(run.online) / n, color="#2ca02c", alpha=0.4, ls="--")
    axes.plot(n, 100 * np.cumsum(run.frozen) / n, color="#1f77b4", alpha=0.4, ls="--")
    axes.set_xlabel("questions streamed")
    axes.set_ylabel(f"accuracy, % (windows of {run.options.window}; dashed: cumulative)")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
