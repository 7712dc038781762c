"""The training recipe's parts: transforms, class-balanced sampler, MixUp and CutMix, LR schedule."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from transformers import ViTImageProcessor

from fer_hf.errors import UserError
from fer_hf.mixup import MixupCollator, mixup_target, one_hot, soft_target_cross_entropy
from fer_hf.sampling import create_class_balanced_sampler
from fer_hf.transforms import FERTransform, preprocess_faces


def _processor(size=32, mean=0.5, std=0.5):
    return ViTImageProcessor(size={"height": size, "width": size}, image_mean=[mean] * 3, image_std=[std] * 3)


def test_eval_transform_shape_normalisation_and_determinism(gray_faces):
    transform = FERTransform(_processor(32), train=False)
    out = transform({"image": gray_faces, "label": [0, 1, 2, 3]})
    assert out["pixel_values"].shape == (4, 3, 32, 32) and out["labels"] == [0, 1, 2, 3]
    # Gray → 3 identical channels; never augmented, so the same input gives the same output.
    assert torch.equal(out["pixel_values"][:, 0], out["pixel_values"][:, 2])
    assert torch.equal(out["pixel_values"], transform({"image": gray_faces})["pixel_values"])


def test_decoded_pixels_give_the_same_batches_as_image_bytes(gray_faces):
    import cv2
    from datasets import ClassLabel, Dataset, Features, Image

    from fer_hf.data import decode_images

    sizes = [(48, 48)] * 4 + [(40, 56)]  # the last, differently sized image takes the per-image path
    faces = gray_faces + [np.random.default_rng(1).integers(0, 256, sizes[-1], dtype=np.uint8)]
    images = [{"bytes": cv2.imencode(".png", face)[1].tobytes(), "path": None} for face in faces]
    features = Features({"image": Image(), "label": ClassLabel(num_classes=7)})
    dataset = Dataset.from_dict({"image": images, "label": [0, 1, 2, 3, 4]}, features=features)
    decoded = decode_images(dataset)
    assert set(decoded.column_names) == {"pixels", "height", "width", "label"}
    assert decoded[4]["height"] == 40 and decoded[4]["width"] == 56
    transform = FERTransform(_processor(32), train=False)
    for rows in (slice(0, 4), slice(0, 5)):
        expected = transform(dataset[rows])["pixel_values"]
        torch.testing.assert_close(transform(decoded[rows])["pixel_values"], expected, rtol=0, atol=0)
    # Training batches of raw pixels are augmented to the input size, mixed sizes included.
    torch.manual_seed(0)
    assert FERTransform(_processor(32), train=True)(decoded[0:5])["pixel_values"].shape == (5, 3, 32, 32)


def test_normalisation_comes_from_the_image_processor():
    white = [np.full((48, 48), 255, dtype=np.uint8)]
    in21k = preprocess_faces(white, _processor(mean=0.5, std=0.5))
    imagenet = ViTImageProcessor(size={"height": 32, "width": 32})  # ImageNet mean/std defaults
    imagenet.image_mean, imagenet.image_std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    torch.testing.assert_close(in21k, torch.ones_like(in21k))
    expected = torch.tensor([(1 - 0.485) / 0.229, (1 - 0.456) / 0.224, (1 - 0.406) / 0.225])
    torch.testing.assert_close(preprocess_faces(white, imagenet)[0, :, 0, 0], expected)


def test_train_transform_augments(gray_faces):
    gradient = [np.tile(np.arange(48, dtype=np.uint8) * 5, (48, 1))] * 16
    train = FERTransform(_processor(32), train=True, crop_scale=(0.8, 1.0), hflip_prob=0.5)
    evaluate = FERTransform(_processor(32), train=False)
    augmented = train({"image": gradient})["pixel_values"]
    plain = evaluate({"image": gradient[:1]})["pixel_values"][0]
    assert augmented.shape == (16, 3, 32, 32)
    assert sum(not torch.allclose(a, plain) for a in augmented) >= 12
    # Some crops are flipped: the gradient then runs right to left.
    slopes = (augmented[:, 0, :, -1] - augmented[:, 0, :, 0]).mean(dim=1)
    assert (slopes > 0).any() and (slopes < 0).any()


def test_full_crop_is_the_identity_and_flip_an_exact_mirror(gray_faces):
    batch = {"image": gray_faces}
    plain = FERTransform(_processor(48), train=False)(batch)["pixel_values"]
    same = FERTransform(_processor(48), train=True, crop_scale=(1.0, 1.0), hflip_prob=0.0)(batch)["pixel_values"]
    mirrored = FERTransform(_processor(48), train=True, crop_scale=(1.0, 1.0), hflip_prob=1.0)(batch)["pixel_values"]
    torch.testing.assert_close(same, plain, rtol=0, atol=0)
    torch.testing.assert_close(mirrored, plain.flip(-1), rtol=0, atol=0)
    # Larger sources are shrunk with antialiasing before the crop: a flat image stays flat.
    flat = FERTransform(_processor(32), train=True)({"image": [np.full((96, 96), 200, np.uint8)]})["pixel_values"]
    torch.testing.assert_close(flat, torch.full_like(flat, 200 / 127.5 - 1))


def test_rotation_turns_the_face_about_its_centre(gray_faces):
    import cv2

    from fer_hf.transforms import crop_flip_rotate_matrix

    face = gray_faces[0]
    quarter = crop_flip_rotate_matrix((0, 0, 48, 48), flip=False, angle=90.0, size=(48, 48))
    np.testing.assert_array_equal(cv2.warpAffine(face, quarter, (48, 48), flags=cv2.INTER_LINEAR), np.rot90(face))
    # Random angles within ±d: a flat face stays flat (the border is replicated), a textured one changes.
    rotate = FERTransform(_processor(48), train=True, crop_scale=(1.0, 1.0), hflip_prob=0.0, rotation_degrees=20)
    flat = rotate({"image": [np.full((48, 48), 90, np.uint8)] * 4})["pixel_values"]
    torch.testing.assert_close(flat, torch.full_like(flat, 90 / 127.5 - 1))
    plain = FERTransform(_processor(48), train=False)({"image": gray_faces})["pixel_values"]
    assert not torch.equal(rotate({"image": gray_faces})["pixel_values"], plain)


def test_random_erasing_blanks_one_box_per_chosen_face_and_redraws_alike():
    """--erasing_prob: a rectangle of 2-33% of the face set to 0 (the mean, after normalisation) in about p of the
    faces, the rest untouched; the same generator seed draws the same boxes (a resumed run)."""
    faces = [np.full((48, 48), 230, np.uint8)] * 400  # bright: normalised to 0.8, so an erased pixel (0) shows
    erase = FERTransform(_processor(32), train=True, crop_scale=(1.0, 1.0), hflip_prob=0.0, erasing_prob=0.25,
                         generator=torch.Generator().manual_seed(3))  # fmt: skip
    out = erase({"image": faces})["pixel_values"]
    erased = out[:, 0] == 0
    areas = erased.flatten(1).float().mean(1)
    hit = areas > 0
    assert 0.17 < hit.float().mean() < 0.33  # ~p of the faces
    assert ((areas[hit] >= 0.01) & (areas[hit] <= 0.4)).all()  # 2-33% of the area, give or take rounding
    for face in erased[hit][:20]:  # one axis-aligned rectangle each, on every channel
        rows, cols = face.any(1).nonzero().flatten(), face.any(0).nonzero().flatten()
        assert face[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].all()
    assert torch.equal(out[:, 0], out[:, 2])
    assert (out[~hit] == out[~hit][0, 0, 0, 0]).all()  # untouched faces stay flat
    again = FERTransform(_processor(32), train=True, crop_scale=(1.0, 1.0), hflip_prob=0.0, erasing_prob=0.25,
                         generator=torch.Generator().manual_seed(3))({"image": faces})["pixel_values"]  # fmt: skip
    assert torch.equal(out, again)


def test_sampler_evens_out_classes():
    labels = np.array([0] * 900 + [1] * 90 + [2] * 10)
    sampler = create_class_balanced_sampler(labels, 3, seed=0)
    drawn = labels[list(sampler)]
    assert len(drawn) == len(labels)
    counts = np.bincount(drawn, minlength=3) / len(drawn)
    np.testing.assert_allclose(counts, [1 / 3] * 3, atol=0.05)


def test_square_root_balancing_draws_classes_by_the_root_of_their_size():
    labels = np.array([0] * 900 + [1] * 100)
    sampler = create_class_balanced_sampler(labels, 2, seed=0, power=0.5)
    counts = np.bincount(labels[list(sampler)], minlength=2) / len(labels)
    np.testing.assert_allclose(counts, [30 / 40, 10 / 40], atol=0.04)  # sqrt(900) : sqrt(100) = 3 : 1


def test_mixup_targets_sum_to_one_and_loss_is_lambda_weighted():
    target = torch.tensor([0, 3, 6, 1])
    lam = 0.7
    soft = mixup_target(target, 7, lam, smoothing=0.1)
    torch.testing.assert_close(soft.sum(dim=1), torch.ones(4))
    logits = torch.randn(4, 7)
    expected = lam * F.cross_entropy(logits, target, label_smoothing=0.1) + (1 - lam) * F.cross_entropy(
        logits, target.flip(0), label_smoothing=0.1
    )
    torch.testing.assert_close(soft_target_cross_entropy(logits, soft), expected)
    torch.testing.assert_close(soft_target_cross_entropy(logits, one_hot(target, 7)), F.cross_entropy(logits, target))


def test_mixup_collator_mixes_images_like_targets():
    torch.manual_seed(0)
    examples = [{"pixel_values": torch.full((3, 4, 4), float(i)), "labels": i} for i in range(4)]
    batch = MixupCollator(num_classes=7, alpha=9.0, prob=1.0)(examples)
    lam = batch["labels"][0, 0].item()  # example 0 keeps weight λ on its own class 0
    assert 0 < lam < 1
    torch.testing.assert_close(batch["pixel_values"][0], torch.full((3, 4, 4), 3 * (1 - lam)))
    torch.testing.assert_close(batch["labels"].sum(dim=1), torch.ones(4))
    unmixed = MixupCollator(num_classes=7, prob=0.0)(examples)
    assert torch.equal(unmixed["labels"], one_hot(torch.arange(4), 7))
    assert torch.equal(unmixed["pixel_values"][2], examples[2]["pixel_values"])


def test_mixup_rejects_bad_settings():
    with pytest.raises(UserError, match="alpha"):
        MixupCollator(7, alpha=0)
    with pytest.raises(UserError, match="probability"):
        MixupCollator(7, prob=1.5)
    with pytest.raises(UserError, match="CutMix alpha must be >= 0"):
        MixupCollator(7, cutmix_alpha=-1)
    with pytest.raises(UserError, match="CutMix switch probability must be in"):
        MixupCollator(7, cutmix_alpha=1.0, cutmix_switch_prob=2)


def test_cutmix_pastes_a_box_of_the_reversed_batch_and_weights_the_targets_by_its_area():
    """A CutMix batch: each face keeps its own pixels outside one box and has its partner's (the reversed batch's)
    inside it, and the targets weigh the two labels by those areas; the same generator seed draws the same boxes."""
    examples = [{"pixel_values": torch.full((3, 16, 16), float(i)), "labels": i} for i in range(4)]
    collator = MixupCollator(7, prob=1.0, cutmix_alpha=1.0, cutmix_switch_prob=1.0, generator=torch.Generator().manual_seed(0))
    areas = set()
    for _ in range(5):
        batch = collator(examples)
        for i in range(4):
            pixels = batch["pixel_values"][i]
            pasted = (pixels == 3 - i).float().mean().item()  # the partner of face i is face 3 - i
            assert torch.all((pixels == i) | (pixels == 3 - i))
            assert batch["labels"][i, i].item() == pytest.approx(1 - pasted) and batch["labels"][i, 3 - i].item() == pytest.approx(pasted)
        areas.add(round(pasted, 4))
        torch.testing.assert_close(batch["labels"].sum(dim=1), torch.ones(4))
    assert len(areas) > 1  # boxes of different sizes, not one fixed cut
    replay = MixupCollator(7, prob=1.0, cutmix_alpha=1.0, cutmix_switch_prob=1.0, generator=torch.Generator().manual_seed(0))
    first = replay(examples)
    again = MixupCollator(7, prob=1.0, cutmix_alpha=1.0, cutmix_switch_prob=1.0, generator=torch.Generator().manual_seed(0))(examples)
    assert torch.equal(first["pixel_values"], again["pixel_values"]) and torch.equal(first["labels"], again["labels"])
    # Switching: with probability 0.5 a mixed batch is CutMix (pasted: two values per face) or MixUp (blended: one).
    switching = MixupCollator(7, alpha=9.0, prob=1.0, cutmix_alpha=1.0, cutmix_switch_prob=0.5, generator=torch.Generator().manual_seed(1))
    kinds = {len(torch.unique(switching(examples)["pixel_values"][0])) for _ in range(20)}
    assert kinds == {1, 2}
    # Without CutMix the random draws are MixUp's as before CutMix existed: the same λ from the same seed.
    plain = MixupCollator(7, alpha=1.0, prob=1.0, generator=torch.Generator().manual_seed(3))
    generator = torch.Generator().manual_seed(3)
    assert torch.rand((), generator=generator).item() < 1.0
    expected = np.random.default_rng(int(torch.randint(2**62, (), generator=generator))).beta(1.0, 1.0)
    assert plain.sample_lambda() == pytest.approx(expected)


def test_schedule_rises_holds_and_decays_to_zero(tmp_path):
    """FERTrainer's schedule: 1 warmup and 1 plateau epoch of 10 steps, then cosine decay over the other 30."""
    from datasets import Dataset
    from transformers import TrainingArguments, ViTConfig, ViTForImageClassification

    from fer_hf.trainer import FERTrainer

    model = ViTForImageClassification(ViTConfig(image_size=8, patch_size=4, hidden_size=8, num_hidden_layers=1,
                                                num_attention_heads=1, intermediate_size=8, num_labels=7))  # fmt: skip
    data = Dataset.from_dict({"label": [0] * 160})
    args = TrainingArguments(str(tmp_path), per_device_train_batch_size=16, learning_rate=1.0, report_to="none")
    trainer = FERTrainer(model=model, args=args, train_dataset=data, head_learning_rate=0.5, warmup_epochs=1, plateau_epochs=1)
    trainer.create_optimizer_and_scheduler(num_training_steps=50)
    lrs, head_lrs = [], []
    for _ in range(55):
        lrs.append(trainer.optimizer.param_groups[0]["lr"])
        head_lrs.append(trainer.optimizer.param_groups[-1]["lr"])
        trainer.optimizer.step()
        trainer.lr_scheduler.step()
    assert lrs[0] == 0 and all(a < b for a, b in zip(lrs[:10], lrs[1:11]))  # rises
    assert lrs[10:20] == [1.0] * 10  # holds at the peak
    assert all(a >= b for a, b in zip(lrs[20:], lrs[21:]))  # decays monotonically
    assert lrs[35] == pytest.approx(0.5) and lrs[50] == pytest.approx(0.0, abs=1e-12) and lrs[-1] == 0.0
    assert head_lrs[15] == 0.5 and head_lrs[35] == pytest.approx(0.25)  # the head: its own peak, the same shape
    # The same multipliers, step for step, as the hand-written schedule this replaced.
    expected = [s / 10 if s < 10 else 1.0 if s < 20 else 0.5 * (1 + math.cos(math.pi * min(1.0, (s - 20) / 30))) for s in range(55)]
    assert lrs == pytest.approx(expected, abs=1e-12)


