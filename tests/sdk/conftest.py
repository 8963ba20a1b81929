"""The SDK tests' server (``sdk_server``) is in tests/conftest.py; ``Server`` in tests/support.py.

``Server`` stays importable from here for the test modules that import it.
"""

from __future__ import annotations

from tests.support import Server

__all__ = ["Server"]
