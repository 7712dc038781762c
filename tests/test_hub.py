"""Model card, upload folder and push: everything up to the Hub's front door (which is unreachable here)."""

import json
import os

import numpy as np
import pytest
import torch
from huggingface_hub import ModelCard, metadata_load
from PIL import Image
from transformers import AutoImageProcessor, AutoModelForImageClassification, pipeline

import evaluate_model
import fer_hf.hub as hub
from fer_hf.errors import UserError
from fer_hf.hub import create_model_card
from fer_hf.labels import EMOTIONS
from fer_hf.loading import is_hub_id
from fer_hf.demo.synthetic import generate


@pytest.fixture(scope="module")
def upload(fer_checkpoint, fer_exports, synthetic_csv, tmp_path_factory):
    root = tmp_path_factory.mktemp("hub")
    (root / "export").mkdir()
    for folder in fer_exports:
        os.symlink(folder, root / "export" / os.path.basename(folder))
    eval_dir = root / "eval"
    evaluate_model.main(["--model_dir", fer_checkpoint, "--data", synthetic_csv, "--split", "validation",
                         "--output_dir", str(eval_dir), "--no_progress", "true"])  # fmt: skip
    folder = hub.main(["--model_dir", fer_checkpoint, "--export_dir", str(root / "export"), "--eval_dir", str(eval_dir),
                       "--repo_id", "someone/fer-test", "--output_dir", str(root / "upload"), "--dry_run"])  # fmt: skip
    return folder, json.loads((eval_dir / "metrics.json").read_text())


def test_card_metadata_validates_and_numbers_come_from_metrics(upload):
    folder, metrics = upload
    card = ModelCard.load(folder / "README.md")  # huggingface_hub's own parser and model-index checks
    meta = metadata_load(folder / "README.md")
    assert meta["license"] == "mit" and meta["library_name"] == "transformers"
    assert meta["pipeline_tag"] == "image-classification"
    # 42 synthetic faces are not FER2013's PublicTest: the numbers are shown, no FER2013 result is claimed.
    assert "datasets" not in meta and card.data.eval_results is None and "claims no FER2013 result" in card.text
    text = card.text
    for name in EMOTIONS:
        assert f"| {name} | {metrics['per_class'][name]['precision']:.4f} |" in text
    assert "eval/confusion_matrix.png" in text and (folder / "eval" / "confusion_matrix.png").stat().st_size > 0
    assert 'subfolder="onnx-int8"' in text and "Limitations" in text and "not an emotion" in text


def test_card_without_evaluation_claims_nothing(fer_checkpoint):
    card = create_model_card(fer_checkpoint)
    assert card.data.eval_results is None and "model-index" not in str(card)
    assert "no results are claimed" in card.text


def test_upload_folder_round_trips_every_loader(upload):
    from optimum.onnxruntime import ORTModelForImageClassification

    folder, _ = upload
    assert not (folder / "training_args.bin").exists()  # no pickles on the Hub
    face = Image.fromarray(generate(1, seed=5)[0][0]).convert("RGB")
    model = AutoModelForImageClassification.from_pretrained(folder).eval()
    processor = AutoImageProcessor.from_pretrained(folder)
    with torch.no_grad():
        reference = model(**processor(face, return_tensors="pt")).logits.softmax(-1)[0].numpy()
    expected = EMOTIONS[int(reference.argmax())]
    assert pipeline("image-classification", model=str(folder))(face, top_k=1)[0]["label"] == expected
    for subfolder, tolerance in (("onnx-fp32", 1e-4), ("onnx-int8", 0.1)):
        ort = ORTModelForImageClassification.from_pretrained(folder, subfolder=subfolder)
        probs = ort(**processor(face, return_tensors="pt")).logits.softmax(-1)[0].numpy()
        np.testing.assert_allclose(probs, reference, atol=tolerance)
        assert EMOTIONS[int(probs.argmax())] == expected


def test_push_hands_the_folder_to_hf_api(upload, monkeypatch):
    folder, _ = upload
    calls = {}

    class FakeApi:
        def __init__(self, token=None):
            calls["token"] = token

        def create_repo(self, repo_id, private, exist_ok):
            calls["create"] = (repo_id, private, exist_ok)

        def upload_folder(self, folder_path, repo_id, commit_message):
            calls["upload"] = (folder_path, repo_id, sorted(os.listdir(folder_path)))
            return "https://huggingface.co/someone/fer-test/commit/abc"

    monkeypatch.setattr(hub, "HfApi", FakeApi)
    monkeypatch.setattr(hub, "get_token", lambda: "hf_secret_token")
    url = hub.push_folder(str(folder), "someone/fer-test", private=True)
    assert calls["create"] == ("someone/fer-test", True, True)
    assert calls["upload"][0] == str(folder) and {"README.md", "model.safetensors", "onnx-fp32", "onnx-int8", "eval"} <= set(calls["upload"][2])
    assert url.endswith("/commit/abc")


