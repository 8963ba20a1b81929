"""The one exception tree of router-svc.

Every error the package raises on purpose is a ``RouterSvcError``; exceptions from
llama-cpp-python, litellm, httpx, openai and redis are translated once, at the engine or
store edge, and re-raised ``from`` the original.

    RouterSvcError
    ├── ConfigError                  bad experts.yaml, settings or CLI arguments
    │   └── UnknownComponentError    a name that is not registered (engine, expert, tagger...)
    ├── DataError                    a malformed suite / replay / batch file (file and line)
    ├── RoutingError                 the router cannot make a decision
    │   └── NoExpertsError           no expert is available for a request
    ├── BackendError                 an engine failed to load or generate
    │   ├── BackendUnavailableError  an optional dependency is missing (names the extra)
    │   ├── BackendTimeout           generation took longer than the expert's timeout
    │   ├── ContextLengthError       the prompt does not fit the model's context window
    │   └── BackendHTTPError         a remote backend answered with an HTTP error
    ├── StoreError                   Redis / SQLite store failures
    ├── JobNotFoundError             an unknown batch job id
    └── APIError                     an error answer from a router-svc server (SDK side)

A failed expert answer keeps its error's ``FailureKind`` (``failure_kind``): the API maps each
kind to one HTTP status (``router_svc.api.errors.FAILURE_STATUS``), so nothing downstream reads
the message text.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from enum import StrEnum
from typing import ClassVar


class FailureKind(StrEnum):
    """Why an expert gave no answer."""

    TIMEOUT = "timeout"
    """The generation took longer than its timeout (``BackendTimeout``)."""
    CONTEXT_LENGTH = "context_length"
    """The prompt does not fit the model's context window (``ContextLengthError``)."""
    BACKEND = "backend"
    """The engine failed otherwise: it would not load, a remote server erred, it was missing."""
    LOST = "lost"
    """A cluster stage lost the answer: the question expired or every worker holding it died."""
    INTERNAL = "internal"
    """An unexpected error (a bug): anything that is not a ``BackendError``."""


class RouterSvcError(Exception):
    """Base class of every error router-svc raises on purpose."""


class ConfigError(RouterSvcError):
    """Invalid configuration: experts.yaml, settings or CLI arguments."""


class UnknownComponentError(ConfigError):
    """A name that is not in the registry it was looked up in."""

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        self.kind = kind
        self.name = name
        self.known = sorted(known)
        super().__init__(unknown_message(kind, name, self.known))


class DataError(RouterSvcError):
    """A malformed data file; the message names the file and line, ``field`` the field at fault
    (when one is)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class RoutingError(RouterSvcError):
    """The router could not make a decision."""


class NoExpertsError(RoutingError):
    """No expert is available for the request."""


class BackendError(RouterSvcError):
    """An engine failed to load a model or to generate."""

    failure: ClassVar[FailureKind] = FailureKind.BACKEND

    def __init__(self, message: str, *, backend: str = "", expert: str = "") -> None:
        self.backend = backend
        self.expert = expert
        super().__init__(message)


class BackendUnavailableError(BackendError):
    """An optional dependency of a backend is not installed."""


class BackendTimeout(BackendError):
    """A generation took longer than its timeout."""

    failure = FailureKind.TIMEOUT


class ContextLengthError(BackendError):
    """The prompt (with the room asked for the answer) does not fit the context window."""

    failure = FailureKind.CONTEXT_LENGTH


class BackendHTTPError(BackendError):
    """A remote backend answered with an HTTP error status."""

    def __init__(
        self, message: str, *, backend: str = "", expert: str = "", status_code: int, body: str
    ) -> None:
        self.status_code = status_code
        self.body = body
        super().__init__(message, backend=backend, expert=expert)


class StoreError(RouterSvcError):
    """The state store (Redis or SQLite) failed."""


class JobNotFoundError(RouterSvcError):
    """No batch job has the given id."""


class APIError(RouterSvcError):
    """An error answer from a router-svc server, as the SDK sees it."""

    def __init__(self, message: str, *, status_code: int, type: str = "", code: str = "") -> None:
        self.status_code = status_code
        self.type = type
        self.code = code
        super().__init__(message)


def failure_kind(exc: BaseException) -> FailureKind:
    """The kind of failure ``exc`` is: a backend error's own, else ``INTERNAL``."""
    return exc.failure if isinstance(exc, BackendError) else FailureKind.INTERNAL


def closest(name: str, known: Iterable[str]) -> str | None:
    """The known name closest to ``name``, if any is close enough to suggest."""
    matches = difflib.get_close_matches(name, list(known), n=1, cutoff=0.5)
    return matches[0] if matches else None


def unknown_message(kind: str, name: str, known: Iterable[str]) -> str:
    """'no engine named 'vlm'; known: llamacpp, vllm. Did you mean 'vllm'?'"""
    known = sorted(known)
    message = f"no {kind} named {name!r}; known: {', '.join(known) or '(none)'}"
    suggestion = closest(name, known)
    return f"{message}. Did you mean {suggestion!r}?" if suggestion else message
