"""What a tagger is built from: a profile's tagged questions, the embedder, the pool's engines."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from router_svc.backends.base import Engine
from router_svc.config.pool import TaggerConfig
from router_svc.tagging.embedder import Embedder


@dataclass(frozen=True)
class TaggerSources:
    """Everything a registered tagger's ``build`` may read (it takes what it needs)."""

    questions: Sequence[str]
    """The profile's validation questions."""
    tags: Sequence[Sequence[str]]
    """Each question's skill tags, in the same order."""
    embedder: Embedder
    """The process's embedder (shared with the router)."""
    config: TaggerConfig
    """The pool's ``tagger`` section."""
    engine: Callable[[str], Engine]
    """An expert's engine, by expert name."""
    inline: bool = False
    """Whether the embedder is cheap enough to tag a routed question on the event loop."""
