"""The default router learning from graded answers while the service runs, without a restart.

``FeedbackFollower.refresh`` reads the suite's feedback log after its cursor (at most every
``interval_s``; every process follows the same log, so every API process and worker learns
from every grade) and turns the new records into evidence rows: the question's vector (the
service's embedder), its tags mapped onto the inventory, and each graded expert's score, NaN
for the experts the grade does not name. The catalog's default router is then replaced by
``KnnShrinkageRouter.with_feedback``: the rows go to its feedback level
(``routing.feedback_level``, default knobs, as the online replay), on top of the validation
estimate, which stays as it was. A default method that takes no evidence is left as it is.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

import numpy as np

from router_svc.routing.catalog import RouterCatalog
from router_svc.routing.evidence import Evidence, SkillRows
from router_svc.routing.knn_shrinkage import KnnShrinkageRouter
from router_svc.store.feedback import START, FeedbackPage, FeedbackRecord, FeedbackStore
from router_svc.tagging.embedder import Embedder
from router_svc.tagging.inventory import SkillInventory

logger = logging.getLogger(__name__)


class FeedbackFollower:
    """Keeps one suite's default router up to date with its feedback log."""

    def __init__(
        self,
        store: FeedbackStore,
        suite: str,
        routers: RouterCatalog,
        inventory: SkillInventory,
        embedder: Embedder,
        *,
        interval_s: float = 0.25,
    ) -> None:
        self.store = store
        self.suite = suite
        self.routers = routers
        self.inventory = inventory
        self.embedder = embedder
        self.interval_s = interval_s
        self.cursor = START
        self.rows = 0
        """Feedback rows the router holds."""
        self.drops: int | None = None
        self._base: KnnShrinkageRouter | None = None
        """The default router before any feedback (restored when the feedback is dropped)."""
        self._checked = -float("inf")
        self._lock = asyncio.Lock()

    async def refresh(self) -> int:
        """Add the records logged since the last look; how many were added."""
        if time.monotonic() - self._checked < self.interval_s:
            return 0
        async with self._lock:
            self._checked = time.monotonic()
            page = await self.store.since(self.suite, self.cursor)
            if self.drops is not None and page.drops != self.drops:
                page = await self._forget()
            self.drops = page.drops
            if not page.records:
                return 0
            router = self.routers.default
            if isinstance(router, KnnShrinkageRouter):
                if self._base is None:
                    self._base = router
                learned = await asyncio.to_thread(self._learned, router, page.records)
                self.routers.put(self.routers.default_name, learned)
                self.rows += len(page.records)
            self.cursor = page.cursor
            logger.info(
                "feedback: %d new graded answers for suite %s", len(page.records), self.suite
            )
            return len(page.records)

    async def _forget(self) -> FeedbackPage:
        """Back to the router before any feedback (the log was dropped); the whole log now."""
        if self._base is not None:
            self.routers.put(self.routers.default_name, self._base)
        self.cursor, self.rows = START, 0
        logger.info("feedback of suite %s was dropped; routing without it", self.suite)
        return await self.store.since(self.suite, START)

    def _learned(
        self, router: KnnShrinkageRouter, records: Sequence[FeedbackRecord]
    ) -> KnnShrinkageRouter:
        return router.with_feedback(self.evidence(router, records))

    def evidence(self, router: KnnShrinkageRouter, records: Sequence[FeedbackRecord]) -> Evidence:
        """The records as evidence rows (NaN for the experts a grade does not name)."""
        texts = [r.question for r in records]
        tags = [r.tags for r in records]
        vectors = np.asarray(self.embedder.embed(texts, kind="query"), dtype=np.float32)
        skills = self.inventory.map_many(tags, self.embedder)
        experts = {name: j for j, name in enumerate(router.matrix.experts)}
        scores = np.full((len(records), len(experts)), np.nan)
        costs = np.full_like(scores, np.nan)
        for i, record in enumerate(records):
            for name, score in record.scores.items():
                if name in experts:
                    j = experts[name]
                    scores[i, j] = score
                    costs[i, j] = record.costs.get(name, float(router.expected_cost[j]))
        matches = [[(m.skill, m.similarity) for m in row] for row in skills]
        return Evidence(
            vectors, scores, costs, SkillRows.of_matches(matches, router.matrix.skill_index())
        )
