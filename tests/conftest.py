"""Shared fixtures: tiny models saved to disk and small data sets in FER2013's real file formats."""

import os

# Tests never touch the network: models and data are made here and loaded by path.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

from fer_hf.labels import ID2LABEL, LABEL2ID
from fer_hf.demo.synthetic import write_synthetic_fer_csv

# The real file, where a checkout has it beside it (or where FER2013_CSV points); tests that need it skip otherwise.
REAL_DATA = Path(os.environ.get("FER2013_CSV", Path(__file__).resolve().parents[2] / "shared" / "data" / "fer2013-dev.csv.gz"))


@pytest.fixture(autouse=True)
def _isolated_caches(tmp_path_factory, monkeypatch):
    """Each test session parses data into its own cache, never the user's."""
    import datasets

    cache = tmp_path_factory.getbasetemp() / "hf_datasets_cache"
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    torch.manual_seed(0)


def make_tiny_vit(path, image_size=32, patch_size=8, with_labels=False, seed=0):
    """Save a randomly initialised tiny ViT backbone (config, weights, image processor) to `path`."""
    torch.manual_seed(seed)
    config = ViTConfig(
        image_size=image_size,
        patch_size=patch_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
    )
    if with_labels:
        config.num_labels, config.id2label, config.label2id = 7, ID2LABEL, LABEL2ID
    ViTForImageClassification(config).save_pretrained(path)
    ViTImageProcessor(
        size={"height": image_size, "width": image_size}, image_mean=[0.5] * 3, image_std=[0.5] * 3
    ).save_pretrained(path)
    return str(path)


@pytest.fixture(scope="session")
def tiny_vit(tmp_path_factory):
    """A tiny ViT backbone directory, as `google/vit-base-patch16-224-in21k` would be after download."""
    return make_tiny_vit(tmp_path_factory.mktemp("tiny_vit"))


@pytest.fixture(scope="session")
def synthetic_csv(tmp_path_factory):
    """A small gzip CSV in FER2013's layout with Training, PublicTest and PrivateTest rows."""
    path = tmp_path_factory.mktemp("data") / "fer-synthetic.csv.gz"
    write_synthetic_fer_csv(str(path), train=140, validation=42, test=42, seed=0)
    return str(path)


@pytest.fixture
def gray_faces():
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (48, 48), dtype=np.uint8) for _ in range(4)]


@pytest.fixture(scope="session")
def fer_checkpoint(tmp_path_factory):
    """A tiny ViT checkpoint with FER2013's labels, as train.py writes it (weights, config, image processor)."""
    return make_tiny_vit(tmp_path_factory.mktemp("fer_checkpoint"), with_labels=True, seed=1)


@pytest.fixture(scope="session")
def fer_exports(fer_checkpoint, tmp_path_factory):
    """fp32 and int8 ONNX exports of `fer_checkpoint`, made once per test session."""
    from fer_hf.export import export_onnx, quantize_dynamic
    from fer_hf.outputs import write_export_marker

    out = tmp_path_factory.mktemp("exports")
    fp32 = export_onnx(fer_checkpoint, str(out / "onnx-fp32"))
    int8 = quantize_dynamic(fp32, str(out / "onnx-int8"), target="avx2")
    for folder in (fp32, int8):
        write_export_marker(folder)  # complete, as export.py leaves them
    return fp32, int8


# OpenCV Zoo's YuNet, kept beside the checkout for tests (never committed); tests that need it skip otherwise.
YUNET_MODEL = Path(os.environ.get("FER_HF_TEST_YUNET", Path(__file__).resolve().parents[2] / "shared" / "models" / "yunet" / "face_detection_yunet.onnx"))


@pytest.fixture
def yunet_model():
    if not YUNET_MODEL.is_file():
        pytest.skip(f"no YuNet model at {YUNET_MODEL}")
    return str(YUNET_MODEL)


def seed_hub_cache(cache: Path, repo_id: str, revision: str, files: dict) -> Path:
    """Lay files out as `huggingface_hub` caches a download of `repo_id` at commit `revision` (offline tests of the
    real `hf_hub_download` / `snapshot_download` code); `files` maps repo paths to local files."""
    import shutil

    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / revision
    for name, source in files.items():
        (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, snapshot / name)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    return snapshot
