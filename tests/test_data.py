import gzip
import logging

import numpy as np
import pytest
from PIL import Image

import fer_hf.data as data
from fer_hf.data import MalformedDataError, load_fer2013, require_split, write_fer_csv
from fer_hf.errors import UserError
from fer_hf.labels import EMOTIONS

from conftest import REAL_DATA


def _write_rows(path, rows, header="emotion,pixels,Usage"):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wt") as f:
        f.write(header + "\n")
        for row in rows:
            f.write(row + "\n")
    return str(path)


def _row(label=0, usage="Training", value=7, count=2304):
    return f'{label},"{" ".join([str(value)] * count)}",{usage}'


@pytest.mark.parametrize("name", ["fer.csv", "fer.csv.gz"])
def test_csv_splits_labels_and_pixels(tmp_path, name):
    pixels = np.arange(3 * 48 * 48, dtype=np.int64).reshape(3, 48, 48) % 256
    path = tmp_path / name
    write_fer_csv(str(path), pixels.astype(np.uint8), [3, 1, 6], ["Training", "PublicTest", "PrivateTest"])
    dataset = load_fer2013(str(path))
    assert {split: len(rows) for split, rows in dataset.items()} == {"train": 1, "validation": 1, "test": 1}
    assert dataset["train"].features["label"].names == list(EMOTIONS)
    assert dataset["validation"][0]["label"] == 1
    test_row = dataset["test"][0]
    assert test_row["label"] == 6
    np.testing.assert_array_equal(np.asarray(test_row["image"]), pixels[2])


@pytest.mark.parametrize(
    "bad_row, problem",
    [
        (_row(count=2303), "2303 values"),
        (_row(value="x"), "pixel value 'x'"),
        (_row(value=256), "pixel value '256'"),
        (_row(label=7), "emotion '7'"),
        (_row(usage="Holdout"), "Usage 'Holdout'"),
        ('0,"1 2 3"', "2 fields"),
    ],
)
def test_malformed_rows_name_file_line_and_problem(tmp_path, bad_row, problem):
    path = _write_rows(tmp_path / "bad.csv", [_row(), _row(), bad_row, _row()])
    with pytest.raises(MalformedDataError) as err:
        load_fer2013(path)
    message = str(err.value)
    assert "bad.csv" in message and "line 4" in message and problem in message
    assert "--skip_malformed_rows" in message


def test_skip_malformed_reports_count(tmp_path, caplog):
    rows = [_row(), _row(value="x"), _row(label=9), _row(usage="PublicTest"), '1,"2 3"']
    path = _write_rows(tmp_path / "bad.csv", rows)
    with caplog.at_level(logging.WARNING):
        dataset = load_fer2013(path, skip_malformed=True)
    assert len(dataset["train"]) == 1 and len(dataset["validation"]) == 1
    assert "Skipped 3 malformed rows" in caplog.text


def test_missing_columns_and_missing_path(tmp_path):
    path = _write_rows(tmp_path / "wrong.csv", ["0,1 2,Training"], header="label,image,split")
    with pytest.raises(MalformedDataError, match="needs \\['emotion', 'pixels', 'Usage'\\]"):
        load_fer2013(path)
    with pytest.raises(UserError, match="does not exist"):
        load_fer2013(str(tmp_path / "nope.csv"))


def test_empty_split_is_a_clear_error(tmp_path):
    path = _write_rows(tmp_path / "fer.csv", [_row(), _row(usage="PublicTest")])
    dataset = load_fer2013(path)
    with pytest.raises(UserError, match=r"Split 'test' \(FER2013 PrivateTest\) has no rows .*train \(1 rows\)"):
        require_split(dataset, "test", path)


def test_second_load_comes_from_cache(synthetic_csv, monkeypatch):
    first = load_fer2013(synthetic_csv)
    monkeypatch.setattr(data, "_read_csv", lambda *a: pytest.fail("parsed again instead of using the cache"))
    second = load_fer2013(synthetic_csv)
    assert second["train"]["label"][:] == first["train"]["label"][:]