def test_missing_token_and_missing_metrics_are_clear(upload, fer_checkpoint, tmp_path, monkeypatch, capsys):
    folder, _ = upload
    monkeypatch.setattr(hub, "get_token", lambda: None)
    with pytest.raises(UserError, match="No Hugging Face token found: run `huggingface-cli login` or set HF_TOKEN"):
        hub.push_folder(str(folder), "someone/fer-test")
    with pytest.raises(UserError, match="has no metrics.json; run evaluate_model.py"):
        hub.main(["--model_dir", fer_checkpoint, "--eval_dir", str(tmp_path), "--repo_id", "a/b", "--dry_run",
                  "--output_dir", str(tmp_path / "up")])  # fmt: skip


def test_token_is_never_printed_or_written(upload, monkeypatch, capsys):
    folder, _ = upload
    secret = "hf_do_not_leak_123"

    class FakeApi:
        def __init__(self, token=None):
            pass

        def create_repo(self, *args, **kwargs):
            pass

        def upload_folder(self, **kwargs):
            return "ok"

    monkeypatch.setattr(hub, "HfApi", FakeApi)
    monkeypatch.setattr(hub, "get_token", lambda: secret)
    hub.push_folder(str(folder), "someone/fer-test")
    out = capsys.readouterr()
    assert secret not in out.out + out.err
    assert not any(secret in p.read_text(errors="ignore") for p in folder.rglob("*") if p.is_file() and p.suffix in (".json", ".md"))


def test_train_push_to_hub_writes_our_card_and_pushes(synthetic_csv, tiny_vit, tmp_path, monkeypatch):
    """train.py --push_to_hub, with the two Hub calls replaced at the boundary (huggingface_hub's HfApi)."""
    import train

    pushed = {}

    class FakeApi:
        def __init__(self, token=None):
            pushed["token"] = token

        def create_repo(self, repo_id, private, exist_ok):
            pushed["created"] = repo_id

        def upload_folder(self, **kw):
            pushed.update(kw)
            return "ok"

    monkeypatch.setattr(hub, "HfApi", FakeApi)
    monkeypatch.setattr(hub, "get_token", lambda: "hf_from_login")
    out = tmp_path / "run"
    train.main(["--data", synthetic_csv, "--model_name_or_path", tiny_vit, "--output_dir", str(out), "--max_steps", "2",
                "--per_device_train_batch_size", "16", "--eval_strategy", "no", "--save_strategy", "no",
                "--load_best_model_at_end", "false", "--push_to_hub", "true", "--hub_model_id", "someone/fer-run",
                "--disable_tqdm", "true"])  # fmt: skip
    card = ModelCard.load(out / "hub-upload" / "README.md")
    assert pushed["created"] == pushed["repo_id"] == "someone/fer-run" and pushed["folder_path"] == str(out / "hub-upload")
    uploaded = sorted(p.name for p in (out / "hub-upload").iterdir())
    assert "model.safetensors" in uploaded and "eval" in uploaded and "training_args.bin" not in uploaded
    metrics = json.loads((out / "eval" / "metrics.json").read_text())
    assert metrics["num_examples"] == 42 and card.data.eval_results is None  # synthetic data: no FER2013 claim
    assert f"{metrics['accuracy']:.4f}" in card.text and "someone/fer-run" in card.text
    # The run record: the exact command, seed, wall time and machine.
    record = json.loads((out / "fer_hf_args.json").read_text())["run"]
    assert record["command"].startswith("python train.py --data ") and "--max_steps 2" in record["command"]
    assert record["seed"] == 42 and record["wall_seconds"] >= 0 and "cores" in record["machine"]
    assert record["command"] in card.text and "min wall" in card.text


@pytest.mark.parametrize(
    "name, expected",
    [("google/vit-base-patch16-224-in21k", True), ("fer2013", True), ("a/b/c", False), ("./model", False),
     ("~/model", False), ("/abs/model", False), ("x..y", False), ("", False)],
)  # fmt: skip
def test_is_hub_id_tells_repo_ids_from_paths(name, expected):
    assert is_hub_id(name) is expected


def test_is_hub_id_prefers_local_folders(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "owner").mkdir()
    (tmp_path / "owner" / "name").mkdir()
    assert not is_hub_id("owner/name")  # an existing local folder wins over the Hub
    assert not is_hub_id("owner/typo")  # and a missing one inside a local folder is a mistyped path


