"""Does aligning faces on YuNet's eye landmarks help the shipped model? Measured on FER2013's PublicTest.

Each 48 px face is enlarged 3x and framed with a replicated border (YuNet looks for faces in context; FER2013's
crops are tight), YuNet finds it and its five landmarks, and the shipped model classifies the face twice: as it is,
and rotated about its centre so that the eye line is level (`fer_hf.detection.aligned_crop`, what `--align` does).
Both with the default mirror TTA. Faces YuNet does not find are counted, and left out of both accuracies.

    python bench/bench_align.py --data fer2013.csv --yunet_model face_detection_yunet_2023mar.onnx
"""

import argparse

import cv2
import numpy as np

from common import header
from fer_hf.data import load_split
from fer_hf.detection import YuNetFaceDetector, aligned_crop
from fer_hf.recognizer import default_model_dir
from fer_hf.inference import load_classifier


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="FER2013 (CSV, image folder or Hub id).")
    parser.add_argument("--yunet_model", required=True, help="YuNet's face_detection_yunet_*.onnx.")
    parser.add_argument("--model", default=None, help="Model folder (default: the shipped int8 export).")
    parser.add_argument("--split", default="validation")
    args = parser.parse_args()
    header("Face alignment on YuNet's eye landmarks")
    classifier = load_classifier(args.model or str(default_model_dir()))
    detector = YuNetFaceDetector(args.yunet_model, detect_width=0, score_threshold=0.5)
    dataset = load_split(args.data, args.split).with_format(None)
    plain, aligned, labels, angles, missed = [], [], [], [], 0
    for row in dataset:
        face = np.asarray(row["image"].convert("L"))
        big = cv2.resize(face, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
        framed = cv2.copyMakeBorder(big, 48, 48, 48, 48, cv2.BORDER_REPLICATE)
        found = detector.detect(cv2.cvtColor(framed, cv2.COLOR_GRAY2BGR))
        if not len(found):
            missed += 1
            continue
        eyes = (found.landmarks[0] - 48) / 3  # back to the 48 px face's pixels
        (rx, ry), (lx, ly) = eyes[0], eyes[1]
        angles.append(np.degrees(np.arctan2(ly - ry, lx - rx)))
        plain.append(face)
        aligned.append(aligned_crop(face, (0, 0, 48, 48), eyes, margin=0.0))
        labels.append(row["label"])
    labels = np.asarray(labels)
    accuracy = {}
    for name, faces in (("as is", plain), ("aligned", aligned)):
        probs = np.concatenate([classifier.predict_proba(faces[i : i + 256], "hflip") for i in range(0, len(faces), 256)])
        accuracy[name] = float((probs.argmax(1) == labels).mean())
    print(f"model: {classifier.model_dir}; {args.split}: {len(dataset)} faces, YuNet found {len(labels)} ({missed} missed)")
    print(f"eye-line angle: median |angle| {np.median(np.abs(angles)):.1f} deg, 90th percentile {np.percentile(np.abs(angles), 90):.1f} deg\n")
    print("| faces | as is | aligned |\n|---|---|---|")
    print(f"| {len(labels)} found by YuNet | {100 * accuracy['as is']:.2f}% | {100 * accuracy['aligned']:.2f}% |")


if __name__ == "__main__":
    main()