def test_optim_picks_the_optimiser_and_keeps_the_two_learning_rates(tmp_path, monkeypatch):
    """`--optim` is honoured (it was once ignored for a hard-coded AdamW); fer-hf's default stays plain AdamW."""
    from transformers import ViTConfig, ViTForImageClassification

    from fer_hf.commands.train import FERTrainingArguments
    from fer_hf.trainer import FERTrainer

    model = ViTForImageClassification(ViTConfig(image_size=8, patch_size=4, hidden_size=8, num_hidden_layers=1,
                                                num_attention_heads=1, intermediate_size=8, num_labels=7))  # fmt: skip

    def optimizer(cls_and_kwargs=None, **flags):
        args = FERTrainingArguments(str(tmp_path), learning_rate=0.1, weight_decay=0.05, eval_strategy="no",
                                    load_best_model_at_end=False, **flags)  # fmt: skip
        trainer = FERTrainer(model=model, args=args, head_learning_rate=0.3, optimizer_cls_and_kwargs=cls_and_kwargs)
        return trainer.create_optimizer()

    default = optimizer()
    assert type(default) is torch.optim.AdamW and not default.defaults["fused"]  # what the shipped model was trained with
    sgd = optimizer(optim="sgd")
    assert type(sgd) is torch.optim.SGD
    assert sorted((g["lr"], g["weight_decay"]) for g in sgd.param_groups) == [(0.1, 0.0), (0.1, 0.05), (0.3, 0.0), (0.3, 0.05)]
    assert sum(len(g["params"]) for g in sgd.param_groups) == len(list(model.parameters()))
    # A class passed to the Trainer itself wins over --optim, as in Trainer, and still gets fer-hf's groups.
    rms = optimizer((torch.optim.RMSprop, {"alpha": 0.9}), optim="sgd")
    assert type(rms) is torch.optim.RMSprop and rms.defaults["alpha"] == 0.9 and len(rms.param_groups) == 4
    # An optimiser that brings its own parameter groups (GaLore, LOMO, ...) would drop both: refused, in one line.
    monkeypatch.setattr(FERTrainer, "get_optimizer_cls_and_kwargs", staticmethod(lambda args, model=None: (torch.optim.SGD, {"params": []})))
    with pytest.raises(UserError, match="own parameter groups"):
        optimizer(optim="sgd")
    with pytest.raises(UserError, match="^RMSprop builds its own parameter groups"):  # named by where it came from
        optimizer((torch.optim.RMSprop, {"params": []}))


