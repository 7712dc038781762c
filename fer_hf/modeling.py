"""The FER2013 classifier: a transformers image-classification model with FER2013's labels.

The head is `Dropout(p) + Linear(hidden, 7)`. It is written as a subclass of `nn.Linear` whose dropout has
no parameters, so its weights keep the plain `classifier.weight` / `classifier.bias` names: a checkpoint
loads into a stock `ViTForImageClassification` (and the Hub's `pipeline`) with identical logits, and
`load_model` puts the dropout back for further training from the `classifier_dropout` saved in the config.
"""

import logging
import os
from typing import Optional

import torch
from torch import nn
from transformers import AutoConfig, AutoImageProcessor, AutoModelForImageClassification, PreTrainedModel

from .hub import is_hub_id
from .labels import ID2LABEL, LABEL2ID, NUM_LABELS, check_fer_labels


logger = logging.getLogger(__name__)

DEFAULT_BACKBONE = "google/vit-base-patch16-224-in21k"


class DropoutLinear(nn.Linear):
    """`Linear(Dropout(x))` with the parameter names of a plain `nn.Linear`."""

    def __init__(self, in_features: int, out_features: int, p: float = 0.0, bias: bool = True):
        super().__init__(in_features, out_features, bias=bias)
        self.dropout = nn.Dropout(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(self.dropout(x))


def create_model(
    name_or_path: str = DEFAULT_BACKBONE,
    classifier_dropout: float = 0.4,
    freeze_layers: int = 1,
    from_scratch: bool = False,
    config_overrides: Optional[dict] = None,
    conv_init: str = "config",
) -> PreTrainedModel:
    """Build an image classifier with FER2013's seven labels on a backbone.

    Args:
        name_or_path: Hub id or local directory of the backbone (its config, and weights unless `from_scratch`).
        classifier_dropout: Dropout before the final linear layer.
        freeze_layers: Freeze the embeddings and this many leading encoder layers (0 freezes nothing).
        from_scratch: Initialise randomly from the backbone's config instead of loading its weights.
        config_overrides: Config attributes to change (e.g. `{"num_hidden_layers": 4}`), from-scratch only.
        conv_init: `"config"` keeps the architecture's own initialisation; `"kaiming"` (from scratch only)
            re-draws the convolutions that feed a BatchNorm, see `kaiming_init_convolutions`.
    """
    label_kwargs = dict(num_labels=NUM_LABELS, id2label=ID2LABEL, label2id=LABEL2ID)
    if config_overrides and not from_scratch:
        raise ValueError("config_overrides only apply when training from scratch.")
    if conv_init not in ("config", "kaiming") or (conv_init == "kaiming" and not from_scratch):
        raise ValueError(f"conv_init must be 'config', or 'kaiming' when training from scratch; got {conv_init!r}.")
    try:
        if from_scratch:
            config = AutoConfig.from_pretrained(name_or_path, **label_kwargs, **(config_overrides or {}))
            model = AutoModelForImageClassification.from_config(config)
            if conv_init == "kaiming":
                kaiming_init_convolutions(model)
        else:
            # The in21k backbone ships without a classifier (or with another label set): start a new head.
            model = AutoModelForImageClassification.from_pretrained(
                name_or_path, ignore_mismatched_sizes=True, **label_kwargs
            )
    except (OSError, ValueError) as err:  # ValueError: a malformed repo id
        raise ValueError(_load_error(name_or_path, err, "backbone", "--model_name_or_path")) from None
    model.config.problem_type = "single_label_classification"
    set_classifier_dropout(model, classifier_dropout)
    freeze_backbone(model, freeze_layers)
    return model


def kaiming_init_convolutions(model: nn.Module) -> int:
    """Re-draw every convolution that is followed by a BatchNorm with He (fan-out) initialisation; returns how many.

    transformers initialises convolutions like linear layers, N(0, 0.02) (MobileViT, LeViT, CvT). Behind a BatchNorm
    the weight scale does not change the output, only the step size: AdamW moves each weight by about the learning
    rate, so at std 0.02 a step changes a filter ~6x more, relatively, than at He's std (0.12 for a 3x3x16 filter).
    On FER2013 this alone took MobileViT-XXS from 30% to 35% validation accuracy after two epochs. torchvision and
    timm initialise their CNNs this way; convolutions not followed by a BatchNorm (ViT's patch embedding) are left.
    """
    modules = list(model.modules())
    count = 0
    for conv, following in zip(modules, modules[1:]):
        if isinstance(conv, nn.Conv2d) and isinstance(following, nn.BatchNorm2d):
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
            if conv.bias is not None:
                nn.init.zeros_(conv.bias)
            count += 1
    return count


def load_model(path: str) -> PreTrainedModel:
    """Load a FER2013 checkpoint written by `train.py`, with the head dropout it was trained with."""
    try:
        model = AutoModelForImageClassification.from_pretrained(path)
    except (OSError, ValueError) as err:  # ValueError: a malformed repo id
        raise ValueError(_load_error(path, err, "model", "--model_dir")) from None
    check_fer_labels(model.config.id2label, path)
    set_classifier_dropout(model, getattr(model.config, "classifier_dropout", 0.0) or 0.0)
    return model


def load_image_processor(path: str):
    """The image processor saved beside a model or backbone; its size and statistics drive preprocessing."""
    try:
        return AutoImageProcessor.from_pretrained(path, use_fast=False)  # only its config is used here
    except (OSError, ValueError) as err:  # ValueError: a malformed repo id
        raise ValueError(_load_error(path, err, "image processor", "the path")) from None


def set_classifier_dropout(model: PreTrainedModel, p: float) -> None:
    """Replace the final `nn.Linear` head by a `DropoutLinear` with the same weights; record `p` in the config."""
    head = getattr(model, "classifier", None)
    if not isinstance(head, nn.Linear):
        raise ValueError(f"{type(model).__name__} has no single linear classifier to put dropout in front of.")
    new_head = DropoutLinear(head.in_features, head.out_features, p=p, bias=head.bias is not None)
    new_head.load_state_dict(head.state_dict())
    model.classifier = new_head.to(head.weight.device, head.weight.dtype)
    model.config.classifier_dropout = p


def freeze_backbone(model: PreTrainedModel, num_layers: int) -> None:
    """Freeze the embeddings and the first `num_layers` encoder layers (`num_layers=0`: train everything)."""
    if num_layers <= 0:
        return
    base = model.base_model
    layers = getattr(getattr(base, "encoder", None), "layer", None)
    embeddings = getattr(base, "embeddings", None)
    if layers is None or embeddings is None:
        raise ValueError(f"Cannot freeze layers of {type(base).__name__}; use --freeze_layers 0 for this backbone.")
    if num_layers > len(layers):
        raise ValueError(f"--freeze_layers {num_layers} exceeds the backbone's {len(layers)} encoder layers.")
    for module in [embeddings, *layers[:num_layers]]:
        module.requires_grad_(False)


def head_parameter_names(model: PreTrainedModel) -> set:
    """Names of the parameters outside the backbone (the classification head)."""
    base = {id(p) for p in model.base_model.parameters()}
    return {name for name, p in model.named_parameters() if id(p) not in base}


def create_param_groups(model: PreTrainedModel, backbone_lr: float, head_lr: float, weight_decay: float) -> list:
    """AdamW parameter groups: backbone and head at their own learning rates; no decay on biases and norms."""
    head = head_parameter_names(model)
    groups = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        no_decay = param.ndim < 2  # biases, LayerNorm weights, and (for ViT) nothing else
        key = ("head" if name in head else "backbone", no_decay)
        group = groups.setdefault(
            key,
            {"params": [], "lr": head_lr if key[0] == "head" else backbone_lr, "weight_decay": 0.0 if no_decay else weight_decay},
        )
        group["params"].append(param)
    return list(groups.values())


def _load_error(name: str, err: Exception, what: str, flag: str) -> str:
    hint = f"Pass {flag} a local directory with config.json (and weights) or a Hub id (online, or already in the cache)."
    if not os.path.exists(name) and not is_hub_id(name):
        return f"Cannot load {what} '{name}': no such directory. {hint}"
    first = str(err).strip().split(". ")[0].splitlines()[0].rstrip(".") if str(err).strip() else type(err).__name__
    return f"Cannot load {what} '{name}': {first}. {hint}"
