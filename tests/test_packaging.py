"""The two install paths agree: every pin in requirements.txt is the version uv.lock holds."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_requirements_txt_matches_uv_lock():
    locked = {(p["name"], p["version"]) for p in tomllib.loads((ROOT / "uv.lock").read_text())["package"]}
    pins = re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)", (ROOT / "requirements.txt").read_text(), flags=re.M)
    assert len(pins) > 50
    assert not [pin for pin in pins if (pin[0].lower().replace("_", "-"), pin[1]) not in locked]
    names = {name for name, _ in pins}
    for required in ("torch", "torchvision", "transformers", "datasets", "optimum", "opencv-python"):
        assert required in names


def test_constraints_that_must_hold():
    versions = {p["name"]: p["version"] for p in tomllib.loads((ROOT / "uv.lock").read_text())["package"]}
    major_minor = lambda v: tuple(int(x) for x in v.split(".")[:2])  # noqa: E731
    assert major_minor(versions["transformers"]) < (4, 58)  # Optimum's ONNX exporter
    assert major_minor(versions["opencv-python"]) < (5, 0)  # Haar cascades
    assert major_minor(versions["datasets"]) >= (4, 0)
