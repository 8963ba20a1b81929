"""An OpenAI-compatible server that answers at once, and a lean HTTP/1.1 client for it.

The server (``python perf/_instant.py PORT``) answers every ``POST .../chat/completions`` with
the same short ``chat.completion`` (usage included) and ``GET .../models`` with one model, on
raw asyncio streams: no framework, so what a front in front of it adds is what shows. A model
name ending in ``-delay<ms>`` (``instant-delay200``) answers after that many milliseconds, for
the back-pressure check. Streaming is not served (the bench does not ask for it).

``Connection`` is a keep-alive client on one socket; it costs the caller far less than httpx,
so the client's own time stays small next to what it measures.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sys
import time
from typing import Any

_DELAY = re.compile(r"-delay(\d+)$")
ANSWER = "The answer is 42."


def completion(model: str) -> bytes:
    body = {
        "id": "chatcmpl-instant",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": ANSWER},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 6, "total_tokens": 18},
    }
    return json.dumps(body).encode()


def models() -> bytes:
    return json.dumps({"object": "list", "data": [{"id": "instant", "object": "model"}]}).encode()


def _response(status: str, body: bytes) -> bytes:
    head = f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n"
    return f"{head}content-length: {len(body)}\r\n\r\n".encode() + body


async def _answer(method: str, path: str, body: bytes) -> bytes:
    if method == "POST" and path.endswith("/chat/completions"):
        model = str(json.loads(body).get("model", "instant"))
        delay = _DELAY.search(model)
        if delay:
            await asyncio.sleep(int(delay.group(1)) / 1000)
        return _response("200 OK", completion(model))
    if method == "GET" and path.endswith("/models"):
        return _response("200 OK", models())
    if method == "GET" and path.rstrip("/") in ("/health", "/v1/health"):
        return _response("200 OK", b'{"status":"ok"}')
    return _response("404 Not Found", b'{"error":{"message":"not found"}}')


async def _serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            method, path, headers = _parse_head(head)
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            writer.write(await _answer(method, path, body))
            await writer.drain()
            if headers.get("connection", "").lower() == "close":
                break
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


def _parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return method, path, headers


async def serve(port: int) -> None:
    server = await asyncio.start_server(_serve_connection, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


class Connection:
    """One keep-alive HTTP/1.1 connection: ``post`` -> (status, headers, body)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, payload: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        body = json.dumps(payload).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\n"
            f"content-type: application/json\r\nauthorization: Bearer sk-bench\r\n"
            f"content-length: {len(body)}\r\n\r\n"
        )
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        self._writer.write(head.encode() + body)
        try:
            return await self._read(self._reader)
        except BaseException:
            await self.close()
            raise

    async def _read(self, reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        else:
            body = await _chunked(reader)
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, headers, body

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


async def _chunked(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
