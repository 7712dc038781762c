"""FER2013 as a `datasets.DatasetDict` with `image` (`datasets.Image`) and `label` (`ClassLabel`) columns.

Three sources are understood, each mapped onto the splits `train` / `validation` / `test`
(FER2013's Training / PublicTest / PrivateTest):

- the original CSV layout `emotion,pixels,Usage` (plain or gzip-compressed), parsed column-wise with
  pyarrow and cached with `save_to_disk`, so the second load of the full file takes about a second;
- the image-folder release (`train/`, `test/`, optionally `validation/`, one sub-folder per emotion),
  where the file-name prefixes `Training_` / `PublicTest_` / `PrivateTest_` decide the split if present;
- a dataset on the Hugging Face Hub (or any directory `datasets.load_dataset` reads), whose label names
  are re-mapped onto FER2013's order.
"""

import hashlib
import io
import logging
import shutil
from pathlib import Path
from typing import Iterable, Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
from PIL import Image, UnidentifiedImageError

import datasets
from datasets import ClassLabel, Dataset, DatasetDict, Features

from .errors import UserError
from .labels import EMOTIONS, SPLIT_TO_USAGE, SPLITS, USAGE_TO_SPLIT
from .loading import is_hub_id


logger = logging.getLogger(__name__)

IMAGE_SIZE = 48
CSV_COLUMNS = ("emotion", "pixels", "Usage")
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".pgm", ".webp"}
# Bump when the cached layout changes, so stale caches are never read.
_CACHE_VERSION = "1"
_CACHE_COMPLETE = "fer_hf_cache_complete"


class MalformedDataError(UserError):
    """A FER2013 file holds a row or image that cannot be used; the message names file, line and problem."""


def fer_features() -> Features:
    """The features every FER2013 split has: a grayscale `image` and a `label` in FER2013's order."""
    return Features({"image": datasets.Image(), "label": ClassLabel(names=list(EMOTIONS))})


def load_fer2013(
    source: str,
    skip_malformed: bool = False,
    cache_dir: Optional[str] = None,
) -> DatasetDict:
    """Load FER2013 from a CSV file, an image-folder tree or a Hub dataset id.

    Args:
        source: Path to `fer2013.csv` / `fer2013.csv.gz`, to an image-folder root, or a Hub dataset id.
        skip_malformed: Skip unusable rows or images (and log how many) instead of failing on the first.
        cache_dir: Where parsed local files are cached; defaults to `$HF_DATASETS_CACHE/fer_hf`.

    Returns:
        A `DatasetDict` holding those of `train` / `validation` / `test` that have rows.
    """
    check_data_source(source)
    path = Path(source).expanduser()
    if path.is_file():
        build = _read_csv
    elif path.is_dir() and _looks_like_image_folder(path):
        build = _read_image_folder
    elif path.is_dir():
        return _read_hub_dataset(str(path))
    else:
        return _read_hub_dataset(source)

    cache_path = _cache_path(path, skip_malformed, cache_dir)
    if (cache_path / _CACHE_COMPLETE).exists():
        logger.info("Loading cached FER2013 from %s", cache_path)
        return datasets.load_from_disk(str(cache_path))
    dataset = build(path, skip_malformed)
    if not dataset:
        raise MalformedDataError(f"{path} holds no usable FER2013 rows or images.")
    _save_cache(dataset, cache_path)
    # Reload so the returned splits are memory-mapped from the cache rather than held in RAM.
    return datasets.load_from_disk(str(cache_path))


def check_data_source(source: str) -> None:
    """Refuse, in one line and before anything slow, a data source that names a local path that does not exist
    (anything else is read, and checked, by `load_fer2013`)."""
    if not Path(source).expanduser().exists() and _looks_like_path(source):
        raise UserError(
            f"Data path '{source}' does not exist. Pass --data with a FER2013 CSV (fer2013.csv[.gz]), "
            "an image-folder root with train/ and test/, or a Hub dataset id."
        )


