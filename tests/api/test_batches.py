"""/v1/batches on a real server (uvicorn subprocess, real Redis) with real worker processes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
import redis

from tests.support import (
    REDIS_URL,
    ROOT,
    SUITES,
    drop_redis_prefix,
    redis_env,
    server_environ,
    start_server,
)

TINY_TEST = SUITES / "tiny" / "test.jsonl"
WORKER = [sys.executable, "-c", "from router_svc.cli.main import app; app()", "worker"]


@pytest.fixture(scope="module")
def server(tiny_profile_env: dict[str, str]) -> Iterator[tuple[str, dict[str, str]]]:
    """A server of the tiny suite on a Redis prefix of its own: (base URL, its settings)."""
    env = {**tiny_profile_env, **redis_env("batches")}
    with start_server(env) as base_url:
        yield base_url, env
    drop_redis_prefix(env["ROUTER_SVC_REDIS_PREFIX"])


@pytest.fixture
def client(server: tuple[str, dict[str, str]]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server[0], timeout=60) as http:
        yield http


def depth(env: dict[str, str]) -> int:
    """Queue entries not finished yet, read straight from Redis."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        return int(client.xlen(f"{env['ROUTER_SVC_REDIS_PREFIX']}:jobs:stream"))
    finally:
        client.close()


def tiny_lines(count: int) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in TINY_TEST.read_text().splitlines()[:count]]
    for line in lines[::2]:  # the gold answer is optional
        del line["gold_answer"]
    return lines


