"""``skill``: the skill recruiter as a routing method, fitted from the suite's profiles."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel

from router_svc.config.routers import SkillOptions
from router_svc.routing.inputs import SuiteData
from router_svc.routing.recruiter import SkillRecruiter


class SkillRouter(SkillRecruiter):
    """``SkillRecruiter`` over the suite's profile matrix (see its docstring)."""

    Options = SkillOptions

    @classmethod
    def fit(cls, suite: SuiteData, options: BaseModel) -> Self:
        settings = SkillOptions.model_validate(options.model_dump())
        return cls(
            suite.matrix,
            suite.expected_cost,
            temperature=settings.temperature,
            center=settings.center,
        )
