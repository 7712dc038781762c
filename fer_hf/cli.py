"""Shared plumbing of the top-level scripts: JSON-or-flags argument parsing and one-line errors."""

import json
import logging
import os
import platform
import shlex
import sys
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional, Sequence

from .errors import UserError


PRESETS_DIR = Path(__file__).resolve().parent / "configs"  # package data: presets work from an installed package


def parse_args(dataclass_types, args: Optional[Sequence[str]] = None):
    """Parse dataclasses from flags; a leading `config.json` supplies defaults that later flags override.

    `--preset NAME` is the same as a leading `fer_hf/configs/NAME.json`; a preset's values that name a folder beside
    it (`"model_name_or_path": "tinyvit-fer-64"`) resolve to that folder, and a config may build on a preset
    (`"base": "cpu-small"`, see `read_config`).
    """
    from transformers import HfArgumentParser

    parser = HfArgumentParser(dataclass_types)
    args = list(sys.argv[1:] if args is None else args)
    preset = None
    if "--preset" in args:
        at = args.index("--preset")
        if at + 1 >= len(args):
            raise UserError("--preset needs a name, e.g. --preset cpu-small.")
        path = PRESETS_DIR / f"{args[at + 1]}.json"
        if not path.is_file():
            raise UserError(f"Unknown preset '{args[at + 1]}'; choose one of {_known_presets()}.")
        preset = args[at + 1]
        args = [str(path)] + args[:at] + args[at + 2 :]
    if args and args[0].endswith(".json"):
        defaults = read_config(args[0])
        known = {action.dest for action in parser._actions}
        if preset and "preset" in known:
            defaults["preset"] = preset
        unknown = sorted(set(defaults) - known)
        if unknown:
            raise UserError(f"{args[0]}: unknown keys {unknown}; run with --help for the valid ones.")
        parser.set_defaults(**defaults)
        # A required field given in the JSON is no longer required on the command line.
        for action in parser._actions:
            if action.dest in defaults:
                action.required = False
        args = args[1:]
    try:
        return parser.parse_args_into_dataclasses(args=args)
    except ValueError as err:  # the dataclasses' own checks of the flags' values (TrainingArguments' included)
        if isinstance(err, UserError):
            raise
        raise UserError(str(err).strip().splitlines()[0]) from None


def read_config(path, _seen=()) -> dict:
    """A JSON config's values; `"base": "cpu-small"` takes that preset's values first (the config's own win), and a
    preset's values that name a folder beside it resolve to that folder. A base may have a base of its own."""
    try:
        with open(path) as f:
            values = json.load(f)
    except (OSError, json.JSONDecodeError) as err:
        raise UserError(f"Cannot read config file {path}: {err}") from None
    if not isinstance(values, dict):
        raise UserError(f"Config file {path} must hold a JSON object of flag names and values.")
    is_preset = Path(path).resolve().parent == PRESETS_DIR
    if is_preset:
        values = {key: str(PRESETS_DIR / value) if isinstance(value, str) and value and (PRESETS_DIR / value).is_dir() else value
                  for key, value in values.items()}  # fmt: skip
    base = values.pop("base", None)
    if base is None:
        return values
    _seen = _seen or ((Path(path).stem,) if is_preset else ())
    base_path = PRESETS_DIR / f"{base}.json"
    if not isinstance(base, str) or not base_path.is_file() or base in _seen:
        why = "a base that leads back to itself" if base in _seen else "an unknown base"
        raise UserError(f"{path}: {why} {base!r}; \"base\" names a preset, one of {_known_presets()}.")
    return {**read_config(base_path, (*_seen, base)), **values}


def _known_presets() -> str:
    return ", ".join(sorted(p.stem for p in PRESETS_DIR.glob("*.json")))


def preset_relative(value):
    """A preset's folder as the preset names it (`fer_hf/configs/tinyvit-fer-64`), not as this machine's absolute path,
    for run records; any other value as it is."""
    if isinstance(value, str) and os.path.isabs(value) and Path(value).resolve().parent == PRESETS_DIR:
        return f"fer_hf/configs/{Path(value).name}"
    return value


def cpu_info() -> dict:
    """The first processor's fields of `/proc/cpuinfo` (`model name`, `flags`, ...); empty where there is none."""
    try:
        with open("/proc/cpuinfo") as f:
            block = f.read().split("\n\n", 1)[0]
    except OSError:
        return {}
    return {key.strip(): value.strip() for key, _, value in (line.partition(":") for line in block.splitlines()) if key.strip()}


def machine_description(with_torch: bool = True) -> str:
    """One line naming the CPU, its cores, its widest vector extension, and (`with_torch`) torch's threads and the
    GPU, if any, for run records and benchmarks; without torch, ONNX Runtime's version (the ONNX path's engine)."""
    info = cpu_info()
    cpu = info.get("model name") or platform.processor() or platform.machine()
    flags = set(info.get("flags", "").split())
    isa = next((name for flag, name in (("avx512_vnni", "AVX-512 VNNI"), ("avx512f", "AVX-512"), ("avx2", "AVX2")) if flag in flags), None)
    if isa and flags & {"avx512_bf16", "amx_bf16"}:  # bf16 arithmetic: what sets apart machines of one "AVX-512" label
        isa += " and bf16"
    line = f"{cpu}, {os.cpu_count()} cores" + (f", {isa}" if isa else "")
    if not with_torch:
        import onnxruntime

        return f"{line}, onnxruntime {onnxruntime.__version__}"
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{line}, torch {torch.__version__} with {torch.get_num_threads()} threads, {gpu}"


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _seconds_between(started: str, finished: str) -> int:
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return int((datetime.strptime(finished, fmt) - datetime.strptime(started, fmt)).total_seconds())


