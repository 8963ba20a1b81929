"""Build the long-lived parts of a process (models, embedder, store) and a suite's pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path

import numpy as np

from router_svc.aggregation.aggregator import Aggregator
from router_svc.backends.base import EngineContext, StreamDone
from router_svc.config.model_files import file_fingerprint, resolve_model_path
from router_svc.config.pool import PoolConfig
from router_svc.config.settings import Settings
from router_svc.errors import ConfigError
from router_svc.execution.cache import DEFAULT_CACHE_TTL_S, CacheLayer
from router_svc.execution.models import ModelManager
from router_svc.execution.runner import Executor
from router_svc.pipeline import Pipeline
from router_svc.routing.artifacts import ProfileArtifacts
from router_svc.routing.catalog import RouterCatalog
from router_svc.routing.feedback import FeedbackFollower
from router_svc.routing.profiles import ExpertProfile
from router_svc.routing.suite import suite_from_artifacts
from router_svc.routing.team_fit import Settling, TeamRules
from router_svc.routing.team_size import AUTO
from router_svc.store import Store, open_store
from router_svc.tagging.embedder import SentenceTransformerEmbedder
from router_svc.tagging.embedders import open_embedder
from router_svc.tagging.inventory import SkillInventory
from router_svc.tagging.registry import build_taggers as registered_taggers
from router_svc.tagging.sources import TaggerSources
from router_svc.tagging.tagger import LLMTagger, SkillTagger
from router_svc.tagging.vector_cache import MemoEmbedder
from router_svc.types import LoadStats


@dataclass
class Runtime:
    """What one process shares between requests: engines, the embedder, the state store."""

    settings: Settings
    pool: PoolConfig
    models: ModelManager
    store: Store
    stats: LoadStats = field(default_factory=LoadStats)
    use_cache: bool = True

    @classmethod
    def create(
        cls,
        settings: Settings,
        pool: PoolConfig,
        *,
        use_cache: bool = True,
        abandoned: StreamDone | None = None,
    ) -> Runtime:
        """``abandoned`` is told every generation whose caller stopped waiting for it."""
        context = EngineContext(settings.model_cache_dir, settings.n_threads, abandoned)
        stats = LoadStats()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        return cls(
            settings=settings,
            pool=pool,
            models=ModelManager.from_pool(pool, context, stats),
            store=open_store(
                settings.redis_url,
                settings.sqlite_path,
                prefix=settings.redis_prefix,
                context_ttl_s=settings.feedback_context_ttl_s,
                max_contexts=settings.feedback_max_contexts,
            ),
            stats=stats,
            use_cache=use_cache,
        )

    @cached_property
    def embedder(self) -> MemoEmbedder:
        """The pool's ``embedding_model``, built on first use (a model loads on first embed)."""
        return build_embedder(self.pool.embedding_model, self.settings.model_cache_dir)

    def executor(self) -> Executor:
        return Executor(self.models, self.stats, cache_layer=self.cache)

    @cached_property
    def cache(self) -> CacheLayer | None:
        """The generation cache layer every path shares (None with ``use_cache=False``)."""
        if not self.use_cache:
            return None
        return CacheLayer(self.store.cache, self.model_identity, DEFAULT_CACHE_TTL_S)

    def model_identity(self, expert: str) -> str:
        """A fingerprint of the expert's weights, part of every generation cache key."""
        model = self.pool.expert(expert).model
        return _fingerprint(model, self.settings.model_cache_dir)

    def profile_dir(self, suite: str) -> Path:
        return self.settings.skills_dir / suite

    async def close(self) -> None:
        await self.models.release_all()
        await self.store.close()


KNOB_SEARCHES = "knob-searches"
"""Under ``data_dir``: the default router's knob searches, kept by content so a restart on the
same profile does not search again (``routing.knob_cache``)."""
RECENT_VECTORS = 4096
"""Texts whose vectors a process remembers: a routed question is embedded once although the
embedding tagger and the router both read its vector."""


def build_embedder(model: str, cache_dir: Path) -> MemoEmbedder:
    """The pool's embedder (``tagging.embedders``: the static default, hashing or a
    sentence-transformers model), remembering its ``RECENT_VECTORS`` most recent texts."""
    inner = open_embedder(model, cache_dir)
    _one_blas_thread()
    return MemoEmbedder(inner, limit=RECENT_VECTORS)


