"""How many experts a question recruits (k): the one rule every path uses.

A requested k wins, but it must lie in 1..the experts the suite can recruit (a RoutingError
naming k otherwise). Without one, the pool's k (experts.yaml) is used, capped by the experts
available and by an optional server ``limit``. The recruiter applies the same cap as a last
guard, so a k past the experts picks each of them once.
"""

from __future__ import annotations

from router_svc.errors import RoutingError


def choose_k(requested: int | None, pool_k: int, available: int, limit: int | None = None) -> int:
    """``requested`` (checked against ``available``), else ``pool_k`` capped."""
    if requested is not None:
        return check_k(requested, available)
    return cap_k(pool_k if limit is None else min(pool_k, limit), available)


def cap_k(k: int, available: int) -> int:
    """``k``, but at least 1 and never more than the ``available`` experts."""
    return max(1, min(k, available))


def check_k(k: int, available: int) -> int:
    """``k`` itself, or a RoutingError when it is below 1 or above the ``available`` experts."""
    if k < 1:
        raise RoutingError(f"k must be at least 1, got {k}")
    if k > available:
        message = f"k must be at most {available}, the experts this suite can recruit; got {k}"
        raise RoutingError(message)
    return k
