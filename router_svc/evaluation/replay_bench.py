"""The replay bench end to end: load -> tag -> inventory -> profiles -> strategies -> sweep ->
report. No strategy generates anything; every outcome comes from the replay file.

Tagging calls no LLM by default: ``KeywordTagger`` keywords, a cluster tag per question and
hashed word vectors (``--tagger keyword``), or the model's vectors (the static model distilled
from MiniLM by default, or MiniLM itself) for the embedding tagger, the clusters and the
neighbours (``--tagger embedding``). An LLM tagger, when one is given, adds
the skill router with LLM tags.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
from threadpoolctl import threadpool_limits

from router_svc.config.registry import ROUTERS
from router_svc.config.routers import DEFAULT_ROUTER, router_options
from router_svc.errors import ConfigError
from router_svc.evaluation.escalated import with_pairs
from router_svc.evaluation.improved import (
    LADDER,
    MethodBench,
    MethodRun,
    RoutedSplit,
    ablation_runs,
    default_ablation,
    fitted_knobs,
    knob_search_summary,
)
from router_svc.evaluation.metrics import SweepPoint
from router_svc.evaluation.online import OnlineOptions, online_report
from router_svc.evaluation.records import StrategyResult, one_hot
from router_svc.evaluation.report import AblationRow, BenchReport, start_plots, write_report
from router_svc.evaluation.strategies import baselines, routed_scores
from router_svc.evaluation.team import TeamBench, team_bench
from router_svc.replay.data import load_replay
from router_svc.replay.outcomes import OutcomeTable
from router_svc.routing.inputs import SuiteData
from router_svc.routing.memo import remembered
from router_svc.routing.neighbours import knn_choice, nearest
from router_svc.routing.recruiter import RecruitOptions
from router_svc.routing.suite import suite_from_table
from router_svc.tagging.embedder import (
    DEFAULT_MODEL,
    MINILM,
    Embedder,
    SentenceTransformerEmbedder,
)
from router_svc.tagging.embedders import open_embedder
from router_svc.tagging.hashing import HashingEmbedder
from router_svc.tagging.tagger import EmbeddingTagger, KeywordTagger, SkillTagger
from router_svc.tagging.vector_cache import DiskCachedEmbedder, MemoEmbedder

TaggerKind = Literal["keyword", "embedding"]
_BLAS_THREADS = 1
"""BLAS threads of the whole bench. Its products are many and small (k-means updates, fold
refits of a few thousand rows), where a second BLAS thread only adds synchronisation: on two
busy cores it made a 15,000-question bench 1.5x slower, and it would take the core the plots
are drawn on. The few big products (question x validation similarities) run once each
(``routing.memo``)."""
VectorKind = Literal["static", "minilm", "hashing"]
VECTOR_MODELS: dict[str, str] = {"static": DEFAULT_MODEL, "minilm": MINILM}
"""The embedding model of each model-backed ``vectors`` choice."""
LAMBDAS = (0.0, *(float(f"{w:.4g}") for w in np.geomspace(0.001, 1000.0, 801)))
"""Cost weights of the sweep: 0, then 800 geometric steps from 0.001 to 1000, fine enough that
a user's lambda between two of them chooses as one of them does, wide enough to reach the
cheapest expert (lambda is a continuous knob; the sweep shows what it buys)."""


@dataclass(frozen=True)
class BenchOptions:
    """Knobs of a replay bench."""

    tagger: TaggerKind = "keyword"
    k: int = 3
    """Voters for random-k and the k > 1 skill router."""
    seed: int = 0
    bootstrap: int = 1000
    neighbours: int = 10
    """Nearest validation questions the kNN router looks at."""
    lambdas: tuple[float, ...] = LAMBDAS
    ablation: bool = True
    router: str = DEFAULT_ROUTER
    """The method the report leads with (``default_strategy``) and sweeps over lambda."""
    vectors: VectorKind = "static"
    """Question vectors of the methods that read them (knn, knn-shrinkage): the service's
    default static model (distilled from MiniLM), MiniLM itself (both cached on disk per
    text), or hashed words (no model; for quick checks)."""
    model_cache_dir: Path = Path(".router-svc/models")
    vector_cache_dir: Path = Path(".router-svc/vectors")
    search_cache_dir: Path | None = Path(".router-svc/knob-searches")
    """Where the default router's knob searches are kept by content (None: not kept)."""
    holdout_category: str | None = None
    """An unseen task: profile (and choose every baseline) on the validation lines of the other
    categories, test on this category's test lines only."""
    online: OnlineOptions | None = None
    """Also stream the test lines through the default router, learning from feedback."""

    def __post_init__(self) -> None:
        if self.tagger not in ("keyword", "embedding"):
            raise ConfigError(f"tagger must be 'keyword' or 'embedding', not {self.tagger!r}")
        if self.vectors not in ("static", "minilm", "hashing"):
            raise ConfigError(
                f"vectors must be 'static', 'minilm' or 'hashing', not {self.vectors!r}"
            )
        if self.tagger == "embedding" and self.vectors == "hashing":
            raise ConfigError(
                "the embedding tagger needs a model's vectors (vectors='static' or 'minilm')"
            )
        ROUTERS.check(self.router)
        if self.k < 1 or self.neighbours < 1 or self.bootstrap < 10:
            raise ConfigError("k and neighbours must be >= 1 and bootstrap >= 10")


