"""Remembering the results of pure array functions by content, inside one ``remembered()`` block.

A bench fits a dozen variants of the same methods on the same validation vectors: each asks
again for the same nearest neighbours and the same k-means clustering. Inside ``remembered()``
a ``@memoised`` function computes each distinct call once, keyed by the contents of its array
arguments (shape, dtype and a hash of the bytes), so no caller can get another input's answer.
Outside such a block (the service) the call goes straight through, at no cost. Remembered
arrays are made read-only, so a caller that would change one in place fails loudly; a
read-only array that owns its data is hashed once per block (callers freeze their big inputs).
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import wraps
from typing import Any, ParamSpec, TypeVar

import numpy as np

P = ParamSpec("P")
R = TypeVar("R")

_MEMO: ContextVar[dict[tuple[Any, ...], Any] | None] = ContextVar("routing_memo", default=None)


@contextmanager
def remembered() -> Iterator[None]:
    """Inside the block, ``@memoised`` functions compute each distinct call once."""
    token = _MEMO.set({})
    try:
        yield
    finally:
        _MEMO.reset(token)


def memoised(function: Callable[P, R]) -> Callable[P, R]:
    """``function`` (pure: arrays and plain values in, arrays out) remembered by content."""

    @wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        memo = _MEMO.get()
        if memo is None:
            return function(*args, **kwargs)
        key = (function.__qualname__, _key(args, memo), _key(tuple(sorted(kwargs.items())), memo))
        if key not in memo:
            memo[key] = _frozen(function(*args, **kwargs))
        result: R = memo[key]
        return result

    return wrapper


def _key(value: Any, memo: dict[tuple[Any, ...], Any]) -> Any:
    if isinstance(value, np.ndarray):
        return ("array", value.shape, value.dtype.str, _digest(value, memo))
    if isinstance(value, tuple | list):
        return tuple(_key(item, memo) for item in value)
    return value


def _digest(array: np.ndarray, memo: dict[tuple[Any, ...], Any]) -> str:
    """A hash of the array's bytes. An array that owns its data and is read-only cannot
    change, so its hash is kept for the block (by identity, checked through a weak
    reference: a new array at a dead one's address is hashed afresh)."""
    constant = array.base is None and not array.flags.writeable
    slot = ("digest", id(array))
    if constant and slot in memo:
        alive, digest = memo[slot]
        if alive() is array:
            return str(digest)
    digest = hashlib.blake2b(np.ascontiguousarray(array).data).hexdigest()
    if constant:
        memo[slot] = (weakref.ref(array), digest)
    return digest


def _frozen(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        value.flags.writeable = False
    elif isinstance(value, tuple):
        for item in value:
            _frozen(item)
    return value