def jsonl(records: list[Any]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def upload(client: httpx.Client, body: bytes, **fields: str) -> httpx.Response:
    files = {"file": ("questions.jsonl", body, "application/jsonl")}
    return client.post("/v1/batches", files=files, data=fields)


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


def run_worker(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [*WORKER, "--suite", "tiny", "--block-ms", "200", "--once", *args]
    return subprocess.run(
        command, env=server_environ(env), cwd=ROOT, capture_output=True, text=True, timeout=600
    )


GOOD = {"id": "a", "question": "What is 2 + 2?"}
BAD_LINES = [
    pytest.param([GOOD, {"id": "b"}], "line 2: missing field 'question'", "question", id="missing"),
    pytest.param([GOOD, GOOD | {"id": "b"}, "{oops"], "line 3: invalid JSON", None, id="json"),
    pytest.param([[1, 2]], "line 1: expected a JSON object, got list", None, id="not-object"),
    pytest.param(
        [GOOD, {"id": "b", "question": "x"}, GOOD],
        "line 3: duplicate id 'a' (first on line 1)",
        "id",
        id="duplicate",
    ),
    pytest.param([GOOD, {"id": "", "question": "x"}], "line 2: field 'id'", "id", id="empty-id"),
    pytest.param(
        [GOOD | {"category": ["x"]}], "line 1: field 'category'", "category", id="bad-type"
    ),
]


@pytest.mark.parametrize(("records", "message", "param"), BAD_LINES)
def test_a_bad_line_is_a_400_and_nothing_is_queued(
    client: httpx.Client,
    server: tuple[str, dict[str, str]],
    records: list[Any],
    message: str,
    param: str | None,
) -> None:
    before = depth(server[1])
    body = b"".join(
        (r.encode() if isinstance(r, str) else json.dumps(r).encode()) + b"\n" for r in records
    )
    error = error_of(upload(client, body), 400)
    assert message in error["message"]
    assert "nothing was queued" in error["message"]
    assert (error["code"], error["param"], error["type"]) == (
        "invalid_batch_line",
        param,
        "invalid_request_error",
    )
    assert depth(server[1]) == before


@pytest.mark.parametrize(
    ("fields", "param", "code"),
    [
        ({"suite": "nope"}, "suite", "unknown_suite"),
        ({"model": "router-svc:nope"}, "model", "model_not_found"),
        ({"model": "smol-math"}, "model", "invalid_value"),
        ({"k": "0"}, "k", "invalid_value"),
        ({"k": "99"}, "k", "invalid_k"),
        ({"k": "two"}, "k", "invalid_value"),
        ({"tagger": "nope"}, "tagger", "unknown_tagger"),
        ({"cost_weight": "-1"}, "cost_weight", "invalid_value"),
    ],
)
def test_bad_routing_fields_are_rejected(
    client: httpx.Client,
    server: tuple[str, dict[str, str]],
    fields: dict[str, str],
    param: str,
    code: str,
) -> None:
    before = depth(server[1])
    response = upload(client, jsonl([GOOD]), **fields)
    status = 404 if code == "model_not_found" else 400
    error = error_of(response, status)
    assert (error["param"], error["code"]) == (param, code)
    # The same fields as query parameters are checked the same way.
    query = client.post("/v1/batches", params=fields, files={"file": ("q.jsonl", jsonl([GOOD]))})
    assert error_of(query, status)["param"] == param
    assert depth(server[1]) == before


def test_uploads_that_are_not_jsonl_files(client: httpx.Client) -> None:
    empty = error_of(upload(client, b"\n  \n"), 400)
    assert (empty["code"], empty["param"]) == ("empty", "file")
    wrong_type = client.post("/v1/batches", content=b"a,b", headers={"content-type": "text/csv"})
    assert "multipart field 'file'" in error_of(wrong_type, 415)["message"]
    no_file = client.post("/v1/batches", files={"other": ("x.jsonl", jsonl([GOOD]))})
    assert error_of(no_file, 400)["code"] == "missing_field"
    latin1 = client.post(
        "/v1/batches", content=b'{"id": "a", "question": "caf\xe9"}', headers=_NDJSON
    )
    assert error_of(latin1, 400)["code"] == "invalid_encoding"


_NDJSON = {"content-type": "application/x-ndjson"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/batches/batch_0123"),
        ("GET", "/v1/batches/batch_0123/results"),
        ("DELETE", "/v1/batches/batch_0123"),
        ("POST", "/v1/batches/batch_0123/cancel"),
        ("GET", "/v1/batches/not%20an%20id"),
    ],
)
def test_an_unknown_batch_is_a_404(client: httpx.Client, method: str, path: str) -> None:
    error = error_of(client.request(method, path), 404)
    assert error["code"] == "job_not_found"
    assert "no job" in error["message"]


def test_cancel_a_raw_jsonl_batch(client: httpx.Client, server: tuple[str, dict[str, str]]) -> None:
    before = depth(server[1])
    created = client.post("/v1/batches?k=2", content=jsonl(tiny_lines(2)), headers=_NDJSON)
    assert created.status_code == 200, created.text
    batch = created.json()
    assert batch["id"].startswith("batch_") and len(batch["id"]) == len("batch_") + 32
    assert (batch["object"], batch["status"]) == ("batch", "queued")
    assert batch["request_counts"] == {"total": 2, "completed": 0, "failed": 0}
    assert batch["metadata"]["suite"] == "tiny" and batch["metadata"]["k"] == "2"
    assert depth(server[1]) == before + 2

    running = error_of(client.get(f"/v1/batches/{batch['id']}/results"), 409)
    assert running["code"] == "batch_not_finished"

    sdk = openai.OpenAI(base_url=f"{server[0]}/v1", api_key="unused")
    retrieved = sdk.batches.retrieve(batch["id"])
    assert (retrieved.id, retrieved.status, retrieved.request_counts.total) == (
        batch["id"],
        "queued",
        2,
    )

    cancelled = client.post(f"/v1/batches/{batch['id']}/cancel").json()
    assert (cancelled["status"], cancelled["completed_at"]) == ("cancelled", None)
    assert cancelled["cancelled_at"] >= batch["created_at"]
    assert client.get(f"/v1/batches/{batch['id']}").json()["status"] == "cancelled"
    again = sdk.batches.cancel(batch["id"])  # OpenAI's POST /v1/batches/{id}/cancel
    assert (again.status, again.cancelled_at) == ("cancelled", cancelled["cancelled_at"])
    results = client.get(f"/v1/batches/{batch['id']}/results")
    assert (results.status_code, results.content) == (200, b"")
    assert results.headers["x-batch-status"] == "cancelled"
    assert results.headers["x-batch-partial"] == "true"

    # A worker drops the cancelled entries without answering them.
    finished = run_worker(server[1])
    assert finished.returncode == 0, finished.stderr
    assert depth(server[1]) == 0
    assert client.get(f"/v1/batches/{batch['id']}").json()["request_counts"]["completed"] == 0


def gone(client: httpx.Client, batch_id: str) -> None:
    """Every operation on ``batch_id`` is a 404."""
    for method, path in [
        ("GET", f"/v1/batches/{batch_id}"),
        ("GET", f"/v1/batches/{batch_id}/results"),
        ("GET", f"/v1/batches/{batch_id}/results?partial=true"),
        ("POST", f"/v1/batches/{batch_id}/cancel"),
        ("DELETE", f"/v1/batches/{batch_id}"),
    ]:
        assert error_of(client.request(method, path), 404)["code"] == "job_not_found"


def test_delete_removes_a_batch_and_its_queued_questions(
    client: httpx.Client, server: tuple[str, dict[str, str]]
) -> None:
    before = depth(server[1])
    created = upload(client, jsonl(tiny_lines(3)), suite="tiny")
    assert created.status_code == 200, created.text
    batch_id = created.json()["id"]
    assert depth(server[1]) == before + 3

    deleted = client.delete(f"/v1/batches/{batch_id}")

    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {"id": batch_id, "object": "batch.deleted", "deleted": True}
    assert depth(server[1]) == before
    gone(client, batch_id)
    sdk = openai.OpenAI(base_url=f"{server[0]}/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.NotFoundError):
        sdk.batches.retrieve(batch_id)
    finished = run_worker(server[1])  # nothing of the batch is left to answer
    assert finished.returncode == 0, finished.stderr
    gone(client, batch_id)


@pytest.mark.slow
def test_a_batch_is_answered_once_each_in_input_order(
    client: httpx.Client, server: tuple[str, dict[str, str]]
) -> None:
    lines = tiny_lines(6)
    created = upload(client, jsonl(lines), suite="tiny", k="2", tagger="keyword")
    assert created.status_code == 200, created.text
    batch_id = created.json()["id"]
    assert created.json()["request_counts"]["total"] == 6

    command = [*WORKER, "--suite", "tiny", "--batch-size", "4", "--block-ms", "200", "--once"]
    worker = subprocess.Popen(
        command, env=server_environ(server[1]), cwd=ROOT, stderr=subprocess.PIPE, text=True
    )
    try:
        batch = _poll_until_finished(client, batch_id, worker)
        assert worker.wait(timeout=120) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
        _, log = worker.communicate(timeout=30)
    assert batch["status"] == "completed", log
    assert batch["request_counts"] == {"total": 6, "completed": 6, "failed": 0}
    assert batch["completed_at"] >= batch["created_at"]

    response = client.get(f"/v1/batches/{batch_id}/results")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert response.headers["x-batch-status"] == "completed"
    assert response.headers["x-batch-partial"] == "false"
    records = [json.loads(line) for line in response.text.splitlines()]
    assert [r["id"] for r in records] == [line["id"] for line in lines]
    assert [r["batch"]["index"] for r in records] == list(range(6))
    for record, line in zip(records, lines, strict=True):
        assert record["question"] == line["question"]
        assert record["gold_answer"] == line.get("gold_answer")
        assert len(record["routing"]["chosen"]) == 2
        assert record["final"]["method"]
        assert record["tokens"]["total"] > 0
    assert depth(server[1]) == 0


def _poll_until_finished(
    client: httpx.Client, batch_id: str, worker: subprocess.Popen[str], timeout_s: float = 600
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        batch: dict[str, Any] = client.get(f"/v1/batches/{batch_id}").json()
        if batch["status"] not in ("queued", "in_progress"):
            return batch
        if worker.poll() is not None and worker.returncode != 0:
            return batch
        time.sleep(0.5)
    raise AssertionError(f"batch {batch_id} did not finish in {timeout_s} s")


def test_an_unreachable_store_is_a_503(tiny_profile_env: dict[str, str]) -> None:
    env = {
        **tiny_profile_env,
        "ROUTER_SVC_REDIS_URL": "redis://127.0.0.1:1/0",
        "ROUTER_SVC_REDIS_PREFIX": "router-svc-test:unreachable:v1",
    }
    with start_server(env) as base_url, httpx.Client(base_url=base_url, timeout=60) as client:
        error = error_of(upload(client, jsonl([GOOD])), 503)
        assert error["code"] == "store_unavailable"
        assert "cannot reach Redis" in error["message"]
        assert "127.0.0.1:1" in error["message"]
        assert error_of(client.get("/v1/batches/batch_0123"), 503)["code"] == "store_unavailable"
