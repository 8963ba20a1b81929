"""A suite's routing methods: fitted by name on first use, then shared by every request."""

from __future__ import annotations

import threading
from collections.abc import Callable

from pydantic import BaseModel

from router_svc.config.registry import ROUTERS
from router_svc.config.routers import DEFAULT_ROUTER, router_options
from router_svc.routing.inputs import SuiteData
from router_svc.routing.recruiter import Recruiter
from router_svc.routing.registry import router_class


class RouterCatalog:
    """Every registered method over one suite; ``get(None)`` is the configured default."""

    def __init__(
        self,
        suite: SuiteData,
        default: str = DEFAULT_ROUTER,
        options: Callable[[str], BaseModel] = router_options,
    ) -> None:
        self.suite = suite
        self.default_name = DEFAULT_ROUTER
        self.default_name = self.check(default)
        self.options = options
        self._fitted: dict[str, Recruiter] = {}
        self._lock = threading.Lock()

    @property
    def names(self) -> list[str]:
        return ROUTERS.names()

    @property
    def default(self) -> Recruiter:
        return self.get(None)

    def check(self, name: str | None) -> str:
        """``name`` (or the default); UnknownComponentError for a method not registered."""
        return ROUTERS.check(name if name is not None else self.default_name)

    def get(self, name: str | None) -> Recruiter:
        """The method ``name`` (None: the default), fitted once on the suite."""
        name = self.check(name)
        with self._lock:
            if name not in self._fitted:
                self._fitted[name] = router_class(name).fit(self.suite, self.options(name))
            return self._fitted[name]

    def put(self, name: str, router: Recruiter) -> None:
        """Serve ``router`` as the method ``name`` from now on (one that learned feedback)."""
        name = self.check(name)
        with self._lock:
            self._fitted[name] = router
