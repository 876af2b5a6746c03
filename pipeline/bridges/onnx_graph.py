"""A bridge's transform of one role as an ONNX model, from its ``graph`` ops.

Why ONNX: a published bridge should be usable without Python or this package
(onnxruntime in C#, Java, JavaScript, a vector database's ingest step). Each
role gets a model of its own, one input ``embeddings`` [batch, dim of the
role's space] and one output ``shared`` [batch, dim of the shared space], both
float32 with a dynamic batch axis: a consumer maps the one space it has and
never feeds the others (onnxruntime refuses a run that leaves any graph input
unfed, so one model with an input per role would make every caller invent
empty arrays for the rest).

Which graph: a torch method writes its transform into ``bridge.json`` as
``graph`` ops (``inference``), and that is converted op for op. The numpy
methods transform in their own code and write no graph (adding one would
change every existing card's ``content_sha256``, and with it every protocol
card that names it), so ``NUMPY_GRAPHS`` re-states each one's transform as the
same ops on arrays derived from its weights; ``bridge publish`` then checks the
ONNX model against the method's own ``_transform`` on random inputs, so a
re-statement that drifted from the method is refused, not published. A
method with neither (a user's method with only a numpy transform) has no ONNX
model.

The ops compute in float32 like ``graph.run``; the numpy methods' float64
weights are rounded to float32 once; ``tests/test_publish.py`` holds the
result to the tolerance publish checks (``ONNX_TOLERANCE``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from embridge.bridges import graph
from embridge.core.errors import BridgeError

#: ONNX operator set: 17 runs on every onnxruntime since 1.13 (ReduceL2 still takes ``axes`` as an attribute)
OPSET = 17
INPUT, OUTPUT = "embeddings", "shared"

#: prefix of the arrays ``NUMPY_GRAPHS`` derives (kept apart from the bridge's own weight names)
DERIVED = "graph"

Graph = dict[str, list[graph.Op]]


# -- the numpy methods' transforms as graph ops ---------------------------------------------------------------

def _offset(bridge: Any) -> tuple[Graph, dict[str, np.ndarray]]:
    """``n(n(x) + shift_role)`` (the shift in float32, as ``OffsetBridge._transform`` adds it)."""
    again = [["normalize"]] if bridge.params.renormalize else []
    weights = {f"{DERIVED}.minus_shift_{r}": -bridge._shift(r).astype(np.float32) for r in bridge.spaces}
    return {r: [["normalize"], ["subtract", f"{DERIVED}.minus_shift_{r}"], *again] for r in bridge.spaces}, weights


def _affine(key: str, weight_in_out: np.ndarray, bias: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """A ``linear`` op's arrays from ``x @ W + b`` (graph ops take torch's [out, in] layout)."""
    w = np.asarray(weight_in_out, dtype=np.float64)
    b = np.zeros(w.shape[1]) if bias is None else np.asarray(bias, dtype=np.float64)
    return {f"{key}.weight": np.ascontiguousarray(w.T), f"{key}.bias": b}


def _linear(bridge: Any) -> tuple[Graph, dict[str, np.ndarray]]:
    """source: ``(x - x_mean) W + y_mean`` (re-normalised when ``renormalize``); target: as it is."""
    again = [["normalize"]] if bridge.params.renormalize else []
    key = f"{DERIVED}.source"
    return ({"source": [["subtract", "x_mean"], ["linear", key], *again], "target": []},
            {"x_mean": bridge.x_mean, **_affine(key, bridge.weight, bridge.y_mean)})


def _procrustes(bridge: Any) -> tuple[Graph, dict[str, np.ndarray]]:
    """source: ``(n(x) - mu_s) W + mu_t`` (re-normalised when ``renormalize``); target: ``n(x)``."""
    a, key = bridge.arrays, f"{DERIVED}.source"
    again = [["normalize"]] if bridge.params.renormalize else []
    return ({"source": [["normalize"], ["subtract", "mu_source"], ["linear", key], *again], "target": [["normalize"]]},
            {"mu_source": a["mu_source"], **_affine(key, a["weight"], a["mu_target"])})


def _cca(bridge: Any) -> tuple[Graph, dict[str, np.ndarray]]:
    """Each side ``n((x - mean) W)``."""
    a, graphs, weights = bridge.arrays, {}, {}
    for r in bridge.spaces:
        graphs[r] = [["subtract", f"mean_{r}"], ["linear", f"{DERIVED}.{r}"], ["normalize"]]
        weights |= {f"mean_{r}": a[f"mean_{r}"], **_affine(f"{DERIVED}.{r}", a[f"weight_{r}"])}
    return graphs, weights


def _pca_naive(bridge: Any) -> tuple[Graph, dict[str, np.ndarray]]:
    """Each side ``n(((x - mean) / std) C)``: the division folded into the components (``C / std``)."""
    a, graphs, weights = bridge.arrays, {}, {}
    for r in bridge.spaces:
        graphs[r] = [["subtract", f"mean_{r}"], ["linear", f"{DERIVED}.{r}"], ["normalize"]]
        folded = a[f"components_{r}"] / a[f"std_{r}"][:, None]
        weights |= {f"mean_{r}": a[f"mean_{r}"], **_affine(f"{DERIVED}.{r}", folded)}
    return graphs, weights


def _gaussian(bridge: Any) -> tuple[Graph, dict[str, np.ndarray]]:
    """Each side's latent ``E (x - mean)`` (not normalised: the class model lives there; the Gaussian
    classifier itself is not part of the transform, so it is not in the graph)."""
    a, graphs, weights = bridge.arrays, {}, {}
    for r in bridge.spaces:
        graphs[r] = [["subtract", f"mean_{r}"], ["linear", f"{DERIVED}.{r}"]]
        weights |= {f"mean_{r}": a[f"mean_{r}"], **_affine(f"{DERIVED}.{r}", a[f"encoder_{r}"].T)}
    return graphs, weights


#: numpy method -> its transform as graph ops and the arrays they take (see the module docstring for why here)
NUMPY_GRAPHS: dict[str, Callable[[Any], tuple[Graph, dict[str, np.ndarray]]]] = {
    "offset": _offset, "linear": _linear, "procrustes": _procrustes, "cca": _cca, "pca_naive": _pca_naive,
    "gaussian": _gaussian,
}


def inference_graph(bridge: Any, card: dict[str, Any]) -> tuple[Graph, dict[str, np.ndarray]] | None:
    """Per role, ``bridge``'s transform as graph ops and the float32 arrays they name; None when the method
    has none (``card`` is its ``bridge.json``: a written ``inference`` graph comes first)."""
    if card.get("inference") is not None:
        graphs, weights = card["inference"], bridge.state()
    elif bridge.method in NUMPY_GRAPHS:
        graphs, weights = NUMPY_GRAPHS[bridge.method](bridge)
    else:
        return None
    weights = {k: np.asarray(v, dtype=np.float32) for k, v in weights.items()}
    for role, space in bridge.spaces.items():
        if role not in graphs:
            raise BridgeError(f"bridge {bridge.method!r}: its inference graph has no entry for role {role!r}")
        graph.check(graphs[role], weights, space.dim, f"bridge {bridge.method!r}: role {role!r}")
    return graphs, weights


def _onnx() -> Any:
    """The ``onnx`` package, or one line saying how to install it (``pip install 'embridge[publish]'``)."""
    try:
        import onnx
    except ImportError:
        raise BridgeError("ONNX export needs the onnx package: pip install 'embridge[publish]'") from None
    return onnx


# -- graph ops -> ONNX nodes ----------------------------------------------------------------------------------

class _Builder:
    """Nodes and initializers of one model, with fresh value names."""

    def __init__(self, weights: dict[str, np.ndarray]) -> None:
        self.weights, self.nodes, self.initializers, self.count = weights, [], {}, 0

    def name(self) -> str:
        self.count += 1
        return f"v{self.count}"

    def const(self, key: str, value: np.ndarray | None = None) -> str:
        numpy_helper = _onnx().numpy_helper

        if key not in self.initializers:
            array = np.asarray(self.weights[key] if value is None else value, dtype=np.float32)
            self.initializers[key] = numpy_helper.from_array(np.ascontiguousarray(array), key)
        return key

    def node(self, op: str, inputs: list[str], **attrs: Any) -> str:
        helper = _onnx().helper

        out = self.name()
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def normalize(self, x: str) -> str:
        """``x / max(||x||, 1e-12)`` per row, as ``core.vectors.normalize``."""
        norm = self.node("ReduceL2", [x], axes=[1], keepdims=1)
        return self.node("Div", [x, self.node("Max", [norm, self.const("const.norm_floor", np.float32(1e-12))])])

    def batchnorm(self, x: str, prefix: str, eps: float) -> str:
        """``(x - running_mean) * scale + bias``, the scale computed in float32 as ``graph._batchnorm`` does."""
        w = self.weights
        scale = w[f"{prefix}.weight"] / np.sqrt(w[f"{prefix}.running_var"] + np.float32(eps))
        shifted = self.node("Sub", [x, self.const(f"{prefix}.running_mean")])
        scaled = self.node("Mul", [shifted, self.const(f"{prefix}.scale", scale)])
        return self.node("Add", [scaled, self.const(f"{prefix}.bias")])

    def gelu(self, x: str) -> str:
        """The exact GELU ``0.5 x (1 + erf(x / sqrt 2))`` (opset 17 has no Gelu op)."""
        erf = self.node("Erf", [self.node("Mul", [x, self.const("const.inv_sqrt2", np.float32(1 / math.sqrt(2)))])])
        one_plus = self.node("Add", [erf, self.const("const.one", np.float32(1.0))])
        return self.node("Mul", [self.node("Mul", [x, self.const("const.half", np.float32(0.5))]), one_plus])

    def op(self, x: str, name: str, args: list[Any]) -> str:
        if name == "normalize":
            return self.normalize(x)
        if name == "subtract":
            return self.node("Sub", [x, self.const(args[0])])
        if name == "linear":
            return self.node("Gemm", [x, self.const(f"{args[0]}.weight"), self.const(f"{args[0]}.bias")], transB=1)
        if name == "batchnorm":
            return self.batchnorm(x, args[0], args[1])
        if name == "gelu":
            return self.gelu(x)
        if name == "relu":
            return self.node("Relu", [x])
        if name == "silu":
            return self.node("Mul", [x, self.node("Sigmoid", [x])])
        raise BridgeError(f"graph op {name!r} has no ONNX form (known: {sorted(graph.OPS)})")


def to_onnx(ops: list[graph.Op], weights: dict[str, np.ndarray], dim_in: int, dim_out: int,
            metadata: dict[str, str] | None = None) -> bytes:
    """The ONNX model (serialised) of ``ops`` on ``weights``: input ``embeddings`` [batch, dim_in] float32,
    output ``shared`` [batch, dim_out] float32; ``metadata`` goes into its ``metadata_props``."""
    onnx = _onnx()
    TensorProto, helper = onnx.TensorProto, onnx.helper

    build = _Builder(weights)
    x = INPUT
    for name, *args in ops:
        x = build.op(x, name, args)
    build.nodes.append(helper.make_node("Identity", [x], [OUTPUT]))
    model = helper.make_model(
        helper.make_graph(build.nodes, "bridge",
                          [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["batch", dim_in])],
                          [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", dim_out])],
                          list(build.initializers.values())),
        opset_imports=[helper.make_opsetid("", OPSET)], producer_name="embridge")
    model.ir_version = 8  # what onnxruntime >= 1.13 reads
    helper.set_model_props(model, dict(sorted((metadata or {}).items())))
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()


def run_onnx(model: bytes, x: np.ndarray) -> np.ndarray:
    """``model``'s output for the rows of ``x`` under onnxruntime's CPU provider (one thread: reproducible)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise BridgeError("checking the ONNX models needs onnxruntime: pip install 'embridge[publish]'") from None

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    return session.run([OUTPUT], {INPUT: np.ascontiguousarray(x, dtype=np.float32)})[0]
