# Two entry points do all the setup on a fresh machine:
#   make test   -> creates .venv, installs mlh-ipi with pinned CPU torch, runs the default test suite
#   make demo   -> same install, then runs `mlh-ipi demo` on the embedded default
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.mlh-ipi-installed
export OMP_NUM_THREADS ?= 2
export OPENBLAS_NUM_THREADS ?= 2
export MKL_NUM_THREADS ?= 2

.PHONY: install test test-slow demo benchmarks clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first, from the CPU wheel, so nothing later pulls a CUDA build
	$(PY) -m pip install --quiet -c constraints.txt torch==2.13.0
	$(PY) -m pip install --quiet -c constraints.txt -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

# the suite runs in TEST_WORKERS processes (one per core), each on one BLAS/torch thread;
# whole test files go to one worker, so module fixtures are built once
TEST_WORKERS ?= 2
test: $(STAMP)
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 MLH_IPI_THREADS=1 \
	$(PY) -m pytest -q -m "not slow" -n $(TEST_WORKERS) --dist loadfile --timeout=900 --durations=15 tests

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow --timeout=7200 tests

demo: $(STAMP)
	$(VENV)/bin/mlh-ipi demo

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
