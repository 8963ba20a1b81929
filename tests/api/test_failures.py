"""A failed expert answer's kind, not its message, decides the HTTP status: one table."""

from __future__ import annotations

import pytest

from router_svc.aggregation.aggregator import Aggregate, ExpertAnswer
from router_svc.api.errors import FAILURE_STATUS, HTTPError, error_body
from router_svc.api.service import check_answered
from router_svc.errors import BackendError, FailureKind

NONE = Aggregate(answer=None, text="", method="none")


def failed(kind: FailureKind | None, error: str = "it failed") -> ExpertAnswer:
    return ExpertAnswer(expert="e", text=None, answer=None, error=error, failure=kind)


def test_every_kind_has_one_status() -> None:
    assert set(FAILURE_STATUS) == set(FailureKind)
    assert {kind: FAILURE_STATUS[kind].status for kind in FailureKind} == {
        FailureKind.TIMEOUT: 504,
        FailureKind.CONTEXT_LENGTH: 400,
        FailureKind.BACKEND: 502,
        FailureKind.LOST: 502,
        FailureKind.INTERNAL: 500,
    }


@pytest.mark.parametrize(
    ("kinds", "status", "code"),
    [
        ([FailureKind.TIMEOUT, FailureKind.TIMEOUT], 504, "backend_timeout"),
        ([FailureKind.CONTEXT_LENGTH], 400, "context_length_exceeded"),
        ([FailureKind.TIMEOUT, FailureKind.CONTEXT_LENGTH], 502, "backend_error"),
        ([FailureKind.LOST, FailureKind.LOST], 502, "backend_error"),
        ([FailureKind.INTERNAL], 500, "internal_error"),
        ([None], 502, "backend_error"),  # an empty answer
    ],
)
def test_experts_that_all_failed_answer_their_kind(
    kinds: list[FailureKind | None], status: int, code: str
) -> None:
    with pytest.raises(HTTPError) as raised:
        check_answered([failed(kind) for kind in kinds], NONE)
    assert (raised.value.status, raised.value.code) == (status, code)


def test_the_message_text_is_not_read() -> None:
    """An error whose text reads like a timeout or a full context is what its kind says."""
    lookalike = "BackendTimeout: Requested tokens (3000) exceed context window of 2048"
    with pytest.raises(HTTPError) as raised:
        check_answered([failed(FailureKind.BACKEND, lookalike)], NONE)
    assert raised.value.status == 502
    assert error_body(BackendError(lookalike)).status == 502


def test_an_answered_question_is_no_error() -> None:
    check_answered([failed(FailureKind.TIMEOUT)], Aggregate("4", "4", "single"))
