"""What the torch-based families share: device and precision choice, the inference
context, pixel normalisation, and tokenisation.

One place decides "fp16 autocast on a GPU, fp32 on a CPU", so every family
gets the same speed/accuracy trade-off and the same ``device``/``precision``
options, and results on a CPU box match a GPU box within tolerance.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from typing import Any, Literal

import numpy as np
import torch

from embridge.encoders.base import Options, TextTower, Tower
from embridge.encoders.preprocess import ImagePreprocess


class TorchOptions(Options):
    """Options every torch family accepts."""

    device: str = "auto"  # "auto" (cuda when present), "cpu", "cuda", "cuda:1", "mps"
    precision: Literal["auto", "fp32", "fp16", "bf16"] = "auto"  # auto: fp16 on cuda, fp32 elsewhere


class Runtime:
    """Runs a model's forward under ``inference_mode`` (+ autocast) and hands back float32 numpy."""

    def __init__(self, options: TorchOptions) -> None:
        auto = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(auto if options.device == "auto" else options.device)
        precision = options.precision
        if precision == "auto":
            precision = "fp16" if self.device.type == "cuda" else "fp32"
        self.dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision)

    def prepare(self, model: torch.nn.Module) -> torch.nn.Module:
        """Move a frozen model to the device in eval mode (dropout off, no grads)."""
        model.eval().requires_grad_(False)
        return model.to(self.device)

    def run(self, forward: Callable[..., Any], *args: Any, **kwargs: Any) -> np.ndarray:
        """``forward(*args, **kwargs)`` on the device; tensors in args/kwargs are moved there."""
        args = tuple(self.to_device(a) for a in args)
        kwargs = {k: self.to_device(v) for k, v in kwargs.items()}
        autocast = torch.autocast(self.device.type, dtype=self.dtype) if self.dtype else nullcontext()
        with torch.inference_mode(), autocast:
            out = forward(*args, **kwargs)
        return pooled(out).float().cpu().numpy()

    def to_device(self, value: Any) -> Any:
        return value.to(self.device, non_blocking=True) if isinstance(value, torch.Tensor) else value

    def pixels(self, batch: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
        """uint8 ``[n, h, w, 3]`` -> normalised float ``[n, 3, h, w]`` on the device (one vectorised pass)."""
        x = torch.from_numpy(np.ascontiguousarray(batch)).to(self.device, non_blocking=True)
        x = x.permute(0, 3, 1, 2).float().div_(255.0)
        mean_t = torch.tensor(mean, device=self.device).view(1, -1, 1, 1)
        std_t = torch.tensor(std, device=self.device).view(1, -1, 1, 1)
        return x.sub_(mean_t).div_(std_t)


def pooled(out: Any) -> torch.Tensor:
    """The embedding in a model output: a tensor as is, else its ``pooler_output``.

    transformers 5 returns ``BaseModelOutputWithPooling`` from
    ``get_text_features``/``get_image_features``; 4.x returned the tensor.
    """
    return out if isinstance(out, torch.Tensor) else out.pooler_output


def tokenize(tokenizer: Any, texts: list[str], max_length: int | None, padding: bool | str, inputs: tuple[str, ...],
             tensors: str = "pt") -> dict[str, Any]:
    """Tokenise a batch, truncating to the model's length, keeping the ``inputs`` the model takes."""
    out = tokenizer(texts, padding=padding, truncation=True, max_length=max_length, return_tensors=tensors)
    return {name: out[name] for name in inputs if name in out}


#: what HF text towers take (a BERT-style tokenizer also emits token_type_ids, which CLIP/CLAP reject)
TEXT_INPUTS = ("input_ids", "attention_mask")


class TokenizedTextTower(TextTower):
    """Tokenise + forward: HF ``get_text_features`` (CLIP, SigLIP, CLAP) or open_clip ``encode_text``.

    ``max_length=None`` means the tokenizer is a callable that pads to the
    model's context itself (open_clip's) and returns the id tensor.
    """

    def __init__(self, runtime: Runtime, tokenizer: Any, forward: Callable[..., Any], dim: int,
                 max_length: int | None, padding: bool | str = True, inputs: tuple[str, ...] = TEXT_INPUTS
                 ) -> None:
        self._runtime, self._tokenizer, self._forward = runtime, tokenizer, forward
        self.dim, self._max_length, self._padding, self._inputs = dim, max_length, padding, inputs

    def encode(self, prepared: list[str]) -> np.ndarray:
        if self._max_length is None:
            return self._runtime.run(self._forward, self._tokenizer(prepared))
        return self._runtime.run(self._forward, **tokenize(self._tokenizer, prepared, self._max_length,
                                                           self._padding, self._inputs))


def quiet_transformers() -> None:
    """Silence transformers' own progress bars ("Loading weights ..."): `bridge` shows one bar, for the rows."""
    from transformers.utils import logging

    logging.disable_progress_bar()


class PixelTower(Tower):
    """An image tower: uint8 pixels from the workers, normalised on the device, then ``forward``.

    ``channels_last`` feeds NHWC memory to convolutional models (their
    weights converted likewise), faster on CPU; transformers gain nothing.
    """

    name = modality = "image"
    parallel = True

    def __init__(self, runtime: Runtime, forward: Callable[[torch.Tensor], Any], dim: int,
                 preprocess: ImagePreprocess, mean: tuple[float, ...], std: tuple[float, ...],
                 channels_last: bool = False) -> None:
        self._runtime, self._forward, self.dim = runtime, forward, dim
        self._preprocess, self._mean, self._std, self._channels_last = preprocess, mean, std, channels_last

    @property
    def preprocess(self) -> ImagePreprocess:
        return self._preprocess

    def encode(self, prepared: np.ndarray) -> np.ndarray:
        pixels = self._runtime.pixels(prepared, self._mean, self._std)
        if self._channels_last:
            pixels = pixels.contiguous(memory_format=torch.channels_last)
        return self._runtime.run(self._forward, pixels)
