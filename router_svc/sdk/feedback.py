"""The SDK's record of a grade (``POST /v1/feedback``'s answer)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Feedback(BaseModel):
    """A graded answer, as the server stored it."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: str = Field(description="The graded completion's id.")
    suite: str = Field(description="The suite whose router learns from it.")
    scores: dict[str, float] = Field(description="Each graded expert's score, 0 to 1.")
    source: str = Field("api", description="api (POST /v1/feedback) or import.")