def _one_blas_thread() -> None:
    """Routing's numpy products are small, and OpenBLAS's threads spin for a while after each,
    on the very cores the next question is embedded (and the engines generate) on: with
    MiniLM, routing one RouterBench question took 58 ms p50 on 2 cores, 27 ms with one BLAS
    thread; with the static embedder, one k-means of the starter suite (k: auto fits six at
    start) took 32 ms on a busy machine, 1 ms with one thread. So a process that routes keeps
    BLAS on one thread (threadpoolctl, in the ``server`` extra; left alone where missing)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(limits=1, user_api="blas")


@cache
def _fingerprint(model: str, cache_dir: Path) -> str:
    path = resolve_model_path(model, cache_dir)
    return file_fingerprint(path) if path.exists() else model


def build_taggers(runtime: Runtime, artifacts: ProfileArtifacts) -> dict[str, SkillTagger]:
    """Every registered tagger this pool and profile allow (llm only with ``tagger.expert``)."""
    ids = [qid for qid in artifacts.question_tags if qid in artifacts.question_text]
    sources = TaggerSources(
        questions=[artifacts.question_text[qid] for qid in ids],
        tags=[artifacts.question_tags[qid] for qid in ids],
        embedder=runtime.embedder,
        config=runtime.pool.tagger,
        engine=runtime.models.engine,
        inline=not isinstance(runtime.embedder.inner, SentenceTransformerEmbedder),
    )
    return registered_taggers(sources)


def llm_tagger(runtime: Runtime) -> LLMTagger | None:
    """The pool's LLM tagger (profiling tags the validation questions with it), if any."""
    pool = runtime.pool
    return LLMTagger.build(
        TaggerSources((), (), runtime.embedder, pool.tagger, runtime.models.engine)
    )


def build_routers(runtime: Runtime, folder: Path, artifacts: ProfileArtifacts) -> RouterCatalog:
    """Every routing method over the pool's routable experts that have a profile; the pool's
    ``routing.method`` is fitted now, so a profile it cannot use fails at startup."""
    pool, profiles = runtime.pool, artifacts.profiles
    experts = [e.name for e in pool.routable if e.name in profiles]
    if not experts:
        raise ConfigError("no routable expert of the pool has a profile; run router-svc profile")
    suite = suite_from_artifacts(
        folder,
        experts,
        runtime.embedder,
        expected_cost(pool, profiles, experts),
        price=lambda name, prompt, completion: pool.expert(name).cost(prompt, completion),
        search_cache=runtime.settings.data_dir / KNOB_SEARCHES,
    )
    routers = RouterCatalog(suite, pool.routing.method, pool.routing.method_options)
    routers.get(None)
    return routers


def expected_cost(
    pool: PoolConfig, profiles: dict[str, ExpertProfile], experts: list[str]
) -> np.ndarray:
    """Dollars per question: recorded costs where known, else prices x mean tokens."""
    costs = []
    for name in experts:
        profile = profiles[name]
        if profile.mean_cost is not None:
            costs.append(profile.mean_cost)
        else:
            costs.append(
                pool.expert(name).cost(
                    round(profile.mean_prompt_tokens), round(profile.mean_completion_tokens)
                )
            )
    return np.array(costs, dtype=float)


def build_pipeline(runtime: Runtime, suite: str, *, skip_unanimous: bool = True) -> Pipeline:
    """The pipeline for one profiled suite."""
    folder = runtime.profile_dir(suite)
    artifacts = ProfileArtifacts.load(folder)
    taggers = build_taggers(runtime, artifacts)
    default = runtime.pool.tagger.kind
    if default not in taggers:
        raise ConfigError(f"tagger.kind {default!r} is not available; known: {sorted(taggers)}")
    candidates = runtime.pool.aggregator_candidates
    aggregator = artifacts.aggregator or (candidates[0] if candidates else None)
    inventory = SkillInventory.load(folder)
    routers = build_routers(runtime, folder, artifacts)
    store = runtime.store.feedback
    follower = (
        None
        if store is None
        else FeedbackFollower(store, suite, routers, inventory, runtime.embedder)
    )
    team_rules = TeamRules(
        routers.suite,
        runtime.pool.routing.method_options,
        settling(artifacts, routers),
        fitted=routers.get,
    )
    if runtime.pool.k == AUTO and routers.default.scores_are_probabilities:
        team_rules(routers.default_name)  # learned now, so no request waits for it
    return Pipeline(
        taggers=taggers,
        default_tagger=default,
        embedder=runtime.embedder,
        inventory=inventory,
        routers=routers,
        executor=runtime.executor(),
        aggregator=Aggregator(
            aggregator,
            skip_unanimous=skip_unanimous,
            max_tokens=runtime.pool.aggregator_max_tokens,
        ),
        default_k=runtime.pool.k,
        team_rules=team_rules,
        feedback=follower,
    )


def settling(artifacts: ProfileArtifacts, routers: RouterCatalog) -> Settling:
    """How k: auto prices a team: the benchmarked aggregator's measured gain over a vote where
    the team disagrees and its cost, else a vote."""
    ranking = artifacts.aggregator_ranking
    best = ranking[0] if ranking else None
    if best is None or best.contested_gain is None or not best.items:
        return Settling()
    top = float(routers.suite.expected_cost.max(initial=0.0))
    cost = (best.cost or 0.0) / top if top > 0 else 0.0
    return Settling("aggregator", best.contested_gain, cost)
