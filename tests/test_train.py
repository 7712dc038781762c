"""End-to-end runs of train.py's main() on a tiny ViT and a small synthetic FER2013 CSV."""

import json
import shutil

import numpy as np
import pytest
from transformers import AutoImageProcessor, AutoModelForImageClassification

import evaluate_model
import train
from fer_hf.data import write_fer_csv
from fer_hf.errors import UserError
from fer_hf.hub import create_model_card
from fer_hf.labels import ID2LABEL


def _args(data, backbone, out, steps=6, extra=()):
    return [
        "--data", data, "--model_name_or_path", backbone, "--output_dir", str(out),
        "--max_steps", str(steps), "--per_device_train_batch_size", "16", "--per_device_eval_batch_size", "32",
        "--eval_strategy", "steps", "--eval_steps", "3", "--save_strategy", "steps", "--save_steps", "3",
        "--warmup_epochs", "0.1", "--plateau_epochs", "0.1", "--logging_steps", "1", "--disable_tqdm", "true",
        "--save_total_limit", "3", *extra,
    ]  # fmt: skip


def test_train_writes_a_checkpoint_that_from_pretrained_loads(synthetic_csv, tiny_vit, tmp_path):
    out = tmp_path / "run"
    metrics = train.main(_args(synthetic_csv, tiny_vit, out))
    # Trainer's metric and the evaluator agree on the saved model: the checkpoint is the model that was measured.
    report = evaluate_model.main(["--model_dir", str(out), "--data", synthetic_csv, "--split", "validation",
                                  "--output_dir", str(tmp_path / "eval"), "--no_progress", "true"])  # fmt: skip
    assert report["accuracy"] == pytest.approx(metrics["eval_accuracy"]) and report["macro_f1"] == pytest.approx(metrics["eval_macro_f1"])
    model = AutoModelForImageClassification.from_pretrained(out)
    assert model.config.id2label == ID2LABEL and model.config.classifier_dropout == 0.4
    assert AutoImageProcessor.from_pretrained(out).size == {"height": 32, "width": 32}
    for name in ("fer_hf_args.json", "eval_results.json", "train_results.json", "trainer_state.json"):
        assert (out / name).exists(), name
    saved = json.loads((out / "fer_hf_args.json").read_text())
    assert saved["data"]["data"] == synthetic_csv and saved["training"]["head_learning_rate"] == 8e-4
    # The learning rate went up and came back down: the custom schedule was used, not Trainer's default.
    lrs = [entry["learning_rate"] for entry in json.loads((out / "trainer_state.json").read_text())["log_history"] if "learning_rate" in entry]
    assert max(lrs) == pytest.approx(6e-5) and lrs[-1] < lrs[len(lrs) // 2]


def test_resume_continues_at_the_saved_step(synthetic_csv, tiny_vit, tmp_path):
    out = tmp_path / "run"
    train.main(_args(synthetic_csv, tiny_vit, out, steps=6, extra=["--load_best_model_at_end", "false"]))
    # Simulate a killed run: the last checkpoint is removed, and the run resumes from checkpoint-3.
    import shutil

    shutil.rmtree(out / "checkpoint-6")
    train.main(_args(synthetic_csv, tiny_vit, out, steps=6, extra=["--resume_from_checkpoint", "last", "--load_best_model_at_end", "false"]))
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 6
    steps_logged = [entry["step"] for entry in state["log_history"] if "loss" in entry]
    assert steps_logged == [1, 2, 3, 4, 5, 6]  # steps 1-3 come from the checkpoint, 4-6 from the resumed run
    # The run record and the card add up both sessions: the first until its checkpoint-3, then this one.
    first = json.loads((out / "checkpoint-3" / "fer_hf_checkpoint.json").read_text())["sessions"]
    both = json.loads((out / "checkpoint-6" / "fer_hf_checkpoint.json").read_text())["sessions"]
    record = json.loads((out / "fer_hf_args.json").read_text())["run"]
    assert len(first) == 1 and both[0] == first[0] and both[1]["started_utc"] == record["started_utc"]
    assert record["resumed_from"] == "checkpoint-3" and [s["started_utc"] for s in record["earlier_sessions"]] == [first[0]["started_utc"]]
    assert record["total_wall_seconds"] == record["wall_seconds"] + record["earlier_sessions"][0]["wall_seconds"]
    card = create_model_card(str(out)).text
    assert "resumed from `checkpoint-3`" in card and f"{first[0]['started_utc']} → {first[0]['saved_utc']}" in card and "min wall in all" in card


def test_cutmix_flags_reach_the_training_batches_and_the_card(synthetic_csv, tiny_vit, tmp_path, monkeypatch):
    from fer_hf import mixup

    boxes, box = [], mixup.cutmix_box
    monkeypatch.setattr(mixup, "cutmix_box", lambda *a: boxes.append(box(*a)) or boxes[-1])  # each CutMix batch's box
    out = tmp_path / "run"
    train.main(_args(synthetic_csv, tiny_vit, out, steps=2, extra=["--mixup_prob", "1", "--cutmix_alpha", "1", "--cutmix_switch_prob", "1",
                                                                  "--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false"]))  # fmt: skip
    assert len(boxes) >= 2  # every training batch (the loader may collate one ahead)
    card = create_model_card(str(out)).text
    assert "| cutmix_alpha | 1.0 |" in card and "| cutmix_switch_prob | 1.0 |" in card
    saved = json.loads((out / "fer_hf_args.json").read_text())
    saved["training"]["cutmix_alpha"] = 0.0  # a run without CutMix: its card does not mention it
    (out / "fer_hf_args.json").write_text(json.dumps(saved))
    assert "| cutmix_" not in create_model_card(str(out)).text


def test_json_config_with_flag_overrides(synthetic_csv, tiny_vit, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"data": synthetic_csv, "model_name_or_path": tiny_vit, "max_steps": 50, "mixup_prob": 0.0}))
    out = tmp_path / "run"
    train.main([str(config), *_args(synthetic_csv, tiny_vit, out, steps=3)[4:]])
    saved = json.loads((out / "fer_hf_args.json").read_text())
    assert saved["training"]["max_steps"] == 3 and saved["training"]["mixup_prob"] == 0.0


