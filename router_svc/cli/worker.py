"""`router-svc worker`: answer the questions of queued batches (POST /v1/batches)."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Annotated

import typer

from router_svc.assembly import Runtime, build_pipeline
from router_svc.batch.worker import BatchWorker, WorkerOptions, WorkerStats, default_consumer
from router_svc.cli._common import (
    ConfigOption,
    err_console,
    friendly_errors,
    pool_from,
    run_async,
    settings,
)
from router_svc.errors import ConfigError
from router_svc.store.redis import redact_url

logger = logging.getLogger(__name__)


@friendly_errors
def worker(
    config: ConfigOption = None,
    suite: Annotated[
        str, typer.Option("--suite", "-s", help="Suite of items that do not name one.")
    ] = "starter",
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Items claimed (and batched) per round.")
    ] = 16,
    min_idle_ms: Annotated[
        int,
        typer.Option(
            "--min-idle-ms",
            min=0,
            help="Reclaim items another worker left pending this long (keep it above the "
            "longest round).",
        ),
    ] = 30_000,
    block_ms: Annotated[
        int, typer.Option("--block-ms", min=0, help="Wait this long for work per empty claim.")
    ] = 1000,
    consumer: Annotated[
        str | None,
        typer.Option("--consumer", help="Worker name, unique per process (default: host-pid)."),
    ] = None,
    once: Annotated[
        bool, typer.Option("--once", help="Exit as soon as the queue is empty (tests, cron).")
    ] = False,
    max_idle_s: Annotated[
        float | None, typer.Option("--max-idle-s", min=0, help="Exit after this long without work.")
    ] = None,
    max_deliveries: Annotated[
        int, typer.Option("--max-deliveries", min=1, help="Fail an item claimed more often.")
    ] = 5,
) -> None:
    """Answer queued batch questions, grouped by expert, until SIGTERM/SIGINT."""
    try:
        options = WorkerOptions(
            consumer=consumer or default_consumer(),
            default_suite=suite,
            batch_size=batch_size,
            block_ms=block_ms,
            min_idle_ms=min_idle_ms,
            once=once,
            max_idle_s=max_idle_s,
            max_deliveries=max_deliveries,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    current = settings()
    where = redact_url(current.redis_url) if current.redis_url else str(current.sqlite_path)
    err_console.print(f"worker {options.consumer}: consuming batches from {where}", soft_wrap=True)
    runtime = Runtime.create(current, pool_from(config))
    try:
        stats = run_async(serve_worker(runtime, options))
    except asyncio.CancelledError:
        err_console.print(f"worker {options.consumer}: aborted; its claimed items go to others")
        raise typer.Exit(130) from None
    err_console.print(f"worker {options.consumer}: {stats.describe()}", soft_wrap=True)


async def serve_worker(runtime: Runtime, options: WorkerOptions) -> WorkerStats:
    """Run a worker on the runtime's store until SIGTERM/SIGINT (a second one aborts the round);
    closes ``runtime``."""
    worker = BatchWorker(
        runtime.store.jobs,
        lambda suite: build_pipeline(runtime, suite),
        options,
    )
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    signals = (signal.SIGTERM, signal.SIGINT)

    def on_signal() -> None:
        if worker.stopping and task is not None:
            logger.warning("worker %s: second signal; abandoning the round", options.consumer)
            task.cancel()
        worker.stop()

    for signum in signals:
        loop.add_signal_handler(signum, on_signal)
    logger.info("worker %s: started (batch size %d)", options.consumer, options.batch_size)
    try:
        return await worker.run()
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
        await runtime.close()
