"""Routing methods by name: the ``router_svc.routers`` entry points (``config.registry.ROUTERS``).

A method class is a ``Recruiter`` with a ``fit(suite, options)`` classmethod (see
:mod:`router_svc.routing.recruiter`) and its options model as ``Options``.
"""

from __future__ import annotations

from router_svc.config.registry import ROUTERS
from router_svc.errors import ConfigError
from router_svc.routing.recruiter import Recruiter


def router_class(name: str) -> type[Recruiter]:
    """The routing class registered as ``name``."""
    cls = ROUTERS.load(name)
    if not issubclass(cls, Recruiter):
        raise ConfigError(f"router {name!r}: {ROUTERS.entry(name).target} is not a Recruiter")
    return cls
