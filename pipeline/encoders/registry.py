"""Encoder registry keyed by family prefix (``st:``, ``clip:``, ``synthetic:`` ...).

A model string is ``<family>:<model>``; families are imported lazily so that
the synthetic world never pays for importing torch, and ``bridge encoders``
can list every family without loading any model. ``python:module:attr``
loads a user's own ``Encoder`` subclass or factory.
"""

from __future__ import annotations

from typing import Any

from pipeline.core.registry import Entry, Registry
from pipeline.encoders.base import Encoder
from pipeline.errors import BridgeError


def _family(name: str, towers: tuple[str, ...], loads: str, example: str) -> Entry:
    return Entry(name, f"pipeline.encoders.{name}:load", loads, {"towers": towers, "example": example})


#: every encoder family: ``<family>:<model>`` in params.yaml; ``load(model, options) -> Encoder``
FAMILIES = Registry("encoder family", [
    _family("st", ("text",), "sentence-transformers dir or hub id", "st:sentence-transformers/all-MiniLM-L6-v2"),
    _family("clip", ("text", "image"), "HF CLIP/SigLIP dir or hub id; open_clip arch (+ options.pretrained)",
            "clip:openai/clip-vit-base-patch32"),
    _family("clap", ("text", "audio"), "HF CLAP dir or hub id", "clap:laion/clap-htsat-unfused"),
    _family("onnx", ("text",), "dir with model.onnx + tokenizer files", "onnx:models/minilm-onnx"),
    _family("efficientnet", ("image",), "efficientnet-lite0..4 (lite0 packaged; options.weights for others)",
            "efficientnet:efficientnet-lite0"),
    _family("synthetic", ("text", "image", "audio"), "bimodal | anchor over options.world", "synthetic:bimodal"),
    _family("python", (), "module:attr returning an Encoder (your towers)", "python:my_encoders:MyEncoder"),
])


def split_model(spec: str) -> tuple[str, str]:
    """``"st:all-MiniLM-L6-v2"`` -> ``("st", "all-MiniLM-L6-v2")``, checking the family."""
    family, sep, model = spec.partition(":")
    if not sep or not model:
        raise BridgeError(f"encoder model {spec!r} must look like '<family>:<model>' "
                          f"with family one of {sorted(FAMILIES)}")
    if family not in FAMILIES:
        try:
            FAMILIES.get(family)
        except BridgeError as e:
            unknown, _, hint = str(e).partition(" (")
            raise BridgeError(f"{unknown} in {spec!r}" + (f" ({hint}" if hint else "")) from None
    return family, model


def load_encoder(spec: str, options: dict[str, Any] | None = None) -> Encoder:
    """Load the encoder named by ``spec`` with family-specific ``options``.

    ``batch_size`` is an option of every family: it is taken out here and set
    on each tower.
    """
    family, model = split_model(spec)
    options = dict(options or {})
    batch_size = options.pop("batch_size", None)
    if batch_size is not None and (not isinstance(batch_size, int) or isinstance(batch_size, bool)
                                   or batch_size <= 0):
        raise BridgeError(f"encoder {spec!r}: options.batch_size: expected a positive integer, got {batch_size!r}")
    encoder = FAMILIES.load(family)(model, options)
    for tower in encoder.towers.values():
        tower.batch_size = batch_size
    return encoder
