"""Knob searches kept on disk, keyed by what they were run on.

A knob search (``routing.knob_search``) is a pure function of the evidence rows, their tasks
and the search's settings, and it is the slowest step of fitting the default router: the
service would repeat it on every start and the bench on every run of the same file.
``select_knobs_kept`` answers a search already run on the same inputs from a folder (one small
JSON file per search) and stores a new one there. The key is a hash of every input array's
bytes, the settings, the grid and the package version, so a changed profile, option or
release never reads another's result. An unreadable file is ignored and rewritten, never
trusted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from router_svc.routing import knob_search
from router_svc.routing.evidence import Evidence
from router_svc.routing.knob_search import Selection, Trial, select_knobs
from router_svc.routing.shrinkage import ShrinkageKnobs
from router_svc.version import __version__

logger = logging.getLogger(__name__)

_FORMAT = 1


@dataclass(frozen=True, eq=False)
class KnobSearch:
    """One knob search's inputs (``knob_search.select_knobs``'s arguments)."""

    evidence: Evidence
    skill_count: int
    categories: Sequence[str] | None
    start: ShrinkageKnobs
    folds: int
    seed: int

    def run(self) -> Selection:
        return select_knobs(
            self.evidence,
            self.skill_count,
            categories=self.categories,
            start=self.start,
            folds=self.folds,
            seed=self.seed,
        )

    def key(self) -> str:
        """A hash of everything the search's result depends on."""
        digest = hashlib.blake2b(digest_size=20)
        evidence, skills = self.evidence, self.evidence.skills
        arrays = [evidence.vectors, evidence.scores, evidence.costs]
        arrays += [skills.rows, skills.columns, skills.weights]
        if evidence.tasks is not None:
            arrays.append(evidence.tasks)
        for array in arrays:
            digest.update(f"{array.shape}{array.dtype.str}".encode())
            digest.update(np.ascontiguousarray(array).data)
        settings = {
            "format": _FORMAT,
            "version": __version__,
            "skills": [skills.count, self.skill_count],
            "categories": list(self.categories) if self.categories is not None else None,
            "start": _knobs_json(self.start),
            "folds": self.folds,
            "seed": self.seed,
            "grid": {name: list(values) for name, values in knob_search.GRID.items()},
            "weights": list(knob_search.DECISION_WEIGHTS),
            "significance": knob_search.SIGNIFICANCE,
            "max_rows": knob_search.MAX_SEARCH_ROWS,
        }
        digest.update(json.dumps(settings, sort_keys=True).encode())
        return digest.hexdigest()


def select_knobs_kept(search: KnobSearch, folder: Path | None) -> Selection:
    """The search's result, read from ``folder`` when the same search ran before and kept
    there after running it (None: always searched)."""
    if folder is None:
        return search.run()
    path = folder / f"{search.key()}.json"
    kept = _read(path)
    if kept is not None:
        return kept
    selection = search.run()
    _write(path, selection)
    return selection


def _knobs_json(knobs: ShrinkageKnobs) -> dict[str, Any]:
    return asdict(knobs)


def _knobs(values: dict[str, Any]) -> ShrinkageKnobs:
    defaults = ShrinkageKnobs()
    return ShrinkageKnobs(
        **{f.name: type(getattr(defaults, f.name))(values[f.name]) for f in fields(defaults)}
    )


def _trial_json(trial: Trial) -> dict[str, Any]:
    return {
        "knobs": _knobs_json(trial.knobs),
        "objective": trial.objective,
        "utility": trial.utility,
        "accuracy": trial.accuracy,
        "log_likelihood": trial.log_likelihood,
        "versus_chosen": list(trial.versus_chosen),
    }


def _trial(values: dict[str, Any]) -> Trial:
    gain, error = values["versus_chosen"]
    return Trial(
        _knobs(values["knobs"]),
        float(values["objective"]),
        {k: float(v) for k, v in values["utility"].items()},
        {k: float(v) for k, v in values["accuracy"].items()},
        float(values["log_likelihood"]),
        versus_chosen=(float(gain), float(error)),
    )


def _read(path: Path) -> Selection | None:
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
        trials = tuple(_trial(t) for t in values["trials"])
        best = trials[int(values["chosen"])]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
        logger.warning("ignoring the unreadable knob search %s (%s)", path, exc)
        return None
    return Selection(best.knobs, best, trials)


def _write(path: Path, selection: Selection) -> None:
    """Written whole or not at all (a temporary file renamed); a folder that cannot be
    written only costs the next start a search."""
    chosen = next(i for i, t in enumerate(selection.trials) if t.knobs == selection.knobs)
    text = json.dumps({"chosen": chosen, "trials": [_trial_json(t) for t in selection.trials]})
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", dir=path.parent, suffix=".tmp", delete=False, encoding="utf-8"
        ) as handle:
            handle.write(text)
        os.replace(handle.name, path)
    except OSError as exc:
        logger.warning("could not keep the knob search in %s (%s)", path.parent, exc)
