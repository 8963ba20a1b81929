"""`router-svc worker`: answer the questions of queued batches (POST /v1/batches)."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Annotated

import typer

from router_svc.assembly import Runtime, build_pipeline
from router_svc.batch.expert_worker import ClusterOptions, ClusterStats, ExpertWorker
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
from router_svc.store.redis_stages import stages_of

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
    experts: Annotated[
        str | None,
        typer.Option(
            "--experts",
            help="Cluster mode (Redis): host only these experts (comma-separated), or 'auto' "
            "to pick --slots of them from the backlog; see docs/deployment.md.",
        ),
    ] = None,
    slots: Annotated[
        int, typer.Option("--slots", min=1, help="Cluster mode, --experts auto: experts hosted.")
    ] = 2,
    route: Annotated[
        bool, typer.Option("--route/--no-route", help="Cluster mode: route new questions.")
    ] = True,
    aggregate: Annotated[
        bool,
        typer.Option("--aggregate/--no-aggregate", help="Cluster mode: settle answered questions."),
    ] = True,
    heartbeat_s: Annotated[
        float,
        typer.Option("--heartbeat-s", min=0.1, help="Cluster mode: claim heartbeat interval."),
    ] = 5.0,
) -> None:
    """Answer queued batch questions, grouped by expert, until SIGTERM/SIGINT.

    Without --experts every worker runs the whole pipeline on the questions it claims; with
    --experts it is an expert-affine worker of the cluster mode (docs/deployment.md)."""
    if experts is not None:
        names = () if experts.strip() == "auto" else _names(experts)
        cluster = _cluster_options(
            consumer or default_consumer(),
            ClusterOptions,
            experts=names,
            slots=slots,
            route=route,
            aggregate=aggregate,
            default_suite=suite,
            batch_size=batch_size,
            min_idle_ms=min_idle_ms,
            heartbeat_s=heartbeat_s,
            max_deliveries=max_deliveries,
            max_idle_s=max_idle_s,
        )
        _run_cluster(config, cluster)
        return
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


def _names(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    if not names:
        raise ConfigError("--experts: name at least one expert, or 'auto'")
    return names


def _cluster_options(consumer: str, cls: type[ClusterOptions], **values: object) -> ClusterOptions:
    try:
        return cls(consumer=consumer, **values)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def _run_cluster(config: ConfigOption, options: ClusterOptions) -> None:
    current = settings()
    if not current.redis_url:
        raise ConfigError("--experts (cluster mode) needs Redis: set ROUTER_SVC_REDIS_URL")
    runtime = Runtime.create(current, pool_from(config))
    known = [e.name for e in runtime.pool.routable]
    unknown = [e for e in options.experts if e not in known]
    if unknown:
        raise ConfigError(f"--experts: {', '.join(unknown)} not in the pool ({', '.join(known)})")
    hosted = ", ".join(options.experts) or f"auto ({options.slots} slots)"
    err_console.print(f"worker {options.consumer}: hosting {hosted}", soft_wrap=True)
    try:
        stats = run_async(serve_cluster(runtime, options))
    except asyncio.CancelledError:
        raise typer.Exit(130) from None
    err_console.print(f"worker {options.consumer}: {stats.describe()}", soft_wrap=True)


async def serve_cluster(runtime: Runtime, options: ClusterOptions) -> ClusterStats:
    """Run an expert-affine worker until SIGTERM/SIGINT; closes ``runtime``."""
    stages = stages_of(runtime.store.jobs)
    if stages is None:
        raise ConfigError("--experts (cluster mode) needs the Redis store")
    worker = ExpertWorker(
        runtime.store.jobs,
        stages,
        lambda suite: build_pipeline(runtime, suite),
        runtime.executor(),
        runtime.stats,
        [e.name for e in runtime.pool.routable],
        options,
        progress=lambda line: err_console.print(line, soft_wrap=True),
    )
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)
    for signum in signals:
        loop.add_signal_handler(signum, worker.stop)
    try:
        return await worker.run()
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
        await runtime.close()


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
