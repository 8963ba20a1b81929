"""Batch jobs: upload a JSONL file of questions, let workers answer them, fetch the results.

    POST   /v1/batches               upload (multipart field ``file``, or a raw JSONL body);
                                     ``suite`` (or ``model``) and the routing knobs
                                     (``config.knobs``) as query or form fields -> the batch
    GET    /v1/batches/{id}          the batch object: status and request counts
    GET    /v1/batches/{id}/results  one JSON line per answered question, in input order;
                                     409 while the batch runs, unless ``?partial=true``
    POST   /v1/batches/{id}/cancel   cancel: workers skip the unanswered questions (OpenAI's)
    DELETE /v1/batches/{id}          delete the batch and its results (cancelled first if it
                                     runs); afterwards every operation on it is a 404

Every line of the upload is validated before anything is queued; the first bad line is a 400
naming the line and the field. Each question becomes one queue entry (``BatchPayload``);
``router-svc worker`` processes answer them. Batch statuses are OpenAI's where they exist:
``queued`` (not started), ``in_progress``, ``completed``, ``cancelled``.
"""

from __future__ import annotations

import email.parser
import email.policy
import logging
import uuid
from collections.abc import Iterator, Mapping
from email.message import Message
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import ValidationError

from router_svc.api.errors import HTTPError, invalid
from router_svc.api.schemas import ExpertModel, parse_model
from router_svc.api.service import routed_call
from router_svc.api.state import Services, ServicesDep, current_request_id
from router_svc.batch.payload import BatchPayload, BatchQuestion
from router_svc.batch.status import stage_status
from router_svc.config.knobs import KNOB_ERRORS, KNOBS, RoutingKnobs
from router_svc.errors import DataError
from router_svc.questions.suites import read_jsonl_records
from router_svc.store import CANCELLED, DONE, QUEUED, RUNNING, JobInfo

logger = logging.getLogger(__name__)

router = APIRouter(tags=["batches"])

JSONL_TYPES = ("application/jsonl", "application/x-ndjson", "text/plain")
RESULTS_TYPE = "application/x-ndjson"
FIELDS = ("suite", "model", *KNOBS)
STATUSES = {
    QUEUED: "queued",
    RUNNING: "in_progress",
    DONE: "completed",
    CANCELLED: "cancelled",
}


@router.post("/v1/batches")
async def create_batch(request: Request, services: ServicesDep) -> JSONResponse:
    """Validate every line of the upload, then queue one entry per question."""
    text, fields = await _upload(request)
    questions = parse_lines(text)
    suite, options = await _routing(services, {**request.query_params, **fields})
    payloads = [BatchPayload(suite=suite, question=q, options=options).to_json() for q in questions]
    batch_id = f"batch_{uuid.uuid4().hex}"
    job = await services.store.jobs.submit(batch_id, payloads, _meta(suite, options))
    logger.info(
        "request %s: batch %s queued, %d questions, suite %s, options %s",
        current_request_id(),
        batch_id,
        job.total,
        suite,
        options.model_dump(),
    )
    return JSONResponse(batch_object(job))


@router.get("/v1/batches/{batch_id}")
async def get_batch(batch_id: str, services: ServicesDep) -> JSONResponse:
    """The batch object; in the cluster mode with ``stages``: per-stage counts and the
    experts no live worker hosts."""
    body = batch_object(await services.store.jobs.info(batch_id))
    stages = await stage_status(services.store.jobs, batch_id)
    if stages is not None:
        body["stages"] = stages
    return JSONResponse(body)


@router.get("/v1/batches/{batch_id}/results")
async def get_results(
    batch_id: str, services: ServicesDep, partial: bool = False
) -> StreamingResponse:
    """The recorded results in input order; 409 while the batch runs, unless ``partial``."""
    jobs = services.store.jobs
    job = await jobs.info(batch_id)
    if job.status in (QUEUED, RUNNING) and not partial:
        raise HTTPError(
            409,
            f"batch {batch_id} is {STATUSES[job.status]}: {job.done + job.failed} of "
            f"{job.total} questions answered; poll GET /v1/batches/{batch_id} until its status "
            "is 'completed', or ask for ?partial=true",
            code="batch_not_finished",
        )
    results = await jobs.results(batch_id)
    headers = {
        "X-Batch-Status": STATUSES.get(job.status, job.status),
        "X-Batch-Partial": "true" if len(results) < job.total else "false",
    }
    lines = _lines(value for _, value in results)
    return StreamingResponse(lines, media_type=RESULTS_TYPE, headers=headers)


@router.delete("/v1/batches/{batch_id}")
async def delete_batch(batch_id: str, services: ServicesDep) -> JSONResponse:
    """Delete the batch, its queued questions and its results; a running batch is cancelled
    first, and an answer a worker finishes later is dropped."""
    job = await services.store.jobs.delete(batch_id)
    logger.info(
        "request %s: batch %s deleted (was %s, %d of %d answered)",
        current_request_id(),
        batch_id,
        job.status,
        job.done + job.failed,
        job.total,
    )
    return JSONResponse({"id": job.id, "object": "batch.deleted", "deleted": True})


