"""``SuiteData`` from what profiling left under ``skills/<suite>/``, or from an outcome table.

The service reads the profile (``profile.json``), the inventory and every validation outcome
(``outputs.jsonl``: one record per question and expert; the last record of a pair wins, and its
stated answer is kept as a code for escalating teams). The
validation question vectors are computed with the given embedder only when a method needs
them, and cached per text next to the profile (``vectors-<key>/``, the key a hash of the
embedder's name; ``tagging.vector_cache``), so a changed suite or model never reads stale
vectors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from router_svc.errors import DataError
from router_svc.questions.grading import canonical, extract_answer, question_kind
from router_svc.questions.jsonl import read_records
from router_svc.replay.data import NO_CATEGORY
from router_svc.replay.outcomes import NO_ANSWER, OutcomeTable
from router_svc.routing.artifacts import OUTPUTS_FILE, ProfileArtifacts
from router_svc.routing.inputs import SuiteData
from router_svc.routing.learn import learn
from router_svc.routing.profiles import ProfileMatrix
from router_svc.tagging.embedder import Embedder
from router_svc.tagging.inventory import SkillInventory
from router_svc.tagging.vector_cache import cached_embed

Price = Callable[[str, int, int], float]
"""(expert, prompt tokens, completion tokens) -> dollars."""


def suite_from_artifacts(
    folder: Path,
    experts: Sequence[str],
    embedder: Embedder,
    expected_cost: np.ndarray,
    *,
    price: Price | None = None,
    search_cache: Path | None = None,
) -> SuiteData:
    """The suite profiled under ``folder``, for the routable ``experts`` that have a profile;
    knob searches are kept in ``search_cache`` (``SuiteData.search_cache``)."""
    artifacts = ProfileArtifacts.load(folder)
    records = _records(folder / OUTPUTS_FILE, set(experts))
    ids = [
        qid
        for qid in artifacts.question_tags
        if qid in artifacts.question_text and all((qid, e) in records for e in experts)
    ]
    if not ids:
        raise DataError(
            f"{folder / OUTPUTS_FILE}: no validation question has an outcome from every expert "
            f"({', '.join(experts)}); run router-svc profile again"
        )
    cells = [[records[qid, e] for e in experts] for qid in ids]
    texts = [artifacts.question_text[qid] for qid in ids]
    named = artifacts.question_category
    return SuiteData(
        experts=list(experts),
        matrix=ProfileMatrix.from_profiles(artifacts.profiles, experts),
        inventory=SkillInventory.load(folder),
        embedder=embedder,
        ids=ids,
        tags=[list(artifacts.question_tags[qid]) for qid in ids],
        scores=np.array([[_score(r) for r in row] for row in cells], dtype=float),
        costs=np.array([[_cost(r, price) for r in row] for row in cells], dtype=float),
        expected_cost=expected_cost,
        vector_source=lambda: cached_vectors(folder, texts, embedder),
        answer_source=lambda: answer_codes(texts, cells),
        categories=[named.get(qid, NO_CATEGORY) for qid in ids] if named else None,
        search_cache=search_cache,
    )


def suite_from_table(
    table: OutcomeTable,
    tags: Sequence[Sequence[str]],
    embedder: Embedder,
    vectors: np.ndarray | None = None,
) -> SuiteData:
    """A replay or live bench's validation split, profiled on ``tags`` (no generation)."""
    model = learn(table.experts, table.scores, tags, embedder, tokens=table.tokens)
    return SuiteData(
        experts=list(table.experts),
        matrix=model.matrix,
        inventory=model.inventory,
        embedder=embedder,
        ids=list(table.ids),
        tags=[list(row) for row in tags],
        scores=table.scores,
        costs=table.costs,
        expected_cost=table.costs.mean(axis=0),
        vector_source=(lambda: vectors) if vectors is not None else _no_vectors,
        answer_source=lambda: table.answers,
        categories=list(table.categories),
    )


def cached_vectors(folder: Path, texts: Sequence[str], embedder: Embedder) -> np.ndarray:
    """(n, d) query vectors of ``texts``, read from or written to ``folder`` (content-keyed)."""
    return cached_embed(folder, texts, embedder, "query")


def answer_codes(questions: Sequence[str], cells: Sequence[Sequence[dict[str, Any]]]) -> np.ndarray:
    """(n, e): each record's stated answer as a code per question (equal answers, equal code;
    ``NO_ANSWER`` where none): the record's ``answer``, else the one its ``text`` states
    (a replay profile records the response only)."""
    codes = np.full((len(cells), len(cells[0]) if cells else 0), NO_ANSWER, dtype=int)
    for row, (question, records) in enumerate(zip(questions, cells, strict=True)):
        kind, seen = question_kind(question), dict[str, int]()
        for column, record in enumerate(records):
            answer = record.get("answer") or (
                extract_answer(record["text"], kind) if record.get("text") else None
            )
            if answer:
                codes[row, column] = seen.setdefault(canonical(answer, kind), len(seen))
    return codes


def _records(path: Path, experts: set[str]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (r["question_id"], r["expert"]): r
        for r in read_records(path, torn_last_line=True, missing_ok=True)
        if r.get("expert") in experts and "question_id" in r
    }


def _score(record: dict[str, Any]) -> float:
    """A recorded score (replay profiles), else 1 for a correct answer and 0 otherwise."""
    score = record.get("score")
    return float(score) if score is not None else (1.0 if record.get("correct") else 0.0)


def _cost(record: dict[str, Any], price: Price | None) -> float:
    if record.get("cost") is not None:
        return float(record["cost"])
    if price is None:
        return 0.0
    prompt, completion = (
        int(record.get("prompt_tokens") or 0),
        int(record.get("completion_tokens") or 0),
    )
    return price(record["expert"], prompt, completion)


def _no_vectors() -> np.ndarray:
    raise ValueError("this suite has no question vectors; pass vectors to suite_from_table")