@dataclass(frozen=True, eq=False)
class View:
    """One split as the routers see it: outcomes, keyword tags and question vectors."""

    table: OutcomeTable
    keyword_tags: list[list[str]]
    vectors: np.ndarray


@dataclass(frozen=True, eq=False)
class Prepared:
    """Both splits tagged and embedded, plus the embedder that maps keywords to skills."""

    validation: View
    test: View
    skill_embedder: Embedder
    embedding_tags: list[list[str]]
    """Test tags from the embedding tagger (nearest validation questions' keyword tags)."""
    vectors_from: str


@dataclass(frozen=True)
class BenchRun:
    folder: Path
    results: dict[str, Any]


class ReplayBench:
    """Runs the replay bench; the embedder and an LLM tagger are optional collaborators."""

    def __init__(
        self,
        options: BenchOptions | None = None,
        *,
        embedder: Embedder | None = None,
        llm_tagger: SkillTagger | None = None,
    ) -> None:
        self.options = options or BenchOptions()
        self.embedder = embedder
        self.llm_tagger = llm_tagger
        self.timings: dict[str, float] = {}

    def run(self, path: Path, out: Path) -> BenchRun:
        """Bench ``path`` and write the report under ``out/<file stem>-<timestamp>/``."""
        with self._timed("load"):
            data = load_replay(path)
            validation, test = data.table("validation"), data.table("test")
            if self.options.holdout_category is not None:
                validation, test = holdout(validation, test, self.options.holdout_category)
        with self._timed("tag"):
            prepared = self.prepare(validation, test)
        # The plots are drawn on another core during the ablation. The methods' variants share
        # their neighbours and clusterings (``routing.memo``).
        with threadpool_limits(limits=_BLAS_THREADS, user_api="blas"), remembered():
            results, sweeps, bench = self.strategies(prepared)
            with self._timed("team"):
                team = self._team(bench, results)
            results += [r for role, r in team.results.items() if role != "k1"]
            report = BenchReport(
                suite=path.stem,
                source=str(path),
                created=datetime.now(UTC).isoformat(timespec="seconds"),
                settings=self._settings(prepared),
                validation=validation,
                test=test,
                results=results,
                sweeps=sweeps,
                notes=_notes(data.has_cost, test, self.options.holdout_category),
                timings=self.timings,
                seed=self.options.seed,
                bootstrap=self.options.bootstrap,
                default_strategy=self.options.router,
                paper_strategy="symbolic-moe",
                team={role: r.name for role, r in team.results.items()},
                team_rule=team.rule.describe() if team.rule is not None else None,
                knob_search=knob_search_summary(
                    bench.fit(self.options.router, router_options(self.options.router))
                ),
            )
            folder = report_folder(out, path.stem)
            drawing = start_plots(folder, report)  # on the other core, during the ablation
            with self._timed("ablation"):
                ablation = _ablation(bench) if self.options.ablation else []
        with self._timed("report"):
            results_json = write_report(folder, replace(report, ablation=ablation), drawing)
        if self.options.online is not None:
            with self._timed("online"):
                results_json = online_report(folder, bench, self.options.online, results_json)
        return BenchRun(folder, results_json)

    def prepare(self, validation: OutcomeTable, test: OutcomeTable) -> Prepared:
        """Keyword tags, question vectors and the embedding tagger's tags."""
        keyword = KeywordTagger(validation.questions)
        val_tags = keyword.tag_sync(validation.questions)
        questions, skills, source = self._embedders(validation)
        embedding = EmbeddingTagger(questions, validation.questions, val_tags)
        val_vectors, test_vectors = (
            _read_only(questions.embed(split.questions)) for split in (validation, test)
        )
        return Prepared(
            validation=View(validation, val_tags, val_vectors),
            test=View(test, keyword.tag_sync(test.questions), test_vectors),
            skill_embedder=skills,
            embedding_tags=_chunked(embedding.tag_sync, test.questions),
            vectors_from=source,
        )

    def _embedders(self, validation: OutcomeTable) -> tuple[Embedder, Embedder, str]:
        """(question embedder, skill embedder, description)."""
        if self.embedder is not None:
            memo = MemoEmbedder(self.embedder)
            return memo, memo, self.embedder.name
        options = self.options
        if options.vectors in VECTOR_MODELS:
            model = open_embedder(VECTOR_MODELS[options.vectors], options.model_cache_dir)
            if isinstance(model, SentenceTransformerEmbedder):
                model.progress = True
            memo = MemoEmbedder(DiskCachedEmbedder(model, options.vector_cache_dir))
            return memo, memo, model.name
        questions = HashingEmbedder.fitted(validation.questions)
        return questions, HashingEmbedder(256), "hashed words (no model)"

    def strategies(
        self, prepared: Prepared
    ) -> tuple[list[StrategyResult], dict[str, list[SweepPoint]], MethodBench]:
        """Every strategy's result on the test split, the cost sweeps, and the fitted methods
        (which the ablation reuses)."""
        options = self.options
        val, test = prepared.validation.table, prepared.test.table
        results = self._timed_list(lambda: baselines(val, test, k=options.k, seed=options.seed))
        results.append(self._timed_one(lambda: self._knn(prepared)))
        bench = MethodBench(
            self._suite(prepared, prepared.validation.keyword_tags), self._test(prepared)
        )
        results += [self._timed_one(partial(bench.run, run)) for run in self._runs()]
        results += self._other_tags(prepared, bench)
        with self._timed("sweep"):
            sweeps = {
                name: sweep(bench, MethodRun.default(name), test, options)
                for name in dict.fromkeys(("skill", options.router))
            }  # fmt: skip
        return results, sweeps, bench

    def _team(self, bench: MethodBench, results: list[StrategyResult]) -> TeamBench:
        """The default router with k = 1, k = 3 + vote and k: auto (``evaluation.team``)."""
        name = self.options.router
        single = next((r for r in results if r.name == name), None)
        return team_bench(bench, name, single)

    def _knn(self, prepared: Prepared) -> StrategyResult:
        val, test = prepared.validation, prepared.test
        rows, _ = nearest(test.vectors, val.vectors, self.options.neighbours)
        chosen = knn_choice(rows, val.table.scores, val.table.scores.mean(axis=0))
        return StrategyResult(
            "knn",
            "router",
            routed_scores(test.table, chosen),
            one_hot(chosen, len(test.table.experts)),
            f"best mean score on the {rows.shape[1]} nearest validation questions",
        )

    def _runs(self) -> list[MethodRun]:
        """Every registered method with its default options (``symbolic-moe`` with the paper's
        k draws and a vote), the skill method's top k + vote, and calibrated k."""
        k = self.options.k
        runs = [
            MethodRun.default(name, k=k if name == "symbolic-moe" else 1)
            for name in ROUTERS.names()
        ]
        runs.append(MethodRun.default("skill", f"skill k={k}+vote", k=k))
        runs.append(
            MethodRun(
                "skill-plus calibrated k",
                "skill-plus",
                router_options("skill-plus"),
                calibrated_k=True,
            )
        )
        return runs  # fmt: skip

    def _suite(self, prepared: Prepared, tags: list[list[str]]) -> SuiteData:
        val = prepared.validation
        suite = suite_from_table(val.table, tags, prepared.skill_embedder, val.vectors)
        return replace(suite, search_cache=self.options.search_cache_dir)

    def _test(self, prepared: Prepared, tags: list[list[str]] | None = None) -> RoutedSplit:
        test = prepared.test
        return RoutedSplit(test.table, tags or test.keyword_tags, test.vectors)

    def _other_tags(self, prepared: Prepared, bench: MethodBench) -> list[StrategyResult]:
        """The ``skill`` method with tags copied from the nearest validation questions
        (``EmbeddingTagger``), and with LLM tags when an LLM tagger is given."""
        view = self._test(prepared, prepared.embedding_tags)
        run = MethodRun.default("skill", "skill:embedding")
        results = [self._timed_one(lambda: bench.run(run, test=view))]
        if self.llm_tagger is not None:
            llm_val, llm_test = self._llm_tags(prepared.validation.table, prepared.test.table)
            llm = MethodBench(self._suite(prepared, llm_val), self._test(prepared, llm_test))
            run = MethodRun.default("skill", "skill:llm")
            results.append(self._timed_one(lambda: llm.run(run)))
        return results

    def _llm_tags(
        self, val: OutcomeTable, test: OutcomeTable
    ) -> tuple[list[list[str]], list[list[str]]]:
        if self.llm_tagger is None:
            raise ConfigError("no LLM tagger configured")
        tags = asyncio.run(self.llm_tagger.tag([*val.questions, *test.questions]))
        return tags[: len(val)], tags[len(val) :]

    def _settings(self, prepared: Prepared) -> dict[str, Any]:
        options = self.options
        return {
            "tagger": options.tagger,
            "vectors": prepared.vectors_from,
            "k": options.k,
            "seed": options.seed,
            "bootstrap": options.bootstrap,
            "knn_neighbours": options.neighbours,
            "llm_tagger": getattr(self.llm_tagger, "name", None),
            "holdout_category": options.holdout_category,
        }

    @contextmanager
    def _timed(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - started

    def _timed_one(self, make: Callable[[], StrategyResult]) -> StrategyResult:
        started = time.perf_counter()
        result = make()
        seconds = time.perf_counter() - started
        self.timings["strategies"] = self.timings.get("strategies", 0.0) + seconds
        return replace(result, wall_s=seconds)

    def _timed_list(self, make: Callable[[], list[StrategyResult]]) -> list[StrategyResult]:
        started = time.perf_counter()
        results = make()
        share = (time.perf_counter() - started) / max(len(results), 1)
        self.timings["strategies"] = self.timings.get("strategies", 0.0) + share * len(results)
        return [replace(result, wall_s=share) for result in results]


def sweep(
    bench: MethodBench, run: MethodRun, test: OutcomeTable, options: BenchOptions
) -> list[SweepPoint]:
    """Accuracy and cost of the method's k=1 choice for every cost weight lambda, by the
    method's own rule (``Recruiter.utility`` then ``recruit``, as ``assign`` does); a method
    that prices escalating teams is scored on the test outcomes with their columns."""
    router, parts = bench.fit(run.method, run.options), bench.parts(run)
    experts = len(test.experts)
    if router.escalations is not None:
        test = with_pairs(test, router.escalations)
    rows, points = np.arange(len(test)), []
    for weight in options.lambdas:
        chosen = router.recruit(router.utility(parts, weight)[1], RecruitOptions(k=1))[:, 0]
        points.append(
            SweepPoint(
                cost_weight=weight,
                accuracy=float(routed_scores(test, chosen).mean()),
                cost_per_query=float(test.costs[rows, chosen].astype(float).mean()),
                tokens_per_query=float(test.tokens[rows, chosen].astype(float).mean()),
                teams=float((chosen >= experts).mean()) if router.escalations else None,
            )
        )
    return points


def _ablation(bench: MethodBench) -> list[AblationRow]:
    """skill-plus's ladder (each row against the one above) and its drop-one rows, then the
    default method without one level each."""
    rows = []
    previous: str | None = None
    for run in ablation_runs():
        result = bench.run(run, family="ablation")
        knobs = fitted_knobs(bench.fit(run.method, run.options))
        if run in LADDER:
            rows.append(AblationRow(result, "ladder", knobs, previous))
            previous = run.name
        else:
            rows.append(AblationRow(result, "drop-one", knobs, "+tuning on validation"))
    full = MethodRun.default(DEFAULT_ROUTER)
    for run in default_ablation(bench.fit(full.method, full.options)):
        result = bench.run(run, family="ablation")
        knobs = fitted_knobs(bench.fit(run.method, run.options))
        rows.append(AblationRow(result, "default", knobs, None if run == full else full.name))
    return rows


def _read_only(vectors: np.ndarray) -> np.ndarray:
    """A split's question vectors, owned and read-only: every method reads them, none may
    change them, and ``routing.memo`` then hashes them once per run instead of per call."""
    owned = np.array(vectors, dtype=np.float32)
    owned.flags.writeable = False
    return owned


def _chunked(tag: Callable[[list[str]], list[list[str]]], questions: list[str]) -> list[list[str]]:
    """Tag in chunks, so a tagger's (questions x references) similarity block stays small."""
    return [
        row
        for start in range(0, len(questions), 1024)
        for row in tag(questions[start : start + 1024])
    ]


def holdout(
    validation: OutcomeTable, test: OutcomeTable, category: str
) -> tuple[OutcomeTable, OutcomeTable]:
    """(validation lines of every other category, test lines of ``category``): the routers and
    every baseline see ``category`` as an unseen task."""
    known = sorted({*validation.categories, *test.categories})
    if category not in known:
        raise ConfigError(
            f"holdout_category {category!r} is not a category of the file; "
            f"known: {', '.join(known)}"
        )
    kept = np.array([c != category for c in validation.categories], dtype=bool)
    tested = np.array([c == category for c in test.categories], dtype=bool)
    if not kept.any() or not tested.any():
        raise ConfigError(
            f"holdout_category {category!r} needs test lines of it and validation lines "
            "of another category"
        )
    return validation.take(kept), test.take(tested)


def _notes(has_cost: bool, test: OutcomeTable, holdout_category: str | None = None) -> list[str]:
    notes = [
        "Replay: every outcome comes from the file; nothing was generated, so model loads are 0.",
        "all+aggregator (one Mixture-of-Agents layer) needs generation; on replay data "
        "aggregation is the vote (all+vote).",
    ]
    if holdout_category is not None:
        notes.append(
            f"Hold-out category {holdout_category!r}: profiles and every choice on validation "
            "(best single, per-category best, knobs) use only the other categories' validation "
            f"lines; the test lines are {holdout_category!r} only (an unseen task)."
        )
    if not has_cost:
        notes.append("The file records no costs: every cost is 0.")
    if test.voted is None or not test.voted.all():
        notes.append(
            "Votes without recorded answers use the expected vote of scores (docs/replay.md)."
        )
    return notes


def report_folder(out: Path, suite: str) -> Path:
    """``out/<suite>-<UTC timestamp>``, with a counter if that folder already exists."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    folder = out / f"{suite}-{stamp}"
    counter = 1
    while folder.exists():
        counter += 1
        folder = out / f"{suite}-{stamp}-{counter}"
    folder.mkdir(parents=True)
    return folder