def test_mixup_blends_precomputed_teacher_probabilities_into_the_targets_before_mixing():
    """With a table of teacher probabilities, examples that carry their row (`face_index`) get (1 - alpha) * smoothed
    one-hot + alpha * teacher as targets, mixed with the same lambda as the pixels; the index never reaches the model,
    and a table replaced between batches (self-distillation's refresh) is the one the next batch gets."""
    rng = np.random.default_rng(0)
    table = rng.dirichlet(np.ones(7), size=10).astype(np.float32)
    rows = [7, 2, 9, 0]
    examples = [{"pixel_values": torch.randn(3, 8, 8), "labels": i, "face_index": row} for i, row in enumerate(rows)]
    for prob in (0.0, 1.0):  # never mixed, always mixed
        collator = MixupCollator(7, alpha=1.0, prob=prob, label_smoothing=0.1, generator=torch.Generator().manual_seed(3),
                                 teacher_alpha=0.3, teacher_probs=table)  # fmt: skip
        lam = MixupCollator(7, alpha=1.0, prob=prob, generator=torch.Generator().manual_seed(3)).sample_lambda()
        batch = collator(examples)
        assert set(batch) == {"pixel_values", "labels"}
        blend = 0.7 * one_hot(torch.arange(4), 7, 0.1) + 0.3 * torch.from_numpy(table[rows])
        assert torch.allclose(batch["labels"], lam * blend + (1 - lam) * blend.flip(0), atol=1e-6)
        assert torch.allclose(batch["labels"].sum(1), torch.ones(4), atol=1e-6)
    # Before any table (self-distillation before its first epoch), the targets are MixUp's alone; then the new table's.
    collator = MixupCollator(7, prob=0.0, label_smoothing=0.1, teacher_alpha=0.3)
    assert torch.allclose(collator(examples)["labels"], one_hot(torch.arange(4), 7, 0.1))
    collator.teacher_probs = table[::-1].copy()
    expected = 0.7 * one_hot(torch.arange(4), 7, 0.1) + 0.3 * torch.from_numpy(table[::-1][rows].copy())
    assert torch.allclose(collator(examples)["labels"], expected, atol=1e-6)