def test_card_lists_the_augmentations_stochastic_depth_and_teacher(fer_checkpoint, tmp_path):
    import shutil

    model_dir = shutil.copytree(fer_checkpoint, tmp_path / "model")
    config = json.loads((model_dir / "config.json").read_text())
    (model_dir / "config.json").write_text(json.dumps({**config, "model_args": {"drop_path_rate": 0.1}}))  # as timm's
    (model_dir / "fer_hf_args.json").write_text(json.dumps({
        "training": {"learning_rate": 5e-4, "metric_for_best_model": "accuracy", "hub_token": "<HUB_TOKEN>"},
        "data": {"crop_scale_min": 0.8, "erasing_prob": 0.25, "data": "fer2013.csv"}}))  # fmt: skip
    text = create_model_card(str(model_dir)).text
    for row in ("| learning_rate | 0.0005 |", "| metric_for_best_model | accuracy |", "| crop_scale_min | 0.8 |",
                "| erasing_prob | 0.25 |", "| drop_path_rate | 0.1 |"):  # fmt: skip
        assert row in text, row
    assert "hub_token" not in text and "| data |" not in text and "distill" not in text  # no teacher, no rows
    # A distilled model's card names its teacher and the teacher's share of the targets.
    args = json.loads((model_dir / "fer_hf_args.json").read_text())
    args["training"].update(distill_from="fer-hf/fer2013-cpu-small", distill_alpha=0.5, distill_tta="hflip+zoom",
                            distill_precompute=True)
    (model_dir / "fer_hf_args.json").write_text(json.dumps(args))
    text = create_model_card(str(model_dir)).text
    for row in ("| distill_from | fer-hf/fer2013-cpu-small |", "| distill_alpha | 0.5 |", "| distill_tta | hflip+zoom |",
                "| distill_precompute | True |"):
        assert row in text, row
    assert "self_distill_epochs" not in text and "The teacher's run" not in text  # its teacher's run is not known
    assert "the probabilities of `fer-hf/fer2013-cpu-small`, averaged over its `hflip+zoom` views, make up 0.5 of each" in text
    # With its teacher's run record (train.py copies it from the teacher's folder), the card adds what both cost.
    teacher_run = {"command": "python train.py --preset cpu-teacher", "started_utc": "2026-12-03T06:03:19Z",
                   "finished_utc": "2026-12-03T06:28:19Z", "total_wall_seconds": 1500, "machine": "2-core Xeon"}  # fmt: skip
    args["run"] = {"command": "python train.py --preset cpu-small", "seed": 42, "started_utc": "2026-12-03T07:00:00Z",
                   "finished_utc": "2026-12-03T08:15:00Z", "wall_seconds": 4500, "total_wall_seconds": 4500, "machine": "m"}  # fmt: skip
    (model_dir / "fer_hf_args.json").write_text(json.dumps({**args, "teacher_run": teacher_run}))
    text = create_model_card(str(model_dir)).text
    assert "python train.py --preset cpu-teacher" in text and "(25.0 min wall)" in text
    assert "Teacher and student together: **100.0 min wall**" in text and "(#the-teachers-run)" in text
    del args["run"]
    # A self-distilled one (its own teacher) names the epochs its targets were refreshed at.
    args["training"].update(distill_from=None, distill_precompute=False, self_distill_epochs=[12, 18, 24])
    (model_dir / "fer_hf_args.json").write_text(json.dumps(args))
    text = create_model_card(str(model_dir)).text
    for row in ("| self_distill_epochs | [12, 18, 24] |", "| distill_alpha | 0.5 |", "| distill_tta | hflip+zoom |"):
        assert row in text, row
    assert "distill_from" not in text and "distill_precompute" not in text  # no teacher of its own to precompute


def test_card_of_a_run_resumed_from_a_checkpoint_without_its_sessions(tmp_path):
    """A checkpoint written before fer-hf listed the sessions: the earlier time is unknown, and the card says so
    rather than passing the last session's time off as the run's."""
    from fer_hf.cli import run_record

    record = run_record("train.py", ["--preset", "cpu-small"], "2026-12-02T20:52:00Z", "2026-12-02T23:20:00Z", 42, "checkpoint-3143", None)
    assert record["resumed_from"] == "checkpoint-3143" and record["earlier_sessions"] is None and record["total_wall_seconds"] is None
    assert record["wall_seconds"] == 148 * 60
    (tmp_path / "fer_hf_args.json").write_text(json.dumps({"run": record}))
    card = create_model_card(str(tmp_path)).text
    assert "resumed from `checkpoint-3143`" in card and "Earlier sessions: not recorded" in card and "min wall in all" not in card
