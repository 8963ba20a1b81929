"""The configuration reference, generated from the pydantic models' field descriptions."""

from __future__ import annotations

from pathlib import PurePath

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from router_svc.config.pool import ExpertConfig, FewShot, PoolConfig, RoutingConfig, TaggerConfig
from router_svc.config.registry import ENGINES, ROUTERS
from router_svc.config.routers import DEFAULT_ROUTER
from router_svc.config.settings import Settings

HEADER = """# Configuration reference

Generated from the pydantic models by `router-svc config schema`; do not edit by hand.

There are two layers. **Settings** are the process's: environment variables prefixed
`ROUTER_SVC_` (for example `ROUTER_SVC_REDIS_URL`). The **pool** is `experts.yaml`: the experts,
k, the aggregator candidates, the tagger and the embedding model. Both reject unknown fields.
"""


def reference() -> str:
    """Markdown tables of every settings and pool field, with types, defaults and descriptions."""
    sections = [HEADER, _table("Settings (environment, `ROUTER_SVC_*`)", Settings, env=True)]
    for title, model in (
        ("Pool (`experts.yaml`, top level)", PoolConfig),
        ("Expert (`experts.yaml`, each item of `experts`)", ExpertConfig),
        ("Tagger (`experts.yaml`, `tagger`)", TaggerConfig),
        ("Routing (`experts.yaml`, `routing`)", RoutingConfig),
        ("Few-shot example (`few_shot` items)", FewShot),
    ):
        sections.append(_table(title, model))
    for method in ROUTERS.names():
        options = ROUTERS.options(method)
        default = " (the default)" if method == DEFAULT_ROUTER else ""
        sections.append(
            _table(f"Routing method: `{method}`{default} (`routing.options.{method}`)", options)
        )
    for engine in ENGINES.names():
        sections.append(_table(f"Engine options: `{engine}` (`options`)", ENGINES.options(engine)))
    return "\n".join(sections)


def _table(title: str, model: type[BaseModel], *, env: bool = False) -> str:
    rows = [f"## {title}\n", "| field | type | default | description |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        label = f"`ROUTER_SVC_{name.upper()}`" if env else f"`{name}`"
        rows.append(f"| {label} | {_type(field)} | {_default(field)} | {field.description or ''} |")
    return "\n".join(rows) + "\n"


def _type(field: FieldInfo) -> str:
    text = str(field.annotation).replace("typing.", "").replace("pathlib.", "")
    text = text.replace("<class '", "").replace("'>", "")
    for prefix in ("router_svc.config.pool.", "pydantic.types."):
        text = text.replace(prefix, "")
    return f"`{text}`".replace("|", "\\|")


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        return "`" + repr(field.default_factory()).replace("|", "\\|") + "`"  # type: ignore[call-arg]
    if field.default is PydanticUndefined:
        return "required"
    default = str(field.default) if isinstance(field.default, PurePath) else field.default
    return f"`{default!r}`"