def test_bad_inputs_end_in_clear_errors(synthetic_csv, tiny_vit, tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        train.main(_args(str(tmp_path / "missing.csv"), tiny_vit, tmp_path / "a"))
    with pytest.raises(UserError, match="Cannot load backbone"):
        train.main(_args(synthetic_csv, str(tmp_path / "no-backbone"), tmp_path / "b"))
    import numpy as np

    only_train = tmp_path / "train_only.csv"
    write_fer_csv(str(only_train), np.zeros((2, 48, 48), np.uint8), [0, 1], ["Training", "Training"])
    with pytest.raises(UserError, match="Split 'validation' \\(FER2013 PublicTest\\) has no rows"):
        train.main(_args(str(only_train), tiny_vit, tmp_path / "c"))
    with pytest.raises(UserError, match="pass --data"):
        train.main(["--model_name_or_path", tiny_vit, "--output_dir", str(tmp_path / "d")])


def test_script_prints_one_line_error(tmp_path, capsys):
    from fer_hf.cli import run

    with pytest.raises(SystemExit) as stop:  # what `python train.py ...` runs, in-process
        run(lambda: train.main(["--data", str(tmp_path / "missing.csv"), "--output_dir", str(tmp_path)]))
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.startswith("error: Data path") and err.count("\n") == 1


def test_cpu_presets_build_train_distil_and_export(synthetic_csv, tmp_path):
    """`make cpu-model` in miniature, a few steps each: --preset cpu-small-teacher (a ResNet from scratch at 64 px),
    then --preset cpu-small (the TinyViT hybrid, channels-last) distilled from it through cached probabilities, then
    the student's ONNX export."""
    import export

    short = ["--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false", "--disable_tqdm", "true"]
    teacher = tmp_path / "teacher"
    train.main(["--preset", "cpu-small-teacher", "--data", synthetic_csv, "--output_dir", str(teacher), "--max_steps", "2", *short])
    saved = json.loads((teacher / "fer_hf_args.json").read_text())
    assert saved["model"]["model_name_or_path"] == "fer_hf/configs/resnet-fer-64" and saved["training"]["learning_rate"] == 2e-3
    model = AutoModelForImageClassification.from_pretrained(teacher)
    assert model.config.architecture == "resnet18" and model.config.model_args["drop_rate"] == 0.2
    assert "Attention" not in {type(m).__name__ for m in model.modules()}  # a pure CNN, allowed only as the teacher

    out = tmp_path / "preset"
    train.main(["--preset", "cpu-small", "--data", synthetic_csv, "--output_dir", str(out), "--max_steps", "2",
                "--distill_from", str(teacher), "--distill_precompute", "true", *short])  # fmt: skip
    saved = json.loads((out / "fer_hf_args.json").read_text())
    assert saved["model"]["preset"] == "cpu-small" and saved["model"]["train_from_scratch"] and saved["model"]["channels_last"]
    assert saved["model"]["model_name_or_path"] == "fer_hf/configs/tinyvit-fer-64"  # no path of this machine in the record
    assert "--preset cpu-small-teacher" in saved["teacher_run"]["command"] and (out / "teacher_probs.npz").is_file()
    model = AutoModelForImageClassification.from_pretrained(out)  # trained channels-last, saved and loaded as usual
    assert model.config.model_type == "timm_wrapper" and model.config.architecture == "tiny_vit_5m_224"
    assert model.config.id2label == ID2LABEL and model.config.model_args["drop_rate"] == 0.2  # the Dropout + Linear head
    # Convolutions first (TinyViT's stem and MBConv stage), then self-attention over the image tokens.
    blocks = [type(m).__name__ for m in model.modules()]
    assert "MBConv" in blocks and blocks.count("Attention") == 6 and blocks.index("MBConv") < blocks.index("Attention")
    report = export.main(["--model_dir", str(out), "--output_dir", str(tmp_path / "export"), "--num_faces", "4", "--repeats", "1"])
    assert report["fp32_max_abs_logit_diff"] < 1e-3 and report["int8_quantized_operators"]["MatMulInteger"] > 0


def test_distillation_from_a_trained_model(synthetic_csv, tiny_vit, fer_checkpoint, tmp_path):
    """--distill_from: the student trains against a saved fer-hf model's probabilities; a weight or views it cannot
    use is refused in one line (a teacher it cannot use: see the next test)."""
    out = tmp_path / "student"
    train.main(_args(synthetic_csv, tiny_vit, out, steps=2, extra=["--distill_from", fer_checkpoint, "--distill_alpha", "0.7",
                                                                  "--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false"]))  # fmt: skip
    saved = json.loads((out / "fer_hf_args.json").read_text())
    assert saved["training"]["distill_from"] == fer_checkpoint and saved["training"]["distill_alpha"] == 0.7
    assert saved["training"]["distill_tta"] == "hflip+zoom"
    assert "teacher_run" not in saved  # a teacher without a run record (not made by train.py)
    # A teacher train.py made: its run record travels with the student, also from an export inside its folder.
    teacher = tmp_path / "teacher"
    shutil.copytree(fer_checkpoint, teacher)
    record = {"command": "python train.py --preset teacher", "seed": 42, "started_utc": "2026-12-03T06:03:19Z",
              "finished_utc": "2026-12-03T06:28:19Z", "wall_seconds": 1500, "total_wall_seconds": 1500, "machine": "m"}  # fmt: skip
    (teacher / "fer_hf_args.json").write_text(json.dumps({"run": record}))
    shutil.copytree(fer_checkpoint, teacher / "onnx-fp32")  # stands in for an export: what matters is where it is
    for source in (teacher, teacher / "onnx-fp32"):
        student = tmp_path / f"student-of-{source.name}"
        train.main(_args(synthetic_csv, tiny_vit, student, steps=1, extra=["--distill_from", str(source), "--eval_strategy", "no",
                                                                          "--save_strategy", "no", "--load_best_model_at_end", "false"]))  # fmt: skip
        assert json.loads((student / "fer_hf_args.json").read_text())["teacher_run"] == record
    with pytest.raises(UserError, match="--distill_alpha must be in"):
        train.main(_args(synthetic_csv, tiny_vit, tmp_path / "c", extra=["--distill_from", fer_checkpoint, "--distill_alpha", "2"]))
    with pytest.raises(UserError, match="Unknown --tta"):
        train.main(_args(synthetic_csv, tiny_vit, tmp_path / "d", extra=["--distill_from", fer_checkpoint, "--distill_tta", "five"]))
    with pytest.raises(UserError, match="CutMix switch probability must be in"):
        train.main(_args("no-such.csv", tiny_vit, tmp_path / "e", extra=["--cutmix_alpha", "1", "--cutmix_switch_prob", "1.5"]))
    assert not (tmp_path / "e").exists()  # refused before any data was read or folder made


def test_distillation_against_precomputed_teacher_probabilities(synthetic_csv, tiny_vit, tmp_path, monkeypatch):
    """--distill_precompute: the teacher sees each training face once, through its own image processor (so it may
    take another input size), its probabilities are kept in the output folder, and a resumed run reads them back."""
    from conftest import make_tiny_vit
    from fer_hf import evaluation
    from fer_hf.trainer import TEACHER_PROBS_FILE

    from fer_hf import mixup

    teacher = make_tiny_vit(tmp_path / "teacher-48", image_size=48, with_labels=True)  # the student takes 32 px
    out = tmp_path / "student"
    flags = ["--distill_from", teacher, "--distill_precompute", "true", "--distill_tta", "hflip", "--load_best_model_at_end", "false"]
    blended, mix = [], mixup.mixup_target
    monkeypatch.setattr(mixup, "mixup_target", lambda *a: blended.append((a[4], a[5])) or mix(*a))  # what each training batch was given
    train.main(_args(synthetic_csv, tiny_vit, out, steps=3, extra=flags))
    assert len(blended) >= 3 and all(teacher_probs.shape == (16, 7) and alpha == 0.5 for teacher_probs, alpha in blended)
    with np.load(out / TEACHER_PROBS_FILE) as saved:
        probs = saved["probs"]
    assert probs.shape == (140, 7) and np.allclose(probs.sum(1), 1, atol=1e-5)
    # They are the teacher's own two-view probabilities of the whole faces, in the order of the training split.
    from fer_hf.data import load_fer2013
    from fer_hf.inference import load_classifier

    expected, _ = evaluation.predict_dataset(load_classifier(teacher), load_fer2013(synthetic_csv)["train"], tta="hflip", progress=False)
    assert np.allclose(probs, expected, atol=1e-5)
    saved = json.loads((out / "fer_hf_args.json").read_text())["training"]
    assert saved["distill_precompute"] is True and saved["distill_from"] == teacher
    # A resumed run does not run the teacher again.
    def no_teacher(*args, **kwargs):
        raise AssertionError("the teacher ran again")

    monkeypatch.setattr(evaluation, "predict_dataset", no_teacher)
    train.main(_args(synthetic_csv, tiny_vit, out, steps=6, extra=[*flags, "--resume_from_checkpoint", "last"]))
    assert json.loads((out / "trainer_state.json").read_text())["global_step"] == 6
    # Other views are another teacher, and a damaged file no teacher's: computed again (here, refused by the stand-in).
    with pytest.raises(AssertionError, match="the teacher ran again"):
        train.main(_args(synthetic_csv, tiny_vit, out, steps=9, extra=[*flags[:4], "--distill_tta", "none", "--load_best_model_at_end", "false",
                                                                             "--resume_from_checkpoint", "last"]))  # fmt: skip
    (out / TEACHER_PROBS_FILE).write_bytes(b"PK\x03\x04 cut short")
    with pytest.raises(AssertionError, match="the teacher ran again"):
        train.main(_args(synthetic_csv, tiny_vit, out, steps=9, extra=[*flags, "--resume_from_checkpoint", "last"]))


def test_self_distillation_refreshes_the_targets_from_the_models_own_probabilities(synthetic_csv, tiny_vit, tmp_path, monkeypatch):
    """--self_distill_epochs: after each listed epoch the model's own probabilities of the training faces (its views of
    each whole face) are the teacher blended into every later batch's targets; each refresh is kept, so a resumed run
    takes its own up again, and a resume that would need a lost one says so."""
    from fer_hf import evaluation, mixup
    from fer_hf.data import load_fer2013
    from fer_hf.inference import load_classifier
    from fer_hf.trainer import SELF_TEACHER_FILE

    out = tmp_path / "self"
    flags = ["--max_train_samples", "48", "--max_eval_samples", "32", "--self_distill_epochs", "1", "2", "--distill_alpha", "0.4",
             "--load_best_model_at_end", "false"]  # 3 steps an epoch; a checkpoint at each epoch's end  # fmt: skip
    given, mix = [], mixup.mixup_target
    monkeypatch.setattr(mixup, "mixup_target", lambda *a: given.append((a[4], a[5])) or mix(*a))  # each training batch's teacher
    train.main(_args(synthetic_csv, tiny_vit, out, steps=9, extra=flags))
    tables = []
    for epoch in (1, 2):
        with np.load(out / SELF_TEACHER_FILE.format(epoch=epoch)) as saved:
            tables.append(saved["probs"])
    assert all(table.shape == (48, 7) and np.allclose(table.sum(1), 1, atol=1e-5) for table in tables)
    # Epoch 1's table is the epoch-1 model's own four-view probabilities (checkpoint-3 is that model).
    faces = load_fer2013(synthetic_csv)["train"].select(range(48))
    expected, _ = evaluation.predict_dataset(load_classifier(str(out / "checkpoint-3")), faces, tta="hflip+zoom", progress=False)
    assert np.allclose(tables[0], expected, atol=1e-4)
    # Epoch 1 trained on the labels alone; epochs 2 and 3 against rows of the refreshed tables, at weight 0.4.
    assert len(given) == 9 and all(teacher is None for teacher, _ in given[:3])
    for (teacher, alpha), table in zip(given[3:], [tables[0]] * 3 + [tables[1]] * 3):
        assert alpha == 0.4 and all(np.isclose(table, row.numpy(), atol=1e-6).all(1).any() for row in teacher)
    assert json.loads((out / "fer_hf_args.json").read_text())["training"]["self_distill_epochs"] == [1, 2]
    # Resumed after epoch 2, the run takes epoch 2's table from the output folder; the model is not run over the faces.
    def no_pass(*args, **kwargs):
        raise AssertionError("the model ran over the training faces again")

    monkeypatch.setattr(evaluation, "predict_dataset", no_pass)
    given.clear()
    train.main(_args(synthetic_csv, tiny_vit, out, steps=12, extra=[*flags, "--resume_from_checkpoint", str(out / "checkpoint-6")]))
    assert len(given) == 6 and all(np.isclose(tables[1], row.numpy(), atol=1e-6).all(1).any() for teacher, _ in given for row in teacher)
    # Lost after epoch 3's checkpoint, epoch 2's table cannot be made again: the run stops and says what to do.
    (out / SELF_TEACHER_FILE.format(epoch=2)).write_bytes(b"PK\x03\x04 cut short")
    with pytest.raises(UserError, match="missing or damaged; resume from the checkpoint of epoch 2 or an earlier one"):
        train.main(_args(synthetic_csv, tiny_vit, out, steps=12, extra=[*flags, "--resume_from_checkpoint", str(out / "checkpoint-9")]))
    # From epoch 2's own checkpoint (saved just before its refresh) it is computed again, the same as before.
    monkeypatch.undo()
    train.main(_args(synthetic_csv, tiny_vit, out, steps=9, extra=[*flags, "--resume_from_checkpoint", str(out / "checkpoint-6")]))
    with np.load(out / SELF_TEACHER_FILE.format(epoch=2)) as saved:
        assert np.allclose(saved["probs"], tables[1], atol=1e-5)
    with pytest.raises(UserError, match="drop --distill_from"):
        train.main(_args(synthetic_csv, tiny_vit, tmp_path / "both", extra=[*flags, "--distill_from", tiny_vit]))


def test_wrong_flags_fail_before_the_data_is_read(synthetic_csv, tiny_vit, fer_checkpoint, tmp_path, monkeypatch):
    """A teacher, a model or a checkpoint that cannot be used is refused before FER2013 is parsed (seconds, not the
    data set's parse and decode)."""
    from conftest import make_tiny_vit
    from fer_hf import data

    def no_data(*args, **kwargs):
        raise AssertionError("the data was read before the flags were checked")

    monkeypatch.setattr(data, "load_fer2013", no_data)  # train.py imports it when it runs
    other_size = make_tiny_vit(tmp_path / "teacher-48", image_size=48, with_labels=True)
    with pytest.raises(UserError, match="takes 48x48 inputs normalised differently"):
        train.main(_args(synthetic_csv, tiny_vit, tmp_path / "a", extra=["--distill_from", other_size]))
    with pytest.raises(UserError, match="does not exist. Pass --distill_from"):
        train.main(_args(synthetic_csv, tiny_vit, tmp_path / "b", extra=["--distill_from", str(tmp_path / "missing")]))
    with pytest.raises(UserError, match="no complete checkpoint-\\* folder"):
        train.main(_args(synthetic_csv, tiny_vit, tmp_path / "c", extra=["--resume_from_checkpoint", "last"]))
    with pytest.raises(UserError, match="--model_name_or_path"):
        train.main(_args(synthetic_csv, str(tmp_path / "no-model"), tmp_path / "d", extra=["--train_from_scratch", "true"]))
    with pytest.raises(AssertionError, match="the data was read"):  # with every flag right, the data comes next
        train.main(_args(synthetic_csv, tiny_vit, tmp_path / "e", extra=["--distill_from", fer_checkpoint]))


def test_a_new_run_never_mixes_with_or_replaces_an_earlier_one(synthetic_csv, tiny_vit, fer_checkpoint, tmp_path):
    """A new run into a folder that holds another run's checkpoints is refused (they would outrank its own in Trainer's
    rotation and in --resume_from_checkpoint last); --overwrite_output_dir true starts again there, removing only them;
    the model being fine-tuned is never the output."""
    from fer_hf.trainer import last_complete_checkpoint

    out = tmp_path / "run"
    train.main(_args(synthetic_csv, tiny_vit, out, steps=6, extra=["--load_best_model_at_end", "false"]))
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(UserError, match=r"holds an earlier run's checkpoints \(checkpoint-6\); continue it with --resume_from_checkpoint last"):
        train.main(_args(synthetic_csv, tiny_vit, out, steps=2))
    assert sorted(p.name for p in out.iterdir()) == before  # refused before anything was written or removed
    train.main(_args(synthetic_csv, tiny_vit, out, steps=2, extra=["--save_steps", "1", "--eval_steps", "1", "--overwrite_output_dir", "true"]))
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-1", "checkpoint-2"]
    assert last_complete_checkpoint(str(out)) == str(out / "checkpoint-2")
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "mine.txt").write_text("keep")
    with pytest.raises(UserError, match="already holds files; pass --overwrite_output_dir true"):
        train.main(_args(synthetic_csv, tiny_vit, notes))
    for overwrite in ("false", "true"):
        with pytest.raises(UserError, match="would replace the input"):
            train.main(_args(synthetic_csv, fer_checkpoint, fer_checkpoint, extra=["--overwrite_output_dir", overwrite]))
    assert (notes / "mine.txt").read_text() == "keep"


