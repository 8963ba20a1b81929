"""The OpenAPI document says what the server does: schemathesis sends generated requests to a
live server and checks every answer against the document (status codes, content types, bodies,
headers, methods), not only that nothing is a 5xx. Bounded: a few examples per operation."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "unsupported_method",
]
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"


def ready(base_url: str, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while httpx.get(f"{base_url}/readyz", timeout=30).status_code != 200:
        assert time.monotonic() < deadline, "the server did not become ready"
        time.sleep(0.2)


def test_every_answer_matches_the_document(api_server: str) -> None:
    ready(api_server)  # a 503 while the server warms up is documented, but still a 5xx
    command = [
        str(SCHEMATHESIS),
        "run",
        f"{api_server}/openapi.json",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        "8",
        "--request-timeout",
        "60",
        "--generation-deterministic",
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)

    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]


def test_the_document_declares_no_status_the_server_never_sends(api_server: str) -> None:
    spec = httpx.get(f"{api_server}/openapi.json").json()
    statuses = {s for ops in spec["paths"].values() for op in ops.values() for s in op["responses"]}
    batches = spec["paths"]["/v1/batches"]["post"]

    assert "422" not in statuses
    assert {"400", "401", "404", "413", "429"} <= set(
        spec["paths"]["/v1/chat/completions"]["post"]["responses"]
    )
    assert "multipart/form-data" in batches["requestBody"]["content"]
    assert "415" in batches["responses"]


def test_an_unsupported_method_is_a_405_with_allow(api_server: str) -> None:
    response = httpx.request("TRACE", f"{api_server}/v1/models")

    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
    assert response.json()["error"]["code"] == "method_not_allowed"
