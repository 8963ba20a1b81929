"""The OpenAPI document, made to say what the server does.

FastAPI's generated spec declares a 422 the server never sends (validation errors are 400s in
OpenAI's envelope), no error answers at all, no body for ``POST /v1/batches`` (the route reads
its upload itself) and JSON for answers that are event or NDJSON streams. ``truthful`` fixes
the generated document: every operation lists the error statuses it can answer with the
``Error`` envelope, the bearer scheme guards every path but the probes, and the odd bodies are
declared. tests/api/test_openapi.py runs schemathesis against a live server to keep it so.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from router_svc.api.auth import PUBLIC_PATHS
from router_svc.api.responses import RESPONSES, ChatCompletionChunk
from router_svc.api.schemas import MAX_TOKENS
from router_svc.api.service import KnobLimits, model_ids, router_ids
from router_svc.api.state import Services

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": "string"},
            },
        }
    },
}

_REASONS = {
    400: "Bad request: a field is missing, mistyped or out of range (param names it).",
    401: "Missing or wrong API key.",
    404: "Unknown model, batch or path.",
    409: "The batch is still running.",
    413: "Request body too large.",
    415: "Unsupported upload type.",
    429: "An expert's queue is full; retry after Retry-After seconds.",
    500: "Internal error (the log has the request id).",
    502: "A backend failed.",
    503: "Not ready, or the store is unreachable.",
    504: "A backend timed out, or the request's deadline passed.",
}
_PUBLIC_ERRORS = (500, 503)
_ERRORS = (400, 401, 404, 413, 429, 500, 502, 503, 504)
_EXTRA_ERRORS = {("post", "/v1/batches"): (415,), ("get", "/v1/batches/{batch_id}/results"): (409,)}

_BATCH_BODY = {
    "required": True,
    "description": "A JSONL file in the suite format: multipart field 'file', or the raw body.",
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary"}},
            },
            "example": {"file": '{"id": "q1", "question": "What is 2 + 2?"}\n'},
        },
        "application/jsonl": {"schema": {"type": "string"}},
        "application/x-ndjson": {"schema": {"type": "string"}},
    },
}
REF = "#/components/schemas/{model}"
_STREAMS = {("post", "/v1/chat/completions"): "text/event-stream"}
"""Operations whose 200 may also be this content type (``stream: true``)."""
_TEXTS = {
    ("get", "/metrics"): "text/plain",
    ("get", "/v1/batches/{batch_id}/results"): "application/x-ndjson",
}
"""Operations whose 200 is only this content type."""
_EVENTS = {
    "itemSchema": {
        "type": "object",
        "required": ["data"],
        "properties": {
            "event": {"type": "string"},
            "data": {
                "anyOf": [
                    {"const": "[DONE]", "description": "The end of the stream."},
                    {
                        "type": "string",
                        "contentMediaType": "application/json",
                        "contentSchema": {
                            "oneOf": [
                                {"$ref": REF.format(model="ChatCompletionChunk")},
                                {"$ref": REF.format(model="Error")},
                            ]
                        },
                    },
                ]
            },
        },
    }
}
"""A streamed answer, event by event (OpenAPI 3.2's itemSchema): each ``data`` is a
ChatCompletionChunk (or, after a failure, an Error) in JSON, and the last is ``[DONE]``."""


def install_openapi(app: FastAPI) -> None:
    """Serve ``truthful`` of FastAPI's generated document at /openapi.json, narrowed to what
    this server serves (``served``) once its services are built."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            generated = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            services = getattr(app.state, "services", None)
            spec = truthful(generated)
            app.openapi_schema = served(spec, services) if services is not None else spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def truthful(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` with the server's real statuses, security, bodies and content types."""
    components = spec.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    schemas["Error"] = ERROR_SCHEMA
    components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    models: list[type[BaseModel]] = [*RESPONSES.values(), ChatCompletionChunk]
    for model in models:
        _add_schema(schemas, model)
    for path, operations in spec.get("paths", {}).items():
        for method, operation in operations.items():
            _fix(method, path, operation)
    _link_batches(spec["paths"])
    return spec


def _link_batches(paths: dict[str, Any]) -> None:
    """OpenAPI links: the ``id`` a new batch answers with is the ``batch_id`` of the batch's
    other operations (a client generator and schemathesis follow them)."""
    links = {
        operation["operationId"]: {
            "operationId": operation["operationId"],
            "parameters": {"batch_id": "$response.body#/id"},
        }
        for path, operations in paths.items()
        if "{batch_id}" in path
        for operation in operations.values()
    }
    paths["/v1/batches"]["post"]["responses"]["200"]["links"] = links


def _add_schema(schemas: dict[str, Any], model: type[BaseModel]) -> None:
    """``model``'s JSON schema (and the ones it uses) among the document's components."""
    schema = model.model_json_schema(ref_template=REF)
    schemas.update(schema.pop("$defs", {}))
    schemas[model.__name__] = schema


def served(spec: dict[str, Any], services: Services) -> dict[str, Any]:
    """``spec`` narrowed to this server: the models, suites and taggers it serves, its k and
    messages limits. A request the narrowed document allows is one the server accepts."""
    schemas = spec["components"]["schemas"]
    settings, limits = services.settings, KnobLimits.of(services)
    routers = router_ids(services)
    for name in ("ChatCompletionRequest", "RouteRequest"):
        properties = schemas[name]["properties"]
        _narrow(properties["k"], {"maximum": limits.max_k})
        _narrow(properties["tagger"], {"enum": limits.taggers})
        _narrow(properties["messages"], {"maxItems": settings.max_messages})
    chat = schemas["ChatCompletionRequest"]["properties"]
    chat["model"]["enum"] = model_ids(services)
    for name in ("max_tokens", "max_completion_tokens"):
        _narrow(chat[name], {"maximum": min(settings.max_tokens, MAX_TOKENS)})
    route = schemas["RouteRequest"]["properties"]
    route["model"]["enum"] = routers
    route["suite"]["enum"] = list(services.suites)
    for operation in spec["paths"].get("/v1/feedback", {}).values():
        for parameter in operation.get("parameters", []):
            if parameter.get("name") == "suite":
                _narrow(parameter["schema"], {"enum": list(services.suites)})
    return spec


def _narrow(schema: dict[str, Any], limits: dict[str, Any]) -> None:
    """Add ``limits`` to the non-null branch of ``schema`` (an ``anyOf`` with null, or not)."""
    for branch in schema.get("anyOf", [schema]):
        if branch.get("type") != "null":
            branch.update(limits)


def _fix(method: str, path: str, operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    responses.pop("422", None)
    public = path in PUBLIC_PATHS
    statuses = _PUBLIC_ERRORS if public else _ERRORS + _EXTRA_ERRORS.get((method, path), ())
    for status in statuses:
        responses[str(status)] = _error_response(status)
    if not public:
        operation["security"] = [{"bearer": []}]
    if (method, path) == ("post", "/v1/batches"):
        operation["requestBody"] = _BATCH_BODY
    text = {"schema": {"type": "string"}}
    if (method, path) in RESPONSES:
        schema = {"$ref": REF.format(model=RESPONSES[method, path].__name__)}
        responses["200"]["content"] = {"application/json": {"schema": schema}}
    if (method, path) in _STREAMS:
        responses["200"]["content"][_STREAMS[method, path]] = _EVENTS
    if (method, path) in _TEXTS:
        responses["200"]["content"] = {_TEXTS[method, path]: text}


def _error_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": _REASONS[status],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if status == 429:
        response["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
    return response
