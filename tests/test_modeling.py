import pytest
import torch
from transformers import ViTForImageClassification

from fer_hf.errors import UserError
from fer_hf.labels import EMOTIONS, ID2LABEL
from fer_hf.loading import load_model
from fer_hf.modeling import (
    DropoutLinear,
    create_model,
    create_param_groups,
    head_parameter_names,
    kaiming_init_convolutions,
)


def test_head_dropout_survives_save_and_load_with_identical_logits(tiny_vit, tmp_path):
    model = create_model(tiny_vit, classifier_dropout=0.4, freeze_layers=1).eval()
    assert isinstance(model.classifier, DropoutLinear) and model.classifier.dropout.p == 0.4
    assert model.classifier.out_features == 7 and model.config.id2label == ID2LABEL
    model.save_pretrained(tmp_path)
    pixels = torch.randn(2, 3, 32, 32)
    expected = model(pixel_values=pixels).logits

    reloaded = load_model(str(tmp_path)).eval()  # a stock head for inference: the dropout is training-only
    assert reloaded.config.classifier_dropout == 0.4
    torch.testing.assert_close(reloaded(pixel_values=pixels).logits, expected, rtol=0, atol=0)
    # A stock ViTForImageClassification (what the Hub's pipeline uses) reads the same head weights.
    stock = ViTForImageClassification.from_pretrained(tmp_path).eval()
    torch.testing.assert_close(stock(pixel_values=pixels).logits, expected, rtol=0, atol=0)
    assert [stock.config.id2label[i] for i in range(7)] == list(EMOTIONS)
    assert stock.config.problem_type == "single_label_classification"


def test_dropout_is_active_in_training_only(tiny_vit):
    model = create_model(tiny_vit, classifier_dropout=0.9)
    features = torch.ones(1, 32)
    model.train()
    assert not torch.equal(model.classifier(features), model.classifier(features))
    model.eval()
    assert torch.equal(model.classifier(features), model.classifier(features))


def test_a_timm_resnet_gets_its_head_dropout_through_drop_rate(tmp_path):
    """timm's ResNet has no `nn.Dropout` module: its `forward_head` applies `F.dropout(drop_rate)`, which is what
    --classifier_dropout sets, and what a stock `from_pretrained` rebuilds from the config's `model_args`."""
    import json

    from transformers import AutoModelForImageClassification

    config = {"architecture": "resnet18", "architectures": ["TimmWrapperForImageClassification"], "model_type": "timm_wrapper",
              "num_channels": 3, "do_pooling": True, "model_args": {"channels": [8, 8, 16, 16], "stem_width": 8}}  # fmt: skip
    (tmp_path / "config.json").write_text(json.dumps(config))
    model = create_model(str(tmp_path), classifier_dropout=0.5, freeze_layers=0, from_scratch=True)
    assert model.timm_model.drop_rate == 0.5 and model.config.model_args["drop_rate"] == 0.5
    features = model.timm_model.forward_features(torch.randn(4, 3, 32, 32)).detach()
    model.train()
    head = model.timm_model.forward_head
    assert not torch.equal(head(features), head(features))  # dropout at work while training
    model.eval()
    assert torch.equal(head(features), head(features))
    model.save_pretrained(tmp_path / "saved")
    assert AutoModelForImageClassification.from_pretrained(tmp_path / "saved").timm_model.drop_rate == 0.5


def test_embeddings_and_first_layers_are_frozen(tiny_vit):
    model = create_model(tiny_vit, freeze_layers=1)
    frozen = {name for name, p in model.named_parameters() if not p.requires_grad}
    assert frozen and all(name.startswith(("vit.embeddings", "vit.encoder.layer.0.")) for name in frozen)
    assert all(p.requires_grad for p in model.vit.encoder.layer[1].parameters())
    assert all(p.requires_grad for p in create_model(tiny_vit, freeze_layers=0).parameters())
    with pytest.raises(UserError, match="exceeds the backbone's 2 encoder layers"):
        create_model(tiny_vit, freeze_layers=5)


