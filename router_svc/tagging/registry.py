"""Skill taggers by name: the ``router_svc.taggers`` entry points (``config.registry.TAGGERS``).

A tagger class fills in ``SkillTagger`` and has a ``build(sources)`` classmethod that returns
the tagger, or None when this pool cannot have it (the llm tagger without ``tagger.expert``).
"""

from __future__ import annotations

from typing import Protocol, cast

from router_svc.config.registry import TAGGERS
from router_svc.errors import ConfigError
from router_svc.tagging.sources import TaggerSources
from router_svc.tagging.tagger import SkillTagger


class TaggerClass(Protocol):
    """What the registry holds: a class that builds a tagger from the profile's sources."""

    @classmethod
    def build(cls, sources: TaggerSources) -> SkillTagger | None: ...


def tagger_class(name: str) -> TaggerClass:
    """The tagger class registered as ``name``."""
    cls = TAGGERS.load(name)
    if not callable(getattr(cls, "build", None)):
        raise ConfigError(f"tagger {name!r}: {TAGGERS.entry(name).target} has no build()")
    return cast(TaggerClass, cls)


def build_taggers(sources: TaggerSources) -> dict[str, SkillTagger]:
    """Every registered tagger this pool and profile allow, by name."""
    taggers: dict[str, SkillTagger] = {}
    for name in TAGGERS.names():
        tagger = tagger_class(name).build(sources)
        if tagger is not None:
            taggers[name] = tagger
    return taggers