def _save_face(path, value, fmt="JPEG"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((48, 48), value, dtype=np.uint8)).save(path, format=fmt)


def test_image_folder_with_split_prefixes(tmp_path):
    root = tmp_path / "fer2013"
    _save_face(root / "train" / "happy" / "Training_1.jpg", 10)
    _save_face(root / "train" / "disgust" / "Training_2.jpg", 20)
    _save_face(root / "test" / "sad" / "PublicTest_3.jpg", 30)
    _save_face(root / "test" / "neutral" / "PrivateTest_4.jpg", 40)
    dataset = load_fer2013(str(root))
    assert sorted(dataset["train"]["label"][:]) == [1, 3]
    assert dataset["validation"]["label"][:] == [4]
    assert dataset["test"]["label"][:] == [6]


def test_image_folder_without_prefixes_uses_folders(tmp_path):
    root = tmp_path / "faces"
    _save_face(root / "train" / "Angry" / "a.png", 10, "PNG")
    _save_face(root / "validation" / "Fear" / "b.png", 10, "PNG")
    _save_face(root / "test" / "Surprise" / "c.png", 10, "PNG")
    dataset = load_fer2013(str(root))
    assert [dataset[s]["label"][0] for s in ("train", "validation", "test")] == [0, 2, 5]


def test_unreadable_image_and_unknown_emotion_folder(tmp_path):
    root = tmp_path / "faces"
    _save_face(root / "train" / "happy" / "ok.jpg", 10)
    (root / "train" / "happy" / "broken.jpg").write_bytes(b"not an image")
    with pytest.raises(MalformedDataError, match="broken.jpg: not a readable image"):
        load_fer2013(str(root))
    assert len(load_fer2013(str(root), skip_malformed=True)["train"]) == 1
    _save_face(root / "train" / "bored" / "x.jpg", 10)
    with pytest.raises(MalformedDataError, match="not a FER2013 emotion"):
        load_fer2013(str(root), skip_malformed=True)


def test_hub_style_dataset_is_remapped_to_fer_order(tmp_path):
    """A Hub dataset (here a local parquet repo read by `load_dataset`) with alphabetical label names."""
    import datasets

    alphabetical = sorted(EMOTIONS)
    images = [Image.fromarray(np.full((48, 48), i * 10, dtype=np.uint8)) for i in range(len(alphabetical))]
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=alphabetical)})
    repo = tmp_path / "hub_repo"
    for split in ("train", "test"):
        ds = datasets.Dataset.from_dict({"image": images, "label": list(range(7))}, features=features)
        (repo / "data").mkdir(parents=True, exist_ok=True)
        ds.to_parquet(str(repo / "data" / f"{split}-00000-of-00001.parquet"))
    dataset = load_fer2013(str(repo))
    assert set(dataset) == {"train", "test"}
    assert dataset["train"].features["label"].names == list(EMOTIONS)
    assert dataset["train"]["label"][:] == [EMOTIONS.index(name) for name in alphabetical]


def test_unreachable_hub_id_is_a_clear_error():
    with pytest.raises(UserError, match="Cannot load dataset 'nobody/no-such-fer'"):
        load_fer2013("nobody/no-such-fer")


@pytest.mark.skipif(not REAL_DATA.exists(), reason=f"real FER2013 file not found at {REAL_DATA}")
def test_real_fer2013_slice(tmp_path):
    """The loader reads the real file's format: the first 400 rows of the development copy."""
    with gzip.open(REAL_DATA, "rt") as src, open(tmp_path / "slice.csv", "w") as dst:
        for _, line in zip(range(401), src):
            dst.write(line)
    dataset = load_fer2013(str(tmp_path / "slice.csv"))
    total = sum(len(split) for split in dataset.values())
    assert total == 400 and "train" in dataset
    assert np.asarray(dataset["train"][0]["image"]).shape == (48, 48)
