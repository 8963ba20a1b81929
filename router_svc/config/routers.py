"""The built-in routing methods' options, and the default method.

Each method class carries its model as ``Options`` (``config.registry.ROUTERS.options`` reads
it there); the models live here, in a module with no heavy import. ``DEFAULT_ROUTER`` is the
one place that names the default method: the best one measured on the replay data.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from router_svc.config.registry import ROUTERS
from router_svc.errors import closest

_MODEL = ConfigDict(frozen=True, extra="forbid")


class SymbolicMoEOptions(BaseModel):
    """Options of ``symbolic-moe``, the paper's recruiter (Symbolic-MoE, Chen et al. 2025)."""

    model_config = _MODEL
    temperature: float = Field(
        0.5,
        gt=0,
        description="Sharpness of the global-competency prior: the shifted competencies are "
        "raised to the power 1/temperature and normalised.",
    )
    sample_temperature: float = Field(
        0.7,
        ge=0,
        le=2,
        description="Sampling temperature of every draw and of the aggregator (each seeded "
        "from the request's seed and the question).",
    )


class SkillOptions(BaseModel):
    """Options of ``skill``: +1/-1 skill profiles times a softmax competency prior."""

    model_config = _MODEL
    temperature: float = Field(0.5, gt=0, description="Softmax temperature of the prior.")
    center: bool = Field(
        True, description="Take each skill's values relative to the pool's mean on it."
    )


class SkillPlusOptions(BaseModel):
    """Options of ``skill-plus``: smoothed per-skill accuracies, cluster tags, neighbours."""

    model_config = _MODEL
    smoothing: bool = Field(
        True, description="Shrink per-skill accuracies toward the expert's overall one."
    )
    pseudo_count: float = Field(
        10.0, ge=0, description="Pseudo-questions of the shrinkage (when not tuned)."
    )
    combine: Literal["mean", "pooled"] = Field(
        "mean", description="mean: each skill one voice; pooled: frequent skills weigh more."
    )
    tags: Literal["keyword", "combined"] = Field(
        "combined", description="keyword: the tagger's tags; combined: plus a cluster tag."
    )
    clusters: int | None = Field(
        None, ge=1, description="Clusters of validation questions; about sqrt(n/4) if unset."
    )
    neighbours: bool = Field(
        True, description="Blend in the experts' scores on the nearest validation questions."
    )
    blend: float = Field(
        0.25, ge=0, le=1, description="Weight of the neighbours' estimate (when not tuned)."
    )
    neighbour_count: int = Field(30, ge=1, description="Nearest validation questions.")
    neighbour_pseudo: float = Field(
        5.0, ge=0, description="Pseudo-questions shrinking the neighbours' estimate."
    )
    tuned: bool = Field(
        True,
        description="Choose pseudo_count and blend by two-fold cross-fitting on validation.",
    )
    pseudo_grid: list[float] = Field(
        [0.0, 5.0, 10.0, 20.0, 40.0], min_length=1, description="pseudo_count values tried."
    )
    blend_grid: list[float] = Field(
        [0.0, 0.25, 0.5, 0.75], min_length=1, description="blend values tried."
    )
    seed: int = Field(0, description="Seed of the clustering and of the validation halves.")


class KnnShrinkageOptions(BaseModel):
    """Options of ``knn-shrinkage``: each expert's chance of being right from the graded
    questions nearest it, its skills' records, its cluster and task, and the expert's overall
    record, each level shrunk toward the next by how much evidence it holds; the choice is
    expected score minus lambda x expected cost."""

    model_config = _MODEL
    tuned: bool = Field(
        True,
        description="Choose the knobs below by cross-validation on the validation questions "
        "(random folds, plus leave-one-task-out folds where tasks are named; scored by the "
        "routing decisions' realised utility); a knob moves from the value given here only "
        "when the gain is significant.",
    )
    neighbours: int = Field(
        0, ge=0, description="Nearest validation questions per query (0: no neighbour level)."
    )
    kernel_width: float = Field(
        0.1, gt=0, description="How fast a neighbour's weight falls with its distance."
    )
    neighbour_pseudo: float = Field(
        10.0, gt=0, description="Weight of the skill estimate under the neighbours, in neighbours."
    )
    skill_pseudo: float = Field(
        100.0,
        gt=0,
        description="Weight of the cluster estimate under the skill records, in questions "
        "(a large value turns the skill level off).",
    )
    clusters: int = Field(
        32, ge=1, description="k-means clusters of the validation questions (1: no cluster level)."
    )
    cluster_pseudo: float = Field(
        20.0, gt=0, description="Weight of the task estimate inside a cluster, in questions."
    )
    task_pseudo: float = Field(
        5.0,
        gt=0,
        description="Weight of the overall accuracy inside a task the validation lines name, "
        "in questions (a large value turns the task level off).",
    )
    membership_temperature: float = Field(
        0.05, gt=0, description="Softness of a question's cluster membership."
    )
    folds: int = Field(5, ge=2, description="Cross-validation folds of the knob search.")
    seed: int = Field(0, description="Seed of the folds and of the clustering.")
    escalation: bool = Field(
        True,
        description="Where the cost weight is above 0, also price escalating teams: a pair of "
        "experts whose shared answer stands, the validation's best expert answering where "
        "they differ (needs three experts and recorded answers); the teams' knobs are "
        "searched on their own records when tuned.",
    )
    escalation_members: int | None = Field(
        4,
        ge=2,
        description="Form the pairs from this many of the best experts after the strongest "
        "(null: from all of them).",
    )


DEFAULT_ROUTER = "knn-shrinkage"
"""The method the service, the worker, ``run``, the SDK and ``bench`` use unless told."""


def router_options(method: str, options: dict[str, Any] | None = None) -> BaseModel:
    """``options`` validated for ``method`` (its class's ``Options``); ValueError naming the
    field (and a close name)."""
    model = ROUTERS.options(method)
    try:
        return model.model_validate(options or {})
    except ValidationError as exc:
        raise ValueError(_describe(method, model, exc)) from None


def _describe(method: str, model: type[BaseModel], exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"])
        message = f"routing option {field!r} of {method!r}: {error['msg']}"
        if error["type"] == "extra_forbidden":
            suggestion = closest(field, list(model.model_fields))
            known = ", ".join(model.model_fields)
            message += f"; known: {known}" + (
                f". Did you mean {suggestion!r}?" if suggestion else ""
            )
        lines.append(message)
    return "\n".join(lines)
