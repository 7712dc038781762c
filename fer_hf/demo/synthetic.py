"""Procedural FER-style faces: the embedded default data set of `make demo` and the tests.

FER2013 itself may not be shipped, so the demo draws 48x48 grayscale cartoon faces with OpenCV whose
expression features (mouth curve and opening, brow height and angle, eye opening, asymmetry) carry the class,
under random pose, scale, brightness, contrast, blur and noise, and writes them in FER2013's CSV layout.
The pipeline then reads them through exactly the code path that reads the real file.

    python -m fer_hf.demo.synthetic --output data/fer-synthetic.csv.gz
"""

import argparse
from dataclasses import dataclass

import cv2
import numpy as np

from ..data import write_fer_csv
from ..labels import EMOTIONS, SPLIT_TO_USAGE


# FER2013's class frequencies in its Training split, so the synthetic set is as skewed as the real one.
FER2013_CLASS_PRIOR = np.array([3995, 436, 4097, 7215, 4830, 3171, 4965]) / 28709


@dataclass(frozen=True)
class Expression:
    """Feature geometry of one emotion, in pixels of a 192 px canvas."""

    brow_raise: float  # brows above their rest position
    brow_tilt: float  # inner brow ends raised (+) or lowered (-)
    eye_open: float  # half-height of the eye opening
    mouth_curve: float  # corner lift: smile (+) or frown (-)
    mouth_open: float  # gap between the lips
    mouth_width: float  # half-width of the mouth
    asymmetry: float = 0.0  # one mouth corner raised more than the other (sneer)


EXPRESSIONS = {
    "Angry": Expression(brow_raise=-4, brow_tilt=-9, eye_open=4, mouth_curve=-3, mouth_open=0, mouth_width=24),
    "Disgust": Expression(brow_raise=-3, brow_tilt=-4, eye_open=3, mouth_curve=-5, mouth_open=3, mouth_width=24, asymmetry=10),
    "Fear": Expression(brow_raise=7, brow_tilt=7, eye_open=10, mouth_curve=-3, mouth_open=8, mouth_width=32),
    "Happy": Expression(brow_raise=1, brow_tilt=0, eye_open=5, mouth_curve=12, mouth_open=5, mouth_width=34),
    "Sad": Expression(brow_raise=1, brow_tilt=9, eye_open=4, mouth_curve=-9, mouth_open=0, mouth_width=26),
    "Surprise": Expression(brow_raise=12, brow_tilt=0, eye_open=11, mouth_curve=0, mouth_open=16, mouth_width=16),
    "Neutral": Expression(brow_raise=0, brow_tilt=0, eye_open=6, mouth_curve=0, mouth_open=0, mouth_width=26),
}
CANVAS = 192


