"""The one training loop every torch bridge uses, and the torch bridge base class.

Why one loop: the methods differ only in their networks and their loss, so
shuffling, batching, the optimiser, the schedule, clipping, mixed precision,
the curve, timing and resumable checkpoints are written (and tested) once.

Why no DataLoader: the inputs are cached embeddings that fit in memory as a
few tensors. An epoch is one seeded permutation gather per tensor followed by
contiguous slices, so the time outside forward/backward stays a few percent
(``benchmarks/fit.py`` measures it). On CUDA the tensors are pinned and
moved once and the forward runs under autocast (fp16 + GradScaler); on CPU
everything is float32 and bit-for-bit deterministic for a given seed and
thread count.

Resuming: give a bridge ``TrainHooks(checkpoint_dir=...)`` and each training
stage writes ``<dir>/<stage>.safetensors`` (weights, optimiser moments, RNG
state, epoch, curve; tensors only, never a pickle) every ``every`` epochs.
A fit killed mid-way and rerun with the same hooks resumes from the last
checkpoint and ends with the same weights as an uninterrupted fit. A
checkpoint whose fingerprint (method, params, stage, data shapes and a sample
of the data) differs is ignored and overwritten.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import time
from abc import abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import Field
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from embridge.bridges import graph
from embridge.bridges.base import Bridge, MethodParams
from embridge.core.errors import BridgeError
from embridge.core.files import atomic_write
from embridge.core.vectors import Space

log = logging.getLogger(__name__)

#: a loss over one batch (a dict of equally long tensors); the generator is the
#: loop's own, so any sampling inside the loss (noise, timesteps) is seeded and resumable
LossFn = Callable[[dict[str, torch.Tensor], torch.Generator], torch.Tensor]


class TrainParams(MethodParams):
    """Optimisation hyperparameters shared by every torch method (TextME's defaults)."""

    epochs: int = Field(50, ge=0)
    batch_size: int = Field(512, ge=2)
    lr: float = Field(5e-4, gt=0)
    optimizer: Literal["adamw", "adam"] = "adamw"
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = Field(0.01, ge=0)
    schedule: Literal["cosine", "constant"] = "cosine"
    grad_clip: float | None = Field(1.0, gt=0)
    seed: int = 42
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: bool = True
    threads: int = Field(1, ge=0, description="CPU intra-op threads; 0 means torch's default (every core)")


@dataclass
class TrainHooks:
    """How a fit reports progress and survives a kill. Set by the caller, not a hyperparameter."""

    checkpoint_dir: Path | None = None
    every: int = 1
    #: and at most one checkpoint per this many seconds (the last epoch always writes one): a kill loses
    #: at most that much training, and a fit of many short epochs does not spend its time in fsync
    min_seconds: float = 0.0
    #: called as ``on_epoch(stage, epoch, mean_loss)`` after every epoch
    on_epoch: Callable[[str, int, float], None] | None = None


@dataclass
class TrainStats:
    """Where the time of one training stage went (``compute`` = forward + loss + backward)."""

    stage: str
    epochs: int = 0
    steps: int = 0
    samples: int = 0
    seconds: float = 0.0
    compute_seconds: float = 0.0
    optimizer_seconds: float = 0.0
    resumed_from: int = 0
    curve: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, float | int]:
        return {"epochs": self.epochs, "steps": self.steps, "resumed_from": self.resumed_from,
                "seconds": round(self.seconds, 4),
                "samples_per_s": round(self.samples / self.seconds, 1) if self.seconds else 0.0,
                "outside_forward_backward": round(1 - self.compute_seconds / self.seconds, 4)
                if self.seconds else 0.0}


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present; asking for CUDA without it is a user error."""
    if name == "cuda" and not torch.cuda.is_available():
        raise BridgeError("device 'cuda' requested but CUDA is not available; use device: auto or cpu")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run a block (network construction) under a fixed torch seed without touching global state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def lr_at(params: TrainParams, step: int, total: int) -> float:
    """Learning rate at ``step`` of ``total``: constant, or cosine decay to zero (per step)."""
    if params.schedule == "constant" or total <= 1:
        return params.lr
    return 0.5 * params.lr * (1.0 + math.cos(math.pi * step / total))


def to_tensor(x: np.ndarray, device: torch.device) -> torch.Tensor:
    """float32 tensor on ``device`` (pinned + non-blocking copy on CUDA)."""
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t


def data_fingerprint(key: str, data: dict[str, torch.Tensor]) -> str:
    """A cheap identity of (what is trained, on what): shapes plus <= 256 evenly spaced rows."""
    h = hashlib.sha256(key.encode())
    for name in sorted(data):
        t = data[name]
        rows = torch.linspace(0, len(t) - 1, min(len(t), 256)).long().to(t.device)
        h.update(f"{name}{list(t.shape)}{t.dtype}".encode())
        h.update(t[rows].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _checkpoint_tensors(module: nn.Module, opt: torch.optim.Optimizer, gen: torch.Generator,
                        epoch: int, curve: list[float]) -> dict[str, torch.Tensor]:
    out = {f"module.{k}": v.detach().cpu().contiguous().clone() for k, v in module.state_dict().items()}
    for idx, entry in opt.state_dict()["state"].items():
        for name, value in entry.items():
            out[f"optim.{idx}.{name}"] = torch.as_tensor(value).detach().cpu().contiguous().clone()
    out["rng"] = gen.get_state()
    out["epoch"] = torch.tensor([epoch], dtype=torch.int64)
    out["curve"] = torch.tensor(curve, dtype=torch.float64)
    return out


def _save_checkpoint(path: Path, tensors: dict[str, torch.Tensor], fingerprint: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata={"fingerprint": fingerprint}))


def _restore_checkpoint(path: Path, fingerprint: str, module: nn.Module, opt: torch.optim.Optimizer,
                        gen: torch.Generator) -> tuple[int, list[float]] | None:
    with safe_open(str(path), framework="pt") as f:
        if (f.metadata() or {}).get("fingerprint") != fingerprint:
            log.warning("%s: checkpoint is for a different fit; starting over", path)
            return None
    tensors = load_file(str(path))
    module.load_state_dict({k[len("module."):]: v for k, v in tensors.items() if k.startswith("module.")})
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = value
    opt.load_state_dict({"state": state, "param_groups": opt.state_dict()["param_groups"]})
    gen.set_state(tensors["rng"])
    return int(tensors["epoch"][0]), tensors["curve"].tolist()


def make_optimizer(module: nn.Module, params: TrainParams) -> torch.optim.Optimizer:
    """Adam(W) with the fused kernel (one pass over all tensors, so a step costs far less on CPU)."""
    kind = torch.optim.AdamW if params.optimizer == "adamw" else torch.optim.Adam
    return kind(module.parameters(), lr=params.lr, betas=params.betas, weight_decay=params.weight_decay,
                fused=True)


def train(module: nn.Module, loss_fn: LossFn, data: dict[str, torch.Tensor], params: TrainParams, *,
          stage: str, key: str, hooks: TrainHooks | None = None) -> TrainStats:
    """Train ``module`` on ``data`` (equal-length tensors on the module's device) for ``params.epochs``.

    Batches are ``batch_size`` rows of one seeded permutation per epoch; the
    ragged tail is dropped (as TextME's public code does) unless the data is
    smaller than one batch. Returns the stats, whose ``curve`` holds the mean
    loss of every epoch.
    """
    hooks = hooks or TrainHooks()
    device = next(module.parameters()).device
    with cpu_threads(params.threads if device.type == "cpu" else 0):
        return _train(module, loss_fn, data, params, device, stage=stage, key=key, hooks=hooks)


@contextlib.contextmanager
def cpu_threads(n: int) -> Iterator[None]:
    """Run with ``n`` torch CPU threads (0: leave as is), then restore.

    Why 1 by default: bridge heads are small, so intra-op threading buys
    little, and when another process holds a core torch's spinning workers
    wait for it, so the fit runs far slower than on one thread.
    """
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _train(module: nn.Module, loss_fn: LossFn, data: dict[str, torch.Tensor], params: TrainParams,
           device: torch.device, *, stage: str, key: str, hooks: TrainHooks) -> TrainStats:
    n = len(next(iter(data.values())))
    batch = min(params.batch_size, n)
    steps = max(1, n // batch)
    total_steps = steps * params.epochs
    opt = make_optimizer(module, params)
    gen = torch.Generator(device=device).manual_seed(params.seed)
    amp = device.type == "cuda" and params.amp
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    trainable = [p for p in module.parameters() if p.requires_grad]
    stats = TrainStats(stage=stage)
    path = hooks.checkpoint_dir / f"{stage}.safetensors" if hooks.checkpoint_dir else None
    fingerprint = data_fingerprint(f"{key}|{stage}", data) if path else ""
    start = 0
    if path is not None and path.exists():
        restored = _restore_checkpoint(path, fingerprint, module, opt, gen)
        if restored is not None:
            start, stats.curve = restored
            stats.resumed_from = start
    module.train()
    t_start = last_checkpoint = time.perf_counter()
    for epoch in range(start, params.epochs):
        perm = torch.randperm(n, generator=gen, device=device)[: steps * batch]
        shuffled = {k: v[perm] for k, v in data.items()}
        epoch_loss = torch.zeros((), device=device)
        for s in range(steps):
            for group in opt.param_groups:
                group["lr"] = lr_at(params, epoch * steps + s, total_steps)
            chunk = {k: v[s * batch:(s + 1) * batch] for k, v in shuffled.items()}
            t0 = time.perf_counter()
            with torch.autocast(device.type, enabled=amp):
                loss = loss_fn(chunk, gen)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            t1 = time.perf_counter()
            if params.grad_clip is not None:
                scaler.unscale_(opt)
                nn.utils.clip_grad_norm_(trainable, params.grad_clip, foreach=True)
            scaler.step(opt)
            scaler.update()
            epoch_loss += loss.detach()
            stats.compute_seconds += t1 - t0
            stats.optimizer_seconds += time.perf_counter() - t1
        stats.curve.append(float(epoch_loss) / steps)
        if not math.isfinite(stats.curve[-1]):  # before the checkpoint: a diverged state is never saved
            raise BridgeError(f"training stage {stage!r}: loss is {stats.curve[-1]} at epoch {epoch + 1} of "
                              f"{params.epochs} (the fit diverged: lower lr or keep grad_clip); nothing was written")
        stats.steps += steps
        stats.samples += steps * batch
        done = epoch + 1
        due = done % max(hooks.every, 1) == 0 and time.perf_counter() - last_checkpoint >= hooks.min_seconds
        if path is not None and (due or done == params.epochs):
            _save_checkpoint(path, _checkpoint_tensors(module, opt, gen, done, stats.curve), fingerprint)
            last_checkpoint = time.perf_counter()
        if hooks.on_epoch is not None:
            hooks.on_epoch(stage, done, stats.curve[-1])
    stats.seconds = time.perf_counter() - t_start
    stats.epochs = params.epochs
    module.eval()
    return stats


def plot_curve(curve: list[float] | dict[str, list[float]], path: str | Path, title: str = "") -> Path:
    """Write a PNG of loss per epoch (one line per stage when given a dict). Agg backend, no display."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = curve if isinstance(curve, dict) else {"loss": curve}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=120)
    for name, values in curves.items():
        ax.plot(range(1, len(values) + 1), values, label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss")
    if title:
        ax.set_title(title)
    if len(curves) > 1:
        ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


class TorchBridge(Bridge):
    """Base of the bridges that train networks: state = ``self.nets`` weights + ``self.arrays``.

    Subclasses build their networks in ``build()`` (called under the seed, so
    initial weights are reproducible), put fixed arrays (centroids, means) in
    ``self.arrays``, and train through ``self.run()``. ``save``/``load`` then
    need no per-method code. ``self.hooks`` is where a caller (the CLI) plugs
    in progress reporting and a checkpoint directory.
    """

    Params = TrainParams
    params: TrainParams

    def __init__(self, params: MethodParams, spaces: dict[str, Space]) -> None:
        super().__init__(params, spaces)
        self.hooks = TrainHooks()
        self.device = resolve_device(self.params.device)
        self.arrays: dict[str, np.ndarray] = {}
        with seeded(self.params.seed):
            self.nets = self.build().to(self.device)
        self.nets.eval()

    @abstractmethod
    def build(self) -> nn.ModuleDict:
        """The method's networks, keyed by name."""

    @abstractmethod
    def ops(self, role: str) -> list[graph.Op]:
        """How ``role``'s vectors map into the shared space, as ``graph`` ops on ``state()``'s arrays."""

    def net_ops(self, name: str) -> list[graph.Op]:
        """The ops of network ``name`` (an ``MLP``) on its weights in ``state()``."""
        return self.nets[name].ops(f"net.{name}")

    def inference(self) -> dict[str, list[graph.Op]]:
        return {role: self.ops(role) for role in self.spaces}

    def _transform(self, role: str, vectors: np.ndarray) -> np.ndarray:
        """Through the same numpy ops a frozen load applies: one inference path, fitted or loaded."""
        return graph.run(self.ops(role), self.state(), vectors)

    def tensor(self, x: np.ndarray) -> torch.Tensor:
        return to_tensor(x, self.device)

    def run(self, stage: str, module: nn.Module, loss_fn: LossFn, data: dict[str, torch.Tensor],
            params: TrainParams | None = None) -> list[float]:
        """Train one stage; record its curve (``self.curve`` for the main stage) and timing in ``info``."""
        params = params or self.params
        key = json.dumps({"method": self.method, "params": self.params.model_dump(mode="json"),
                          "spaces": {r: s.key for r, s in self.spaces.items()}}, sort_keys=True)
        stats = train(module, loss_fn, data, params, stage=stage, key=key, hooks=self.hooks)
        self.info.setdefault("training", {})[stage] = stats.summary()
        self.info.setdefault("curves", {})[stage] = stats.curve
        return stats.curve

    @torch.no_grad()
    def apply(self, fn: Callable[[torch.Tensor], torch.Tensor], x: np.ndarray,
              batch: int = 65536) -> np.ndarray:
        """Run ``fn`` over ``x`` in bounded batches, returning float32 numpy."""
        self.nets.eval()
        out = [fn(self.tensor(x[i:i + batch])).float().cpu().numpy()
               for i in range(0, max(len(x), 1), batch)]
        return np.concatenate(out)

    def state(self) -> dict[str, np.ndarray]:
        nets = {f"net.{k}": v.detach().cpu().numpy() for k, v in self.nets.state_dict().items()}
        return {**nets, **{f"array.{k}": v for k, v in self.arrays.items()}}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        nets = {k[4:]: torch.from_numpy(v.copy()) for k, v in state.items() if k.startswith("net.")}
        try:
            self.nets.load_state_dict(nets)
        except RuntimeError as e:
            first = str(e).strip().splitlines()[0]
            raise BridgeError(f"bridge {self.method!r}: weights do not match its params ({first})") from None
        self.nets.to(self.device).eval()
        self.arrays = {k[6:]: v for k, v in state.items() if k.startswith("array.")}
