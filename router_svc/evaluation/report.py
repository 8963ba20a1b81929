"""The bench report: ``report.md``, ``report.html``, ``results.json``, ``questions.jsonl``, plots.

The writer takes generic records (outcome tables and strategy results), so a replay bench and
a live bench write the same report. ``results.json`` has, per strategy, ``accuracy``,
``cost_per_query`` and ``gap_closed`` (plus the interval, tokens, wall time and model loads),
so other tools can read it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from router_svc.evaluation.metrics import (
    StrategyMetrics,
    SweepPoint,
    bootstrap_samples,
    summarise,
    sweep_front,
)
from router_svc.evaluation.plots import BackgroundPlots, write_plots
from router_svc.evaluation.records import StrategyResult
from router_svc.evaluation.report_html import write_html
from router_svc.replay.outcomes import OutcomeTable

FORMAT = "router-svc/bench-results"
VERSION = 1
BEST_SINGLE = "best-single"
PER_CATEGORY = "per-category-best"
ORACLE = "oracle"


@dataclass(frozen=True, eq=False)
class AblationRow:
    result: StrategyResult
    group: str
    """ladder (each idea added to the row above) or drop-one (the full router minus one)."""
    knobs: dict[str, float | None] | None = None
    """The knobs the variant ran with (chosen on validation where the method tunes them)."""
    compare_to: str | None = None
    """The row its change is measured against."""


@dataclass(frozen=True, eq=False)
class BenchReport:
    """Everything a report shows."""

    suite: str
    source: str
    created: str
    settings: dict[str, Any]
    validation: OutcomeTable
    test: OutcomeTable
    results: list[StrategyResult]
    sweeps: dict[str, list[SweepPoint]] = field(default_factory=dict)
    ablation: list[AblationRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    bootstrap: int = 1000
    default_strategy: str | None = None
    """The strategy the service runs by default (its routing method); None: not benched."""
    paper_strategy: str | None = None
    """The paper's method (symbolic-moe), which the summary compares the default against."""
    team: dict[str, str] = field(default_factory=dict)
    """The default router's team rows: role (k1, k3_vote, auto) -> strategy name."""
    team_rule: dict[str, Any] | None = None
    """The evidence k: auto's rule was learned from (``TeamRule.describe``)."""
    knob_search: dict[str, Any] | None = None
    """The default method's knob search on validation (``improved.knob_search_summary``)."""


