"""FER2013's emotion classes, in the dataset's own label order.

Every saved model config carries exactly this `id2label`, so checkpoints, ONNX exports and the Hub card
all agree on what index 3 means.
"""

EMOTIONS = ("Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral")
NUM_LABELS = len(EMOTIONS)
ID2LABEL = {i: name for i, name in enumerate(EMOTIONS)}
LABEL2ID = {name: i for i, name in enumerate(EMOTIONS)}

# FER2013's `Usage` column and the image-folder file-name prefixes, mapped to `datasets` split names.
USAGE_TO_SPLIT = {"Training": "train", "PublicTest": "validation", "PrivateTest": "test"}
SPLITS = tuple(USAGE_TO_SPLIT.values())  # train, validation, test
SPLIT_TO_USAGE = {split: usage for usage, split in USAGE_TO_SPLIT.items()}
# Faces per split in the official release: a result is called "FER2013" only when it was measured on all of them.
FER2013_SPLIT_SIZES = {"train": 28709, "validation": 3589, "test": 3589}


def is_full_fer2013_split(split: str, num_examples) -> bool:
    """Whether `num_examples` faces of `split` are the whole official FER2013 split (not synthetic, not a subset)."""
    return FER2013_SPLIT_SIZES.get(split) == num_examples


def config_id2label(config: dict) -> dict:
    """`id2label` of a saved `config.json`; timm models (`TimmWrapperConfig`) store the list `label_names` instead."""
    if config.get("model_type") == "timm_wrapper" and config.get("label_names"):
        return dict(enumerate(config["label_names"]))
    return config.get("id2label", {})


def check_fer_labels(id2label: dict, source: str) -> None:
    """Raise a `UserError` unless `id2label` is FER2013's seven classes in FER2013's order.

    Args:
        id2label: A model config's `id2label` (keys may be ints or strings, as after a JSON round trip).
        source: What the labels came from, for the message (e.g. a model directory).
    """
    found = [str(id2label[key]) for key in sorted(id2label, key=int)] if id2label else []
    if [name.lower() for name in found] != [name.lower() for name in EMOTIONS]:
        from .errors import UserError

        raise UserError(
            f"{source} has labels {found or 'none'}, but FER2013 models must have {list(EMOTIONS)} in that order. "
            "Use a checkpoint written by train.py (or export.py) from this project."
        )