def draw_face(label: int, rng: np.random.Generator, size: int = 48) -> np.ndarray:
    """One `(size, size)` `uint8` face showing emotion `label`, with random nuisance factors."""
    e = EXPRESSIONS[EMOTIONS[label]]
    jitter = lambda value, spread: value + rng.normal(0.0, spread)  # noqa: E731
    canvas = np.full((CANVAS, CANVAS), rng.uniform(20, 110), dtype=np.float32)
    canvas += np.linspace(0, rng.uniform(-40, 40), CANVAS, dtype=np.float32)[None, :]  # lighting gradient
    skin, dark = rng.uniform(130, 210), rng.uniform(10, 60)
    cx, cy = CANVAS / 2, CANVAS / 2
    cv2.ellipse(canvas, (int(cx), int(cy)), (int(jitter(62, 4)), int(jitter(78, 4))), 0, 0, 360, skin, -1, cv2.LINE_AA)

    eye_y, eye_dx = cy - 18, jitter(26, 2)
    eye_open = max(1.5, jitter(e.eye_open, 1.0))
    brow_y = eye_y - 16 - jitter(e.brow_raise, 1.5)
    tilt = jitter(e.brow_tilt, 1.5)
    for side in (-1, 1):
        ex = cx + side * eye_dx
        cv2.ellipse(canvas, (int(ex), int(eye_y)), (11, int(round(eye_open))), 0, 0, 360, dark, -1, cv2.LINE_AA)
        # Brow: the inner end (towards the nose) moves by `tilt`, the outer end by -tilt / 2.
        inner, outer = (int(ex - side * 12), int(brow_y - tilt)), (int(ex + side * 14), int(brow_y + tilt / 2))
        cv2.line(canvas, inner, outer, dark, 5, cv2.LINE_AA)
    cv2.line(canvas, (int(cx), int(cy - 6)), (int(cx - 5), int(cy + 14)), skin * 0.7, 3, cv2.LINE_AA)  # nose

    mouth_y, half = cy + 38, max(8.0, jitter(e.mouth_width, 2.0))
    curve, opening, asym = jitter(e.mouth_curve, 1.5), max(0.0, jitter(e.mouth_open, 1.0)), jitter(e.asymmetry, 1.0)
    xs = np.linspace(-1.0, 1.0, 24)
    upper_y = mouth_y - curve * xs**2 - asym * np.clip(xs, 0, None)
    lower_y = upper_y + opening * (1 - xs**2)
    upper = np.stack([cx + half * xs, upper_y], axis=1)
    lower = np.stack([cx + half * xs, lower_y], axis=1)[::-1]
    polygon = np.round(np.concatenate([upper, lower])).astype(np.int32)
    if opening > 1.5:
        cv2.fillPoly(canvas, [polygon], dark * 0.5, cv2.LINE_AA)
    cv2.polylines(canvas, [polygon], True, dark, 3, cv2.LINE_AA)

    # Pose and framing: rotation, scale and shift, as a face detector's crop would vary.
    matrix = cv2.getRotationMatrix2D((cx, cy), rng.uniform(-12, 12), rng.uniform(0.85, 1.1))
    matrix[:, 2] += rng.uniform(-10, 10, size=2)
    canvas = cv2.warpAffine(canvas, matrix, (CANVAS, CANVAS), borderMode=cv2.BORDER_REFLECT)
    canvas = cv2.GaussianBlur(canvas, (0, 0), rng.uniform(0.5, 2.5))
    image = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA)
    image = (image - image.mean()) * rng.uniform(0.7, 1.3) + image.mean() + rng.uniform(-25, 25)
    image += rng.normal(0.0, rng.uniform(2, 8), image.shape)
    return np.clip(image, 0, 255).round().astype(np.uint8)


def generate(num_images: int, seed: int = 0, size: int = 48) -> tuple:
    """`(images, labels)` with labels drawn from FER2013's class prior."""
    rng = np.random.default_rng(seed)
    labels = rng.choice(len(EMOTIONS), size=num_images, p=FER2013_CLASS_PRIOR)
    images = np.stack([draw_face(int(label), rng, size) for label in labels])
    return images, labels


def write_synthetic_fer_csv(path: str, train: int = 6000, validation: int = 600, test: int = 600, seed: int = 0) -> None:
    """Write a synthetic data set in FER2013's CSV layout with Training / PublicTest / PrivateTest rows."""
    counts = {"train": train, "validation": validation, "test": test}
    images, labels = generate(sum(counts.values()), seed)
    usages = [SPLIT_TO_USAGE[split] for split, count in counts.items() for _ in range(count)]
    write_fer_csv(path, images, labels, usages)


def main(args=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", required=True, help="CSV path to write (.gz compresses).")
    parser.add_argument("--train", type=int, default=6000, help="Training rows.")
    parser.add_argument("--validation", type=int, default=600, help="PublicTest rows.")
    parser.add_argument("--test", type=int, default=600, help="PrivateTest rows.")
    parser.add_argument("--seed", type=int, default=0, help="Random seed.")
    args = parser.parse_args(args)
    write_synthetic_fer_csv(args.output, args.train, args.validation, args.test, args.seed)
    print(f"Wrote {args.train + args.validation + args.test} synthetic faces to {args.output}")


if __name__ == "__main__":
    main()
