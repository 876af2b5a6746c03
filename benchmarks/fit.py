"""Benchmark TextME training: our tensor loop against a reference in the public code's style.

    python benchmarks/fit.py             # CLAP-like 512 -> 1024 anchor, 20k texts
    python benchmarks/fit.py --quick     # smaller, in seconds

Both sides train the same projector (512 -> 1024 -> 1024, GELU) with the same
hard-negative loss, AdamW, grad clipping and batch size on the same cached
vectors (synthetic-world text embeddings). The reference is written the way
TextME's public training script does it: a ``DataLoader`` over a dataset of
rows, a Python loop over the batch inside the loss (one small softmax per
query over its own negatives), a scheduler step and a ``loss.item()`` per
batch. Ours is ``embridge.bridges.training.train``: one gather per epoch,
contiguous slices, a masked loss with no per-sample work, no host sync per
step. Throughput is training samples per second of wall-clock in the loop
(setup excluded). "Outside fwd/bwd" is the share of our epoch not spent in the
forward + loss + backward (so it includes the optimiser step); "outside
fwd/bwd/step" also excludes the step: the pure data-handling overhead.
Timings are wall-clock; on a shared machine compare the ratio.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from embridge.bridges.losses import hard_negative_nce
from embridge.bridges.nets import MLP
from embridge.bridges.offset import normalize
from embridge.bridges.training import TrainParams, seeded, train
from embridge.worlds.synthetic import EncoderConfig, SyntheticEncoder, World, WorldConfig

TAU, LOW, HIGH = 0.07, 0.1, 0.9


def loop_loss(z: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Hard-negative loss with a Python loop over the batch, as in the public TextME code."""
    sim = z @ target.T
    pos = sim.diagonal()
    eye = torch.eye(len(z), dtype=torch.bool)
    negatives = (sim <= HIGH * pos[:, None]) & (sim >= LOW * pos[:, None]) & ~eye
    total, count = None, 0
    for i in range(len(z)):
        if not torch.any(negatives[i]):
            continue
        idx = torch.where(negatives[i])[0]
        candidates = torch.cat([target[i:i + 1], target[idx]], dim=0)
        logits = z[i:i + 1] @ candidates.T / TAU
        loss = F.cross_entropy(logits, torch.zeros(1, dtype=torch.long))
        total = loss if total is None else total + loss
        count += 1
    if total is None:
        return torch.zeros((), requires_grad=True)
    return total / count


def reference(x: np.ndarray, y: np.ndarray, params: TrainParams, hidden: int, epochs: int) -> float:
    """Train the reference way; returns samples per second."""
    with seeded(params.seed):
        projector = MLP(x.shape[1], hidden, y.shape[1])
    opt = torch.optim.AdamW(projector.parameters(), lr=params.lr, betas=params.betas,
                            weight_decay=params.weight_decay)
    loader = DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=params.batch_size,
                        shuffle=True, drop_last=True, generator=torch.Generator().manual_seed(params.seed))
    total_steps = len(loader) * epochs
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps)
    projector.train()
    samples, start = 0, time.perf_counter()
    for _ in range(epochs):
        running = 0.0
        for xb, yb in loader:
            opt.zero_grad()
            loss = loop_loss(projector(xb), F.normalize(yb, dim=1))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(projector.parameters(), params.grad_clip)
            opt.step()
            sched.step()
            running += loss.item()
            samples += len(xb)
    return samples / (time.perf_counter() - start)


def ours(x: np.ndarray, y: np.ndarray, params: TrainParams, hidden: int) -> dict[str, float]:
    with seeded(params.seed):
        projector = MLP(x.shape[1], hidden, y.shape[1])
    data = {"x": torch.from_numpy(x), "y": torch.from_numpy(normalize(y))}
    def loss(batch: dict[str, torch.Tensor], gen: torch.Generator) -> torch.Tensor:
        return hard_negative_nce(projector(batch["x"]), batch["y"], TAU, LOW, HIGH)

    stats = train(projector, loss, data, params, stage="bench", key="bench")
    return {"samples_per_s": stats.samples / stats.seconds,
            "outside_fwd_bwd": 1 - stats.compute_seconds / stats.seconds,
            "outside_fwd_bwd_step": 1 - (stats.compute_seconds + stats.optimizer_seconds) / stats.seconds}


def embeddings(rows: int, d_text: int, d_anchor: int) -> tuple[np.ndarray, np.ndarray]:
    """Centred CLAP-like text embeddings and their anchor embeddings, from the synthetic world."""
    world = World(WorldConfig(seed=0, groups=rows, concepts=100, within_concept=1.0, obs_noise=0.5))
    text = world.observations("text").payload
    clap = SyntheticEncoder(world, EncoderConfig(kind="bimodal", towers=("text",), dim=d_text, seed=1))
    anchor = SyntheticEncoder(world, EncoderConfig(kind="anchor", towers=("text",), dim=d_anchor, seed=2))
    x = clap.encode("text", text)
    return normalize(x - x.mean(0)), anchor.encode("text", text)


#: (name, text dim, anchor dim): the synthetic world's size, a mid size, CLAP text (512) -> a 1024-d anchor
CONFIGS = (("synthetic", 48, 64), ("mid", 256, 512), ("clap-like", 512, 1024))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rows and epochs")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--json", action="store_true", help="also print the numbers as JSON")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows, epochs = (4096, 2) if args.quick else (20480, 3)
    params = TrainParams(epochs=epochs, batch_size=512, device="cpu")
    print(f"TextME projector d -> 2d -> D (GELU), {rows} texts, batch {params.batch_size}, "
          f"reference 1 epoch, ours {epochs} epochs, CPU threads {args.threads}")
    print("| projector | reference samples/s | ours samples/s | speed-up | outside fwd/bwd "
          "| outside fwd/bwd/step |")
    print("|---|---:|---:|---:|---:|---:|")
    results = []
    for name, d_text, d_anchor in CONFIGS:
        x, y = embeddings(rows, d_text, d_anchor)
        ref = reference(x, y, params, 2 * d_text, epochs=1)
        mine = ours(x, y, params, 2 * d_text)
        ratio = mine["samples_per_s"] / ref
        results.append({"config": name, "reference_samples_per_s": ref, **mine, "speedup": ratio})
        print(f"| {name} {d_text}->{2 * d_text}->{d_anchor} | {ref:,.0f} | {mine['samples_per_s']:,.0f} "
              f"| {ratio:.1f}x | {100 * mine['outside_fwd_bwd']:.1f}% "
              f"| {100 * mine['outside_fwd_bwd_step']:.1f}% |")
    print("targets: speed-up >= 10x, outside fwd/bwd < 10%")
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
