"""Packaging: the two install paths agree (requirements.txt = uv.lock), and the wheel works on its own."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_requirements_txt_matches_uv_lock():
    locked = {(p["name"], p.get("version")) for p in tomllib.loads((ROOT / "uv.lock").read_text())["package"]}
    pins = re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)", (ROOT / "requirements.txt").read_text(), flags=re.M)
    assert len(pins) > 50
    assert not [pin for pin in pins if (pin[0].lower().replace("_", "-"), pin[1]) not in locked]
    names = {name for name, _ in pins}
    for required in ("torch", "torchvision", "transformers", "datasets", "optimum", "opencv-python"):
        assert required in names


def test_constraints_that_must_hold():
    versions = {p["name"]: p.get("version") for p in tomllib.loads((ROOT / "uv.lock").read_text())["package"]}
    major_minor = lambda v: tuple(int(x) for x in v.split(".")[:2])  # noqa: E731
    assert major_minor(versions["transformers"]) < (4, 58)  # Optimum's ONNX exporter
    assert major_minor(versions["opencv-python"]) < (5, 0)  # Haar cascades
    assert major_minor(versions["datasets"]) >= (4, 0)


def _uv():
    import shutil
    import subprocess
    import sys

    for command in ([shutil.which("uv")] if shutil.which("uv") else []) + [[sys.executable, "-m", "uv"], ["python3", "-m", "uv"]]:
        command = command if isinstance(command, list) else [command]
        if subprocess.run([*command, "--version"], capture_output=True).returncode == 0:
            return command
    return None


def test_the_wheel_installs_alone_and_labels_a_photo_from_anywhere(tmp_path):
    """`pip install .` in a fresh environment, then the README's three lines outside the repository: the wheel carries
    the shipped int8 model and the presets, and the ONNX path needs neither torch nor transformers."""
    import subprocess
    import zipfile

    import cv2
    import pytest

    from fer_hf.demo.sample_video import face_photo

    uv = _uv()
    if uv is None:
        pytest.skip("uv is not installed")
    subprocess.run([*uv, "build", "--wheel", "--out-dir", str(tmp_path / "dist"), str(ROOT)], check=True, capture_output=True)
    wheel = next((tmp_path / "dist").glob("fer_hf-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "fer_hf/shipped/fer2013-cpu-small/onnx-int8/model.onnx" in names and "fer_hf/configs/cpu-small.json" in names
    subprocess.run([*uv, "venv", "--quiet", str(tmp_path / "env")], check=True, capture_output=True)
    python = tmp_path / "env" / "bin" / "python"
    subprocess.run([*uv, "pip", "install", "--quiet", "--python", str(python), str(wheel)], check=True, capture_output=True)
    work = tmp_path / "elsewhere"
    work.mkdir()
    cv2.imwrite(str(work / "photo.jpg"), face_photo())
    script = "import fer_hf\nfaces = fer_hf.analyze('photo.jpg')\nprint(faces[0]['label'])\nimport sys; print('torch' in sys.modules)"
    result = subprocess.run([str(python), "-c", script], cwd=work, capture_output=True, text=True, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["Happy", "False"]
    result = subprocess.run([str(tmp_path / "env" / "bin" / "fer-hf"), "analyze", "photo.jpg", "--output", "faces.csv", "--quiet"],
                            cwd=work, capture_output=True, text=True, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (work / "faces.csv").read_text().splitlines()[1].startswith("photo.jpg,")
