"""The routing knobs are defined once (``config.knobs``): every entry point takes them, and the
help texts are the definition's descriptions."""

from __future__ import annotations

import types
import typing

import pytest
from typer.testing import CliRunner

from router_svc.api.schemas import ChatCompletionRequest, RouteRequest
from router_svc.batch.payload import BatchPayload
from router_svc.cli.main import app
from router_svc.config.knobs import KNOBS, KnobArgs, RoutingKnobs, knob_help
from router_svc.config.registry import ROUTERS
from router_svc.config.routers import DEFAULT_ROUTER
from router_svc.errors import RoutingError, UnknownComponentError


def test_the_keyword_arguments_are_the_knobs_with_their_types() -> None:
    hints = typing.get_type_hints(KnobArgs)
    fields = RoutingKnobs.model_fields

    assert tuple(hints) == KNOBS
    for name, hint in hints.items():
        declared = [a for a in typing.get_args(fields[name].annotation) if a is not type(None)]
        union = typing.get_origin(hint) in (typing.Union, types.UnionType)
        assert [_bare(a) for a in declared] == (list(typing.get_args(hint)) if union else [hint])


def _bare(annotation: object) -> object:
    """``annotation`` without its ``Annotated`` metadata."""
    if typing.get_origin(annotation) is typing.Annotated:
        return typing.get_args(annotation)[0]
    return annotation


def test_the_router_help_names_every_registered_method_and_the_default() -> None:
    text = knob_help("router")

    assert all(name in text for name in ROUTERS.names())
    assert f"else {DEFAULT_ROUTER}]" in text


@pytest.mark.parametrize("name", KNOBS)
def test_every_knob_says_its_default(name: str) -> None:
    assert knob_help(name).endswith("].")


@pytest.mark.parametrize("model", [ChatCompletionRequest, RouteRequest])
def test_the_api_fields_are_the_definition(model: type[RoutingKnobs]) -> None:
    schema = model.model_json_schema()["properties"]

    assert issubclass(model, RoutingKnobs)
    for name in KNOBS:
        assert schema[name]["description"] == knob_help(name)


def test_a_batch_entry_carries_the_same_knobs() -> None:
    assert BatchPayload.model_fields["options"].annotation is RoutingKnobs


@pytest.mark.parametrize("command", ["route", "run"])
def test_the_cli_options_are_the_knobs_with_their_help(command: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "400"})

    assert result.exit_code == 0, result.output
    for name in KNOBS:
        flag = "--" + name.replace("_", "-")
        assert flag in result.output
        assert knob_help(name) in result.output


def test_a_bad_cli_knob_is_one_line_naming_it() -> None:
    result = CliRunner().invoke(app, ["route", "What is 2 + 2?", "--mode", "all"])

    assert result.exit_code == 1
    assert "error: mode: Input should be 'top_k' or 'sampling'" in result.output


@pytest.mark.parametrize(
    ("values", "error", "text"),
    [
        ({"k": 0}, RoutingError, "k: Input should be greater than or equal to 1"),
        ({"router": "skil"}, UnknownComponentError, "Did you mean 'skill'?"),
        ({"tagger": "llms"}, UnknownComponentError, "no tagger named 'llms'"),
        ({"kk": 2}, UnknownComponentError, "no routing knob named 'kk'"),
        ({"cost_weight": float("inf")}, RoutingError, "cost_weight: Input should be a finite"),
    ],
)
def test_bad_knobs_name_the_knob(values: dict[str, object], error: type, text: str) -> None:
    with pytest.raises(error, match=text):
        RoutingKnobs.of(values)


def test_only_the_set_knobs_are_overrides() -> None:
    knobs = RoutingKnobs.of({"k": "2", "mode": "sampling"}, strict=False)

    assert knobs.overrides() == {"k": 2, "mode": "sampling"}


@pytest.mark.parametrize("method", ["chat", "route", "submit_batch"])
def test_the_sdk_refuses_an_unknown_knob_before_it_sends(method: str) -> None:
    import router_svc

    with router_svc.Client("http://127.0.0.1:9") as client:  # nothing listens: nothing is sent
        call = getattr(client, method)
        with pytest.raises(TypeError, match="unexpected keyword argument 'kk'; routing knobs: k"):
            call("What is 2 + 2?", kk=2)