def test_distillation_blends_the_teachers_view_averaged_probabilities_into_the_targets(tmp_path):
    """With a teacher, the training loss is the cross-entropy against (1 - alpha) * targets + alpha * teacher, where
    the teacher sees the very batch the student sees, through its test-time views; evaluation batches are untouched."""
    from transformers import TrainingArguments, ViTConfig, ViTForImageClassification

    from fer_hf.trainer import FERTrainer

    class Teacher:  # an EmotionClassifier's predict_pixels: fixed probabilities, and what it was shown
        def __init__(self, probs):
            self.probs, self.seen = probs, []

        def predict_pixels(self, pixels, tta):
            self.seen.append((pixels.copy(), tta))
            return self.probs

    torch.manual_seed(0)
    model = ViTForImageClassification(ViTConfig(image_size=8, patch_size=4, hidden_size=8, num_hidden_layers=1,
                                                num_attention_heads=1, intermediate_size=8, num_labels=7))  # fmt: skip
    args = TrainingArguments(str(tmp_path), report_to="none")
    pixels = torch.randn(4, 3, 8, 8)
    targets = mixup_target(torch.tensor([0, 1, 2, 3]), 7, lam=0.7, smoothing=0.1)
    teacher_probs = np.random.default_rng(0).dirichlet(np.ones(7), size=4).astype(np.float32)
    logits = model(pixel_values=pixels).logits

    def loss(alpha, labels=targets):
        teacher = Teacher(teacher_probs)
        trainer = FERTrainer(model=model, args=args, teacher=teacher, distill_alpha=alpha, distill_tta="hflip+zoom")
        value = trainer.compute_loss(model, {"pixel_values": pixels, "labels": labels})
        return value.item(), teacher.seen

    plain = soft_target_cross_entropy(logits, targets).item()
    from_teacher = soft_target_cross_entropy(logits, torch.from_numpy(teacher_probs)).item()
    assert plain != pytest.approx(from_teacher)
    assert loss(0.0)[0] == pytest.approx(plain, rel=1e-5)
    assert loss(1.0)[0] == pytest.approx(from_teacher, rel=1e-5)
    value, seen = loss(0.25)
    assert value == pytest.approx(0.75 * plain + 0.25 * from_teacher, rel=1e-5)
    assert len(seen) == 1 and seen[0][1] == "hflip+zoom" and np.array_equal(seen[0][0], pixels.numpy())
    # Evaluation batches (hard labels) are scored against the labels alone; the teacher is not asked.
    value, seen = loss(1.0, labels=torch.tensor([0, 1, 2, 3]))
    assert value == pytest.approx(F.cross_entropy(logits, torch.tensor([0, 1, 2, 3])).item(), rel=1e-5) and seen == []


