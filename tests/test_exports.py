"""The public SDK is ``router_svc.__all__``: sorted, complete, importable, cheap to import."""

from __future__ import annotations

import inspect
import subprocess
import sys

import router_svc
import router_svc.errors
import router_svc.sdk

SDK = {"AsyncClient", "Client", "MoE", "Question", "Message", "APIError", "JobNotFoundError"}


def test_all_is_sorted_without_duplicates() -> None:
    assert router_svc.__all__ == sorted(set(router_svc.__all__))


def test_every_exported_name_exists_and_is_ours() -> None:
    for name in router_svc.__all__:
        member = getattr(router_svc, name)
        assert member.__module__.startswith("router_svc."), name
        assert member.__name__ == name


def test_the_sdk_and_every_error_are_exported() -> None:
    errors = {
        name
        for name, member in vars(router_svc.errors).items()
        if inspect.isclass(member) and issubclass(member, Exception) and not name.startswith("_")
    }
    assert errors <= set(router_svc.__all__)
    assert set(router_svc.sdk.__all__) <= set(router_svc.__all__)
    assert router_svc.sdk.__all__ == sorted(router_svc.sdk.__all__)
    assert set(router_svc.__all__) >= SDK


def test_every_public_member_is_in_all() -> None:
    """httpx's test_exported_members: nothing public of ours that __all__ forgets."""
    for name in dir(router_svc):
        member = getattr(router_svc, name)
        if name.startswith("_") or inspect.ismodule(member):
            continue
        if getattr(member, "__module__", "").startswith("router_svc"):
            assert name in router_svc.__all__, name
    assert set(router_svc.__all__) <= set(dir(router_svc))


def test_an_unknown_name_is_an_attribute_error() -> None:
    assert not hasattr(router_svc, "Clientt")
    assert not hasattr(router_svc.sdk, "Clientt")


def test_the_sdk_is_imported_on_first_use() -> None:
    code = (
        "import sys, router_svc\n"
        "early = [m for m in ('httpx', 'numpy', 'router_svc.sdk') if m in sys.modules]\n"
        "client = router_svc.Client\n"
        "late = [m for m in ('numpy', 'router_svc.sdk.moe') if m in sys.modules]\n"
        "print(','.join(early), client.__module__, ','.join(late), sep='|')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "|router_svc.sdk.client|"
