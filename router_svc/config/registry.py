"""The registries of pluggable parts: engines, routing methods and taggers, found by name.

Every part, built in or not, is a class registered under an entry-point group
(``router_svc.engines``, ``router_svc.routers``, ``router_svc.taggers``). router-svc registers
its own in pyproject.toml, and another package registers its parts the same way in its own
(docs/plugins.md)::

    [project.entry-points."router_svc.routers"]
    cheapest = "my_package.routing:CheapestRouter"

A class is imported the first time its name is used, and carries its options as ``Options``
(a pydantic model; the built-in ones are defined in ``config/`` so their modules stay cheap
to import). The same registry gives the names the config accepts, the CLI's choices, each
name's options model and the "unknown name" message. Nothing here imports the classes'
layers: the entry points name them.
"""

from __future__ import annotations

import importlib.metadata
import logging
import threading
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from router_svc.errors import ConfigError, UnknownComponentError, unknown_message

logger = logging.getLogger(__name__)

DISTRIBUTION = "router-svc"
"""The distribution whose entry points are the built-in parts."""


class NoOptions(BaseModel):
    """The options of a part that takes none."""

    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass(frozen=True)
class Registered:
    """One name of a group: the entry point and the distribution that registered it."""

    name: str
    target: str
    """``module:Class``."""
    distribution: str

    @property
    def builtin(self) -> bool:
        return _normal(self.distribution) == _normal(DISTRIBUTION)


class Registry:
    """The parts registered under one entry-point group, by name; classes load on first use."""

    def __init__(self, kind: str, group: str) -> None:
        self.kind = kind
        self.group = group
        self._entries: dict[str, tuple[Registered, importlib.metadata.EntryPoint]] | None = None
        self._classes: dict[str, type[Any]] = {}
        self._lock = threading.Lock()

    def __contains__(self, name: object) -> bool:
        return name in self._found()

    def names(self, *, builtin_only: bool = False) -> list[str]:
        """The registered names: router-svc's own sorted, then the plugins' sorted
        (``builtin_only``: router-svc's own only). Sorted, since installers may write the
        entry points in any order."""
        found = self._found()
        builtins = sorted(name for name, (entry, _) in found.items() if entry.builtin)
        if builtin_only:
            return builtins
        return builtins + sorted(name for name in found if name not in builtins)

    def entry(self, name: str) -> Registered:
        """Who registered ``name``, and as what."""
        return self._found()[self.check(name)][0]

    def check(self, name: str) -> str:
        """``name``; UnknownComponentError (with the closest name) when none is registered."""
        found = self._found()
        if name not in found:
            if not any(entry.builtin for entry, _ in found.values()):
                raise ConfigError(self.unknown(name))
            raise UnknownComponentError(self.kind, name, found)
        return name

    def unknown(self, name: str, kind: str | None = None) -> str:
        """What to say about a name nothing registered (``kind``: the word for it there)."""
        found = self._found()
        if not any(entry.builtin for entry, _ in found.values()):
            return _unregistered(self.kind, self.group, name)
        return unknown_message(kind or self.kind, name, found)

    def load(self, name: str) -> type[Any]:
        """The class registered as ``name``, imported on first use."""
        self.check(name)
        with self._lock:
            if name not in self._classes:
                self._classes[name] = self._import(name)
            return self._classes[name]

    def options(self, name: str) -> type[BaseModel]:
        """The options model of ``name``: its class's ``Options`` (``NoOptions`` if none)."""
        options = getattr(self.load(name), "Options", NoOptions)
        if not (isinstance(options, type) and issubclass(options, BaseModel)):
            raise ConfigError(f"{self.kind} {name!r}: its Options is not a pydantic model")
        return options

    def refresh(self) -> None:
        """Read the entry points again (after a package was installed in this process)."""
        with self._lock:
            self._entries = None
            self._classes.clear()

    def _found(self) -> dict[str, tuple[Registered, importlib.metadata.EntryPoint]]:
        if self._entries is None:
            self._entries = _discover(self.group)
        return self._entries

    def _import(self, name: str) -> type[Any]:
        entry, point = self._found()[name]
        try:
            loaded = point.load()
        except (ImportError, AttributeError) as exc:
            raise ConfigError(
                f"{self.kind} {name!r} ({entry.target}, registered by {entry.distribution}) "
                f"cannot be imported: {exc}"
            ) from exc
        if not isinstance(loaded, type):
            raise ConfigError(f"{self.kind} {name!r}: {entry.target} is not a class")
        return loaded


def _discover(group: str) -> dict[str, tuple[Registered, importlib.metadata.EntryPoint]]:
    """Every entry point of ``group``; on a repeated name router-svc's own wins, and a plugin
    that takes a name another plugin took is skipped with a warning."""
    found: dict[str, tuple[Registered, importlib.metadata.EntryPoint]] = {}
    for point in importlib.metadata.entry_points(group=group):
        dist = point.dist.name if point.dist is not None else "unknown"
        entry = Registered(point.name, point.value, dist)
        taken = found.get(point.name)
        if taken is not None and taken[0].target != entry.target:
            keep = taken if taken[0].builtin or not entry.builtin else (entry, point)
            drop = entry if keep[0] is taken[0] else taken[0]
            logger.warning(
                "%s: %r is registered twice; %s from %s is used, %s from %s is not",
                group,
                point.name,
                keep[0].target,
                keep[0].distribution,
                drop.target,
                drop.distribution,
            )
            found[point.name] = keep
            continue
        found[point.name] = (entry, point)
    return found


def _unregistered(kind: str, group: str, name: str) -> str:
    return (
        f"no {kind} named {name!r}: router-svc's own {kind}s are not registered either "
        f"(entry-point group {group}), so its installed metadata is missing or older than the "
        "code; reinstall it (from a checkout: pip install -e .)"
    )


def _normal(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


ENGINES = Registry("engine", "router_svc.engines")
"""Engines (``router_svc.backends.base.Engine`` subclasses): an expert's ``engine``."""

ROUTERS = Registry("router", "router_svc.routers")
"""Routing methods (``router_svc.routing.recruiter.Recruiter`` subclasses with ``fit``)."""

TAGGERS = Registry("tagger", "router_svc.taggers")
"""Skill taggers (``router_svc.tagging.tagger.SkillTagger`` classes with ``build``)."""