def _save_cache(dataset: DatasetDict, cache_path: Path) -> None:
    """Save the parsed data whole or not at all: into a temporary sibling, marked complete, then renamed.

    A run killed while saving leaves only a `.tmp-*` folder (removed by the next run), never a half-written cache
    that every later run would fail on. A cache folder without the mark (an older or interrupted layout) is rebuilt.
    """
    from .outputs import atomic_dir

    cache_path.parent.mkdir(parents=True, exist_ok=True)
    for stale in cache_path.parent.glob(f".{cache_path.name}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    from datasets.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    quiet_before = are_progress_bars_disabled()
    disable_progress_bars()  # a cache write is not worth three "Saving the dataset" bars
    try:
        with atomic_dir(cache_path) as tmp:
            dataset.save_to_disk(str(tmp))
            (tmp / _CACHE_COMPLETE).write_text("complete\n")
    finally:
        if not quiet_before:
            enable_progress_bars()


def require_split(dataset: DatasetDict, split: str, source: str) -> Dataset:
    """Return `dataset[split]`, or raise a `UserError` that says which splits the data does have."""
    if split not in SPLITS:
        raise UserError(f"Unknown split '{split}'; choose one of {', '.join(SPLITS)}.")
    if split in dataset and len(dataset[split]) > 0:
        return dataset[split]
    present = ", ".join(f"{name} ({len(rows)} rows)" for name, rows in dataset.items()) or "nothing"
    raise UserError(
        f"Split '{split}' (FER2013 {SPLIT_TO_USAGE[split]}) has no rows in {source}; it holds {present}. "
        f"Choose another split or point --data at a file that contains {SPLIT_TO_USAGE[split]} rows."
    )


def take_first(dataset: Dataset, max_samples: Optional[int]) -> Dataset:
    """The first `max_samples` rows (all of them when `max_samples` is None or larger than the split)."""
    return dataset if max_samples is None else dataset.select(range(min(max_samples, len(dataset))))


def load_split(source: str, split: str, skip_malformed: bool = False, cache_dir: Optional[str] = None,
               max_samples: Optional[int] = None) -> Dataset:  # fmt: skip
    """One split of FER2013 from `source` (see `load_fer2013`), optionally only its first `max_samples` rows."""
    return take_first(require_split(load_fer2013(source, skip_malformed, cache_dir), split, source), max_samples)


def decode_images(dataset: Dataset, num_proc: Optional[int] = None) -> Dataset:
    """The split with its `image` column decoded once to raw grayscale: `pixels` (bytes), `height`, `width`.

    The training input path then needs no per-image decoding: `FERTransform` turns a batch of equally sized rows
    into one `(B, 1, H, W)` tensor with a single `frombuffer`. PNG decoding (~60 us per 48x48 face) was the largest
    per-sample cost left in that path. The result is cached by `datasets` beside a disk-backed split, so the
    ~2 s for FER2013's training split is paid once.
    """
    from .preprocess import decode_gray

    def decode(batch):
        gray = [decode_gray(image) for image in batch["image"]]
        return {
            "pixels": [np.ascontiguousarray(g).tobytes() for g in gray],
            "height": [g.shape[0] for g in gray],
            "width": [g.shape[1] for g in gray],
        }

    features = Features({**{k: v for k, v in dataset.features.items() if k != "image"},
                         "pixels": datasets.Value("binary"), "height": datasets.Value("int32"), "width": datasets.Value("int32")})  # fmt: skip
    dataset = dataset.cast_column("image", datasets.Image(decode=False))
    return dataset.map(decode, batched=True, batch_size=1000, remove_columns=["image"], features=features,
                       num_proc=num_proc, desc="Decoding images")  # fmt: skip


def write_fer_csv(path: str, pixels: np.ndarray, labels: Iterable[int], usages: Iterable[str]) -> None:
    """Write images in FER2013's original CSV layout (`.gz` suffix compresses).

    Args:
        path: Output file.
        pixels: `uint8` array of shape `(n, 48, 48)`.
        labels: Emotion index per image, FER2013 order.
        usages: `Training`, `PublicTest` or `PrivateTest` per image.
    """
    import gzip

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wt", newline="") as f:
        f.write(",".join(CSV_COLUMNS) + "\n")
        for image, label, usage in zip(pixels, labels, usages):
            f.write(f'{int(label)},"{" ".join(map(str, image.reshape(-1).tolist()))}",{usage}\n')


# ---------------------------------------------------------------------------------------------------
# CSV


def _read_csv(path: Path, skip_malformed: bool) -> DatasetDict:
    problems = []  # (row text, reason) of rows the CSV reader rejected for a wrong field count

    def on_invalid_row(row):
        problems.append((row.text, f"has {row.actual_columns} fields, expected {row.expected_columns}"))
        return "skip"

    _check_text(path)
    try:
        table = pcsv.read_csv(
            path,
            parse_options=pcsv.ParseOptions(invalid_row_handler=on_invalid_row),
            convert_options=pcsv.ConvertOptions(column_types={name: pa.string() for name in CSV_COLUMNS}),
        )
    except (pa.ArrowInvalid, OSError, EOFError) as err:
        first = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        raise MalformedDataError(f"Cannot read {path} as a FER2013 CSV: {first}") from None
    missing = [name for name in CSV_COLUMNS if name not in table.column_names]
    if missing:
        raise MalformedDataError(
            f"{path} has columns {table.column_names}; a FER2013 CSV needs {list(CSV_COLUMNS)} (missing {missing})."
        )
    if problems and not skip_malformed:
        text, reason = problems[0]
        raise MalformedDataError(f"{path}, line {_find_line(path, text)}: row {reason}. {_SKIP_HINT}")

    labels, usage, pixels, bad = _parse_columns(table)
    if bad and not skip_malformed:
        row, reason = bad[0]
        # No row was dropped by the reader here, so row i of the table is line i + 2 (line 1 is the header).
        raise MalformedDataError(f"{path}, line {row + 2}: {reason}. {_SKIP_HINT}")
    skipped = len(bad) + len(problems)
    if skipped:
        first = problems[0][1] if problems else bad[0][1]
        logger.warning("Skipped %d malformed rows of %s (first: %s)", skipped, path, first)
    keep = np.ones(len(labels), dtype=bool)
    keep[[row for row, _ in bad]] = False

    splits = {}
    for usage_name, split in USAGE_TO_SPLIT.items():
        rows = np.flatnonzero(keep & (usage == usage_name))
        if len(rows):
            splits[split] = _dataset_from_arrays(pixels[rows], labels[rows])
    return DatasetDict(splits)


_SKIP_HINT = "Fix the row, or pass --skip_malformed_rows to skip bad rows"


def _parse_columns(table: pa.Table):
    """Validate and convert the three CSV columns at once; returns labels, usage, pixels and bad rows."""
    n = table.num_rows
    bad = {}  # row index -> reason; the first reason per row wins

    emotion = pc.utf8_trim_whitespace(table["emotion"].combine_chunks().fill_null(""))
    label_ok = pc.match_substring_regex(emotion, "^[0-6]$").to_numpy(zero_copy_only=False)
    for row in np.flatnonzero(~label_ok)[:1000]:
        bad.setdefault(int(row), f"emotion {emotion[int(row)].as_py()!r} is not a label in 0-6")
    labels = np.where(label_ok, pc.cast(pc.if_else(label_ok, emotion, "0"), pa.int64()).to_numpy(), -1)

    usage = np.asarray(pc.utf8_trim_whitespace(table["Usage"].combine_chunks().fill_null("")).to_pylist(), dtype=object)
    usage_ok = np.isin(usage, list(USAGE_TO_SPLIT))
    for row in np.flatnonzero(~usage_ok)[:1000]:
        bad.setdefault(int(row), f"Usage {usage[row]!r} is not one of {', '.join(USAGE_TO_SPLIT)}")

    text = pc.utf8_trim_whitespace(table["pixels"].combine_chunks().fill_null(""))
    tokens = pc.ascii_split_whitespace(text)
    # Splitting an empty field gives one empty token: count it as no values.
    counts = np.where(pc.equal(text, "").to_numpy(zero_copy_only=False), 0, pc.list_value_length(tokens).to_numpy())
    count_ok = counts == IMAGE_SIZE * IMAGE_SIZE
    for row in np.flatnonzero(~count_ok)[:1000]:
        bad.setdefault(int(row), "pixels is empty" if counts[row] == 0 else
                       f"pixels has {counts[row]} values, expected {IMAGE_SIZE * IMAGE_SIZE} (48x48)")  # fmt: skip

    # Only rows of the right length are converted; a failed fast cast falls back to finding the culprits.
    good_len = np.flatnonzero(count_ok)
    flat = pc.list_flatten(tokens.take(pa.array(good_len)))
    try:
        values = pc.cast(flat, pa.uint8()).to_numpy()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        token_ok = pc.and_(pc.utf8_is_digit(flat), pc.less_equal(pc.utf8_length(flat), 3)).to_numpy(zero_copy_only=False)
        numbers = pc.cast(pc.if_else(token_ok, flat, "0"), pa.int32()).to_numpy()
        token_ok &= numbers <= 255
        owner = good_len[np.arange(len(numbers)) // (IMAGE_SIZE * IMAGE_SIZE)]
        for index in np.flatnonzero(~token_ok)[:1000]:
            bad.setdefault(int(owner[index]), f"pixel value {flat[int(index)].as_py()!r} is not an integer in 0-255")
        values = np.where(token_ok, numbers, 0).astype(np.uint8)

    pixels = np.zeros((n, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    pixels[good_len] = values.reshape(-1, IMAGE_SIZE, IMAGE_SIZE)
    # Report every bad row even past the 1000 named ones, so skipping counts them all.
    for row in np.flatnonzero(~(label_ok & usage_ok & count_ok)):
        bad.setdefault(int(row), "malformed row")
    return labels, usage, pixels, sorted(bad.items())


def _check_text(path: Path) -> None:
    """Refuse a file that is not text (an image, an archive, a model) before the CSV reader dumps its bytes."""
    import gzip

    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
            head = f.read(4096)
    except (OSError, EOFError) as err:
        raise MalformedDataError(f"Cannot read {path}: {err}. Pass --data a FER2013 CSV (fer2013.csv or .csv.gz).") from None
    if not _is_text(head):
        raise MalformedDataError(f"{path} is not a text CSV file (binary content); pass --data a FER2013 CSV "
                                 "(emotion,pixels,Usage), an image folder or a Hub dataset id.")  # fmt: skip


def _is_text(head: bytes) -> bool:
    """UTF-8 without NUL bytes; a multi-byte character may be cut at the end of the sample."""
    if b"\0" in head:
        return False
    for cut in range(4):
        try:
            head[: len(head) - cut].decode("utf-8")
            return True
        except UnicodeDecodeError:
            continue
    return False


def _find_line(path: Path, text: str) -> str:
    """Line number of a row the CSV reader rejected (only called on the error path)."""
    import gzip

    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", errors="replace") as f:
        for number, line in enumerate(f, start=1):
            if line.rstrip("\r\n") == text:
                return str(number)
    return "?"


def _dataset_from_arrays(pixels: np.ndarray, labels: np.ndarray) -> Dataset:
    import cv2

    images = [{"bytes": cv2.imencode(".png", image)[1].tobytes(), "path": None} for image in pixels]
    return Dataset.from_dict({"image": images, "label": labels.tolist()}, features=fer_features())


# ---------------------------------------------------------------------------------------------------
# Image folders


def _looks_like_image_folder(path: Path) -> bool:
    return any((path / name).is_dir() for name in ("train", "test", "validation", "val"))


def _read_image_folder(path: Path, skip_malformed: bool) -> DatasetDict:
    names = {name.lower(): index for index, name in enumerate(EMOTIONS)}
    folder_split = {"train": "train", "training": "train", "validation": "validation", "val": "validation", "test": "test"}
    prefix_split = {f"{usage.lower()}_": split for usage, split in USAGE_TO_SPLIT.items()}
    rows = {split: ([], []) for split in SPLITS}
    skipped = []
    for top in sorted(p for p in path.iterdir() if p.is_dir()):
        if top.name.lower() not in folder_split:
            continue
        for emotion_dir in sorted(p for p in top.iterdir() if p.is_dir()):
            if emotion_dir.name.lower() not in names:
                raise MalformedDataError(
                    f"{emotion_dir}: folder name is not a FER2013 emotion; expected one of {', '.join(EMOTIONS)} "
                    "(any case)."
                )
            label = names[emotion_dir.name.lower()]
            for file in sorted(emotion_dir.iterdir()):
                if file.suffix.lower() not in IMAGE_EXTENSIONS:
                    continue
                split = next(
                    (s for prefix, s in prefix_split.items() if file.name.lower().startswith(prefix)),
                    folder_split[top.name.lower()],
                )
                data = file.read_bytes()
                try:
                    # A full decode: `verify()` passes truncated JPEGs, which then fail in the middle of training.
                    Image.open(io.BytesIO(data)).load()
                except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
                    if not skip_malformed:
                        raise MalformedDataError(
                            f"{file}: not a readable image ({err}). Remove or replace the file, or pass "
                            "--skip_malformed_rows to skip unreadable images."
                        ) from None
                    skipped.append(file)
                    continue
                rows[split][0].append({"bytes": data, "path": str(file.relative_to(path))})
                rows[split][1].append(label)
    if skipped:
        logger.warning("Skipped %d unreadable images under %s (first: %s)", len(skipped), path, skipped[0])
    return DatasetDict(
        {
            split: Dataset.from_dict({"image": images, "label": labels}, features=fer_features())
            for split, (images, labels) in rows.items()
            if images
        }
    )


# ---------------------------------------------------------------------------------------------------
# Hub datasets


def _read_hub_dataset(name: str) -> DatasetDict:
    try:
        raw = datasets.load_dataset(name)
    except Exception as err:  # datasets raises many types here (connection, not found, format); all end the same
        raise UserError(
            f"Cannot load dataset '{name}' ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}). "
            "Pass --data with a local FER2013 CSV or image folder, or a Hub dataset id while online."
        ) from None
    split_names = {"train": "train", "training": "train", "validation": "validation", "valid": "validation",
                   "val": "validation", "publictest": "validation", "test": "test", "privatetest": "test"}
    out = {}
    for split_name, split in raw.items():
        target = split_names.get(split_name.lower())
        if target is None:
            logger.warning("Ignoring split '%s' of %s: not a FER2013 split", split_name, name)
            continue
        out[target] = _normalise_hub_split(split, name)
    return DatasetDict(out)


def _normalise_hub_split(split: Dataset, name: str) -> Dataset:
    image_column = next((c for c, f in split.features.items() if isinstance(f, datasets.Image)), None)
    label_column = next((c for c in ("label", "labels", "emotion") if c in split.column_names), None)
    if image_column is None or label_column is None:
        raise UserError(
            f"Dataset '{name}' has columns {split.column_names}; expected an image column and one of "
            "label / labels / emotion."
        )
    feature = split.features[label_column]
    if isinstance(feature, ClassLabel):
        lookup = {n.lower(): i for i, n in enumerate(EMOTIONS)}
        try:
            remap = np.array([lookup[n.lower()] for n in feature.names])
        except KeyError as err:
            raise UserError(f"Dataset '{name}' has label {err} that is not a FER2013 emotion.") from None
        labels = remap[np.asarray(split[label_column])]
    else:
        labels = np.asarray(split[label_column])
    split = split.select_columns([image_column])
    if image_column != "image":
        split = split.rename_column(image_column, "image")
    split = split.add_column("label", labels.tolist())
    return split.cast(fer_features())


def _looks_like_path(source: str) -> bool:
    """Not a valid Hub id, or named like a data file: a mistyped path if it does not exist."""
    return not is_hub_id(source) or source.endswith((".csv", ".gz"))


def _cache_path(path: Path, skip_malformed: bool, cache_dir: Optional[str]) -> Path:
    """A cache folder keyed by the source's absolute path, size and modification time."""
    path = path.resolve()
    if path.is_file():
        stats = [(str(path), path.stat().st_size, path.stat().st_mtime_ns)]
    else:
        stats = sorted((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in path.rglob("*") if p.is_file())
    key = hashlib.sha256(repr((_CACHE_VERSION, skip_malformed, stats)).encode()).hexdigest()[:16]
    root = Path(cache_dir) if cache_dir else Path(datasets.config.HF_DATASETS_CACHE) / "fer_hf"
    return root / f"{path.name}-{key}"
