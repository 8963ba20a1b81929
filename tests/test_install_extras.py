"""The light install: the SDK and the command line's shell need only the core dependencies.

pip cannot uninstall the extras from this venv for a test, so a subprocess refuses to import every
module an extra brings (a ``sys.meta_path`` finder that raises ``ModuleNotFoundError``, as a
missing package does) and then uses the SDK and the CLI.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from router_svc.config.extras import MODULE_EXTRAS, extra_for, install_command

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
CORE = {"httpx", "pydantic", "typer", "tqdm"}
# The list of what an SDK user must not need; MODULE_EXTRAS must cover each.
HEAVY = {"fastapi", "redis", "llama_cpp", "matplotlib", "sentence_transformers", "torch"}
HEAVY |= {"litellm", "numpy", "uvicorn", "yaml", "pydantic_settings", "vllm"}

BLOCKER = textwrap.dedent(
    """
    import sys

    class Missing:
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in {blocked!r}:
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
            return None

    sys.meta_path.insert(0, Missing())
    """
)


def _name(requirement: str) -> str:
    """The distribution name of a requirement string (``"redis>=5"`` -> ``"redis"``)."""
    match = re.match(r"[A-Za-z0-9_.-]+", requirement)
    assert match, requirement
    return match.group(0).lower()


def _distributions(extra: str) -> set[str]:
    """Every distribution an extra installs, following ``router-svc[...]`` references."""
    names: set[str] = set()
    for requirement in PYPROJECT["optional-dependencies"][extra]:
        if requirement.startswith("router-svc["):
            for nested in requirement.split("[", 1)[1].rstrip("]").split(","):
                names |= _distributions(nested.strip())
        else:
            names.add(_name(requirement))
    return names


def _run_without_extras(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    script = BLOCKER.format(blocked=sorted(MODULE_EXTRAS)) + textwrap.dedent(code)
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def test_the_core_dependencies_are_the_sdk_and_the_cli_shell() -> None:
    assert {_name(r) for r in PYPROJECT["dependencies"]} == CORE


def test_each_mapped_module_comes_with_the_extra_it_names() -> None:
    for module, (extra, distribution) in MODULE_EXTRAS.items():
        assert distribution in _distributions(extra), (module, extra)
        assert distribution not in CORE, module
    assert set(MODULE_EXTRAS) >= HEAVY


def test_all_holds_every_cpu_extra_and_dev_holds_all() -> None:
    extras = PYPROJECT["optional-dependencies"]
    assert set(extras) >= {"server", "llamacpp", "vllm", "litellm", "minilm", "bench"}
    for extra in ("server", "llamacpp", "litellm", "minilm", "bench"):
        assert _distributions(extra) <= _distributions("all"), extra
    assert _distributions("all") <= _distributions("dev")
    assert "vllm" not in _distributions("all")


TRANSFORMER = {"torch", "sentence-transformers", "transformers", "onnx", "onnxruntime"}


def test_the_server_reads_the_static_model_and_installs_no_transformer() -> None:
    """Every runtime builds an embedder; the default one (the static model shipped in the
    wheel) needs tokenizers and safetensors, MiniLM comes with the minilm extra."""
    assert {"numpy", "tokenizers", "safetensors"} <= _distributions("server")
    assert not TRANSFORMER & _distributions("server")
    assert {"torch", "sentence-transformers"} <= _distributions("minilm")


def test_the_wheel_carries_the_static_model() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setuptools["package-data"]["router_svc.tagging"] == ["static_model/*"]
    assert (ROOT / "router_svc" / "tagging" / "static_model" / "model.safetensors").is_file()


@pytest.mark.slow
def test_pip_resolves_the_server_extra_without_torch(tmp_path: Path) -> None:
    """What pip would install for '.[server]' into an empty environment (its resolver, the
    registry's metadata, nothing installed): no torch, no sentence-transformers."""
    report = tmp_path / "report.json"
    args = ["install", "--dry-run", "--ignore-installed", "--quiet", "--report", str(report)]
    result = subprocess.run(
        [sys.executable, "-m", "pip", *args, ".[server]"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    names = {item["metadata"]["name"].lower() for item in json.loads(report.read_text())["install"]}
    assert {"router-svc", "fastapi", "tokenizers", "safetensors", "numpy"} <= names
    assert not TRANSFORMER & names, sorted(TRANSFORMER & names)


def test_extra_for_reads_the_top_level_module() -> None:
    assert extra_for("llama_cpp.llama_grammar") == "llamacpp"
    assert extra_for("json") is None
    assert extra_for(None) is None
    assert install_command("bench") == "pip install 'router-svc[bench]'"


def test_the_sdk_imports_with_only_the_core_dependencies() -> None:
    result = _run_without_extras(
        """
        import json, router_svc, router_svc.sdk
        from router_svc import AsyncClient, Client, Question
        client = Client("http://127.0.0.1:9", timeout=1)
        client.close()
        try:
            router_svc.MoE
        except ModuleNotFoundError as exc:
            moe = str(exc)
        print(json.dumps({"moe": moe, "client": client.base_url}))
        """
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["moe"].startswith("router_svc.MoE needs the 'server' extra")
    assert report["moe"].endswith("pip install 'router-svc[server]'")
    assert report["client"].startswith("http://127.0.0.1:9")


CLI = "from router_svc.cli.main import app\nsys.argv[0] = 'router-svc'\napp()\n"


def test_the_cli_starts_and_lists_every_command_without_the_extras() -> None:
    result = _run_without_extras(CLI, "--help")

    assert result.returncode == 0, result.stderr
    for command in ("serve", "worker", "route", "profile", "bench", "experts", "config"):
        assert re.search(rf"│ {command}\s", result.stdout), command


@pytest.mark.parametrize(
    ("args", "extra"),
    [
        (("serve", "--port", "1"), "server"),
        (("worker", "--once"), "server"),
        (("route", "What is 2 + 2?"), "server"),
        (("bench",), "server"),
        (("experts", "list"), "server"),
    ],
)
def test_a_command_that_needs_an_extra_names_it(args: tuple[str, ...], extra: str) -> None:
    result = _run_without_extras(CLI, *args)

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    message = " ".join(result.stderr.split())
    assert f"needs the '{extra}' extra (" in message
    assert message.endswith(f"{install_command(extra)}"), message