def write_report(
    folder: Path, report: BenchReport, drawing: BackgroundPlots | None = None
) -> dict[str, Any]:
    """Write every file of the report into ``folder``; returns what results.json holds.
    ``drawing``: this report's plots, already being drawn (``start_plots``); None draws
    them here."""
    folder.mkdir(parents=True, exist_ok=True)
    metrics = _summarised(report, report.results) if drawing is None else drawing.metrics
    ablation = _summarised(report, [row.result for row in report.ablation])
    plots = write_plots(folder, metrics, report.sweeps) if drawing is None else drawing.wait()
    results = _results_json(report, metrics, ablation, plots)
    (folder / "results.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    _write_questions(folder / "questions.jsonl", report)
    (folder / "report.md").write_text(_markdown(report, metrics, ablation, plots), "utf-8")
    write_html(folder, results, metrics, plots)
    return results


def start_plots(folder: Path, report: BenchReport) -> BackgroundPlots:
    """Start drawing the report's plots in another process (they need only its strategies
    and sweeps), so a bench can run its ablation meanwhile; pass it to ``write_report``."""
    return BackgroundPlots(folder, _summarised(report, report.results), report.sweeps)


def _summarised(report: BenchReport, results: Sequence[StrategyResult]) -> list[StrategyMetrics]:
    """The report rows of ``results``, on the report's shared bootstrap samples."""
    samples = bootstrap_samples(len(report.test), report.bootstrap, report.seed)
    reference = reference_accuracies(report.results)
    return [summarise(r, report.test, samples, reference) for r in results]


def reference_accuracies(results: Sequence[StrategyResult]) -> tuple[float, float]:
    """(best single, oracle) accuracy; the best single expert's when no best-single row."""
    by_name = {r.name: float(r.scores.mean()) if len(r.scores) else 0.0 for r in results}
    singles = [by_name[r.name] for r in results if r.family == "single"]
    best = by_name.get(BEST_SINGLE, max(singles, default=0.0))
    return best, by_name.get(ORACLE, best)


# --- results.json ------------------------------------------------------------------------------


def _metrics_json(m: StrategyMetrics) -> dict[str, Any]:
    return {
        "family": m.family,
        "description": m.description,
        "accuracy": m.accuracy,
        "ci95": [m.interval.low, m.interval.high],
        "cost_per_query": m.cost_per_query,
        "tokens_per_query": m.tokens_per_query,
        "experts_per_query": m.experts_per_query,
        "gap_closed": m.gap_closed,
        "wall_s": m.wall_s,
        "model_loads": m.model_loads,
        "per_category": m.per_category,
        "recruited": m.recruited,
    }


def _results_json(
    report: BenchReport,
    metrics: list[StrategyMetrics],
    ablation: list[StrategyMetrics],
    plots: list[str],
) -> dict[str, Any]:
    by_name = {m.name: m for m in metrics}
    best, oracle = reference_accuracies(report.results)
    return {
        "format": FORMAT,
        "version": VERSION,
        "suite": report.suite,
        "source": report.source,
        "created": report.created,
        "settings": report.settings,
        "default_strategy": report.default_strategy,
        "questions": {"validation": len(report.validation), "test": len(report.test)},
        "experts": report.test.experts,
        "reference": {
            "best_single": best,
            "per_category_best": by_name[PER_CATEGORY].accuracy
            if PER_CATEGORY in by_name
            else None,
            "oracle": oracle,
        },
        "strategies": {m.name: _metrics_json(m) for m in metrics},
        "team": _team_json(report, by_name),
        "sweep": {
            name: [vars(point) for point in points] for name, points in report.sweeps.items()
        },
        "knob_search": report.knob_search,
        "ablation": [
            {
                "name": m.name,
                "group": row.group,
                "compare_to": row.compare_to,
                "knobs": row.knobs,
                **_metrics_json(m),
            }
            for m, row in zip(ablation, report.ablation, strict=True)
        ],
        "notes": report.notes,
        "timings_s": dict(report.timings),
        "plots": plots,
    }


def _team_json(report: BenchReport, by_name: dict[str, StrategyMetrics]) -> dict[str, Any]:
    """The default router's k = 1, k = 3 + vote and k: auto on the test lines."""
    team: dict[str, Any] = {
        role: {
            "strategy": name,
            "accuracy": by_name[name].accuracy,
            "experts_per_query": by_name[name].experts_per_query,
            "cost_per_query": by_name[name].cost_per_query,
        }
        for role, name in report.team.items()
        if name in by_name
    }
    if team and report.team_rule is not None:
        team["rule"] = report.team_rule
    return team


def _write_questions(path: Path, report: BenchReport) -> None:
    """One line per test question: every strategy's score and the experts it called."""
    test = report.test
    with path.open("w", encoding="utf-8") as handle:
        for row, qid in enumerate(test.ids):
            record = {
                "id": qid,
                "category": test.categories[row],
                "scores": {r.name: float(r.scores[row]) for r in report.results},
                "experts": {
                    r.name: r.chosen(test.experts, row)
                    for r in report.results
                    if r.family != "single"
                },
            }
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


# --- report.md -----------------------------------------------------------------------------------


def _markdown(
    report: BenchReport,
    metrics: list[StrategyMetrics],
    ablation: list[StrategyMetrics],
    plots: list[str],
) -> str:
    sections = [
        f"# Bench report: {report.suite}",
        _summary(metrics, report),
        _header(report),
        _strategy_table(metrics),
        _team_table(report, metrics),
        _ablation_tables(report.ablation, ablation),
        _knob_search_section(report.knob_search),
        _sweep_tables(report.sweeps),
        _category_table(metrics),
        _recruitment_table(metrics, report.test.experts),
        "## Plots\n\n" + "\n".join(f"![{Path(p).stem}]({p})" for p in plots),
        "## Notes\n\n" + "\n".join(f"- {note}" for note in report.notes),
    ]
    return "\n\n".join(s for s in sections if s) + "\n"


def _header(report: BenchReport) -> str:
    settings = ", ".join(f"{k}={v}" for k, v in report.settings.items())
    timings = ", ".join(f"{k} {v:.2f}s" for k, v in report.timings.items())
    return (
        "## Run\n\n"
        f"- source: `{report.source}`\n- created: {report.created}\n"
        f"- questions: {len(report.validation)} validation, {len(report.test)} test\n"
        f"- experts: {', '.join(report.test.experts)}\n- settings: {settings}\n"
        f"- time: {timings or '-'}"
    )


def _summary(metrics: list[StrategyMetrics], report: BenchReport) -> str:
    by_name = {m.name: m for m in metrics}
    routers = [m for m in metrics if m.family == "router"]
    lines = ["## Summary", ""]
    for label, name in (
        ("default router", report.default_strategy),
        ("the paper's method", report.paper_strategy),
    ):
        if name in by_name:
            m = by_name[name]
            lines.append(
                f"- {label} **{name}**: {_pct(m.accuracy)} "
                f"({_pct(m.interval.low)}-{_pct(m.interval.high)}), "
                f"gap closed {_share(m.gap_closed)}, ${m.cost_per_query:.6f}/query"
            )
    for name in (BEST_SINGLE, PER_CATEGORY, ORACLE):
        if name in by_name:
            lines.append(f"- {name}: {_pct(by_name[name].accuracy)} ({by_name[name].description})")
    if routers:
        top = max(routers, key=lambda m: m.accuracy)
        lines.append(
            f"- best router: **{top.name}** {_pct(top.accuracy)}, "
            f"gap closed {_share(top.gap_closed)}, ${top.cost_per_query:.6f}/query"
        )
    return "\n".join(lines)


def _team_table(report: BenchReport, metrics: list[StrategyMetrics]) -> str:
    """Does the team earn its cost: the default router's k = 1, k = 3 + vote and k: auto."""
    by_name = {m.name: m for m in metrics}
    rows = [
        f"| {role} | {name} | {_pct(by_name[name].accuracy)} | "
        f"{by_name[name].experts_per_query:.2f} | {by_name[name].cost_per_query:.6f} |"
        for role, name in report.team.items()
        if name in by_name
    ]
    if not rows:
        return ""
    head = (
        "## Team size (default router)\n\n"
        "| team | strategy | accuracy | experts/query | $/query |\n|---|---|---|---|---|"
    )
    rule = report.team_rule
    cut = rule.get("threshold") if rule else None
    where = (
        f"where the estimated gain of a vote exceeds {cut:.4f}"
        if cut is not None
        else "no question (no team's gain on validation was significant)"
    )
    note = (
        f"\n\nk: auto teams {where} (learned on {rule['validation_questions']} cross-fitted "
        f"validation questions, {_pct(float(rule['teamed_share']))} of them teamed)."
        if rule
        else ""
    )
    return head + "\n" + "\n".join(rows) + note


def _strategy_table(metrics: list[StrategyMetrics]) -> str:
    head = (
        "## Strategies\n\n| strategy | family | accuracy | 95% CI | gap closed | $/query "
        "| tokens/query | experts/query | wall s | loads |\n" + "|---" * 10 + "|"
    )
    rows = [
        f"| {m.name} | {m.family} | {_pct(m.accuracy)} | {_pct(m.interval.low)}-"
        f"{_pct(m.interval.high)} | {_share(m.gap_closed)} | {m.cost_per_query:.6f} | "
        f"{m.tokens_per_query:.0f} | {m.experts_per_query:.2f} | {m.wall_s:.3f} | {m.model_loads} |"
        for m in metrics
    ]
    return "\n".join([head, *rows])


def _ablation_tables(rows: list[AblationRow], metrics: list[StrategyMetrics]) -> str:
    if not rows:
        return ""
    by_name = {row.result.name: m for m, row in zip(metrics, rows, strict=True)}
    parts = ["## Ablation: what each idea contributes"]
    for group, title in (
        ("ladder", "Each idea added to the row above"),
        ("drop-one", "The full k=1 skill-plus without one idea"),
        ("default", "The default method without one level (other knobs as chosen on validation)"),
    ):
        parts.append(
            f"\n{title}:\n\n| variant | description | accuracy | 95% CI | change | gap closed "
            "| experts/query | $/query | knobs |\n|---|---|---|---|---|---|---|---|---|"
        )
        parts += [
            _ablation_line(m, row, by_name.get(row.compare_to or ""))
            for m, row in zip(metrics, rows, strict=True)
            if row.group == group
        ]
    return "\n".join(parts)


def _ablation_line(m: StrategyMetrics, row: AblationRow, base: StrategyMetrics | None) -> str:
    change = "" if base is None else f"{100 * (m.accuracy - base.accuracy):+.2f} pts"
    return (
        f"| {m.name} | {m.description} | {_pct(m.accuracy)} | {_pct(m.interval.low)}-"
        f"{_pct(m.interval.high)} | {change} | {_share(m.gap_closed)} | "
        f"{m.experts_per_query:.2f} | {m.cost_per_query:.6f} | {_knob_text(row.knobs)} |"
    )


def _knob_text(knobs: dict[str, float | None] | None) -> str:
    if knobs is None:
        return "-"
    return ", ".join(f"{k}={'off' if v is None else f'{v:g}'}" for k, v in knobs.items())


def _knob_search_section(search: dict[str, Any] | None) -> str:
    """The default method's knobs as chosen on validation, and the runners-up."""
    if search is None:
        return ""

    def cv(entry: dict[str, Any]) -> str:
        return ", ".join(
            f"{fold} {100 * entry['accuracy'][fold]:.2f} % / {entry['utility'][fold]:.4f}"
            for fold in entry["utility"]
        )

    lines = [
        "## Knobs of the default router (chosen on validation)",
        "",
        f"Cross-validated over {' and '.join(search['folds'])} folds "
        f"({search['settings_tried']} settings tried; a knob moves only on a significant "
        "gain). Scores: accuracy of the lambda = 0 choice / mean realised utility over the "
        "search's cost weights.",
        "",
        "| setting | knobs | cross-validated score | gain over chosen (s.e.) |",
        "|---|---|---|---|",
        f"| chosen | {_knob_text(search['chosen'])} | {cv(search)} | - |",
    ]
    for i, other in enumerate(search["runners_up"], start=1):
        lines.append(
            f"| runner-up {i} | {_knob_text(other['changed'])} | {cv(other)} | "
            f"{other['gain_over_chosen']:+.4f} ({other['standard_error']:.4f}) |"
        )
    teams = search.get("escalating_teams")
    if teams:
        lines += [
            "",
            f"Escalating teams, priced where lambda > 0: {len(teams['pairs'])} pairs "
            f"escalating to {teams['escalate_to']} ({', '.join(teams['pairs'])}); their "
            f"knobs, searched on the teams' own validation records: {_knob_text(teams['knobs'])}.",
        ]
    return "\n".join(lines)


def _sweep_tables(sweeps: dict[str, list[SweepPoint]]) -> str:
    if not sweeps:
        return ""
    parts = [
        "## Cost sweep (lambda: the cost weight of the recruiter, k=1)",
        "\nThe Pareto-efficient points of each sweep (results.json has every lambda). Every "
        "point of a sweep is the same router, fitted once on validation with one set of knobs "
        "(the knob section lists the default router's), only lambda changing.",
    ]
    for name, points in sweeps.items():
        teams = any(p.teams is not None for p in points)
        head = "| lambda | accuracy | $/query | tokens/query |" + (
            " escalating teams |" if teams else ""
        )
        parts.append(f"\n{name}:\n\n{head}\n|---|---|---|---|" + ("---|" if teams else ""))
        parts += [
            f"| {p.cost_weight:g} | {_pct(p.accuracy)} | {p.cost_per_query:.6f} | "
            f"{p.tokens_per_query:.0f} |" + (f" {_pct(p.teams or 0.0)} |" if teams else "")
            for p in sweep_front(points)
        ]
    if any(p.teams is not None for points in sweeps.values() for p in points):
        parts.append(
            "\nEscalating teams: the share of questions given a pair of experts whose shared "
            "answer stands, the validation's best expert answering where they differ "
            "(docs/concepts.md); their cost includes the escalations."
        )
    return "\n".join(parts)


def _category_table(metrics: list[StrategyMetrics]) -> str:
    categories = sorted({c for m in metrics for c in m.per_category})
    head = "| strategy | " + " | ".join(categories) + " |"
    rule = "|---|" + "---|" * len(categories)
    rows = [
        f"| {m.name} | " + " | ".join(_pct(m.per_category.get(c, 0.0)) for c in categories) + " |"
        for m in metrics
    ]
    return "\n".join(["## Accuracy per category", "", head, rule, *rows])


def _recruitment_table(metrics: list[StrategyMetrics], experts: list[str]) -> str:
    chosen = [m for m in metrics if m.family in ("router", "baseline", "oracle")]
    head = "| strategy | " + " | ".join(experts) + " |"
    rule = "|---|" + "---|" * len(experts)
    rows = [
        f"| {m.name} | " + " | ".join(str(m.recruited[e]) for e in experts) + " |" for m in chosen
    ]
    return "\n".join(["## How often each expert was recruited", "", head, rule, *rows])


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"
