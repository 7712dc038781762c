"""Fault injection: kills at chosen points, torn files, bad inputs and fake tokens.

Each test is one row of docs/fault-injection.md: what was done to the project, and what must come out of it (one
clear line, nothing lost, nothing leaked, the same run after a resume).
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from safetensors.torch import load_file

import evaluate_model
from fer_hf.commands import export  # the module itself: a test stubs its quantize step
import realtime
import train
from fer_hf import cli, hub
from fer_hf.data import load_fer2013
from fer_hf.errors import UserError
from fer_hf.inference import OnnxClassifier, load_classifier
from fer_hf.outputs import EXPORT_MARKER

ROOT = Path(__file__).resolve().parents[1]
FAKE_TOKEN = "hf_FakeTokenForLeakTests0123456789abcdef"


def _subprocess_env(tmp_path, **extra):
    env = {**os.environ, "HF_DATASETS_CACHE": str(tmp_path / "hf-cache"), "HF_HUB_OFFLINE": "1",
           "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}  # fmt: skip
    env.update(extra)
    return env


def _train_args(data, backbone, out, steps=12, extra=()):
    return ["--data", data, "--model_name_or_path", backbone, "--output_dir", str(out), "--max_steps", str(steps),
            "--per_device_train_batch_size", "16", "--per_device_eval_batch_size", "32", "--eval_strategy", "steps",
            "--eval_steps", "4", "--save_strategy", "steps", "--save_steps", "4", "--logging_steps", "4",
            "--warmup_epochs", "0.2", "--plateau_epochs", "0.2", "--disable_tqdm", "true", "--save_total_limit", "10",
            "--load_best_model_at_end", "false", "--early_stopping_patience", "50", "--balance_power", "0.5", *extra]  # fmt: skip


# ---------------------------------------------------------------------------------------------------
# Nothing lost


def test_hub_never_deletes_an_input_or_a_full_folder(fer_checkpoint, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(fer_checkpoint, model)
    before = sorted(p.name for p in model.iterdir())
    with pytest.raises(UserError, match="would replace the input"):
        hub.main(["--model_dir", str(model), "--repo_id", "me/x", "--output_dir", str(model), "--dry_run"])
    with pytest.raises(UserError, match="would replace the input"):
        hub.main(["--model_dir", str(model), "--repo_id", "me/x", "--output_dir", str(tmp_path), "--dry_run", "--overwrite"])
    assert sorted(p.name for p in model.iterdir()) == before
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "mine.txt").write_text("keep me")
    with pytest.raises(UserError, match="already holds files; pass --overwrite"):
        hub.main(["--model_dir", str(model), "--repo_id", "me/x", "--output_dir", str(busy), "--dry_run"])
    assert (busy / "mine.txt").read_text() == "keep me"
    hub.main(["--model_dir", str(model), "--repo_id", "me/x", "--output_dir", str(busy), "--dry_run", "--overwrite"])
    assert (busy / "README.md").is_file() and not (busy / "mine.txt").exists()
    assert not list(tmp_path.glob(".*.tmp-*"))  # no staging folder left behind
    with pytest.raises(UserError, match="not a valid Hub repository id"):
        hub.main(["--model_dir", str(model), "--repo_id", "bad id!", "--output_dir", str(tmp_path / "new"), "--dry_run"])


def test_torn_onnx_is_refused_by_packaging_and_loading(fer_checkpoint, tmp_path):
    out = tmp_path / "export"
    export.main(["--model_dir", fer_checkpoint, "--output_dir", str(out), "--num_faces", "2", "--repeats", "1"])
    assert (out / "onnx-fp32" / EXPORT_MARKER).is_file() and (out / "onnx-int8" / EXPORT_MARKER).is_file()
    onnx_file = out / "onnx-int8" / "model.onnx"
    onnx_file.write_bytes(onnx_file.read_bytes()[: onnx_file.stat().st_size // 2])  # cut short, as by a kill
    with pytest.raises(UserError, match="does not match fer_hf_export.json"):
        hub.main(["--model_dir", fer_checkpoint, "--export_dir", str(out), "--repo_id", "me/x",
                  "--output_dir", str(tmp_path / "up"), "--dry_run"])  # fmt: skip
    assert not (tmp_path / "up").exists()
    with pytest.raises(UserError, match="does not match fer_hf_export.json"):
        load_classifier(str(out / "onnx-int8"))
    # Without a marker (another tool's export), a garbage file is still one clear line, from ONNX Runtime's parser.
    (out / "onnx-int8" / EXPORT_MARKER).unlink()
    onnx_file.write_bytes(b"not an onnx model at all")
    with pytest.raises(UserError, match="not a valid ONNX model"):
        OnnxClassifier(str(out / "onnx-int8"))


def test_interrupted_reexport_keeps_the_old_export(fer_checkpoint, tmp_path, monkeypatch):
    out = tmp_path / "export"
    export.main(["--model_dir", fer_checkpoint, "--output_dir", str(out), "--num_faces", "2", "--repeats", "1"])
    old = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(UserError, match="already holds files; pass --overwrite"):
        export.main(["--model_dir", fer_checkpoint, "--output_dir", str(out)])

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C in the middle of quantization

    monkeypatch.setattr(export, "quantize_dynamic", killed)
    with pytest.raises(KeyboardInterrupt):
        export.main(["--model_dir", fer_checkpoint, "--output_dir", str(out), "--overwrite", "true"])
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == old
    assert not list(tmp_path.glob(".*.tmp-*"))


def test_checks_come_before_any_work(fer_checkpoint, tmp_path):
    with pytest.raises(UserError, match="--optimization_level must be 0"):
        export.main(["--model_dir", fer_checkpoint, "--output_dir", str(tmp_path / "e"), "--optimization_level", "5"])
    assert not (tmp_path / "e").exists()
    with pytest.raises(UserError, match="would replace the input"):
        export.main(["--model_dir", fer_checkpoint, "--output_dir", fer_checkpoint, "--overwrite", "true"])


def test_interrupted_cache_save_is_rebuilt(synthetic_csv, tmp_path, monkeypatch):
    import datasets

    cache = tmp_path / "cache"
    real_save = datasets.DatasetDict.save_to_disk

    def killed_while_saving(self, path, *args, **kwargs):
        real_save(self, path, *args, **kwargs)
        (Path(path) / "train" / "dataset_info.json").unlink()  # half written ...
        raise KeyboardInterrupt  # ... when the kill came

    monkeypatch.setattr(datasets.DatasetDict, "save_to_disk", killed_while_saving)
    with pytest.raises(KeyboardInterrupt):
        load_fer2013(synthetic_csv, cache_dir=str(cache))
    monkeypatch.setattr(datasets.DatasetDict, "save_to_disk", real_save)
    assert not [p for p in cache.iterdir() if not p.name.startswith(".")]  # nothing that looks like a cache
    assert len(load_fer2013(synthetic_csv, cache_dir=str(cache))["train"]) == 140
    # A cache folder from an older run without the completion mark is rebuilt, not trusted.
    (folder,) = [p for p in cache.iterdir() if not p.name.startswith(".")]
    shutil.rmtree(folder / "train")
    (folder / "fer_hf_cache_complete").unlink()
    assert len(load_fer2013(synthetic_csv, cache_dir=str(cache))["train"]) == 140


def test_sigterm_closes_realtime_outputs(tmp_path, fer_exports):
    from fer_hf.demo.sample_video import write_face_video

    video = tmp_path / "long.avi"
    write_face_video(str(video), num_frames=1500, num_faces=1)
    out, log = tmp_path / "out.mp4", tmp_path / "faces.csv"
    process = subprocess.Popen([sys.executable, "realtime.py", "--source", str(video), "--model", fer_exports[0], "--no-display",
                                "--output", str(out), "--log", str(log)], cwd=ROOT, env=_subprocess_env(tmp_path),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None and not [p for p in tmp_path.glob(".out.mp4.tmp-*") if p.stat().st_size > 100_000]:
        time.sleep(0.1)  # until the loop has written some frames
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stdout[-2000:] + stderr[-2000:]
    capture = cv2.VideoCapture(str(out))
    frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    assert capture.read()[0] and 0 < frames < 1500, (frames, stdout[-2000:])  # the frames seen before the signal
    rows = log.read_text().splitlines()
    assert rows[0].startswith("frame,") and len(rows) > 1  # flushed and renamed into place
    assert max(int(row.split(",")[0]) for row in rows[1:]) < frames
    assert not list(tmp_path.glob(".*.tmp-*"))


# ---------------------------------------------------------------------------------------------------
# Resume is the same run


def test_sigkill_and_resume_is_bit_identical(synthetic_csv, tiny_vit, tmp_path):
    env = _subprocess_env(tmp_path)
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    subprocess.run([sys.executable, "train.py", *_train_args(synthetic_csv, tiny_vit, whole)], cwd=ROOT, env=env,
                   check=True, capture_output=True, timeout=300)  # fmt: skip
    process = subprocess.Popen([sys.executable, "train.py", *_train_args(synthetic_csv, tiny_vit, killed)], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 300
    while time.time() < deadline and not (killed / "checkpoint-4" / "fer_hf_checkpoint.json").exists():
        time.sleep(0.05)
    process.kill()  # SIGKILL: no handler runs
    process.wait()
    assert not (killed / "train_results.json").exists()
    # A checkpoint the kill cut short (no completion mark) is newer than every complete one: `last` must skip it.
    torn = killed / "checkpoint-11"
    shutil.copytree(killed / "checkpoint-4", torn)
    (torn / "fer_hf_checkpoint.json").unlink()
    (torn / "optimizer.pt").write_bytes(b"")
    result = subprocess.run([sys.executable, "train.py", *_train_args(synthetic_csv, tiny_vit, killed),
                             "--resume_from_checkpoint", "last"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Skipping" in result.stderr and "checkpoint-11" in result.stderr
    a, b = load_file(whole / "model.safetensors"), load_file(killed / "model.safetensors")
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)  # bit-identical weights
    state_a, state_b = (json.loads((d / "trainer_state.json").read_text()) for d in (whole, killed))
    assert state_a["global_step"] == state_b["global_step"] == 12
    assert state_a["stateful_callbacks"]["EarlyStoppingCallback"] == state_b["stateful_callbacks"]["EarlyStoppingCallback"]
    results_a, results_b = (json.loads((d / "all_results.json").read_text()) for d in (whole, killed))
    assert results_b["train_loss"] == pytest.approx(results_a["train_loss"], rel=1e-6)
    assert results_b["eval_accuracy"] == results_a["eval_accuracy"] and results_b["eval_loss"] == results_a["eval_loss"]


def test_early_stopping_counter_survives_resume(synthetic_csv, tiny_vit, tmp_path):
    out = tmp_path / "run"
    frozen = ["--learning_rate", "0", "--head_learning_rate", "0"]  # the eval loss never improves
    train.main(_train_args(synthetic_csv, tiny_vit, out, steps=8, extra=frozen))
    saved = json.loads((out / "checkpoint-8" / "trainer_state.json").read_text())["stateful_callbacks"]["EarlyStoppingCallback"]
    assert saved["attributes"]["early_stopping_patience_counter"] == 1
    train.main(_train_args(synthetic_csv, tiny_vit, out, steps=12, extra=[*frozen, "--resume_from_checkpoint", "last"]))
    final = json.loads((out / "checkpoint-12" / "trainer_state.json").read_text())["stateful_callbacks"]["EarlyStoppingCallback"]
    assert final["attributes"]["early_stopping_patience_counter"] == 2  # counted on from 1, not restarted at 0


def test_balanced_sampler_shards_distinct_draws_across_processes():
    from accelerate.data_loader import BatchSamplerShard
    from torch.utils.data import BatchSampler

    from fer_hf.sampling import create_class_balanced_sampler

    labels = np.repeat(np.arange(7), [40, 4, 40, 70, 48, 31, 55])  # 288 faces: 18 batches of 16
    sampler = create_class_balanced_sampler(labels, 7, seed=3, power=0.5)
    shards = [list(BatchSamplerShard(BatchSampler(sampler, 16, False), num_processes=2, process_index=rank)) for rank in (0, 1)]
    full = list(BatchSampler(sampler, 16, False))
    assert shards[0] == full[0::2] and shards[1] == full[1::2]  # the same draws, split into distinct batches
    assert sum(len(batch) for shard in shards for batch in shard) == len(labels)  # one epoch in all, not one each
    sampler.set_epoch(1)
    assert list(BatchSampler(sampler, 16, False)) != full  # a new epoch draws anew ...
    sampler.set_epoch(0)
    assert list(BatchSampler(sampler, 16, False)) == full  # ... and epoch 0 again is epoch 0


def test_torchrun_two_processes(synthetic_csv, tiny_vit, tmp_path):
    out = tmp_path / "ddp"
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "train.py",
                             *_train_args(synthetic_csv, tiny_vit, out, steps=4), "--ddp_backend", "gloo"],
                            cwd=ROOT, env=_subprocess_env(tmp_path), capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 4 and state["train_batch_size"] == 16
    # 140 training faces in batches of 16 on each of 2 processes: 5 steps make one epoch of the 140 draws.
    assert state["epoch"] == pytest.approx(4 / 5)


# ---------------------------------------------------------------------------------------------------
# Nothing leaked


def test_fake_token_never_reaches_a_file_or_the_console(synthetic_csv, tiny_vit, tmp_path):
    home = tmp_path / "hf-home"
    home.mkdir()
    (home / "token").write_text(FAKE_TOKEN)  # the login file huggingface-cli writes
    env = _subprocess_env(tmp_path, HF_TOKEN=FAKE_TOKEN, HF_HOME=str(home), HF_DATASETS_CACHE=str(tmp_path / "cache"))
    out = tmp_path / "run"
    steps = [
        ["train.py", *_train_args(synthetic_csv, tiny_vit, out, steps=4), "--hub_token", FAKE_TOKEN, "--hub_model_id", "me/fer-x",
         "--push_to_hub", "true"],
        ["evaluate_model.py", "--model_dir", str(out), "--data", synthetic_csv, "--split", "validation", "--output_dir", str(tmp_path / "eval")],
        ["export.py", "--model_dir", str(out), "--output_dir", str(tmp_path / "export"), "--num_faces", "2", "--repeats", "1"],
        ["-m", "fer_hf.hub", "--model_dir", str(out), "--export_dir", str(tmp_path / "export"), "--eval_dir", str(tmp_path / "eval"),
         "--repo_id", "me/fer-x", "--output_dir", str(tmp_path / "upload")],
    ]  # fmt: skip
    console = ""
    for step in steps:
        result = subprocess.run([sys.executable, *step], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        console += result.stdout + result.stderr
    # Offline, both pushes end in one clear line, after everything else was written.
    assert console.count("error: Cannot push to me/fer-x") == 2, console[-3000:]
    assert (out / "hub-upload" / "README.md").is_file() and (tmp_path / "upload" / "README.md").is_file()
    assert FAKE_TOKEN not in console
    written = [p for p in tmp_path.rglob("*") if p.is_file() and home not in p.parents]
    assert len(written) > 40 and not [str(p) for p in written if FAKE_TOKEN.encode() in p.read_bytes()]
    record = json.loads((out / "fer_hf_args.json").read_text())
    assert "--hub_token '<redacted>'" in record["run"]["command"] or "--hub_token <redacted>" in record["run"]["command"]
    assert not (out / "hub-upload" / "training_args.bin").exists()


# ---------------------------------------------------------------------------------------------------
# One clear line


def test_scripts_shorten_user_errors_only(capsys):
    def user_mistake():
        raise UserError("the file x is bad; pass another")

    with pytest.raises(SystemExit) as stop:
        cli.run(user_mistake)
    assert stop.value.code == 2 and capsys.readouterr().err == "error: the file x is bad; pass another\n"

    def bug():
        raise ValueError("a genuine bug")

    with pytest.raises(ValueError, match="a genuine bug"):  # keeps its traceback
        cli.run(bug)


def test_bad_model_files_end_in_one_line(fer_checkpoint, tmp_path):
    torn = tmp_path / "torn"
    shutil.copytree(fer_checkpoint, torn)
    weights = torn / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(UserError, match="Cannot load model"):
        load_classifier(str(torn))
    weights.write_bytes(os.urandom(4096))
    with pytest.raises(UserError, match="Cannot load model"):
        load_classifier(str(torn))
    # Labels that do not fit the weights: the config says 7 FER2013 classes, the head has 5 outputs.
    mismatch = tmp_path / "mismatch"
    shutil.copytree(fer_checkpoint, mismatch)
    tensors = load_file(mismatch / "model.safetensors")
    from safetensors.torch import save_file

    tensors = {k: (v[:5].clone() if k.startswith("classifier.") else v) for k, v in tensors.items()}
    save_file(tensors, mismatch / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(UserError, match="Cannot load model .*size mismatch"):
        load_classifier(str(mismatch))


def test_bad_data_files_end_in_one_line(tmp_path, caplog):
    binary = tmp_path / "photo.csv"
    binary.write_bytes(bytes(range(256)) * 40)
    with pytest.raises(UserError, match="is not a text CSV file") as err:
        load_fer2013(str(binary), cache_dir=str(tmp_path / "c"))
    assert "\\x" not in str(err.value) and len(str(err.value)) < 300
    empty_pixels = tmp_path / "empty.csv"
    empty_pixels.write_text('emotion,pixels,Usage\n0,"",Training\n')
    with pytest.raises(UserError, match="line 2: pixels is empty"):
        load_fer2013(str(empty_pixels), cache_dir=str(tmp_path / "c"))
    # A truncated JPEG in an image folder: named, and skipped with --skip_malformed_rows.
    folder = tmp_path / "faces" / "train" / "happy"
    folder.mkdir(parents=True)
    ok, jpeg = cv2.imencode(".jpg", np.full((48, 48), 128, np.uint8))
    (folder / "good.jpg").write_bytes(jpeg.tobytes())
    (folder / "bad.jpg").write_bytes(jpeg.tobytes()[: len(jpeg) // 2])
    with pytest.raises(UserError, match=r"bad\.jpg: not a readable image.*--skip_malformed_rows"):
        load_fer2013(str(tmp_path / "faces"), cache_dir=str(tmp_path / "c"))
    assert len(load_fer2013(str(tmp_path / "faces"), skip_malformed=True, cache_dir=str(tmp_path / "c"))["train"]) == 1
    with pytest.raises(UserError, match="Cannot load dataset 'nobody/no-such-fer'"):
        load_fer2013("nobody/no-such-fer")  # offline Hub


def test_bad_output_paths_end_in_one_line(tmp_path, fer_exports, fer_checkpoint):
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    cases = [
        (["--output", str(a_file / "out.mp4")], "is a file, not a folder"),
        (["--log", str(tmp_path)], "is a folder; pass a file name"),
        (["--log", str(tmp_path / "faces.txt")], "unknown file type '.txt'; use one of .csv, .jsonl"),
        (["--output", "/proc/x.png"], "cannot write in /proc"),
    ]
    for flags, message in cases:
        with pytest.raises(UserError, match=message):
            realtime.main(["--source", "0", "--model", fer_exports[0], "--no-display", *flags])
    # Output folders too, before any work: an export into /proc or under a file, a training run into /proc.
    for out, message in (("/proc/fer-hf-export", "cannot write in /proc"), (str(a_file / "export"), "is a file, not a folder")):
        with pytest.raises(UserError, match=message):
            export.main(["--model_dir", fer_checkpoint, "--output_dir", out])
    with pytest.raises(UserError, match="--output_dir /proc/fer-hf-run: cannot write in /proc"):
        train.main(["--data", str(a_file), "--output_dir", "/proc/fer-hf-run"])
    # Upper-case suffixes are understood: --log x.CSV writes CSV, not JSON lines.
    image = tmp_path / "face.png"
    cv2.imwrite(str(image), cv2.cvtColor(np.full((120, 120), 128, np.uint8), cv2.COLOR_GRAY2BGR))
    realtime.main(["--source", str(image), "--model", fer_exports[0], "--no-display", "--log", str(tmp_path / "x.CSV")])
    assert (tmp_path / "x.CSV").read_text().startswith("file,")  # an image is analysed as a photo: rows name the file


def test_synthetic_model_card_claims_no_fer2013_result(fer_checkpoint, synthetic_csv, tmp_path):
    run = tmp_path / "run"
    train.main(_train_args(synthetic_csv, fer_checkpoint, run, steps=2, extra=["--eval_strategy", "no", "--save_strategy", "no"]))
    evaluate_model.main(["--model_dir", str(run), "--data", synthetic_csv, "--split", "validation", "--output_dir", str(tmp_path / "eval")])
    folder = hub.main(["--model_dir", str(run), "--eval_dir", str(tmp_path / "eval"), "--repo_id", "me/x",
                       "--output_dir", str(tmp_path / "up"), "--dry_run"])  # fmt: skip
    card = (folder / "README.md").read_text()
    metadata = card.split("---")[1]
    assert "model-index" not in metadata and "fer2013" not in metadata  # no result, dataset or tag claimed
    assert "Not trained on FER2013" in card and "claims no FER2013 result" in card


def test_fer2013_card_keeps_its_model_index(fer_checkpoint, tmp_path):
    metrics = json.loads((ROOT / "models" / "fer2013-cpu-small" / "eval" / "metrics.json").read_text())
    eval_dir = tmp_path / "eval"
    eval_dir.mkdir()
    (eval_dir / "metrics.json").write_text(json.dumps(metrics))
    card = hub.create_model_card(str(ROOT / "models" / "fer2013-cpu-small"), str(eval_dir), "me/x")
    assert metrics["num_examples"] == 3589 and card.data.eval_results[0].metric_value == round(metrics["accuracy"], 4)
    assert "Not trained on FER2013" not in card.text


def test_interrupted_batch_analysis_leaves_no_partial_table(fer_exports, tmp_path, monkeypatch):
    """Ctrl-C in the middle of `fer-hf analyze`: the old table stays as it was, no half folder, no temporary files."""
    from fer_hf import batch
    from fer_hf.commands import analyze
    from fer_hf.demo.sample_video import face_photo, write_face_video

    cv2.imwrite(str(tmp_path / "a.jpg"), face_photo())
    write_face_video(str(tmp_path / "b.avi"), num_frames=4, num_faces=1)
    out = tmp_path / "out"
    out.mkdir()
    (out / "faces.csv").write_text("old results\n")

    def interrupted(self, path, name):
        raise KeyboardInterrupt  # after the photo's row was written, during the video

    monkeypatch.setattr(batch.BatchAnalyzer, "video", interrupted)
    with pytest.raises(KeyboardInterrupt):
        analyze.main([str(tmp_path / "a.jpg"), str(tmp_path / "b.avi"), "--model", fer_exports[1], "--detector", "haar",
                      "--output", str(out / "faces.csv"), "--annotated", str(out / "labelled"), "--quiet"])  # fmt: skip
    assert sorted(p.name for p in out.iterdir()) == ["faces.csv"] and (out / "faces.csv").read_text() == "old results\n"
