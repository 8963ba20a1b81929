"""JSONL, one JSON value a line: the one reader of router-svc, and the appender of record files.

Every JSONL read goes through ``iter_jsonl`` (suite files, batch uploads, replay files, the
profile's ``outputs.jsonl``, a run's results, a batch's downloaded results). A problem is a
``DataError`` naming the file (when there is one) and the line, for example
``skills/tiny/outputs.jsonl line 7: invalid JSON: Expecting ',' delimiter (column 12)``.

A record file whose writer was killed may end in a torn line: the start of a record with no
newline after it. Readers of such files pass ``torn_last_line=True``, which skips that one line;
a bad line anywhere else is still an error, and so is a torn line when the option is off.
``append_jsonl`` cuts a torn line off before it writes, so it never ends up inside the file.

Lines end at "\\n" only, never at U+2028 or a lone "\\r" (both may sit inside a JSON value).
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from router_svc.errors import DataError

_TAIL_CHUNK = 4096


def at(where: str, line: int) -> str:
    """``<where> line 3``, or ``line 3`` for a text without a name (an upload)."""
    return f"{where} line {line}" if where else f"line {line}"


def iter_jsonl(
    lines: Iterable[str], where: str = "", *, torn_last_line: bool = False
) -> Iterator[tuple[int, object]]:
    """(line number, decoded value) of each non-blank line; each line keeps its "\\n".

    With ``torn_last_line`` a last line that has no "\\n" and is not valid JSON is skipped."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            if torn_last_line and not line.endswith("\n"):
                return  # only the last line can lack its "\n"
            message = f"invalid JSON: {exc.msg} (column {exc.colno})"
            raise DataError(f"{at(where, number)}: {message}") from exc
        yield number, value


def parse_jsonl(
    text: str, where: str = "", *, torn_last_line: bool = False
) -> Iterator[tuple[int, object]]:
    """``iter_jsonl`` over a text already in memory (an upload, a response body)."""
    return iter_jsonl(io.StringIO(text, newline="\n"), where, torn_last_line=torn_last_line)


def read_jsonl(
    path: Path, *, torn_last_line: bool = False, missing_ok: bool = False
) -> Iterator[tuple[int, object]]:
    """``iter_jsonl`` over a file, read lazily (UTF-8, a byte-order mark is ignored).

    A missing file is a DataError, or no lines with ``missing_ok``."""
    try:
        with path.open("rb") as handle:  # binary lines end at b"\n" only
            lines = _decoded(handle, str(path), torn_last_line)
            yield from iter_jsonl(lines, str(path), torn_last_line=torn_last_line)
    except FileNotFoundError as exc:
        if not missing_ok:
            raise DataError(f"{path}: no such file") from exc
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc}") from exc


def _decoded(lines: Iterable[bytes], where: str, torn_last_line: bool) -> Iterator[str]:
    """The lines as text; a line that is not UTF-8 is a DataError, or with ``torn_last_line``
    the end of the lines if it is the last one, cut inside a character by a torn write."""
    for number, raw in enumerate(lines, start=1):
        try:
            yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            if torn_last_line and not raw.endswith(b"\n"):
                return
            raise DataError(f"{at(where, number)}: not UTF-8 ({exc.reason})") from exc


def as_object(value: object, where: str, line: int) -> dict[str, Any]:
    """``value`` if it is a JSON object; otherwise a DataError naming the line."""
    if not isinstance(value, dict):
        kind = type(value).__name__
        raise DataError(f"{at(where, line)}: expected a JSON object, got {kind}")
    return value


def read_records(
    path: Path, *, torn_last_line: bool = False, missing_ok: bool = False
) -> Iterator[dict[str, Any]]:
    """The JSON objects of a record file, one a line (see ``read_jsonl`` for the options)."""
    for line, value in read_jsonl(path, torn_last_line=torn_last_line, missing_ok=missing_ok):
        yield as_object(value, str(path), line)


def append_jsonl(path: Path, records: Iterable[Mapping[str, Any]]) -> None:
    """Append records, one JSON object a line, flushed so an interruption loses nothing done.

    A torn last line (an append that was killed) is cut off first; a last line that is whole
    JSON but lacks its "\\n" gets one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_file():
        _mend_tail(path)
    with path.open("a", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        handle.flush()


def _mend_tail(path: Path) -> None:
    """End the file with "\\n": cut a torn last line off, or end a whole one."""
    with path.open("r+b") as handle:
        size = handle.seek(0, os.SEEK_END)
        start = _last_line_start(handle, size)
        if start == size:
            return
        handle.seek(start)
        tail = handle.read()
        try:
            json.loads(tail)
        except ValueError:  # a torn record (JSONDecodeError) or torn UTF-8 (UnicodeDecodeError)
            if tail.strip():
                handle.truncate(start)
                return
        handle.write(b"\n")


def _last_line_start(handle: io.BufferedRandom, size: int) -> int:
    """The offset just after the file's last "\\n" (0 if it has none)."""
    end = size
    while end > 0:
        begin = max(0, end - _TAIL_CHUNK)
        handle.seek(begin)
        newline = handle.read(end - begin).rfind(b"\n")
        if newline >= 0:
            return begin + newline + 1
        end = begin
    return 0
