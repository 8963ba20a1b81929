"""`router-svc feedback import FILE | export | drop`: graded answers in and out of the store.

Both speak the replay format (docs/replay.md), one graded question a line, ``split: "test"``,
``outcomes`` holding only the experts graded (plus ``tags`` when known). The store is the
service's (``ROUTER_SVC_REDIS_URL``, else the SQLite file), so a running service learns an
import within seconds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from router_svc.cli._common import console, friendly_errors, run_async, settings
from router_svc.errors import ConfigError, DataError
from router_svc.replay.data import ReplayRecord
from router_svc.store import Store, open_store
from router_svc.store.feedback import FeedbackRecord, FeedbackStore

feedback_app = typer.Typer(help="Graded answers the router learns from.", no_args_is_help=True)

SuiteOption = Annotated[
    str | None, typer.Option("--suite", help="The suite (default: the first served one).")
]


def _suite(suite: str | None) -> str:
    if suite is not None:
        return suite
    from router_svc.api.state import served_suites

    served = served_suites(settings())
    if not served:
        raise ConfigError("no profiled suite; give --suite NAME")
    return served[0]


def _open() -> tuple[Store, FeedbackStore]:
    s = settings()
    store = open_store(s.redis_url, s.sqlite_path, prefix=s.redis_prefix)
    if store.feedback is None:
        raise ConfigError("this store keeps no feedback")
    return store, store.feedback


def read_graded(path: Path, suite: str) -> list[FeedbackRecord]:
    """The replay lines of ``path`` as feedback records; DataError naming the line."""
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            parsed = ReplayRecord.model_validate(raw)
        except (json.JSONDecodeError, ValidationError) as exc:
            raise DataError(f"{path}:{number}: not a replay line ({exc})") from exc
        tags = raw.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise DataError(f"{path}:{number}: tags must be a list of strings", "tags")
        outcomes = parsed.outcomes
        records.append(
            FeedbackRecord(
                parsed.id,
                suite,
                parsed.question,
                tags,
                {name: o.score for name, o in outcomes.items()},
                {name: o.cost for name, o in outcomes.items() if o.cost is not None},
                source="import",
            )
        )
    return records


def replay_line(record: FeedbackRecord) -> str:
    """A feedback record as a replay line."""
    outcomes = {
        name: {"score": score, **({"cost": record.costs[name]} if name in record.costs else {})}
        for name, score in record.scores.items()
    }
    line = {"id": record.id, "question": record.question, "split": "test"}
    return json.dumps({**line, "tags": record.tags, "outcomes": outcomes, "source": record.source})


@feedback_app.command("import")
@friendly_errors
def import_(file: Path, suite: SuiteOption = None) -> None:
    """Add a graded log (replay format) to the suite's feedback; lines graded already are
    skipped."""
    records = read_graded(file, _suite(suite))

    async def go() -> tuple[int, int]:
        store, feedback = _open()
        try:
            added = [await feedback.add(r) for r in records]
        finally:
            await store.close()
        return sum(added), len(added) - sum(added)

    added, skipped = run_async(go())
    console.print(f"imported {added} graded answers ({skipped} graded already)", highlight=False)


@feedback_app.command("export")
@friendly_errors
def export(
    suite: SuiteOption = None,
    out: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
) -> None:
    """Every graded answer of the suite as a replay file."""
    name = _suite(suite)

    async def go() -> list[FeedbackRecord]:
        store, feedback = _open()
        try:
            return (await feedback.since(name)).records
        finally:
            await store.close()

    text = "".join(replay_line(r) + "\n" for r in run_async(go()))
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")


@feedback_app.command("drop")
@friendly_errors
def drop(suite: SuiteOption = None) -> None:
    """Forget the suite's graded answers (validation records are untouched)."""
    name = _suite(suite)

    async def go() -> int:
        store, feedback = _open()
        try:
            return await feedback.drop(name)
        finally:
            await store.close()

    console.print(f"dropped {run_async(go())} graded answers of {name}", highlight=False)
