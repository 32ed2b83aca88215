# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
BENCH := $(VENV)/bin/infvsr-bench
STAMP := $(VENV)/.installed-stamp

export HF_HUB_OFFLINE := 1
SHARED_WEIGHTS := $(abspath ../shared/weights)
ifneq ($(wildcard $(SHARED_WEIGHTS)),)
export INFVSR_BENCH_WEIGHTS ?= $(SHARED_WEIGHTS)
endif

.PHONY: install demo test bench clean

$(PY):
	python3 -m venv $(VENV)

$(STAMP): pyproject.toml constraints.txt | $(PY)
	$(PY) -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[test,ray]'
	touch $(STAMP)

install: $(STAMP)

## demo: build the default long-sequence dataset, benchmark the default methods, write reports + leaderboard
DEMO_RUNS := reports/synthetic-long/bicubic reports/synthetic-long/lanczos reports/synthetic-long/plots reports/synthetic-long/compare
demo: install
	rm -rf $(DEMO_RUNS)  # the demo owns these folders (they are in git); recompute them from scratch
	$(BENCH) run --runs-root reports
	$(BENCH) plot reports/synthetic-long/bicubic reports/synthetic-long/lanczos --out reports/synthetic-long/plots
	$(BENCH) compare reports/synthetic-long/bicubic reports/synthetic-long/lanczos --out reports/synthetic-long/compare
	$(BENCH) leaderboard --runs reports --output leaderboard.md

## test: the test suite (offline; heavier tests marked slow are kept out)
test: install
	$(PY) -m pytest

bench: install
	$(PY) benchmarks/fidelity_speed.py
	$(PY) benchmarks/memory_vs_length.py

clean:
	rm -rf $(VENV) runs