def test_unknown_preset_lists_the_known_ones(tmp_path):
    with pytest.raises(UserError, match="Unknown preset 'gpu-huge'; choose one of cpu-small, cpu-small-teacher, demo"):
        train.main(["--preset", "gpu-huge", "--output_dir", str(tmp_path)])


def test_a_config_builds_on_a_preset_with_base(tmp_path):
    """`"base": "cpu-small"` takes that preset's values first; the config's own values and then the flags win."""
    from fer_hf.cli import parse_args
    from fer_hf.commands.train import DataArguments, FERTrainingArguments, ModelArguments

    def parsed(*args):
        return parse_args((ModelArguments, DataArguments, FERTrainingArguments), list(args))

    small, _, small_training = parsed("--preset", "cpu-small")
    teacher, teacher_data, teacher_training = parsed("--preset", "cpu-small-teacher")  # "base": "cpu-small"
    assert teacher.model_name_or_path.endswith("resnet-fer-64") and small.model_name_or_path.endswith("tinyvit-fer-64")
    assert (teacher_training.num_train_epochs, teacher_training.learning_rate, teacher.preset) == (20, 2e-3, "cpu-small-teacher")
    assert teacher_data.erasing_prob == 0.25 and teacher.classifier_dropout == 0.2 and teacher.channels_last  # from cpu-small
    assert teacher_training.mixup_alpha == small_training.mixup_alpha and teacher_training.seed == 42
    mine = tmp_path / "cpu-small-teacher.json"  # a user's file may share a preset's name
    mine.write_text(json.dumps({"base": "cpu-small-teacher", "num_train_epochs": 5}))  # a base's base is followed too
    model, data, training = parsed(str(mine), "--learning_rate", "1e-3")
    assert model.model_name_or_path.endswith("resnet-fer-64") and data.erasing_prob == 0.25
    assert (training.num_train_epochs, training.learning_rate, training.head_learning_rate) == (5, 1e-3, 2e-3)
    mine.write_text(json.dumps({"base": "gpu-huge"}))
    with pytest.raises(UserError, match="an unknown base 'gpu-huge'; \"base\" names a preset, one of cpu-small, "):
        parsed(str(mine))
    mine.write_text("[1, 2]")
    with pytest.raises(UserError, match="must hold a JSON object"):
        parsed(str(mine))