def test_param_groups_have_backbone_and_head_learning_rates(tiny_vit):
    model = create_model(tiny_vit, freeze_layers=1)
    groups = create_param_groups(model, backbone_lr=6e-5, head_lr=8e-4, weight_decay=0.05)
    head_ids = {id(p) for n, p in model.named_parameters() if n in head_parameter_names(model)}
    assert head_parameter_names(model) == {"classifier.weight", "classifier.bias"}
    for group in groups:
        is_head = {id(p) in head_ids for p in group["params"]}
        assert len(is_head) == 1
        assert group["lr"] == (8e-4 if is_head.pop() else 6e-5)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert sum(p.numel() for g in groups for p in g["params"]) == trainable


def test_unknown_backbone_and_wrong_labels_are_clear_errors(tmp_path, tiny_vit):
    with pytest.raises(UserError, match="Cannot load backbone 'no/such-backbone'.*--model_name_or_path"):
        create_model("no/such-backbone")
    with pytest.raises(UserError, match=r"Cannot load backbone '.*/missing': no such directory\. "):
        create_model(str(tmp_path / "missing"))
    with pytest.raises(UserError, match="Cannot load model .*--model_dir"):
        load_model(str(tmp_path / "missing"))
    # The backbone itself has ViT's default two labels, not FER2013's seven.
    with pytest.raises(UserError, match="FER2013 models must have"):
        load_model(tiny_vit)


def test_kaiming_init_redraws_convolutions_before_batchnorm_only(tmp_path, tiny_vit):
    from transformers import MobileViTConfig

    MobileViTConfig(image_size=32, hidden_sizes=[16, 16, 16], neck_hidden_sizes=[8, 8, 8, 16, 16, 16, 32]).save_pretrained(tmp_path)
    default = create_model(str(tmp_path), from_scratch=True, freeze_layers=0)
    torch.manual_seed(0)
    model = create_model(str(tmp_path), from_scratch=True, freeze_layers=0, conv_init="kaiming")
    stem = model.mobilevit.conv_stem.convolution  # 3x3x3 → 8 channels, then BatchNorm
    assert default.mobilevit.conv_stem.convolution.weight.std().item() == pytest.approx(0.02, rel=0.3)
    assert stem.weight.std().item() == pytest.approx((2 / (8 * 9)) ** 0.5, rel=0.3)  # He, fan-out
    # MobileViT's 1x1 unfold projection has no BatchNorm after it and keeps the config's init.
    plain = model.mobilevit.encoder.layer[2].conv_1x1
    assert plain.convolution.weight.std().item() == pytest.approx(0.02, rel=0.3)
    # ViT's patch embedding is a convolution without BatchNorm: nothing to re-draw.
    assert kaiming_init_convolutions(create_model(tiny_vit, from_scratch=True, freeze_layers=0)) == 0
    with pytest.raises(UserError, match="conv_init"):
        create_model(str(tmp_path), conv_init="kaiming")  # only from scratch


def test_channels_last_training_saves_and_reloads_the_same_model(tmp_path):
    """train.py --channels_last stores conv weights channels-last; save_pretrained must write them back unchanged."""
    from transformers import AutoModelForImageClassification, MobileViTConfig

    MobileViTConfig(image_size=32, hidden_sizes=[16, 16, 16], neck_hidden_sizes=[8, 8, 8, 16, 16, 16, 32]).save_pretrained(tmp_path)
    model = create_model(str(tmp_path), from_scratch=True, freeze_layers=0).to(memory_format=torch.channels_last)
    assert not model.mobilevit.conv_stem.convolution.weight.is_contiguous()
    pixels = torch.randn(2, 3, 32, 32)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model(pixel_values=pixels, labels=torch.tensor([0, 1])).loss.backward()
    optimizer.step()  # a training step keeps the layout
    assert not model.mobilevit.conv_stem.convolution.weight.is_contiguous()
    model.save_pretrained(tmp_path / "saved")
    reloaded = AutoModelForImageClassification.from_pretrained(tmp_path / "saved").eval()
    torch.testing.assert_close(reloaded(pixel_values=pixels).logits, model.eval()(pixel_values=pixels).logits)
