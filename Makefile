# The two commands of the README: `make repro` (set up + run the default pipeline) and `make test`.
VENV ?= .venv
BIN := $(VENV)/bin

$(BIN)/bridge: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0   # the CPU build; a bare `torch` pulls a multi-GB CUDA build
	$(BIN)/pip install -q -e ".[encoders,data,test]"
	touch $(BIN)/bridge

setup: $(BIN)/bridge

repro: setup
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/dvc repro
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/dvc metrics show

test: setup
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/pytest -q
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/pytest -q -m slow

.PHONY: setup repro test
