"""compose.yaml agrees with itself, with Settings, with the Dockerfile and with experts.gpu.yaml.

Each check is a function that returns the problems it finds (an empty list when all is well).
The tests run every check on the shipped files and, to show that each one can fail, on a copy
of compose.yaml with one mistake put in.
"""

from __future__ import annotations

import copy
import shlex
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from router_svc.config.loader import load_pool
from router_svc.config.pool import PoolConfig
from router_svc.config.settings import Settings
from router_svc.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
GPU_POOL = ROOT / "experts.gpu.yaml"
GPU_PROFILE = "gpu"

Compose = dict[str, Any]
Service = dict[str, Any]


# --- reading compose.yaml ------------------------------------------------------------------------


def load_compose() -> Compose:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict), "compose.yaml must be a mapping"
    return data


def services(compose: Compose) -> dict[str, Service]:
    return dict(compose.get("services") or {})


def command_args(service: Service) -> list[str]:
    command = service.get("command") or []
    return shlex.split(command) if isinstance(command, str) else [str(arg) for arg in command]


def flag(args: list[str], name: str) -> str | None:
    """The value of ``--name value`` or ``--name=value``; None when the flag is absent."""
    for index, arg in enumerate(args):
        if arg == name and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def environment(service: Service) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (str(item).split("=", 1) for item in env)
        return {pair[0]: pair[1] if len(pair) > 1 else "" for pair in pairs}
    return {str(key): "" if value is None else str(value) for key, value in env.items()}


def dependencies(service: Service) -> list[str]:
    return list(service.get("depends_on") or [])  # a list, or a mapping keyed by service


def named_volumes(service: Service) -> list[str]:
    """Sources of the service's volume mounts that are volume names (not paths)."""
    names = []
    for mount in service.get("volumes") or []:
        if isinstance(mount, dict):
            source = mount.get("source") if mount.get("type", "volume") == "volume" else None
        else:
            parts = str(mount).split(":")
            source = parts[0] if len(parts) > 1 else None  # "/path" alone is anonymous
        if source and not source.startswith((".", "/", "~", "$")):
            names.append(str(source))
    return names


def published_targets(service: Service) -> list[int]:
    """Container ports the service publishes ("8001:8000" -> 8000)."""
    targets = []
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            targets.append(int(port["target"]))
        else:
            targets.append(int(str(port).rsplit(":", 1)[-1].split("/")[0]))
    return targets


def router_services(compose: Compose) -> dict[str, Service]:
    """Services that run our image: the api and worker of each pool."""
    return {
        name: service
        for name, service in services(compose).items()
        if service.get("build")
        or str(service.get("image", "")).startswith("router-svc")
        or command_args(service)[:1] == ["router-svc"]
    }


def vllm_services(compose: Compose) -> dict[str, Service]:
    return {
        name: service
        for name, service in services(compose).items()
        if str(service.get("image", "")).startswith("vllm/vllm-openai")
    }


# --- the checks ----------------------------------------------------------------------------------


def check_build_or_image(compose: Compose) -> list[str]:
    return [
        f"service {name!r} has neither build nor image"
        for name, service in services(compose).items()
        if not service.get("build") and not service.get("image")
    ]


def check_dependencies(compose: Compose) -> list[str]:
    known = services(compose)
    return [
        f"service {name!r} depends on {target!r}, which is not a service"
        for name, service in known.items()
        for target in dependencies(service)
        if target not in known
    ]


def check_volumes(compose: Compose) -> list[str]:
    declared = set(compose.get("volumes") or {})
    return [
        f"service {name!r} mounts volume {volume!r}, which the top-level volumes do not declare"
        for name, service in services(compose).items()
        for volume in named_volumes(service)
        if volume not in declared
    ]


def check_settings(compose: Compose) -> list[str]:
    fields = {f"ROUTER_SVC_{field.upper()}" for field in Settings.model_fields}
    return [
        f"service {name!r} sets {var}, which is not a Settings field"
        for name, service in router_services(compose).items()
        for var in environment(service)
        if var.startswith("ROUTER_SVC_") and var not in fields
    ]


