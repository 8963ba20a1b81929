"""Which install extra brings which module, and the error that names the extra to install.

The core install is the SDK (httpx, pydantic) and the command line's shell (typer, tqdm).
Everything else comes with an extra of pyproject.toml; when an import fails, ``missing_extra``
turns the ``ModuleNotFoundError`` into one that says what to install.
tests/test_install_extras.py checks this map against pyproject.toml.
"""

from __future__ import annotations

# Top-level module -> (the extra that installs it, the distribution that provides it).
MODULE_EXTRAS: dict[str, tuple[str, str]] = {
    "fastapi": ("server", "fastapi"),
    "uvicorn": ("server", "uvicorn"),
    "starlette": ("server", "fastapi"),
    "redis": ("server", "redis"),
    "prometheus_client": ("server", "prometheus-client"),
    "pydantic_settings": ("server", "pydantic-settings"),
    "yaml": ("server", "pyyaml"),
    "numpy": ("server", "numpy"),
    "math_verify": ("server", "math-verify"),
    "tokenizers": ("server", "tokenizers"),
    "safetensors": ("server", "safetensors"),
    "sentence_transformers": ("minilm", "sentence-transformers"),
    "torch": ("minilm", "torch"),
    "onnxruntime": ("minilm", "onnxruntime"),
    "llama_cpp": ("llamacpp", "llama-cpp-python"),
    "litellm": ("litellm", "litellm"),
    "vllm": ("vllm", "vllm"),
    "matplotlib": ("bench", "matplotlib"),
    "threadpoolctl": ("bench", "threadpoolctl"),
    "pyarrow": ("import", "pyarrow"),
    "pandas": ("import", "pandas"),
}


def install_command(extra: str) -> str:
    """The pip command that installs ``extra``."""
    return f"pip install 'router-svc[{extra}]'"


def extra_for(module: str | None) -> str | None:
    """The extra that installs ``module`` (a dotted name), or None when no extra does."""
    if not module:
        return None
    entry = MODULE_EXTRAS.get(module.partition(".")[0])
    return entry[0] if entry else None


def missing_extra(exc: ModuleNotFoundError, what: str) -> ModuleNotFoundError | None:
    """An error saying that ``what`` needs an extra, or None when ``exc`` is not about one."""
    extra = extra_for(exc.name)
    if extra is None:
        return None
    message = f"{what} needs the '{extra}' extra ({exc.name} is not installed): "
    return ModuleNotFoundError(message + install_command(extra), name=exc.name)
