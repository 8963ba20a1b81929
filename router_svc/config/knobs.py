"""A request's routing knobs, defined once: ``RoutingKnobs``.

    k  tagger  router  cost_weight  mode  seed

Every entry point takes them from here: the API's request fields (``api.schemas``), a batch
entry's options (``batch.payload``), the SDK's ``**knobs`` (``KnobArgs``), ``MoE``, the CLI's
``--k``, ``--tagger`` ... options (``cli._common.with_knobs``) and ``Pipeline.options``, which
fills the defaults in. Each field's description is the help text of all of them; it ends with
the default in brackets. A knob left unset (None) takes that default, so a request, a batch or
a command line names only what it changes.

Values are checked where a ``RoutingKnobs`` is built, once: bounds, the tagger and router
names (an unknown name is a ``unknown_tagger`` / ``unknown_router`` error naming the known
ones). What depends on the suite or the server (k past the suite's experts or past
``ROUTER_SVC_MAX_K``, a tagger the pool does not configure) is checked by ``Pipeline.options``.

Adding a knob: a field here and its key in ``KnobArgs`` (a test keeps the two equal), then the
logic that reads it (``Pipeline.options`` and the stage that uses it). The API fields, the batch
payload, the SDK and MoE keyword arguments and the CLI options carry it without a change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any, ClassVar, Literal, TypedDict

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ValidationError,
    field_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from router_svc.config.registry import ROUTERS
from router_svc.config.routers import DEFAULT_ROUTER
from router_svc.errors import RouterSvcError, RoutingError, UnknownComponentError, unknown_message

RecruitMode = Literal["top_k", "sampling"]
"""top_k: the k best-scored experts; sampling: k drawn (seeded) in proportion to the scores."""

TAGGERS = ("llm", "embedding", "keyword")
"""Every tagger kind; ``llm`` only where the pool names a tagger expert."""

MAX_SEED = 2**32 - 1
"""llama.cpp seeds are 32-bit."""
MAX_COST_WEIGHT = 1e6
"""Far past any useful trade (scores and relative costs are at most about 1), and far from a
float's overflow: a lambda near 1.8e308 made the scores infinite."""


def router_names() -> list[str]:
    """Every registered routing method (``router_svc.routers`` entry points, plugins
    included), the default first."""
    return [DEFAULT_ROUTER, *(name for name in ROUTERS.names() if name != DEFAULT_ROUTER)]


class OneOf:
    """``Annotated[str, OneOf("router", router_names)]``: a name that must be one of
    ``names()``, read when a value is checked or a schema is made (so plugins registered later
    count); an unknown one is the error ``unknown_<kind>``, and the JSON schema is an enum."""

    registered: ClassVar[dict[str, Callable[[], Iterable[str]]]] = {}

    def __init__(self, kind: str, names: Callable[[], Iterable[str]]) -> None:
        self.kind = kind
        self.names = names
        OneOf.registered[kind] = names

    @classmethod
    def known(cls, kind: str) -> list[str]:
        """The names a ``OneOf`` of ``kind`` accepts now."""
        return list(cls.registered[kind]())

    def check(self, value: str) -> str:
        known = list(self.names())
        if value not in known:
            message = unknown_message(self.kind, value, known)
            raise PydanticCustomError(f"unknown_{self.kind}", "{message}", {"message": message})
        return value

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "string", "enum": list(self.names())}


def _taggers() -> tuple[str, ...]:
    return TAGGERS


TaggerName = Annotated[str, OneOf("tagger", _taggers)]
RouterName = Annotated[str, OneOf("router", router_names)]


def whole(value: Any) -> Any:
    """A float with no fraction as the int it is (JSON Schema's integer: ``471760.0`` is one);
    a before-validator of integer fields."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


KNOB_ERRORS = frozenset({"unknown_tagger", "unknown_router"})
"""Error types of ``RoutingKnobs`` validation that are their own error code on the API."""


def _router_help() -> str:
    names = ", ".join(router_names())
    return f"Routing method: {names} [the pool's routing.method, else {DEFAULT_ROUTER}]."


class RoutingKnobs(BaseModel):
    """How one request is routed; an unset knob (None) takes the default in brackets."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    k: Annotated[int, Field(ge=1)] | Literal["auto"] | None = Field(
        None,
        description="Experts recruited per question, or auto: one, or a team where the "
        "validation record says a team pays for its cost [the pool's k].",
    )
    tagger: TaggerName | None = Field(
        None,
        description=f"How a question is tagged: {', '.join(TAGGERS)} [the pool's tagger.kind].",
    )
    router: RouterName | None = Field(None, description=_router_help())
    cost_weight: float | None = Field(
        None,
        ge=0,
        le=MAX_COST_WEIGHT,
        allow_inf_nan=False,
        description="Lambda: how much quality to give up per unit of relative cost, at most "
        "1e6 [0].",
    )
    mode: RecruitMode | None = Field(
        None, description="top_k: the k best experts; sampling: k drawn by score [top_k]."
    )
    seed: int | None = Field(
        None, ge=0, le=MAX_SEED, description="Seed of the sampling mode's draw [0]."
    )

    whole_numbers = field_validator("k", "seed", mode="before")(whole)

    @classmethod
    def of(cls, values: Mapping[str, Any], *, strict: bool | None = None) -> RoutingKnobs:
        """Knobs from plain values (keyword arguments, text options); the first bad one is a
        RoutingError naming it (an UnknownComponentError for an unknown tagger or router)."""
        try:
            return cls.model_validate(values, strict=strict)
        except ValidationError as exc:
            raise _knob_error(exc) from None

    def overrides(self) -> dict[str, Any]:
        """The knobs that are set, by name (what a request or a command line changed)."""
        values = {name: getattr(self, name) for name in KNOBS}
        return {name: value for name, value in values.items() if value is not None}


KNOBS: tuple[str, ...] = tuple(RoutingKnobs.model_fields)
"""Every knob's name, in the definition's order."""


class KnobArgs(TypedDict, total=False):
    """``RoutingKnobs`` as keyword arguments (the SDK's and ``MoE``'s ``**knobs``); the types
    are ``RoutingKnobs``'s, without None (leave a knob out instead)."""

    k: int | Literal["auto"]
    tagger: str
    router: str
    cost_weight: float
    mode: RecruitMode
    seed: int


def _knob_error(exc: ValidationError) -> RouterSvcError:
    error = exc.errors()[0]
    name = str(error["loc"][0]) if error["loc"] else "knobs"
    kind = error["type"].removeprefix("unknown_")
    if error["type"] in KNOB_ERRORS:
        return UnknownComponentError(kind, str(error["input"]), OneOf.known(kind))
    if error["type"] == "extra_forbidden":
        return UnknownComponentError("routing knob", name, KNOBS)
    return RoutingError(f"{name}: {error['msg']}")


def knob_help(name: str) -> str:
    """The description of knob ``name`` (the help text of its CLI option and API field)."""
    return RoutingKnobs.model_fields[name].description or ""


def knob_args(values: dict[str, Any], where: str) -> dict[str, Any]:
    """``values`` (keyword arguments) without the unset ones; a TypeError names an unknown
    knob as Python names an unexpected keyword argument."""
    unknown = [name for name in values if name not in KNOBS]
    if unknown:
        raise TypeError(
            f"{where}() got an unexpected keyword argument {unknown[0]!r}; "
            f"routing knobs: {', '.join(KNOBS)}"
        )
    return {name: value for name, value in values.items() if value is not None}