def test_preprocess_faces_matches_the_saved_image_processor():
    """Both our preprocessings, training's batched torch one and inference's NumPy one (no torch on the ONNX path),
    are the saved `AutoImageProcessor`'s (what `pipeline` runs), on real face crops."""
    import cv2
    from PIL import Image
    from transformers import AutoImageProcessor

    from fer_hf.demo.sample_video import face_photo
    from fer_hf.preprocess import ProcessorConfig, preprocess

    processor = AutoImageProcessor.from_pretrained(Path(__file__).resolve().parents[1] / "fer_hf" / "configs" / "tinyvit-fer-64")
    gray = cv2.cvtColor(face_photo(), cv2.COLOR_BGR2GRAY)
    fer_sized = cv2.resize(gray, (48, 48), interpolation=cv2.INTER_AREA)  # FER2013's own size: enlarged to 64 px
    for face, tolerance in ((fer_sized, 1e-6), (gray[20:140, 30:150], 2 / 255 / 0.5)):  # a larger crop: shrunk
        ours = preprocess_faces([face], processor)[0].numpy()
        theirs = processor(Image.fromarray(face).convert("RGB"), return_tensors="np")["pixel_values"][0]
        assert ours.shape == theirs.shape == (3, 64, 64)
        assert np.abs(ours - theirs).max() <= tolerance and np.abs(ours - theirs).mean() < 1e-3  # within 2 grey levels
        light = preprocess([face], ProcessorConfig.from_image_processor(processor))[0]
        np.testing.assert_allclose(light, theirs, atol=1e-6)  # the same PIL resize: identical
