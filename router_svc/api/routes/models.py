"""``GET /v1/models``: the router (plain and one entry per served suite) and every expert."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from router_svc.api.schemas import ROUTER_MODEL
from router_svc.api.service import model_ids
from router_svc.api.state import Services, ServicesDep
from router_svc.errors import UnknownComponentError

router = APIRouter(tags=["models"])

_STARTED = int(time.time())


def _entry(model_id: str, details: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": model_id,
        "object": "model",
        "created": _STARTED,
        "owned_by": "router-svc",
        "router": details,
    }


def model_entries(services: Services) -> list[dict[str, Any]]:
    entries = [_entry(ROUTER_MODEL, {"kind": "router", "suite": services.default_suite})]
    for suite in services.suites:
        details = {"kind": "router", "suite": suite, "default": suite == services.default_suite}
        entries.append(_entry(f"{ROUTER_MODEL}:{suite}", details))
    for expert in services.runtime.pool.experts:
        details = {
            "kind": "expert",
            "engine": expert.engine,
            "routable": expert.routable,
            "tags": list(expert.tags),
        }
        entries.append(_entry(expert.name, details))
    return entries


@router.get("/v1/models")
async def list_models(services: ServicesDep) -> JSONResponse:
    """The models this server answers as, in OpenAI's list format."""
    return JSONResponse({"object": "list", "data": model_entries(services)})


@router.get("/v1/models/{model_id:path}")
async def get_model(model_id: str, services: ServicesDep) -> JSONResponse:
    """One model; 404 with the closest known name otherwise."""
    for entry in model_entries(services):
        if entry["id"] == model_id:
            return JSONResponse(entry)
    raise UnknownComponentError("model", model_id, model_ids(services))
