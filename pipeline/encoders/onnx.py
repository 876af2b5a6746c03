"""``onnx:`` text encoders exported to ONNX, run with onnxruntime: one ``text`` tower.

``onnx:/path/to/dir`` where the directory holds the exported graph
(``model.onnx``, or ``options.file``) and the tokenizer files saved next to
it (``tokenizer.save_pretrained``). The graph's inputs are fed by name
(``input_ids``, ``attention_mask``, ``token_type_ids`` when it has them);
a ``[batch, tokens, dim]`` output is pooled (mean over real tokens, or the
first token), a ``[batch, dim]`` output is taken as is. onnxruntime uses
CUDA when its GPU build is installed and ``device`` allows.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from embridge.core.errors import BridgeError
from embridge.encoders.base import Encoder, Options, TextTower, parse_options
from embridge.encoders.resolve import resolve
from embridge.encoders.runtime import quiet_transformers, tokenize


class OnnxOptions(Options):
    file: str = "model.onnx"
    output: str | None = None  # graph output to use (default: the first)
    pooling: Literal["mean", "cls"] = "mean"  # for a [batch, tokens, dim] output
    max_length: int = 512
    device: Literal["auto", "cpu", "cuda"] = "auto"
    revision: str | None = None


class OnnxTextTower(TextTower):
    def __init__(self, session: Any, tokenizer: Any, options: OnnxOptions) -> None:
        self._session, self._tokenizer, self._options = session, tokenizer, options
        self._inputs = tuple(i.name for i in session.get_inputs())
        outputs = [o.name for o in session.get_outputs()]
        self._output = options.output or outputs[0]
        if self._output not in outputs:
            raise BridgeError(f"onnx model has no output {self._output!r}; outputs: {outputs}")
        self.dim = int(self.encode(["a"]).shape[1])  # symbolic output shapes do not always state the dim

    def encode(self, prepared: list[str]) -> np.ndarray:
        feed = tokenize(self._tokenizer, prepared, self._options.max_length, True, self._inputs, tensors="np")
        feed = {k: v.astype(np.int64) for k, v in feed.items()}
        if "token_type_ids" in self._inputs and "token_type_ids" not in feed:  # tokenizer omits them: BERT's 0s
            feed["token_type_ids"] = np.zeros_like(feed["input_ids"])
        (out,) = self._session.run([self._output], feed)
        if out.ndim == 2:
            return out.astype(np.float32)
        if self._options.pooling == "cls":
            return out[:, 0].astype(np.float32)
        mask = feed.get("attention_mask", np.ones(out.shape[:2], dtype=np.int64))[..., None].astype(np.float32)
        return ((out * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1.0)).astype(np.float32)


class OnnxEncoder(Encoder):
    family = "onnx"

    def __init__(self, spec: str, options: OnnxOptions) -> None:
        import onnxruntime
        from transformers import AutoTokenizer

        resolved = resolve(spec, options.revision)
        quiet_transformers()
        graph = resolved.path / options.file
        if not graph.exists():
            raise BridgeError(f"{graph}: no ONNX graph (set options.file to the exported .onnx file)")
        cuda = "CUDAExecutionProvider" in onnxruntime.get_available_providers()
        if options.device == "cuda" and not cuda:
            raise BridgeError(f"encoder 'onnx:{spec}': device cuda needs onnxruntime-gpu (only CPU is available)")
        providers = ["CUDAExecutionProvider"] if cuda and options.device != "cpu" else []
        session = onnxruntime.InferenceSession(str(graph), providers=providers + ["CPUExecutionProvider"])
        tokenizer = AutoTokenizer.from_pretrained(str(resolved.path))
        self._identity = {"model": f"onnx:{spec}", **resolved.identity}
        self.towers = {"text": OnnxTextTower(session, tokenizer, options)}

    def identity(self) -> dict[str, Any]:
        return self._identity


def load(model: str, options: dict[str, Any]) -> Encoder:
    return OnnxEncoder(model, parse_options(OnnxOptions, options, f"onnx:{model}"))
