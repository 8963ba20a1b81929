"""Tagger speed and agreement on the starter suite.

Milliseconds per question for the LLM tagger and the embedding tagger (median, p90), the
embedding tagger's throughput on a batch of 1,000 questions, and how often the two taggers
share at least one mapped skill. Writes perf/results/tagging.json. Needs skills/starter.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, percentile, write_results

from router_svc.assembly import Runtime, build_taggers
from router_svc.config.loader import load_pool
from router_svc.config.settings import Settings
from router_svc.questions.suites import load_suite
from router_svc.routing.artifacts import ProfileArtifacts
from router_svc.tagging.inventory import SkillInventory

LLM_QUESTIONS = 20
AGREEMENT_QUESTIONS = 40
BATCH = 1000


async def per_question_ms(tagger, questions: list[str]) -> list[float]:  # type: ignore[no-untyped-def]
    times = []
    for question in questions:
        started = time.perf_counter()
        await tagger.tag([question])
        times.append((time.perf_counter() - started) * 1000)
    return times


async def main() -> None:
    settings = Settings()
    runtime = Runtime.create(settings, load_pool(settings.config_path), use_cache=False)
    folder = runtime.profile_dir("starter")
    artifacts = ProfileArtifacts.load(folder)
    inventory = SkillInventory.load(folder)
    taggers = build_taggers(runtime, artifacts)
    questions = [q.question for q in load_suite("starter", settings.suites_dir).test]
    await taggers["embedding"].tag(questions[:2])  # warm-up
    await taggers["llm"].tag(questions[:1])
    embedding_ms = await per_question_ms(taggers["embedding"], questions[:AGREEMENT_QUESTIONS])
    llm_ms = await per_question_ms(taggers["llm"], questions[:LLM_QUESTIONS])
    batch = [f"{q} (variant {i})" for i in range(BATCH // len(questions) + 1) for q in questions]
    started = time.perf_counter()
    await taggers["embedding"].tag(batch[:BATCH])
    batch_s = time.perf_counter() - started
    sample = questions[:AGREEMENT_QUESTIONS]
    llm_tags = await taggers["llm"].tag(sample)
    embedding_tags = await taggers["embedding"].tag(sample)
    llm_skills = inventory.map_many(llm_tags, runtime.embedder)
    emb_skills = inventory.map_many(embedding_tags, runtime.embedder)
    shared = sum(
        bool({m.skill for m in a} & {m.skill for m in b})
        for a, b in zip(llm_skills, emb_skills, strict=True)
    )
    await runtime.close()
    write_results(
        "tagging",
        {
            "llm_tagger": {
                "questions": LLM_QUESTIONS,
                "samples_per_question": runtime.pool.tagger.samples,
                "ms_median": round(median(llm_ms), 1),
                "ms_p90": round(percentile(llm_ms, 90), 1),
            },
            "embedding_tagger": {
                "questions": len(embedding_ms),
                "ms_median": round(median(embedding_ms), 2),
                "ms_p90": round(percentile(embedding_ms, 90), 2),
                "batch_of_1000_s": round(batch_s, 3),
                "batch_questions_per_s": round(BATCH / batch_s, 1),
            },
            "agreement": {
                "questions": len(sample),
                "share_with_a_common_mapped_skill": round(shared / len(sample), 3),
            },
        },
    )


if __name__ == "__main__":
    asyncio.run(main())
