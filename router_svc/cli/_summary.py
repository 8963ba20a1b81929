"""The summary an import prints: what was read, written and skipped (rich tables)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from router_svc.cli._common import console
from router_svc.questions.importers.common import Summary

_SHOWN_SKIPS = 10


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{escape(name)} {count}" for name, count in counter.most_common())


def print_summary(summary: Summary, title: str) -> None:
    """One table of the import, then the skipped rows (the first few, with where and why)."""
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value", overflow="fold")  # a long folder wraps; nothing is cut
    for path, rows in summary.files.items():
        # The file's name and count first, its folder apart: a narrow terminal never cuts them.
        table.add_row("read", f"{escape(Path(path).name)}: {rows} rows")
        table.add_row("", f"in {escape(str(Path(path).parent))}")
    written = ", ".join(f"{split} {summary.written[split]}" for split in ("validation", "test"))
    table.add_row("written", written)
    if summary.experts:
        table.add_row("experts", escape(", ".join(summary.experts)))
    table.add_row("categories", _counts(summary.categories) or "-")
    for path, category in summary.file_categories.items():
        rows = summary.rows_by_file_category[path]
        named = f"{escape(Path(path).name)} -> {escape(category)} ({rows} rows without one)"
        table.add_row("category from file name", named)
    table.add_row("answer kinds", _counts(summary.answer_kinds) or "-")
    table.add_row("skipped", _counts(summary.skip_reasons()) or "0")
    for output in summary.outputs:
        table.add_row("wrote", escape(str(output)))
    console.print(table)
    for skipped in summary.skipped[:_SHOWN_SKIPS]:
        console.print(f"[yellow]skipped[/] {escape(skipped.message())}", soft_wrap=True)
    if len(summary.skipped) > _SHOWN_SKIPS:
        console.print(f"... and {len(summary.skipped) - _SHOWN_SKIPS} more (see the list written)")
