# Two commands do everything on a fresh machine:
#   make demo   installs what is missing, then trains, evaluates, exports and runs realtime on the embedded data
#   make test   installs what is missing, then runs the test suite
# `make demo DATA=path/to/fer2013.csv` runs the same pipeline on real FER2013.

SHELL := /bin/bash
PYTHON ?= python3
UV := $(PYTHON) -m uv
RUN := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(UV) run --locked
SYNTHETIC := data/fer-synthetic.csv.gz
DATA ?= $(SYNTHETIC)
DEMO_DIR ?= outputs/demo

.PHONY: install demo test clean

# uv installs the locked, matching torch/torchvision pair; it is bootstrapped with pip when missing.
.venv/.installed: pyproject.toml uv.lock
	$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --locked
	touch $@

install: .venv/.installed

$(SYNTHETIC): | .venv/.installed
	$(RUN) python -m fer_hf.synthetic --output $@

demo: install $(if $(filter $(SYNTHETIC),$(DATA)),$(SYNTHETIC))
	$(RUN) python train.py configs/demo.json --data $(DATA) --output_dir $(DEMO_DIR)

test: install
	$(RUN) pytest

clean:
	rm -rf outputs data .pytest_cache

# requirements.txt is generated from uv.lock, for pip users.
requirements.txt: uv.lock
	echo "# Pinned from uv.lock for pip users (regenerate: make requirements.txt). Prefer 'make install' (uv)." > $@
	$(UV) export --locked --no-hashes --no-dev --no-emit-project --no-header --quiet >> $@
