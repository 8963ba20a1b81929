"""`router-svc serve`: the OpenAI-compatible API under uvicorn.

The options become ROUTER_SVC_* variables of this process, which uvicorn's factory
(``router_svc.api.app:create_app_from_env``) reads through Settings. The pool and the suites'
profiles are checked before uvicorn starts, so a mistake is one line, not a traceback.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from router_svc.cli._common import ConfigOption, console, friendly_errors
from router_svc.config.loader import load_pool
from router_svc.config.settings import Settings
from router_svc.errors import ConfigError
from router_svc.routing.artifacts import PROFILE_FILE

FACTORY = "router_svc.api.app:create_app_from_env"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


class RequestIdDefault(logging.Filter):
    """Records logged outside the app (uvicorn's own) get request_id '-'."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = "-"
        return True


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging: one stderr handler, the request id on every line."""
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdDefault}},
        "formatters": {"default": {"format": LOG_FORMAT}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "filters": ["request_id"],
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": True},
        },
    }


def _set_env(name: str, value: str | None) -> None:
    if value is not None:
        os.environ[f"ROUTER_SVC_{name}"] = value


def check_suites(settings: Settings, suites: list[str]) -> None:
    """ConfigError naming the first suite without a profile."""
    for suite in suites:
        path = settings.skills_dir / suite / PROFILE_FILE
        if not path.is_file():
            raise ConfigError(
                f"suite {suite!r} has no profile at {path}; run: router-svc profile --suite {suite}"
            )


@friendly_errors
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address [ROUTER_SVC_HOST].")] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Port [ROUTER_SVC_PORT].")
    ] = None,
    config: ConfigOption = None,
    suite: Annotated[
        list[str] | None,
        typer.Option(
            "--suite",
            "-s",
            help="Suite to serve as router-svc:<suite> (repeat; the first is the default) "
            "[every folder under skills/ with a profile.json].",
        ),
    ] = None,
) -> None:
    """Serve /v1/chat/completions, /v1/route, /v1/models, /v1/batches and /metrics."""
    import uvicorn

    _set_env("HOST", host)
    _set_env("PORT", None if port is None else str(port))
    _set_env("CONFIG_PATH", None if config is None else str(Path(config).resolve()))
    if suite:
        _set_env("SERVE_SUITES", json.dumps([Path(name).name for name in suite]))
    try:
        settings = Settings()
    except ValidationError as exc:
        raise ConfigError(f"invalid ROUTER_SVC_* setting: {exc}") from exc
    load_pool(settings.config_path)
    check_suites(settings, settings.serve_suites)
    console.print(f"router-svc on http://{settings.host}:{settings.port}", highlight=False)
    uvicorn.run(
        FACTORY,
        factory=True,
        host=settings.host,
        port=settings.port,
        log_config=log_config(settings.log_level),
        access_log=False,
        timeout_graceful_shutdown=10,
    )
