"""``clip:`` image-text encoders: ``text`` and ``image`` towers.

Two backends, one interface:

* Hugging Face (``backend: hf``): CLIP and SigLIP checkpoints, from a local
  directory (``save_pretrained``) or a hub id. Image preprocessing follows the
  checkpoint's ``preprocessor_config.json`` (resize, centre crop, mean/std).
* open_clip (``backend: open_clip``): ``clip:ViT-B-32`` with
  ``options.pretrained`` a tag (``laion2b_s34b_b79k``) or a checkpoint file,
  or ``clip:hf-hub:org/repo``. Resize/crop/mean/std come from the model's
  ``visual.preprocess_cfg``.

``backend: auto`` picks open_clip when ``pretrained`` is given, the model is
an ``hf-hub:`` name, or the directory holds ``open_clip_config.json``.
Decoding and resizing run in worker processes (:class:`ImagePreprocess`);
only normalisation and the forward pass run here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from embridge.core.errors import BridgeError
from embridge.encoders.base import Encoder, Tower, parse_options
from embridge.encoders.preprocess import ImagePreprocess
from embridge.encoders.resolve import files_sha256, resolve
from embridge.encoders.runtime import (
    TEXT_INPUTS,
    PixelTower,
    Runtime,
    TokenizedTextTower,
    TorchOptions,
    quiet_transformers,
)


class ClipOptions(TorchOptions):
    backend: Literal["auto", "hf", "open_clip"] = "auto"
    revision: str | None = None  # hf: hub commit/tag
    pretrained: str | None = None  # open_clip: pretrained tag or checkpoint file


def hf_image_preprocess(path: Path) -> tuple[ImagePreprocess, tuple[float, ...], tuple[float, ...]]:
    """Resize/crop/mean/std from a checkpoint's ``preprocessor_config.json`` (CLIP or SigLIP style)."""
    config_file = path / "preprocessor_config.json"
    try:
        cfg = json.loads(config_file.read_text())
    except FileNotFoundError:
        raise BridgeError(f"{config_file}: missing (the image tower needs the checkpoint's preprocessing; "
                          f"save the processor with the model)") from None
    size, crop = cfg.get("size", {}), cfg.get("crop_size")
    if isinstance(crop, int):
        crop = {"height": crop, "width": crop}
    crop_hw = (crop["height"], crop["width"]) if crop and cfg.get("do_center_crop", True) else None
    if isinstance(size, int):
        size = {"shortest_edge": size}
    preprocess = ImagePreprocess(
        shortest_edge=size.get("shortest_edge"),
        size=(size["height"], size["width"]) if "height" in size else None,
        crop=crop_hw, resample=int(cfg.get("resample", 3)))
    return preprocess, tuple(cfg["image_mean"]), tuple(cfg["image_std"])


class ClipEncoder(Encoder):
    family = "clip"

    def __init__(self, spec: str, options: ClipOptions) -> None:
        self._runtime = Runtime(options)
        backend = options.backend
        if backend == "auto":
            backend = "open_clip" if (options.pretrained or spec.startswith("hf-hub:")
                                      or (Path(spec) / "open_clip_config.json").exists()) else "hf"
        self._identity: dict[str, Any] = {"model": f"clip:{spec}", "backend": backend}
        self.towers = self._hf(spec, options) if backend == "hf" else self._open_clip(spec, options)

    def _hf(self, spec: str, options: ClipOptions) -> dict[str, Tower]:
        from transformers import AutoModel, AutoTokenizer

        resolved = resolve(spec, options.revision)
        quiet_transformers()
        self._identity.update(resolved.identity)
        model = self._runtime.prepare(AutoModel.from_pretrained(str(resolved.path)))
        tokenizer = AutoTokenizer.from_pretrained(str(resolved.path))
        config = model.config
        siglip = "siglip" in config.model_type
        dim = int(getattr(config, "projection_dim", None) or config.text_config.hidden_size)
        preprocess, mean, std = hf_image_preprocess(resolved.path)
        return {
            # SigLIP was trained on max_length-padded ids without an attention mask
            "text": TokenizedTextTower(self._runtime, tokenizer, model.get_text_features, dim,
                                       config.text_config.max_position_embeddings,
                                       "max_length" if siglip else True,
                                       ("input_ids",) if siglip else TEXT_INPUTS),
            "image": PixelTower(self._runtime, lambda pixels: model.get_image_features(pixel_values=pixels),
                                    dim, preprocess, mean, std),
        }

    def _open_clip(self, spec: str, options: ClipOptions) -> dict[str, Tower]:
        try:
            import open_clip
        except ImportError:
            raise BridgeError(f"encoder 'clip:{spec}': the open_clip backend needs `pip install open_clip_torch`"
                              ) from None
        pretrained = options.pretrained
        if pretrained and Path(pretrained).exists():
            self._identity.update(pretrained=pretrained, weights_sha256=files_sha256(Path(pretrained)))
        else:
            self._identity.update(pretrained=pretrained or "")
        model = open_clip.create_model(spec, pretrained=pretrained, device=self._runtime.device)
        model = self._runtime.prepare(model)
        cfg = model.visual.preprocess_cfg
        size = cfg["size"] if isinstance(cfg["size"], int) else cfg["size"][0]
        resample = {"bilinear": 2, "bicubic": 3}.get(cfg.get("interpolation", "bicubic"), 3)
        text = TokenizedTextTower(self._runtime, open_clip.get_tokenizer(spec), model.encode_text, 0, None)
        text.dim = int(text.encode(["a"]).shape[1])  # open_clip has no uniform attribute for the embed dim
        image = PixelTower(self._runtime, model.encode_image, text.dim,
                               ImagePreprocess(shortest_edge=size, crop=(size, size), resample=resample),
                               tuple(cfg["mean"]), tuple(cfg["std"]))
        return {"text": text, "image": image}

    def identity(self) -> dict[str, Any]:
        return self._identity


def load(model: str, options: dict[str, Any]) -> Encoder:
    return ClipEncoder(model, parse_options(ClipOptions, options, f"clip:{model}"))
