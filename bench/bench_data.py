"""Training input pipeline throughput: fer-hf's path against the common notebook approach, in one run.

fer-hf: the cached `datasets` split, decoded once to raw grayscale (`decode_images`, memory-mapped) →
`set_transform` with a batch transform on one uint8 tensor per batch → class-balanced sampler → MixUp collator,
exactly as train.py builds it.
Naive reference: `pandas.read_csv` → per item `row.pixels.split()` → NumPy → PIL → torchvision `Compose`
(Grayscale(3), Resize, RandomResizedCrop, RandomHorizontalFlip, ToTensor, Normalize) → default collate.

    python bench/bench_data.py --data ../shared/data/fer2013-dev.csv.gz
"""

import argparse
import time

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, default_collate
from torchvision import transforms as T
from transformers import ViTImageProcessor

from common import header
from fer_hf.data import decode_images, load_fer2013
from fer_hf.mixup import MixupCollator
from fer_hf.sampling import create_class_balanced_sampler
from fer_hf.transforms import FERTransform


class NaiveFER(Dataset):
    """The approach of most FER2013 notebooks: parse each row's pixel string when the item is read."""

    def __init__(self, csv_path: str, size: int):
        frame = pd.read_csv(csv_path)
        self.frame = frame[frame["Usage"] == "Training"].reset_index(drop=True)
        self.transform = T.Compose([T.Grayscale(3), T.Resize(size), T.RandomResizedCrop(size, scale=(0.8, 1.0)),
                                    T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize([0.5] * 3, [0.5] * 3)])  # fmt: skip

    def __len__(self):
        return len(self.frame)

    def __getitem__(self, i):
        row = self.frame.iloc[i]
        pixels = np.array(row["pixels"].split(), dtype=np.uint8).reshape(48, 48)
        return self.transform(Image.fromarray(pixels)), int(row["emotion"])


def throughput(loader, num_samples: int) -> float:
    seen, start = 0, None
    for batch in loader:
        if start is None:  # the first batch pays start-up costs; time from the second on
            start = time.perf_counter()
            continue
        seen += len(batch["labels"] if isinstance(batch, dict) else batch[1])
        if seen >= num_samples:
            break
    return seen / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="FER2013 CSV.")
    parser.add_argument("--samples", type=int, default=4096, help="Samples timed per pipeline.")
    parser.add_argument("--sizes", type=int, nargs="+", default=[48, 64, 224], help="Model input sizes (64: the CPU preset).")
    parser.add_argument("--batch_size", type=int, default=64)
    args = parser.parse_args()
    header("Training input pipeline (samples/s, single process)")
    start = time.perf_counter()
    train = decode_images(load_fer2013(args.data)["train"])  # as train.py does
    print(f"load_fer2013 + decode_images (cached): {time.perf_counter() - start:.2f} s for {len(train)} rows")
    labels = train.with_format("numpy")["label"][:]
    print("\n| input size | fer-hf samples/s | naive samples/s | ratio |\n|---|---|---|---|")
    for size in args.sizes:
        processor = ViTImageProcessor(size={"height": size, "width": size}, image_mean=[0.5] * 3, image_std=[0.5] * 3)
        train.set_transform(FERTransform(processor, train=True))
        ours = DataLoader(train, batch_size=args.batch_size, sampler=create_class_balanced_sampler(labels, 7),
                          collate_fn=MixupCollator(7, 0.4, 0.3))  # fmt: skip
        naive = DataLoader(NaiveFER(args.data, size), batch_size=args.batch_size, shuffle=True, collate_fn=default_collate)
        a, b = throughput(ours, args.samples), throughput(naive, args.samples)
        print(f"| {size} | {a:,.0f} | {b:,.0f} | {a / b:.1f}x |")


if __name__ == "__main__":
    torch.manual_seed(0)
    main()
