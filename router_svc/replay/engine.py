"""The replay engine: an expert that answers from recorded outcomes instead of a model.

Each expert with ``engine: replay`` names a replay file (see docs/replay.md); a question is
looked up by its text (the last user message, or a ``Question: ...`` paragraph it quotes, as
the aggregator's prompt does) and answered with the expert's recorded
response, or, when none was recorded, with "The answer is <gold>." for a score of at least 0.5
and a wrong-answer marker otherwise. Token counts are 0. A question the file does not hold is a
``BackendError``. Several experts reading one file share one parsed copy.
"""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

from router_svc.backends.base import Engine
from router_svc.config.engines import ReplayOptions
from router_svc.errors import DataError
from router_svc.replay.data import ReplayData, load_replay
from router_svc.types import Completion, GenerationRequest

WRONG = "[replay: recorded as wrong]"
"""What an expert says when its recorded score is below 0.5 and no response was kept."""
RIGHT_NO_GOLD = "[replay: recorded as right; the file has no gold answer]"


class ReplayEngine(Engine):
    """Answers every request from the replay file; no model, no tokens, no time."""

    Options = ReplayOptions
    max_batch_size = 256

    _data: ReplayData | None = None

    @property
    def recorded_name(self) -> str:
        return str(self.options.expert or self.name)

    async def _load(self) -> None:
        if self.options.load_delay_s:
            await asyncio.sleep(self.options.load_delay_s)
        path = Path(self.options.file)
        try:
            data = await asyncio.to_thread(_read, str(path.resolve()), *_stamp(path))
        except DataError as exc:
            raise self.error(f"cannot replay {path}: {exc}") from exc
        if self.recorded_name not in data.experts:
            raise self.error(
                f"{path} records no expert named {self.recorded_name!r}; "
                f"it has {', '.join(data.experts)} (set options.expert to answer as one)"
            )
        self._data = data

    async def _unload(self) -> None:
        self._data = None

    async def _generate(self, requests: list[GenerationRequest]) -> list[Completion]:
        return [self._answer(request) for request in requests]

    def _answer(self, request: GenerationRequest) -> Completion:
        if self._data is None:
            raise self.error("the replay file is not loaded")
        question = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
        row = quoted_row(self._data, question)
        if row is None:
            raise self.error(f"no recorded outcome for the question {question[:80]!r}")
        return Completion(
            text=recorded_text(self._data, row, self._data.experts.index(self.recorded_name)),
            prompt_tokens=0,
            completion_tokens=0,
            seconds=0.0,
            expert=self.name,
        )


def quoted_row(data: ReplayData, text: str) -> int | None:
    """The row of the question ``text`` is, or that one of its paragraphs quotes (as
    ``Question: ...``, the aggregator's prompt), so a replay expert can also aggregate."""
    row = data.row_of(text)
    for paragraph in text.split("\n\n") if row is None else ():
        row = data.row_of(paragraph.partition(": ")[2])
        if row is not None:
            break
    return row


def recorded_text(data: ReplayData, row: int, column: int) -> str:
    """The recorded response, or one synthesised from the recorded score."""
    response = data.responses[row][column]
    if response is not None:
        return response
    if data.scores[row, column] < 0.5:
        return WRONG
    gold = data.questions[row].gold_answer
    return f"The answer is {gold}." if gold is not None else RIGHT_NO_GOLD


def _stamp(path: Path) -> tuple[int, int]:
    """(modification time, size) so an edited file is read again; (0, 0) if missing."""
    try:
        stat = path.stat()
    except OSError:
        return 0, 0
    return stat.st_mtime_ns, stat.st_size


@functools.lru_cache(maxsize=4)
def _read(path: str, modified: int, size: int) -> ReplayData:
    return load_replay(Path(path))
