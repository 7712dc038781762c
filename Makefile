# Two commands do everything on a fresh machine:
#   make demo   installs what is missing, then trains, evaluates, exports and runs realtime on the embedded data
#   make test   installs what is missing, then runs the test suite
# `make demo DATA=path/to/fer2013.csv` runs the same pipeline on real FER2013.

SHELL := /bin/bash
PYTHON ?= python3
UV := $(PYTHON) -m uv
RUN := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(UV) run --locked --all-extras
SYNTHETIC := data/fer-synthetic.csv.gz
DATA ?= $(SYNTHETIC)
DEMO_DIR ?= outputs/demo

.PHONY: install demo test bench cpu-model clean

# uv installs the locked, matching torch/torchvision pair; it is bootstrapped with pip when missing.
.venv/.installed: pyproject.toml uv.lock
	$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --locked --all-extras
	touch $@

install: .venv/.installed

$(SYNTHETIC): fer_hf/demo/synthetic.py | .venv/.installed
	$(RUN) python -m fer_hf.demo.synthetic --output $@

demo: install $(if $(filter $(SYNTHETIC),$(DATA)),$(SYNTHETIC))
	@echo "== 1/5 train: tiny ViT from scratch on $(DATA)"
	$(RUN) python train.py --preset demo --data $(DATA) --output_dir $(DEMO_DIR)/model --overwrite_output_dir true
	@echo "== 2/5 evaluate on the validation split"
	$(RUN) python evaluate_model.py --model_dir $(DEMO_DIR)/model --data $(DATA) --split validation --output_dir $(DEMO_DIR)/eval --overwrite true
	@echo "== 3/5 export to ONNX fp32 + int8 and verify"
	$(RUN) python export.py --model_dir $(DEMO_DIR)/model --output_dir $(DEMO_DIR)/export --data $(DATA) --split validation --overwrite true
	@echo "== 4/5 realtime, headless, on a generated video of two real faces"
	$(RUN) python -m fer_hf.demo.sample_video --output $(DEMO_DIR)/faces.mp4 --frames 60 --faces 2
	$(RUN) python realtime.py --source $(DEMO_DIR)/faces.mp4 --model $(DEMO_DIR)/export/onnx-int8 --no-display \
		--output $(DEMO_DIR)/faces_annotated.mp4 --log $(DEMO_DIR)/faces.jsonl
	@echo "== 5/5 Hub: model card + ready-to-push folder (dry run, nothing is uploaded)"
	$(RUN) python -m fer_hf.hub --model_dir $(DEMO_DIR)/model --export_dir $(DEMO_DIR)/export --eval_dir $(DEMO_DIR)/eval \
		--repo_id your-name/fer2013-demo --output_dir $(DEMO_DIR)/hub-upload --dry_run --overwrite
	@echo "Demo done: model $(DEMO_DIR)/model, report $(DEMO_DIR)/eval/report.md, exports $(DEMO_DIR)/export,"
	@echo "  annotated video $(DEMO_DIR)/faces_annotated.mp4, face log $(DEMO_DIR)/faces.jsonl, Hub folder $(DEMO_DIR)/hub-upload"

test: install
	$(RUN) pytest

# Benchmarks print Markdown tables (BENCHMARKS.md holds the last ones, with their machine and command).
bench: install $(if $(filter $(SYNTHETIC),$(DATA)),$(SYNTHETIC))
	$(RUN) python bench/bench_data.py --data $(DATA)
	$(RUN) python bench/bench_train.py --data $(DATA)
	$(RUN) python bench/bench_inference.py
	$(RUN) python realtime.py --benchmark  # the shipped model, else the demo's (fer_hf.recognizer.default_model_dir)

# The CPU preset, end to end: train on FER2013, evaluate on PublicTest, export, and lay out models/fer2013-cpu-small.
# TRAIN_ARGS go to train.py: "--resume_from_checkpoint last" continues a killed run, "--overwrite_output_dir true" starts again.
# It first trains a ResNet teacher (preset cpu-small-teacher; a finished one is kept) and distils the TinyViT student
# from it, as the shipped model was made; DISTILL=0 trains the student alone (the recipe shipped until 2026-12-07).
CPU_DIR := outputs/cpu-small
TEACHER_DIR := outputs/cpu-small-teacher
TRAIN_ARGS ?=
DISTILL ?= 1
TEACHER := $(filter 1,$(DISTILL))
# Resuming before the student saved its first checkpoint (killed in the teacher or in epoch 1) starts the student afresh.
STUDENT_ARGS = $(if $(wildcard $(CPU_DIR)/checkpoint-*),$(TRAIN_ARGS),$(subst --resume_from_checkpoint last,--overwrite_output_dir true,$(TRAIN_ARGS)))
cpu-model: install
	@test -f "$(DATA)" -a "$(DATA)" != "$(SYNTHETIC)" || { echo "pass DATA=path/to/fer2013.csv"; exit 2; }
	@if [ -z "$(TEACHER)" ]; then :; \
	elif [ -f $(TEACHER_DIR)/fer_hf_args.json ] && [[ "$(TRAIN_ARGS)" != *overwrite_output_dir* ]]; then \
		echo "== teacher: kept the finished one in $(TEACHER_DIR)"; \
	else \
		echo "== teacher: ResNet, preset cpu-small-teacher"; \
		$(RUN) python train.py --preset cpu-small-teacher --data $(DATA) --output_dir $(TEACHER_DIR) --disable_tqdm true $(TRAIN_ARGS); \
	fi
	$(RUN) python train.py --preset cpu-small --data $(DATA) --output_dir $(CPU_DIR) --disable_tqdm true \
		$(if $(TEACHER),--distill_from $(TEACHER_DIR) --distill_precompute true) $(STUDENT_ARGS)
	$(RUN) python evaluate_model.py --model_dir $(CPU_DIR) --data $(DATA) --split validation --output_dir $(CPU_DIR)/eval-validation --no_progress true --overwrite true
	$(RUN) python export.py --model_dir $(CPU_DIR) --output_dir $(CPU_DIR)-export --data $(DATA) --split validation --overwrite true
	$(RUN) python -m fer_hf.hub --model_dir $(CPU_DIR) --export_dir $(CPU_DIR)-export --eval_dir $(CPU_DIR)/eval-validation \
		--repo_id fer-hf/fer2013-cpu-small --output_dir models/fer2013-cpu-small --dry_run --overwrite

clean:
	rm -rf outputs data .pytest_cache

# requirements.txt is generated from uv.lock, for pip users.
requirements.txt: uv.lock
	echo "# Pinned from uv.lock for pip users (regenerate: make requirements.txt). Prefer 'make install' (uv)." > $@
	$(UV) export --locked --all-extras --no-hashes --no-dev --no-emit-project --no-header --quiet >> $@