def run_record(script: str, args: Sequence[str], started: str, finished: str, seed: Optional[int] = None,
               resumed_from: Optional[str] = None, earlier_sessions: Optional[Sequence[dict]] = ()) -> dict:
    """What a result needs to be reproduced and judged: the command, seed, UTC start and end, wall time, machine.

    A run resumed from a checkpoint (`resumed_from`) also lists the sessions before this one (each from its start to
    its last checkpoint, the work it did after that being done again here) and adds them up in
    `total_wall_seconds`; `earlier_sessions` None: unknown (a checkpoint that did not record them), and so is the total.
    """
    wall = _seconds_between(started, finished)
    record = {
        "command": shlex.join(["python", script, *redact_args(args)]),
        "seed": seed,
        "started_utc": started,
        "finished_utc": finished,
        "wall_seconds": wall,
        "machine": machine_description(),
    }
    earlier = []
    if resumed_from is not None:
        earlier = None if earlier_sessions is None else [
            {**session, "wall_seconds": _seconds_between(session["started_utc"], session["saved_utc"])} for session in earlier_sessions]  # fmt: skip
        record.update(resumed_from=resumed_from, earlier_sessions=earlier)
    record["total_wall_seconds"] = None if earlier is None else wall + sum(session["wall_seconds"] for session in earlier)
    return record


def record_wall_seconds(record: dict) -> Optional[int]:
    """A run record's wall time over all its sessions: `total_wall_seconds` (None when earlier sessions went
    unrecorded), or `wall_seconds` in a record written before fer-hf recorded resumes."""
    return record.get("total_wall_seconds", record.get("wall_seconds"))


def teacher_run_record(teacher_dir: str) -> Optional[dict]:
    """The run record of the train.py run that made a teacher: from `fer_hf_args.json` in the teacher's folder, or in
    the folder above it (an export's `onnx-fp32/` inside the model's folder, as `models/` ships them). None when there
    is none or it cannot be read: a teacher from elsewhere (the Hub, another tool) trains a student all the same."""
    for folder in (Path(teacher_dir), Path(teacher_dir).parent):
        try:
            record = json.loads((folder / "fer_hf_args.json").read_text()).get("run")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(record, dict) and record.get("command"):
            return record
    return None


SECRET_MARK = "<redacted>"


def redact_args(args: Sequence[str]) -> list:
    """Command-line arguments with the value of every `--*token*` flag (and anything shaped like a Hugging Face
    token, `hf_...`) replaced by `<redacted>`, so run records and model cards never carry a secret."""
    out, hide_next = [], False
    for arg in map(str, args):
        if hide_next:
            out.append(SECRET_MARK)
            hide_next = False
        elif arg.startswith("--") and "token" in arg.split("=", 1)[0].lower():
            if "=" in arg:
                out.append(arg.split("=", 1)[0] + "=" + SECRET_MARK)
            else:
                out.append(arg)
                hide_next = True
        elif arg.startswith("hf_") and len(arg) > 8:
            out.append(SECRET_MARK)
        else:
            out.append(arg)
    return out


def counted(n: int, noun: str) -> str:
    """'1 photo', '3 photos': a count with its noun, singular where it is one (for the commands' closing summaries)."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def setup_logging(library_level: int = logging.WARNING) -> None:
    """Timestamped INFO logging for the scripts and fer_hf; transformers and datasets at `library_level`."""
    import datasets
    import transformers

    # The root logger stays at WARNING: onnxruntime's quantizer logs one INFO line per tensor to it.
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S", level=logging.WARNING)
    for name in ("fer_hf", "train", "evaluate", "export"):
        logging.getLogger(name).setLevel(logging.INFO)
    transformers.utils.logging.set_verbosity(library_level)
    datasets.utils.logging.set_verbosity(library_level)
    # Raised when Optimum's exporter enumerates transformers' processor classes, not by anything the user chose.
    warnings.filterwarnings("ignore", message=r"The class \w+FeatureExtractor is deprecated", category=FutureWarning)


def quiet_opencv() -> None:
    """Keep OpenCV's and FFmpeg's own log lines ("can't open camera by index", "moov atom not found") off a command's
    stderr: they would come before, and say less than, its one-line error. A user who wants them sets
    OPENCV_LOG_LEVEL or OPENCV_FFMPEG_LOGLEVEL."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # FFmpeg's AV_LOG_QUIET, read when it first opens a file
    cv2 = sys.modules.get("cv2")  # commands that read images have imported it; others need not pay for it
    if cv2 is not None and "OPENCV_LOG_LEVEL" not in os.environ:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)


def run(main: Callable[[], object]) -> None:
    """Call a script's `main()`; user errors end in one line on stderr instead of a traceback.

    Only `UserError` is shortened: any other exception is a bug and keeps its traceback.
    """
    quiet_opencv()
    try:
        main()
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
