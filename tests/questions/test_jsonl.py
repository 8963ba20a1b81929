"""The one JSONL reader: line numbers in every error, a torn last line skipped only when asked,
and the appender that never leaves a torn line inside a file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from router_svc.errors import DataError
from router_svc.questions.jsonl import (
    append_jsonl,
    parse_jsonl,
    read_jsonl,
    read_records,
)

WHOLE = '{"id": "a", "n": 1}\n{"id": "b", "n": 2}\n'
TORN = WHOLE + '{"id": "c", "n'


def _write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


def test_a_torn_last_line_is_skipped_when_asked(tmp_path: Path) -> None:
    path = _write(tmp_path / "outputs.jsonl", TORN)
    assert list(read_jsonl(path, torn_last_line=True)) == [
        (1, {"id": "a", "n": 1}),
        (2, {"id": "b", "n": 2}),
    ]
    assert [n for n, _ in parse_jsonl(TORN, torn_last_line=True)] == [1, 2]


def test_a_torn_last_line_is_an_error_by_default(tmp_path: Path) -> None:
    path = _write(tmp_path / "outputs.jsonl", TORN)
    with pytest.raises(DataError, match=r"outputs\.jsonl line 3: invalid JSON: .*\(column \d+\)"):
        list(read_jsonl(path))
    with pytest.raises(DataError, match=r"^line 3: invalid JSON"):
        list(parse_jsonl(TORN))


def test_a_bad_line_inside_the_file_is_an_error_even_when_torn_lines_are_allowed(
    tmp_path: Path,
) -> None:
    path = _write(tmp_path / "outputs.jsonl", '{"id": "a"}\n{"id": \n\n{"id": "c"}\n')
    with pytest.raises(DataError, match=r"outputs\.jsonl line 2: invalid JSON"):
        list(read_jsonl(path, torn_last_line=True))


def test_a_bad_last_line_that_ends_in_a_newline_is_not_torn(tmp_path: Path) -> None:
    """A killed writer leaves no newline after the part it wrote; a bad line with one is data."""
    path = _write(tmp_path / "outputs.jsonl", '{"id": "a"}\n{"id": \n')
    with pytest.raises(DataError, match=r"outputs\.jsonl line 2: invalid JSON"):
        list(read_jsonl(path, torn_last_line=True))


def test_a_whole_last_line_without_a_newline_is_read(tmp_path: Path) -> None:
    path = _write(tmp_path / "q.jsonl", WHOLE + '{"id": "c"}')
    assert [v for _, v in read_jsonl(path)][-1] == {"id": "c"}


def test_lines_end_only_at_newlines(tmp_path: Path) -> None:
    """U+2028 and a lone carriage return may sit inside a line; CRLF line ends are fine."""
    text = '{"q": "one\u2028two"}\r\n{"a": 1,\r"b": 2}\r\n\r\n{"c": 3}'
    path = _write(tmp_path / "q.jsonl", "\ufeff" + text)
    expected = [(1, {"q": "one\u2028two"}), (2, {"a": 1, "b": 2}), (4, {"c": 3})]
    assert list(read_jsonl(path)) == expected
    assert list(parse_jsonl(text)) == expected


def test_a_missing_file_is_an_error_unless_allowed(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nothing\.jsonl: no such file"):
        list(read_jsonl(tmp_path / "nothing.jsonl"))
    assert list(read_records(tmp_path / "nothing.jsonl", missing_ok=True)) == []


def test_records_must_be_objects(tmp_path: Path) -> None:
    path = _write(tmp_path / "r.jsonl", '{"id": "a"}\n[1, 2]\n')
    with pytest.raises(DataError, match=r"r\.jsonl line 2: expected a JSON object, got list"):
        list(read_records(path))


def test_append_cuts_a_torn_last_line_off(tmp_path: Path) -> None:
    path = _write(tmp_path / "outputs.jsonl", TORN)
    append_jsonl(path, [{"id": "c", "n": 3}])
    assert path.read_text(encoding="utf-8") == WHOLE + '{"id": "c", "n": 3}\n'
    assert [r["id"] for r in read_records(path)] == ["a", "b", "c"]


def _torn_inside_a_character(path: Path) -> Path:
    """What a write killed inside a multi-byte character leaves: bytes that are not UTF-8."""
    record = json.dumps({"id": "c", "text": "é"}, ensure_ascii=False).encode("utf-8")
    path.write_bytes(WHOLE.encode("utf-8") + record[: record.index("é".encode()) + 1])
    return path


def test_a_last_line_torn_inside_a_character(tmp_path: Path) -> None:
    path = _torn_inside_a_character(tmp_path / "outputs.jsonl")
    assert [r["id"] for r in read_records(path, torn_last_line=True)] == ["a", "b"]
    with pytest.raises(DataError, match=r"outputs\.jsonl line 3: not UTF-8"):
        list(read_records(path))


def test_a_line_inside_the_file_that_is_not_utf8_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "outputs.jsonl"
    path.write_bytes(b'{"id": "a"}\n{"id": "\xff"}\n{"id": "c"}\n')
    with pytest.raises(DataError, match=r"outputs\.jsonl line 2: not UTF-8"):
        list(read_records(path, torn_last_line=True))


def test_append_cuts_torn_utf8_off(tmp_path: Path) -> None:
    path = _torn_inside_a_character(tmp_path / "outputs.jsonl")
    append_jsonl(path, [{"id": "d"}])
    assert [r["id"] for r in read_records(path)] == ["a", "b", "d"]


def test_append_keeps_a_whole_last_line_that_lacks_its_newline(tmp_path: Path) -> None:
    path = _write(tmp_path / "outputs.jsonl", WHOLE + '{"id": "c"}')
    append_jsonl(path, [{"id": "d"}])
    assert [r["id"] for r in read_records(path)] == ["a", "b", "c", "d"]


def test_append_to_a_long_file_finds_the_last_line(tmp_path: Path) -> None:
    """The last newline is looked for from the end, across more than one read of the tail."""
    records = [{"id": str(i), "text": "x" * 3000} for i in range(5)]
    path = tmp_path / "outputs.jsonl"
    append_jsonl(path, records)
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"id": "torn", "text": "' + "y" * 9000)
    append_jsonl(path, [{"id": "5"}])
    assert [r["id"] for r in read_records(path)] == ["0", "1", "2", "3", "4", "5"]
    assert path.read_bytes().endswith(b'{"id": "5"}\n')


def test_append_creates_the_file_and_its_folder(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "outputs.jsonl"
    append_jsonl(path, [{"id": "a"}])
    append_jsonl(path, [])
    assert path.read_text(encoding="utf-8") == '{"id": "a"}\n'