def check_ports(compose: Compose) -> list[str]:
    problems = []
    for name, service in router_services(compose).items():
        args = command_args(service)
        if args[1:2] != ["serve"]:
            continue
        port = flag(args, "--port")
        if port is None or int(port) not in published_targets(service):
            problems.append(f"service {name!r} serves on --port {port} but publishes no such port")
        probe = " ".join(map(str, (service.get("healthcheck") or {}).get("test") or []))
        if f":{port}/healthz" not in probe:
            problems.append(f"service {name!r} has no healthcheck on :{port}/healthz")
    return problems


def check_vllm(compose: Compose, pool: PoolConfig) -> list[str]:
    """Every api_base names a vLLM service of the gpu profile that serves the expert's model."""
    servers = vllm_services(compose)
    problems, used = [], set()
    for expert in (e for e in pool.experts if e.api_base):
        url = urlsplit(expert.api_base or "")
        served = expert.model.removeprefix("openai/")
        server = servers.get(url.hostname or "")
        where = f"expert {expert.name!r} ({expert.api_base})"
        if server is None:
            problems.append(f"{where}: no vLLM service named {url.hostname!r}")
            continue
        used.add(url.hostname)
        args = command_args(server)
        if GPU_PROFILE not in (server.get("profiles") or []):
            problems.append(f"{where}: service {url.hostname!r} is not in the gpu profile")
        if flag(args, "--served-model-name") != served or not flag(args, "--model"):
            problems.append(f"{where}: {url.hostname!r} does not serve a model named {served!r}")
        if flag(args, "--port") != str(url.port) or url.path.rstrip("/") != "/v1":
            problems.append(f"{where}: {url.hostname!r} listens on --port {flag(args, '--port')}")
        max_len = flag(args, "--max-model-len")
        if max_len is not None and int(max_len) < expert.context_length:
            problems.append(f"{where}: --max-model-len {max_len} < context_length")
    problems += [f"vLLM service {name!r} serves no expert" for name in servers if name not in used]
    return problems + check_gpu_reservations(servers)


def check_gpu_reservations(servers: dict[str, Service]) -> list[str]:
    problems = []
    for name, service in servers.items():
        reservations = (service.get("deploy") or {}).get("resources", {}).get("reservations", {})
        drivers = [device.get("driver") for device in reservations.get("devices") or []]
        if "nvidia" not in drivers:
            problems.append(f"vLLM service {name!r} reserves no nvidia GPU")
    return problems


def check_pool_files(compose: Compose) -> list[str]:
    """Each ROUTER_SVC_CONFIG_PATH is copied into the image, loads, and its servers start first."""
    copied = " ".join(
        line for line in DOCKERFILE.read_text(encoding="utf-8").splitlines() if line[:4] == "COPY"
    )
    problems = []
    for name, service in router_services(compose).items():
        config = environment(service).get("ROUTER_SVC_CONFIG_PATH", "experts.yaml")
        if config not in copied.split():
            problems.append(f"service {name!r} reads {config}, which the Dockerfile never copies")
            continue
        hosts = {
            urlsplit(e.api_base).hostname for e in load_pool(ROOT / config).experts if e.api_base
        }
        missing = sorted(str(host) for host in hosts - set(dependencies(service)))
        if missing:
            problems.append(f"service {name!r} does not depend on {', '.join(missing)}")
    return problems


# --- the shipped files -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> Compose:
    return load_compose()


@pytest.fixture(scope="module")
def gpu_pool() -> PoolConfig:
    return load_pool(GPU_POOL)


def test_every_service_has_a_build_or_an_image(compose: Compose) -> None:
    assert check_build_or_image(compose) == []


def test_every_dependency_is_a_service(compose: Compose) -> None:
    assert check_dependencies(compose) == []


def test_every_named_volume_is_declared(compose: Compose) -> None:
    assert check_volumes(compose) == []


def test_router_svc_variables_are_settings_fields(compose: Compose) -> None:
    assert router_services(compose), "no service runs router-svc"
    assert check_settings(compose) == []


def test_the_api_publishes_the_port_it_serves_on(compose: Compose) -> None:
    api = services(compose)["api"]
    assert flag(command_args(api), "--host") == "0.0.0.0"
    assert check_ports(compose) == []


def test_api_base_hosts_are_vllm_services_of_the_gpu_profile(
    compose: Compose, gpu_pool: PoolConfig
) -> None:
    assert check_vllm(compose, gpu_pool) == []


def test_pool_files_are_in_the_image_and_their_servers_start_first(compose: Compose) -> None:
    assert check_pool_files(compose) == []


