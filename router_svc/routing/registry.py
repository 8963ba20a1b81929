"""The routing-method registry: name -> routing class, imported only when used.

The names are those of ``router_svc.config.routers.ROUTER_OPTIONS`` (what experts.yaml, the
requests and the CLI accept); a test keeps the two equal. A method class is a ``Recruiter``
with a ``fit(suite, options)`` classmethod (see :mod:`router_svc.routing.recruiter`).
"""

from __future__ import annotations

import importlib

from pydantic import BaseModel

from router_svc.config.routers import DEFAULT_ROUTER, router_options
from router_svc.errors import UnknownComponentError
from router_svc.routing.inputs import SuiteData
from router_svc.routing.recruiter import Recruiter

ROUTERS: dict[str, str] = {
    "symbolic-moe": "router_svc.routing.symbolic:SymbolicMoERouter",
    "skill": "router_svc.routing.skill:SkillRouter",
    "skill-plus": "router_svc.routing.skill_plus:SkillPlusRouter",
    "knn-shrinkage": "router_svc.routing.knn_shrinkage:KnnShrinkageRouter",
}


def router_class(name: str) -> type[Recruiter]:
    """The routing class registered as ``name``."""
    if name not in ROUTERS:
        raise UnknownComponentError("router", name, ROUTERS)
    module_name, class_name = ROUTERS[name].split(":")
    router: type[Recruiter] = getattr(importlib.import_module(module_name), class_name)
    return router


def fit_router(
    suite: SuiteData, name: str = DEFAULT_ROUTER, options: BaseModel | None = None
) -> Recruiter:
    """The method ``name`` fitted on ``suite`` (its default options unless given)."""
    cls = router_class(name)
    return cls.fit(suite, options if options is not None else router_options(name))