def test_presets_whose_bases_lead_back_to_themselves_are_refused(tmp_path, monkeypatch):
    from fer_hf import cli

    monkeypatch.setattr(cli, "PRESETS_DIR", tmp_path)
    (tmp_path / "a.json").write_text(json.dumps({"base": "b", "seed": 1}))
    (tmp_path / "b.json").write_text(json.dumps({"base": "a", "seed": 2}))
    with pytest.raises(UserError, match="b.json: a base that leads back to itself 'a'"):
        cli.read_config(tmp_path / "a.json")


@pytest.mark.parametrize("flags, expected", [("fpu avx2", ", AVX2"), ("avx2 avx512f avx512_vnni", ", AVX-512 VNNI"),
                                             ("avx2 avx512f avx512_vnni avx512_bf16", ", AVX-512 VNNI and bf16"), ("neon", "")])  # fmt: skip
def test_run_records_name_the_cpus_widest_vector_extension(monkeypatch, flags, expected):
    """Run records tell machines apart by the vector extension that sets a 2-core CPU's training speed."""
    from fer_hf import cli

    monkeypatch.setattr(cli, "cpu_info", lambda: {"model name": "Some CPU", "flags": flags})
    monkeypatch.setattr(cli.os, "cpu_count", lambda: 2)
    assert cli.machine_description().startswith(f"Some CPU, 2 cores{expected}, torch ")