@router.post("/v1/batches/{batch_id}/cancel")
async def cancel_batch(batch_id: str, services: ServicesDep) -> JSONResponse:
    """Cancel: workers skip the batch's unanswered questions; finished batches are unchanged."""
    job = await services.store.jobs.cancel(batch_id)
    logger.info("request %s: batch %s is %s", current_request_id(), batch_id, job.status)
    return JSONResponse(batch_object(job))


def batch_object(job: JobInfo) -> dict[str, Any]:
    """OpenAI's Batch object, as far as it applies."""
    finished = int(job.finished_at) if job.finished_at is not None else None
    return {
        "id": job.id,
        "object": "batch",
        "endpoint": "/v1/batches",
        "status": STATUSES.get(job.status, job.status),
        "created_at": int(job.created_at),
        "completed_at": finished if job.status == DONE else None,
        "cancelled_at": finished if job.status == CANCELLED else None,
        "request_counts": {"total": job.total, "completed": job.done, "failed": job.failed},
        "metadata": job.meta,
    }


def parse_lines(text: str) -> list[BatchQuestion]:
    """Every question of a JSONL upload; the first bad line is a 400 naming line and field."""
    try:
        questions = read_jsonl_records(text, "", BatchQuestion)
    except DataError as exc:
        raise invalid(f"{exc}; nothing was queued", exc.field, "invalid_batch_line") from exc
    if not questions:
        raise invalid("the upload holds no questions (one JSON object per line)", "file", "empty")
    return questions


async def _upload(request: Request) -> tuple[str, dict[str, str]]:
    """The JSONL text and the form fields of a multipart or raw upload."""
    content_type = request.headers.get("content-type", "")
    kind = content_type.split(";", 1)[0].strip().lower()
    body = await request.body()
    if kind == "multipart/form-data":
        data, fields = _multipart(content_type, body)
    elif kind in JSONL_TYPES:
        data, fields = body, {}
    else:
        raise HTTPError(
            415,
            f"unsupported content type {kind or '(none)'!r}: upload the file as multipart "
            "field 'file' (curl -F file=@questions.jsonl) or send the JSONL as the body with "
            f"Content-Type one of {', '.join(JSONL_TYPES)}",
            code="unsupported_media_type",
        )
    try:
        return data.decode("utf-8-sig"), fields
    except UnicodeDecodeError as exc:
        raise invalid(f"the upload is not UTF-8 text ({exc})", "file", "invalid_encoding") from exc


def _multipart(content_type: str, body: bytes) -> tuple[bytes, dict[str, str]]:
    """The ``file`` part and the text fields of a multipart/form-data body (stdlib parser)."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1", "replace")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise invalid("the multipart body could not be parsed", "file", "invalid_multipart")
    data: bytes | None = None
    fields: dict[str, str] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = _payload(part)
        if name == "file":
            data = payload
        elif isinstance(name, str) and name in FIELDS:
            fields[name] = payload.decode("utf-8", "replace").strip()
    if data is None:
        raise invalid("the multipart upload has no 'file' field", "file", "missing_field")
    return data, fields


def _payload(part: Message) -> bytes:
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


async def _routing(services: Services, raw: Mapping[str, str]) -> tuple[str, RoutingKnobs]:
    """The suite and routing options from query/form fields, checked as chat checks them."""
    values = {name: raw[name] for name in KNOBS if raw.get(name)}
    try:
        knobs = RoutingKnobs.model_validate(values, strict=False)  # form fields are text
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else None
        code = error["type"] if error["type"] in KNOB_ERRORS else "invalid_value"
        raise invalid(f"{field}: {error['msg']}", field, code) from exc
    suite, param = _suite(raw.get("suite") or None, raw.get("model") or None)
    call = await routed_call(services, suite, knobs, param)
    return call.suite, call.options.knobs()


def _suite(suite: str | None, model: str | None) -> tuple[str | None, str]:
    """``suite``, else the suite of ``model`` ('router-svc:<suite>'), else the default; with
    the field it came from."""
    if suite is not None or model is None:
        return suite, "suite"
    parsed = parse_model(model)
    if isinstance(parsed, ExpertModel):
        message = f"model {model!r}: batches go through the router; use 'router-svc' or "
        raise invalid(message + "'router-svc:<suite>'", "model")
    return parsed.suite, "model"


def _meta(suite: str, options: RoutingKnobs) -> dict[str, str]:
    meta = {"suite": suite, "request_id": current_request_id()}
    for name, value in options.model_dump().items():
        if value is not None:
            meta[name] = str(value)
    return meta


def _lines(values: Iterator[str]) -> Iterator[bytes]:
    for value in values:
        yield value.encode("utf-8") + b"\n"
