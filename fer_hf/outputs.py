"""Outputs that appear whole or not at all, and folders that are never deleted by mistake.

Every file or folder fer-hf writes is first written to a temporary sibling (same folder, so the same file system)
and then renamed into place with `os.replace`, which POSIX makes atomic: a kill, Ctrl-C or full disk leaves the old
output (or nothing) and a `.tmp-*` sibling, never a torn file that looks finished. A target folder that already
holds files is refused unless the user passes `--overwrite`, and a folder that holds one of the command's own inputs
is refused always, so a typo can never delete a checkpoint.
"""

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Iterator, Optional

from .errors import UserError


EXPORT_MARKER = "fer_hf_export.json"  # written last into every ONNX folder export.py makes


def _temp_sibling(path: Path, is_dir: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name}.tmp-"
    if is_dir:
        return Path(tempfile.mkdtemp(prefix=prefix, dir=path.parent))
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=path.suffix, dir=path.parent)
    os.close(fd)
    return Path(name)


def check_output_dir(path, overwrite: bool = False, inputs: Iterable = (), flag: str = "--output_dir",
                     overwrite_flag: str = "--overwrite") -> Path:  # fmt: skip
    """Refuse, before any work, an output folder that would destroy something.

    Args:
        path: The folder the command will write.
        overwrite: The user's `--overwrite`: an existing non-empty folder may be replaced.
        inputs: Paths the command reads; the output may be neither one of them nor hold one of them.
        flag: The flag that names the folder, for the message.
        overwrite_flag: The flag that allows replacing it, for the message.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{flag} {path} is a file; pass a folder path.")
    target = path.resolve()
    for given in inputs:
        if given is None:
            continue
        source = Path(given).resolve()
        if source == target or target in source.parents:
            raise UserError(f"{flag} {path} would replace the input {given}; choose a new folder for the output.")
    _check_can_write_in(path.parent, path, flag)  # where it, or its temporary sibling, is made
    if path.is_dir():
        _check_can_write_in(path, path, flag)  # train.py writes inside it
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise UserError(f"{flag} {path} already holds files; pass {overwrite_flag} to replace it, or choose a new folder.")
    return path


@contextlib.contextmanager
def atomic_dir(path) -> Iterator[Path]:
    """Build a folder in a temporary sibling and move it to `path` when the block succeeds.

    An existing `path` (checked with `check_output_dir` beforehand) is replaced only at the very end; if the block
    fails or is interrupted, the temporary folder is removed and `path` is untouched.
    """
    path = Path(path)
    tmp = _temp_sibling(path, is_dir=True)
    try:
        yield tmp
        if path.is_dir():
            old = _temp_sibling(path, is_dir=True)
            os.replace(path, old / path.name)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


class PendingFile:
    """A file written at a temporary sibling `tmp` (same suffix, so writers that go by suffix still work) until
    `commit()` renames it to `path`; `discard()` removes it. For files kept open across a loop (videos, logs)."""

    def __init__(self, path):
        self.path = Path(path)
        self.tmp = _temp_sibling(self.path, is_dir=False)

    def commit(self) -> None:
        os.replace(self.tmp, self.path)

    def discard(self) -> None:
        self.tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_file(path) -> Iterator[Path]:
    """Write a file through a temporary sibling, renamed to `path` when the block succeeds."""
    pending = PendingFile(path)
    try:
        yield pending.tmp
        pending.commit()
    except BaseException:
        pending.discard()
        raise


def write_text(path, text: str) -> None:
    """`Path.write_text`, atomically."""
    with atomic_file(path) as tmp:
        tmp.write_text(text)


def write_json(path, data, **kwargs) -> None:
    """`json.dump` to `path`, atomically."""
    write_text(path, json.dumps(data, indent=2, **kwargs) + "\n")


def check_writable_file(path, flag: str, suffixes: Optional[Iterable[str]] = None) -> Path:
    """Refuse, before any work, an output file that cannot be written: a folder, under a file, unwritable, or with
    a suffix the command does not write (checked case-insensitively against `suffixes`)."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{flag} {path} is a folder; pass a file name.")
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise UserError(f"{flag} {path}: unknown file type '{path.suffix}'; use one of {', '.join(sorted(suffixes))}.")
    _check_can_write_in(path.parent, path, flag)
    return path


def _check_can_write_in(folder: Path, path: Path, flag: str) -> None:
    """The nearest existing one of `folder` and its parents (where `path` will be made) is a folder one can write in."""
    for existing in [folder, *folder.parents]:
        if existing.exists():
            if not existing.is_dir():
                raise UserError(f"{flag} {path}: {existing} is a file, not a folder; choose another path.")
            try:  # a real probe: os.access says yes to root in /proc, where no file can be made
                with tempfile.TemporaryFile(dir=existing):
                    pass
            except OSError:
                raise UserError(f"{flag} {path}: cannot write in {existing}; choose a writable folder.") from None
            return


def sha256_file(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_export_marker(folder, file_name: str = "model.onnx") -> None:
    """Mark an ONNX folder complete: the model file's size and sha256, written last."""
    model = Path(folder) / file_name
    write_json(Path(folder) / EXPORT_MARKER, {"file": file_name, "bytes": model.stat().st_size, "sha256": sha256_file(model)})


def check_export_marker(folder, file_name: str = "model.onnx") -> None:
    """Refuse an ONNX folder whose model file is not the one its marker describes (torn or replaced).

    Folders without a marker (exported by other tools) pass; their model is checked when ONNX Runtime parses it.
    """
    marker = Path(folder) / EXPORT_MARKER
    if not marker.is_file():
        return
    try:
        expected = json.loads(marker.read_text())
    except (OSError, ValueError):
        raise UserError(f"{marker} is unreadable; the export was interrupted. Run export.py again.") from None
    model = Path(folder) / expected.get("file", file_name)
    if not model.is_file() or model.stat().st_size != expected.get("bytes") or sha256_file(model) != expected.get("sha256"):
        raise UserError(f"{model} does not match {marker.name} (cut short or replaced); run export.py again to re-export it.")