def test_the_gpu_pool_loads(gpu_pool: PoolConfig) -> None:
    assert 6 <= len(gpu_pool.routable) <= 8
    assert gpu_pool.k == "auto"  # a team only where validation says it pays
    assert gpu_pool.tagger.kind == "llm"
    assert gpu_pool.tagger.expert in gpu_pool.names
    assert set(gpu_pool.aggregator_candidates) <= set(gpu_pool.names)
    assert {expert.engine for expert in gpu_pool.experts} == {"litellm"}
    assert all(expert.cost_per_1k_output > 0 for expert in gpu_pool.experts)


def docker_engine_reachable() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        info = subprocess.run(["docker", "info"], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return info.returncode == 0


def compose_command() -> list[str] | None:
    """Compose v2 (`docker compose`), else Debian 12's docker-compose 1.29; None if neither."""
    plugin = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    if plugin.returncode == 0:
        return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


def test_docker_compose_accepts_the_file() -> None:
    if not docker_engine_reachable():
        pytest.skip("no Docker engine on this machine")
    compose = compose_command()
    if compose is None:
        pytest.skip("Docker runs here, but neither `docker compose` nor docker-compose")
    command = [*compose, "--profile", GPU_PROFILE, "-f", str(COMPOSE), "config", "-q"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


# --- each check catches a broken file ----------------------------------------------------------


def _drop_image(c: Compose) -> None:
    del c["services"]["redis"]["image"]


def _depend_on_a_ghost(c: Compose) -> None:
    c["services"]["worker"]["depends_on"]["rediss"] = {"condition": "service_healthy"}


def _undeclared_volume(c: Compose) -> None:
    c["services"]["api"]["volumes"].append("model-cache:/cache")


def _misspelt_setting(c: Compose) -> None:
    c["services"]["worker"]["environment"]["ROUTER_SVC_REDIS_URI"] = "redis://redis:6379/0"


def _wrong_port(c: Compose) -> None:
    c["services"]["api"]["ports"] = ["8000:8080"]


def _rename_served_model(c: Compose) -> None:
    args = c["services"]["vllm-qwen-7b"]["command"]
    args[:] = [a.replace("--served-model-name=qwen-7b", "--served-model-name=qwen") for a in args]


def _drop_vllm_service(c: Compose) -> None:
    del c["services"]["vllm-gemma-9b"]


def _no_gpu(c: Compose) -> None:
    del c["services"]["vllm-llama-8b"]["deploy"]


def _pool_not_in_image(c: Compose) -> None:
    c["services"]["api"]["environment"]["ROUTER_SVC_CONFIG_PATH"] = "experts.local.yaml"


def _start_before_servers(c: Compose) -> None:
    c["services"]["worker-gpu"]["depends_on"] = {"redis": {"condition": "service_healthy"}}


BREAKAGES: list[tuple[Callable[[Compose], None], Callable[[Compose], list[str]]]] = [
    (_drop_image, check_build_or_image),
    (_depend_on_a_ghost, check_dependencies),
    (_undeclared_volume, check_volumes),
    (_misspelt_setting, check_settings),
    (_wrong_port, check_ports),
    (_rename_served_model, lambda c: check_vllm(c, load_pool(GPU_POOL))),
    (_drop_vllm_service, lambda c: check_vllm(c, load_pool(GPU_POOL))),
    (_no_gpu, lambda c: check_vllm(c, load_pool(GPU_POOL))),
    (_pool_not_in_image, check_pool_files),
    (_start_before_servers, check_pool_files),
]


@pytest.mark.parametrize(("breakage", "check"), BREAKAGES, ids=[b.__name__ for b, _ in BREAKAGES])
def test_each_check_catches_its_mistake(
    compose: Compose,
    breakage: Callable[[Compose], None],
    check: Callable[[Compose], list[str]],
) -> None:
    broken = copy.deepcopy(compose)
    breakage(broken)
    assert check(broken) != []


def test_a_broken_gpu_pool_fails_to_load(tmp_path: Path) -> None:
    text = GPU_POOL.read_text(encoding="utf-8").replace("expert: qwen-7b", "expert: qwen-8b")
    broken = tmp_path / "experts.gpu.yaml"
    broken.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"tagger\.expert: .*qwen-8b"):
        load_pool(broken)
