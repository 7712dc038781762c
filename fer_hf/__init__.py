"""fer-hf: facial emotion recognition with a Hugging Face vision transformer, from training to a laptop webcam.

    import fer_hf
    fer_hf.analyze("photo.jpg")  # [{"box": [x, y, w, h], "label": "Happy", "confidence": 0.93, "emotions": {...}}]
"""

__version__ = "0.2.0"


def analyze(images, **kwargs):
    """Every face in an image (or each of a list of images) with its emotions; see `fer_hf.api.analyze`."""
    from .api import analyze as _analyze  # imported on use: `import fer_hf` stays light

    return _analyze(images, **kwargs)
