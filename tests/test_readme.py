"""The README's Python blocks run as written, in a folder holding the files they name (a real face photo as
`photo.jpg` and `face.png`, a small FER2013-format `fer2013.csv`, the shipped `models/`)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from fer_hf.demo.sample_video import face_photo
from fer_hf.demo.synthetic import write_synthetic_fer_csv

ROOT = Path(__file__).resolve().parents[1]
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


def test_the_readme_has_python_blocks():
    assert len(BLOCKS) >= 4 and BLOCKS[0].startswith("import fer_hf\n")  # the one-call API comes first


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    work = tmp_path_factory.mktemp("readme")
    photo = face_photo()
    cv2.imwrite(str(work / "photo.jpg"), photo)
    cv2.imwrite(str(work / "face.png"), cv2.resize(cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)[20:140, 30:150], (48, 48)))
    write_synthetic_fer_csv(str(work / "fer2013.csv"), train=14, validation=7, test=7, seed=0)
    (work / "models").symlink_to(ROOT / "models")
    return work


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_block_runs_as_written(folder, index):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "HF_DATASETS_CACHE": str(folder / "cache")}  # fmt: skip
    result = subprocess.run([sys.executable, "-c", BLOCKS[index]], cwd=folder, capture_output=True, text=True, env=env)
    assert result.returncode == 0, f"README block {index}:\n{BLOCKS[index]}\n{result.stderr[-2000:]}"
    if any(call in BLOCKS[index] for call in ("fer_hf.analyze", "predict(", "pipeline(")):
        assert "Happy" in result.stdout  # the astronaut smiles
