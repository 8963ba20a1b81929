"""Read experts.yaml into a PoolConfig; errors name the file, line, expert and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from router_svc.config.model_files import check_model_reference
from router_svc.config.pool import PoolConfig
from router_svc.errors import ConfigError


def load_pool(path: str | Path) -> PoolConfig:
    """Parse and validate a pool file; relative model paths are resolved against its folder."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(
            f"{path}: no such file; pass --config or set ROUTER_SVC_CONFIG_PATH"
        ) from exc
    return parse_pool(text, path)


def parse_pool(text: str, path: Path) -> PoolConfig:
    """Validate the YAML text of a pool file that lives at ``path``."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"{path}: invalid YAML{_yaml_position(exc)}: {_yaml_problem(exc)}"
        ) from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with an 'experts' list at the top level")
    try:
        pool = PoolConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path, data, node)) from exc
    return _resolve_models(pool, path, data, node)


def _resolve_models(pool: PoolConfig, path: Path, data: Any, node: yaml.Node | None) -> PoolConfig:
    experts = []
    for index, expert in enumerate(pool.experts):
        try:
            model = check_model_reference(expert.engine, expert.model, path.parent)
        except ConfigError as exc:
            where = _where(path, data, node, ("experts", index, "model"))
            raise ConfigError(f"{where}: {exc}") from exc
        experts.append(expert.model_copy(update={"model": model}))
    return pool.model_copy(update={"experts": experts})


def _describe(exc: ValidationError, path: Path, data: Any, node: yaml.Node | None) -> str:
    lines = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"{_where(path, data, node, loc)}: {message}")
    return "\n".join(lines)


def _where(path: Path, data: Any, node: yaml.Node | None, loc: tuple[Any, ...]) -> str:
    """'experts.yaml line 12, expert 'math', field 'temperature''."""
    parts = [str(path)]
    line = _line_of(node, loc)
    if line is not None:
        parts.append(f"line {line}")
    if len(loc) >= 2 and loc[0] == "experts" and isinstance(loc[1], int):
        parts.append(f"expert {_expert_name(data, loc[1])}")
        field = ".".join(str(part) for part in loc[2:])
    else:
        field = ".".join(str(part) for part in loc)
    if field:
        parts.append(f"field {field!r}")
    return ", ".join(parts)


def _expert_name(data: Any, index: int) -> str:
    try:
        return repr(data["experts"][index]["name"])
    except (KeyError, IndexError, TypeError):
        return f"#{index + 1}"


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the deepest YAML node on the path ``loc``."""
    line = None
    for part in loc:
        if node is None:
            break
        line = node.start_mark.line + 1
        node = _child(node, part)
    if node is not None:
        line = node.start_mark.line + 1
    return line


def _child(node: yaml.Node, part: Any) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        pairs: list[tuple[yaml.Node, yaml.Node]] = node.value
        for key, value in pairs:
            if key.value == str(part):
                return value
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        items: list[yaml.Node] = node.value
        return items[part]
    return None


def _yaml_position(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    return f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


def _yaml_problem(exc: yaml.YAMLError) -> str:
    return str(getattr(exc, "problem", None) or exc)
