"""A fitted bridge as a model folder others can use: ``bridge publish NAME --out DIR``.

The folder is laid out as a Hugging Face model repository (``huggingface_hub.upload_folder`` publishes it
unchanged), and everything in it is checked before it is written:

==============================  =======================================================================
``bridge.json``                 the bridge's card, byte for byte (``Bridge.load(DIR)`` / ``embridge.load``)
``weights.safetensors``         its weights, byte for byte
``README.md``                   the model card: Hub front matter (library, tags, licence), the method and
                                its paper, each role's encoder as the sets' manifests record it, what it
                                was fitted on, and every eval task whose protocol card names this
                                bridge's current ``content_sha256``, with its protocol line and numbers
``onnx/<role>.onnx``            each role's transform (``bridges/onnx_graph.py``): input ``embeddings``,
                                output ``shared``, float32, dynamic batch; equal to the numpy path
                                within ``ONNX_TOLERANCE`` on random inputs, else nothing is written
``sentence-transformers/<role>``  for a role whose space is an ``st:`` text tower: the encoder followed by
                                the bridge as sentence-transformers' own modules (Dense, Normalize), so
                                ``SentenceTransformer(folder).encode(texts)`` is ``bridge embed``; checked
                                on ``PROBE_TEXTS`` within ``ST_TOLERANCE``
``eval/<task>.json``            each listed task's protocol card and metrics, as the eval stage wrote them
``publish.json``                what was checked (errors measured, tasks left out and why) and every other
                                file's sha256 (``verify_folder``); a folder holding exactly those files is
                                an earlier publish, which a later publish may replace
==============================  =======================================================================

A task is listed only when its numbers are bound to what exists now (``eval_tasks``): the metrics file's
sha256 is the one its protocol card records, every side's set has the fingerprint the card names, the
bridge's content hash is the card's, and params.yaml still defines the task as the card records it. Any
other task that used the bridge is left out and counted with its reason, never shown.

The folder is written aside and swapped in whole (``files.write_dir``): a kill leaves the previous folder
or none, never half of one. Nothing in it depends on the clock or the host, so publishing the same bridge
twice gives the same bytes (the sentence-transformers weights are re-serialised by that library).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embridge.core.config import Params
from embridge.core.errors import BridgeError
from embridge.core.files import fsync_file, sha256_file, write_dir
from embridge.core.layout import ARTIFACTS, WORK, Layout

#: ONNX vs the numpy transform: max abs difference, relative to the output's scale where that exceeds 1
ONNX_TOLERANCE = 1e-5
#: the sentence-transformers folder vs ``bridge embed`` (the same float32 model, batched differently)
ST_TOLERANCE = 1e-5
#: random rows per role for the ONNX check: half standard normal, half unit rows (what encoders give)
PROBE_ROWS = 256
PROBE_SEED = 0
#: texts both the sentence-transformers folder and ``bridge embed`` encode for the check (short, long, unicode)
PROBE_TEXTS = ("a photo of a cat", "aspirin", "2-acetoxybenzoic acid, an analgesic and anti-inflammatory drug",
               "Der schnelle braune Fuchs springt über den faulen Hund.", "x",
               "the sound of rain on a tin roof " * 12)
MARKER = "publish.json"
PUBLISH_FORMAT = 1
#: the Hub's value for a licence that is not one of its identifiers; ``--license`` names the real one
NO_LICENSE = "other"
#: a Hub licence identifier (apache-2.0, mit, cc-by-4.0, other): nothing else reaches the card's front matter
LICENSE_ID = re.compile(r"[a-z0-9][a-z0-9.+-]*")

@dataclass
class Published:
    """What ``publish`` wrote and measured."""

    out: Path
    files: list[str]
    onnx_errors: dict[str, float]
    st_errors: dict[str, float]
    tasks: list[str]
    left_out: list[dict[str, str]] = field(default_factory=list)
    no_onnx: str = ""


# -- checks of the request ------------------------------------------------------------------------------------

def check_out(out: Path, root: Path) -> None:
    """Refuse an ``--out`` that is (or is inside, or holds) the project's ``artifacts/`` or ``.bridge/``, a
    symlink (replacing it would put a real folder where the link was), a file, or a non-empty folder that is
    not an earlier publish (``earlier_publish``): replacing it would delete what the user keeps there."""
    if any(ord(c) < 32 or ord(c) == 127 for c in str(out)):
        raise BridgeError(f"--out {str(out)!r}: a path with a control character (a newline?); name the folder plainly")
    if os.path.islink(out):
        raise BridgeError(f"--out {out}: a symlink (to {os.readlink(out)}); give the folder itself")
    target = Path(out).resolve()
    for kept in (ARTIFACTS, WORK):
        inside = (Path(root) / kept).resolve()
        if target == inside or target.is_relative_to(inside) or inside.is_relative_to(target):
            raise BridgeError(f"--out {out}: inside (or holding) the project's {kept}/, which only the stages "
                              "write; choose a folder outside it")
    if target.exists() and not target.is_dir():
        raise BridgeError(f"--out {out}: exists and is not a folder; give the folder to write")
    if target.is_dir() and any(target.iterdir()):
        why = earlier_publish(target)
        if why:
            raise BridgeError(f"--out {out}: a folder holding files that are not a bridge publish ({why}); choose a new "
                              "or empty folder")


def folder_files(folder: Path) -> dict[str, str]:
    """Every entry under ``folder`` but ``publish.json``: relative path -> ``"file"``, or what else it is."""
    found = {}
    for path in sorted(Path(folder).rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_symlink():
            found[rel] = "symlink"
        elif path.is_file():
            found[rel] = "file"
        elif not path.is_dir():
            found[rel] = "not a plain file"
    found.pop(MARKER, None)
    return found


def verify_folder(folder: Path, hashes: bool = True) -> str | None:
    """Why ``folder`` is not a publish as ``publish.json`` records it, or None: the record must parse, carry
    this format and a bridge, and list exactly the folder's files (and, with ``hashes``, their sha256). An
    edited, swapped or added file is named."""
    folder = Path(folder)
    try:
        record = json.loads((folder / MARKER).read_text())
    except FileNotFoundError:
        return f"no {MARKER}"
    except (OSError, ValueError) as e:
        return f"its {MARKER} is unreadable ({type(e).__name__})"
    if not isinstance(record, dict) or record.get("format") != PUBLISH_FORMAT or not record.get("bridge") \
            or not isinstance(record.get("files"), dict):
        return f"its {MARKER} is not a publish record (format {PUBLISH_FORMAT}, bridge, files)"
    listed, present = record["files"], folder_files(folder)
    for rel, what in present.items():
        if rel not in listed:
            return f"{rel} is not one of the files {MARKER} lists"
        if what != "file":
            return f"{rel} is a {what}"
    missing = sorted(set(listed) - set(present))
    if missing:
        return f"{missing[0]}, listed in {MARKER}, is missing"
    if hashes:
        for rel, digest in listed.items():
            if sha256_file(folder / rel) != digest:
                return f"{rel} differs from the sha256 {MARKER} records (edited or swapped)"
    return None


def earlier_publish(folder: Path) -> str | None:
    """Why ``folder`` may not be replaced as an earlier publish, or None (``verify_folder``, hashes
    included: a file the user edited there is theirs)."""
    return verify_folder(folder)


def bridge_dir(params: Params, name: str, root: Path, seed: int | None) -> Path:
    """The fitted bridge ``name`` (``seed``'s, for a bridge fitted over seeds; its first by default)."""
    if not name:
        raise BridgeError("give the name of a bridge of fit.bridges to publish")
    if name not in params.fit.bridges:
        raise BridgeError(f"no bridge {name!r} in fit.bridges; bridges: {', '.join(sorted(params.fit.bridges))}")
    seeds = params.fit.bridges[name].seeds
    if seed is not None and seed not in seeds:
        raise BridgeError(f"--seed {seed}: bridge {name!r} is fitted for seeds {seeds or 'none (no seeds)'}")
    return Layout(root).bridge(name, seed if seed is not None else (seeds[0] if seeds else None))


def _load(params: Params, name: str, directory: Path, root: Path) -> tuple[Any, dict[str, bytes]]:
    """The bridge, refused when stale, edited or not what params.yaml now asks for, and the bytes of its two
    files (checked to be the snapshot that loaded)."""
    from embridge.bridges.base import CONFIG_FILE, WEIGHTS_FILE, Bridge

    bridge = Bridge.load(directory, frozen=True, fresh_in=root)
    spec = params.fit.bridges[name]
    fitted = {role: f.get("set") for role, f in (bridge.info.get("fitted") or {}).items()}
    if bridge.method != spec.method or (fitted and fitted != dict(spec.inputs)):
        raise BridgeError(f"{directory / CONFIG_FILE}: a {bridge.method} bridge of {fitted}, while params.yaml "
                          f"asks for {spec.method} of {dict(spec.inputs)}; refit it (`bridge fit {name}`)")
    files = {}
    for file in (CONFIG_FILE, WEIGHTS_FILE):
        try:
            files[file] = (directory / file).read_bytes()
        except OSError as e:
            raise BridgeError(f"{directory / file}: cannot read it ({e.strerror or e})") from None
    card = json.loads(files[CONFIG_FILE])
    if card.get("content_sha256") != bridge.content_sha256 or \
            hashlib.sha256(files[WEIGHTS_FILE]).hexdigest() != card.get("weights_sha256"):
        raise BridgeError(f"{directory}: replaced by another fit while publishing; run publish again")
    return bridge, files


def space_records(bridge: Any, root: Path) -> dict[str, dict[str, Any]]:
    """Per role: its set's name, rows and fingerprint as fitted, and the encoder as the set's manifest
    records it (model, package / revision, weights_sha256, prompt)."""
    from embridge.store.embedding_set import EmbeddingSet

    out = {}
    for role, space in bridge.spaces.items():
        fitted = (bridge.info.get("fitted") or {}).get(role, {})
        encoder: dict[str, Any] = {"name": space.encoder}
        if fitted.get("path"):
            encoder = dict(EmbeddingSet(Layout(root).embeddings(fitted["path"]), verify=False).manifest["encoder"])
        out[role] = {"space": f"{space.encoder}/{space.tower}", "dim": space.dim, "tower": space.tower,
                     "set": fitted.get("set", ""), "rows": fitted.get("rows"),
                     "fingerprint": bridge.fitted_on.get(role, ""), "encoder": encoder}
    return out


# -- ONNX -----------------------------------------------------------------------------------------------------

def onnx_models(bridge: Any, card: dict[str, Any], name: str) -> tuple[dict[str, bytes], dict[str, float], str]:
    """Each role's ONNX model, checked against the bridge's numpy transform on random inputs; the max abs
    error per role; or no models and the reason when the method has no graph."""
    from embridge.bridges.onnx_graph import inference_graph, run_onnx, to_onnx

    found = inference_graph(bridge, card)
    if found is None:
        return {}, {}, (f"method {bridge.method!r} writes no inference graph and has no graph form here "
                        "(bridges/onnx_graph.py NUMPY_GRAPHS): its transform is Python code")
    graphs, weights = found
    rng = np.random.default_rng(PROBE_SEED)
    models, errors = {}, {}
    for role, space in bridge.spaces.items():
        x = rng.standard_normal((PROBE_ROWS, space.dim)).astype(np.float32)
        x[PROBE_ROWS // 2:] /= np.linalg.norm(x[PROBE_ROWS // 2:], axis=1, keepdims=True)
        want = np.asarray(bridge._transform(role, x), dtype=np.float32)
        meta = {"embridge.bridge": name, "embridge.method": bridge.method, "embridge.role": role,
                "embridge.space": space.key, "embridge.content_sha256": bridge.content_sha256}
        model = to_onnx(graphs[role], weights, space.dim, want.shape[1], meta)
        got = run_onnx(model, x)
        error = float(np.abs(got - want).max()) if got.shape == want.shape else float("inf")
        if not error <= ONNX_TOLERANCE * max(1.0, float(np.abs(want).max())):
            raise BridgeError(f"bridge {name!r}: the ONNX model of role {role!r} differs from the numpy transform "
                              f"by {error:.3g} (> {ONNX_TOLERANCE:g}) on {PROBE_ROWS} random rows; nothing was "
                              "written")
        models[role], errors[role] = model, error
    return models, errors, ""


# -- sentence-transformers ------------------------------------------------------------------------------------

def st_roles(params: Params, bridge: Any, records: dict[str, dict[str, Any]], asked: list[str] | None
             ) -> list[str]:
    """The roles that get a sentence-transformers folder: every ``st:`` text tower (``asked`` None), none
    (``asked`` ``["none"]``), or the roles ``asked`` names, each refused when it cannot have one."""
    def why_not(role: str) -> str | None:
        space = bridge.spaces[role]
        model = params.encoders[space.encoder].model if space.encoder in params.encoders else ""
        if space.tower != "text":
            return f"its space {space.key} is a {space.tower} tower, and sentence-transformers models encode text"
        if not model.startswith("st:"):
            return f"its encoder {space.encoder!r} is {model or 'not in params.yaml'}, not a sentence-transformers " \
                   "(st:) model"
        recorded = records[role]["encoder"].get("model")
        if recorded and recorded != model:
            return f"its set was extracted with {recorded}, while params.yaml now names {model} (re-extract)"
        return option_drift(params, space.encoder, records[role]["encoder"])

    if asked is None:  # every st: text tower, each refused as when asked (a set of another model is an error)
        asked = [r for r, s in bridge.spaces.items() if s.tower == "text" and s.encoder in params.encoders
                 and params.encoders[s.encoder].model.startswith("st:")]
    if asked == ["none"]:
        return []
    for role in asked:
        if role not in bridge.spaces:
            raise BridgeError(f"--sentence-transformers {role!r}: bridge roles are {', '.join(bridge.spaces)} "
                              "(or none)")
        reason = why_not(role)
        if reason:
            raise BridgeError(f"--sentence-transformers {role}: no sentence-transformers folder for this role: {reason}")
    return list(dict.fromkeys(asked))


def option_drift(params: Params, encoder: str, recorded: dict[str, Any], model_prompts: dict[str, str] | None = None
                 ) -> str | None:
    """Why params.yaml's options of ``st:`` encoder ``encoder`` would shape vectors other than the ones its
    set holds (``recorded``: the set manifest's ``encoder``), or None. The folder is built from params.yaml
    and checked against ``bridge embed``, which reads params.yaml too, so only this comparison catches a
    changed option. ``model_prompts`` (the model's named prompts) resolves ``prompt_name`` to its text, as
    extraction records it; without it ``prompt_name`` is left to the call that has the model."""
    from embridge.encoders.base import parse_options
    from embridge.encoders.st import STOptions

    spec = params.encoders[encoder]
    options = parse_options(STOptions, {k: v for k, v in spec.options.items() if k != "batch_size"}, spec.model)
    key = f"encoders.{encoder}.options"

    def differs(name: str, now: Any, then: Any) -> str:
        return (f"{key}.{name} is {json.dumps(now)} while its set was extracted with {json.dumps(then)} (the "
                "manifest's encoder); re-extract the set and refit, or restore the option")

    if options.revision is not None and recorded.get("revision") not in (None, options.revision):
        return differs("revision", options.revision, recorded.get("revision"))
    if options.truncate_dim != recorded.get("truncate_dim"):
        return differs("truncate_dim", options.truncate_dim, recorded.get("truncate_dim"))
    if options.prompt is not None or model_prompts is not None:
        prompt = options.prompt if options.prompt is not None else \
            (model_prompts or {}).get(options.prompt_name) if options.prompt_name is not None else None
        if prompt != recorded.get("prompt"):
            name = "prompt" if options.prompt is not None or options.prompt_name is None else "prompt_name"
            now = options.prompt if name == "prompt" else f"{options.prompt_name} ({json.dumps(prompt)})"
            return differs(name, now, recorded.get("prompt"))
    if recorded.get("normalized") is False:
        return ("its set was extracted unnormalised (manifest encoder.normalized false), while `bridge embed` "
                "and the folder L2-normalise the tower's output; re-extract with extract.normalize true")
    if options.max_seq_length != recorded.get("max_seq_length"):  # recorded when set (absent: the model's own)
        return differs("max_seq_length", options.max_seq_length, recorded.get("max_seq_length"))
    return None


def _steps(ops: list[list[Any]], weights: dict[str, np.ndarray]) -> list[tuple[Any, ...]]:
    """Graph ops as ``("normalize",)`` and ``("affine", W [out, in], b, activation)`` steps in float64, with
    consecutive affine maps folded into one (a subtraction into the next linear map, a batchnorm into the one
    before): what sentence-transformers' Dense and Normalize modules compute."""
    steps: list[tuple[Any, ...]] = []

    def affine(w: np.ndarray, b: np.ndarray) -> None:
        if steps and steps[-1][0] == "affine" and steps[-1][3] == "identity":
            _, w0, b0, _ = steps.pop()
            w, b = w @ w0, w @ b0 + b
        steps.append(("affine", w, b, "identity"))

    f64 = {k: np.asarray(v, dtype=np.float64) for k, v in weights.items()}
    for name, *args in ops:
        if name == "normalize":
            steps.append(("normalize",))
        elif name == "subtract":
            m = f64[args[0]]
            affine(np.eye(len(m)), -m)
        elif name == "linear":
            affine(f64[f"{args[0]}.weight"], f64[f"{args[0]}.bias"])
        elif name == "batchnorm":
            p = args[0]
            scale = f64[f"{p}.weight"] / np.sqrt(f64[f"{p}.running_var"] + args[1])
            affine(np.diag(scale), f64[f"{p}.bias"] - f64[f"{p}.running_mean"] * scale)
        else:  # an activation: on the affine map just before it, else after an identity map
            if not (steps and steps[-1][0] == "affine" and steps[-1][3] == "identity"):
                dim = steps[-1][1].shape[0] if steps and steps[-1][0] == "affine" else None
                if dim is None:
                    raise BridgeError(f"graph op {name!r} right after a normalisation has no Dense form")
                steps.append(("affine", np.eye(dim), np.zeros(dim), "identity"))
            _, w, b, _ = steps.pop()
            steps.append(("affine", w, b, name))
    return steps


def _st_modules(steps: list[tuple[Any, ...]]) -> list[Any]:
    """sentence-transformers' own Dense / Normalize modules for ``steps`` (no custom code to trust on load)."""
    import torch

    try:
        from sentence_transformers.sentence_transformer.modules import Dense, Normalize
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers.models import Dense, Normalize

    activations = {"identity": torch.nn.Identity, "gelu": torch.nn.GELU, "relu": torch.nn.ReLU, "silu": torch.nn.SiLU}
    modules = []
    for step in steps:
        if step[0] == "normalize":
            modules.append(Normalize())
            continue
        _, w, b, act = step
        modules.append(Dense(w.shape[1], w.shape[0], bias=True, activation_function=activations[act](),
                             init_weight=torch.tensor(w, dtype=torch.float32),
                             init_bias=torch.tensor(b, dtype=torch.float32)))
    return modules


def st_folder(params: Params, bridge: Any, name: str, role: str, graph_ops: list[list[Any]],
              weights: dict[str, np.ndarray], manifest_encoder: dict[str, Any], folder: Path, root: Path) -> float:
    """Write ``role``'s encoder + bridge as a sentence-transformers model in ``folder``; return the max abs
    difference of its ``encode(PROBE_TEXTS)`` from ``bridge embed``'s vectors (refused above ST_TOLERANCE)."""
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise BridgeError("a sentence-transformers folder needs sentence-transformers: pip install "
                          "'embridge[encoders]' (or --sentence-transformers none)") from None

    from embridge.encoders.base import parse_options
    from embridge.encoders.resolve import resolve
    from embridge.encoders.runtime import quiet_transformers
    from embridge.encoders.st import STOptions
    from embridge.query import BridgedEncoder

    quiet_transformers()  # its progress bars: stderr carries only an error
    # its notice of a default prompt (the folder's prompt is the set's, on purpose): stderr carries only an error
    logging.getLogger("sentence_transformers").setLevel(logging.ERROR)

    space = bridge.spaces[role]
    spec = params.encoders[space.encoder]
    options = parse_options(STOptions, {k: v for k, v in spec.options.items() if k != "batch_size"}, spec.model)
    resolved = resolve(spec.model.removeprefix("st:"), options.revision)
    for key in ("weights_sha256", "revision"):
        if manifest_encoder.get(key) and resolved.identity.get(key) != manifest_encoder[key]:
            raise BridgeError(f"encoder {space.encoder!r} ({spec.model}) now resolves to other files ({key} "
                              f"{resolved.identity.get(key)}) than its set was extracted with "
                              f"({manifest_encoder[key]}); re-extract and refit first")
    base = SentenceTransformer(str(resolved.path), device="cpu")
    drift = option_drift(params, space.encoder, manifest_encoder, dict(base.prompts or {}))
    if drift:
        raise BridgeError(f"--sentence-transformers {role}: {drift}")
    prompts, default = dict(base.prompts or {}), base.default_prompt_name
    if options.prompt is not None:
        prompts["bridge"], default = options.prompt, "bridge"
    elif options.prompt_name is not None:
        default = options.prompt_name
    modules = list(base)
    if options.max_seq_length is not None:
        base.max_seq_length = options.max_seq_length
    extra: list[tuple[Any, ...]] = []
    if options.truncate_dim is not None:  # the first k dims, as encode(truncate_dim=k) keeps them
        # renamed get_embedding_dimension in sentence-transformers 6; the old name warns there
        width = int((getattr(base, "get_embedding_dimension", None) or base.get_sentence_embedding_dimension)())
        extra.append(("affine", np.eye(width)[:options.truncate_dim], np.zeros(options.truncate_dim), "identity"))
    # extraction and `bridge embed` L2-normalise the tower's output before the bridge
    steps = extra + [("normalize",)] + _steps(graph_ops, weights)
    model = SentenceTransformer(modules=modules + _st_modules(steps), device="cpu", prompts=prompts,
                                default_prompt_name=default)
    model.save(str(folder), create_model_card=False)
    got = SentenceTransformer(str(folder), device="cpu").encode(list(PROBE_TEXTS), convert_to_numpy=True)
    # `bridge embed`'s two steps: the tower (L2-normalised), then this bridge's transform of the role
    plain = BridgedEncoder(space.encoder, "text", params, None, root).encode(list(PROBE_TEXTS))
    want = np.asarray(bridge._transform(role, plain), dtype=np.float32)
    error = float(np.abs(got - want).max()) if got.shape == want.shape else float("inf")
    if not error <= ST_TOLERANCE:
        raise BridgeError(f"bridge {name!r}: the sentence-transformers folder of role {role!r} differs from "
                          f"`bridge embed` by {error:.3g} (> {ST_TOLERANCE:g}) on {len(PROBE_TEXTS)} texts; "
                          "nothing was written")
    return error


# -- the eval tasks that used it ------------------------------------------------------------------------------

def eval_tasks(params: Params, bridge: Any, name: str, root: Path) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """The tasks whose protocol card (under ``artifacts/protocols/``) names bridge ``name`` and whose numbers
    are bound to what exists now (``task_problem``), with their protocol line, headline and metrics; every
    other task that used it (a card naming it, or a task of eval.tasks naming it) left out, with why."""
    from embridge.evaluate.tasks import task_kind
    from embridge.report import protocol_line

    layout, used, left_out, seen = Layout(root), [], [], set()
    folder = layout.protocol("x").parent
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        task = path.stem
        try:
            card = json.loads(path.read_text())
            sides = [s for s in card["sides"].values() if (s.get("bridge") or {}).get("name") == name]
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            if _defined_with(params, task, name):
                seen.add(task)
                left_out.append({"task": task, "why": f"its protocol card {path} is unreadable ({type(e).__name__})"})
            continue
        if not sides:
            continue
        seen.add(task)
        why, metrics = task_problem(params, layout, task, card, bridge, name)
        if why:
            left_out.append({"task": task, "why": why})
            continue
        kind, options = card.get("kind", ""), card.get("options") or {}
        try:
            declared = task_kind(kind)
            head, columns = declared.headline_of(options), list(declared.columns)
        except (BridgeError, ValueError):  # a kind no longer declared, or options it no longer takes
            head, columns = "", []
        shown = [c for c in dict.fromkeys([head, *columns]) if c in metrics]
        used.append({"task": task, "kind": kind, "headline": head if head in metrics else "",
                     "shown": {c: metrics[c] for c in shown}, "protocol_line": protocol_line(task, root),
                     "protocol": card, "metrics": metrics})
    for task in sorted(params.eval.tasks):
        if task not in seen and _defined_with(params, task, name):
            left_out.append({"task": task, "why": f"no protocol card ({layout.protocol(task)}); run `bridge eval "
                             f"{task}`"})
    return used, left_out


def _defined_with(params: Params, task: str, name: str) -> bool:
    """Whether eval.tasks.<task> reads a side through bridge ``name``."""
    spec = params.eval.tasks.get(task)
    return spec is not None and any(side.bridge == name for _, side in spec.all_sides())


def task_problem(params: Params, layout: Layout, task: str, card: dict[str, Any], bridge: Any, name: str
                 ) -> tuple[str, dict[str, Any]]:
    """Why the numbers of ``task`` (its protocol ``card`` names ``bridge`` as ``name``) may not be shown, or ``""``, and
    its metrics. The card binds them to what produced them: the metrics file's sha256, each side's set
    fingerprint, the bridge's content hash and the task's definition; each must still hold."""
    from embridge.store.embedding_set import EmbeddingSet

    rerun = f"; rerun `bridge eval {task}`"
    if card.get("task") != task:
        return f"its protocol card names task {card.get('task')!r}, not {task!r} (copied from another task?)", {}
    hashes = {s["bridge"].get("content_sha256") for s in card["sides"].values()
              if (s.get("bridge") or {}).get("name") == name}
    if hashes != {bridge.content_sha256}:
        return ("stale: its protocol card names another fit of this bridge (content_sha256 "
                f"{min(str(h)[:12] for h in hashes)}...){rerun}"), {}
    spec = params.eval.tasks.get(task)
    if spec is None:
        return "no longer a task of eval.tasks in params.yaml", {}
    if "definition" not in card:
        return f"its protocol card records no task definition (written by an older eval){rerun}", {}
    if card["definition"] != spec.model_dump(mode="json", exclude_defaults=True):
        return f"params.yaml now defines eval.tasks.{task} otherwise than it ran with (kind, options or sides){rerun}", {}
    for label, ran in card["sides"].items():
        ref = params.extract.sets.get(ran.get("set"))
        try:
            now = EmbeddingSet(layout.embeddings(ref.path), verify=False).fingerprint if ref else None
        except BridgeError:
            now = None
        if now != ran.get("fingerprint"):
            return (f"stale: set {ran.get('set')} ({label}) " + ("is missing or unreadable" if now is None else
                    "has been re-extracted since the task ran") + rerun), {}
    metrics_file = layout.metrics(task)
    try:
        digest = sha256_file(metrics_file)
        metrics = json.loads(metrics_file.read_text())
    except (OSError, ValueError) as e:
        return f"its metrics {metrics_file} are missing or unreadable ({type(e).__name__})", {}
    if not card.get("metrics_sha256"):
        return f"its protocol card records no metrics_sha256 (written by an older eval){rerun}", {}
    if digest != card["metrics_sha256"]:
        return f"its metrics {metrics_file} differ from the file the eval stage wrote (sha256){rerun}", {}
    if not isinstance(metrics, dict):
        return f"its metrics {metrics_file} are not an object", {}
    bad = sorted(k for k, v in metrics.items() if isinstance(v, bool) or not isinstance(v, (int, float))
                 or not math.isfinite(v))
    if bad:
        return f"its metrics {metrics_file} hold a value that is not a finite number ({bad[0]!r})", {}
    return "", metrics


# -- the model card -------------------------------------------------------------------------------------------

def paper(bridge: Any) -> str:
    """What the method implements: a built-in method's paper (its ``core/catalog.py`` entry), or for a
    user-defined method the first line of its class docstring (the class imported when it can be: a bridge
    loaded frozen is applied from its graph, without its class)."""
    from embridge.core.catalog import METHODS

    if bridge.method in METHODS:
        return METHODS.get(bridge.method).info["paper"]
    from embridge.bridges.base import FrozenBridge, method_class

    cls: Any = type(bridge)
    if cls is FrozenBridge:
        try:
            cls = method_class(bridge.method)
        except BridgeError:
            cls = None
    doc = ((cls.__doc__ if cls is not None else "") or "").strip()
    first = doc.splitlines()[0].strip() if doc else ""
    return f"{bridge.method} (a user-defined method)" + (f": {first}" if first else "")


def _yaml_list(items: list[str]) -> str:
    return "\n".join(f"- {json.dumps(i)}" for i in items)


def model_card(name: str, bridge: Any, card: dict[str, Any], records: dict[str, dict[str, Any]], tasks: list[dict[str, Any]],
               left_out: list[dict[str, str]], onnx_errors: dict[str, float], no_onnx: str,
               st_errors: dict[str, float], license: str, version: str) -> str:
    """``README.md``: Hub front matter, then what the bridge is, what it was fitted on and what it scored."""
    # a hub id (a hub snapshot's revision, or a packaged copy of one), never a local path
    base_models = sorted({r["encoder"]["id"] for r in records.values()
                          if r["encoder"].get("id") and ("revision" in r["encoder"] or "package" in r["encoder"])})
    tags = ["embridge", "embedding-bridge", bridge.method, *(["onnx"] if onnx_errors else []),
            *(["sentence-transformers"] if st_errors else [])]
    front = ["library_name: embridge", f"license: {json.dumps(license)}"]
    if license == NO_LICENSE:
        front.append("license_name: unspecified")
    front += ["tags:", _yaml_list(tags),
              f"pipeline_tag: {'sentence-similarity' if st_errors else 'feature-extraction'}"]
    if base_models:
        front += ["base_model:", _yaml_list(base_models)]
    target = bridge.info.get("target") or "its shared space"
    spaces = ", ".join(f"`{r['space']}` ({role})" for role, r in records.items())
    lines = ["---", *front, "---", "", f"# {name}", "",
             (f"A fitted **{bridge.method}** bridge (written by {version}): it maps vectors of {spaces} into one "
              f"shared space, `{target}`, so that vectors of different encoders (or modalities) can be compared "
              "by cosine similarity there."), "",
             "## Method", "", f"- {paper(bridge)}",
             f"- parameters: `{json.dumps(card.get('params', {}), sort_keys=True)}`",
             "", "## Spaces", "",
             "Inputs are each encoder's L2-normalised output, as the sets were extracted.", "",
             "| role | space | dim | encoder model | identity |", "| --- | --- | ---: | --- | --- |"]
    for role, r in records.items():
        e = r["encoder"]
        ident = "; ".join(f"{k} `{e[k]}`" for k in ("package", "revision", "weights_sha256", "prompt",
                                                     "truncate_dim") if e.get(k) is not None)
        lines.append(f"| {role} | `{r['space']}` | {r['dim']} | `{e.get('model', '?')}` | {ident or 'not recorded'} |")
    lines += ["", "## Fitted on", "", "| role | set | rows | fingerprint |", "| --- | --- | ---: | --- |"]
    lines += [f"| {role} | `{r['set'] or '?'}` | {r['rows'] if r['rows'] is not None else '?'} | `{r['fingerprint']}` |"
              for role, r in records.items()]
    facts = {k: v for k, v in bridge.info.items() if k in ("pairs", "train_r2", "rank", "alignment_error",
                                                            "train_relative_error", "gap_length")}
    if facts:
        lines += ["", "Fit: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                         for k, v in facts.items()) + "."]
    lines += ["", f"Bridge content_sha256: `{bridge.content_sha256}`.", "", "## Evaluation", ""]
    if tasks:
        lines += [("Tasks whose protocol card names this bridge's content hash; the numbers are the eval stage's "
                   "(`eval/<task>.json` holds each card and every metric)."), "",
                  "| task | kind | headline | metrics |", "| --- | --- | --- | --- |"]
        for t in tasks:
            head = f"{t['headline']} **{t['shown'][t['headline']]:.4f}**" if t["headline"] else "-"
            rest = ", ".join(f"{k} {v:.4f}" for k, v in t["shown"].items() if k != t["headline"]
                             and isinstance(v, (int, float)))
            lines.append(f"| {t['task']} | {t['kind']} | {head} | {rest} |")
        lines += ["", "Protocols:", ""] + [f"- {t['protocol_line']}" for t in tasks]
    else:
        lines.append("No eval task's protocol card names this bridge's current content hash.")
    if left_out:
        lines += ["", f"{len(left_out)} task(s) that used this bridge are left out:", ""]
        lines += [f"- {x['task']}: {x['why']}" for x in left_out]
    lines += ["", "## Files", "", "- `bridge.json`, `weights.safetensors`: the bridge as embridge saved it"]
    if onnx_errors:
        lines.append("- `onnx/<role>.onnx`: each role's transform (input `embeddings` [batch, dim], output "
                     "`shared`, float32); max abs difference from the numpy path on random inputs: "
                     + ", ".join(f"{r} {e:.2g}" for r, e in onnx_errors.items()))
    else:
        lines.append(f"- no ONNX model: {no_onnx}")
    for role, e in st_errors.items():
        lines.append(f"- `sentence-transformers/{role}/`: the {role} encoder followed by this bridge (max abs "
                     f"difference from `bridge embed`: {e:.2g})")
    lines += ["- `eval/<task>.json`: each listed task's protocol card and metrics",
              "- `publish.json`: what publishing checked", "", "## Usage", "",
              ("`folder` is this folder: its local path, or `huggingface_hub.snapshot_download(\"<repo id>\")` "
               "once uploaded."), "", "```python", "import embridge", "",
              "bridge = embridge.load(folder)  # checks both files' hashes", "```", ""]
    if onnx_errors:
        role, r = next(iter(records.items()))
        lines += ["```python", "import numpy as np, onnxruntime as ort", "",
                  f"session = ort.InferenceSession(f\"{{folder}}/onnx/{role}.onnx\")",
                  (f"shared = session.run([\"shared\"], {{\"embeddings\": vectors.astype(np.float32)}})[0]"
                   f"  # vectors: [n, {r['dim']}] of {r['space']}"), "```", ""]
    for role in st_errors:
        lines += ["```python", "from sentence_transformers import SentenceTransformer", "",
                  f"model = SentenceTransformer(f\"{{folder}}/sentence-transformers/{role}\")",
                  "vectors = model.encode([\"a text\"])  # in the bridge's shared space, as `bridge embed` gives",
                  "```", ""]
    lines += ["## Licence", "",
              f"`{license}`" + (": no licence was chosen when this folder was published (`bridge publish "
                                "--license`); the encoders' and the data's own licences apply to what they cover."
                                if license == NO_LICENSE else "."), ""]
    return "\n".join(lines)


# -- the whole folder -----------------------------------------------------------------------------------------

def publish(params: Params, name: str, out: Path, root: Path = Path("."), license: str = NO_LICENSE,
            sentence_transformers: list[str] | None = None, seed: int | None = None) -> Published:
    """Write bridge ``name`` (fitted in the project at ``root``) as the model folder ``out``; see the module
    docstring for what it holds and what is checked first. ``sentence_transformers``: the roles to write a
    sentence-transformers folder for (None: every ``st:`` text tower; ``["none"]``: none)."""
    from embridge.bridges.base import CONFIG_FILE
    from embridge.core.lock import hold
    from embridge.store.embedding_set import bridge_version

    if not LICENSE_ID.fullmatch(license):
        raise BridgeError(f"--license {license!r}: give one licence identifier as the Hub writes it (lowercase "
                          f"letters, digits, '.', '+', '-': apache-2.0, mit, cc-by-4.0), or leave it out for "
                          f"{NO_LICENSE!r}")
    directory = bridge_dir(params, name, root, seed)
    out = Path(out)
    check_out(out, root)
    key = hashlib.sha256(str(out.resolve()).encode()).hexdigest()[:16]
    with hold(Layout(root).lock("publish", key), f"--out {out}"):
        check_out(out, root)  # again, under the lock: another publish may have just written it
        bridge, files = _load(params, name, directory, root)
        card = json.loads(files[CONFIG_FILE])
        records = space_records(bridge, root)
        roles = st_roles(params, bridge, records, sentence_transformers)
        models, onnx_errors, no_onnx = onnx_models(bridge, card, name)
        tasks, left_out = eval_tasks(params, bridge, name, root)
        version = bridge_version()

        def write(staging: Path) -> dict[str, float]:
            for file, data in files.items():
                (staging / file).write_bytes(data)
            for role, model in models.items():
                (staging / "onnx").mkdir(exist_ok=True)
                (staging / "onnx" / f"{role}.onnx").write_bytes(model)
            st_errors = {}
            if roles:
                from embridge.bridges.onnx_graph import inference_graph

                graphs, weights = inference_graph(bridge, card) or ({}, {})
                if not graphs:
                    raise BridgeError(f"--sentence-transformers: method {bridge.method!r} has no graph to turn into "
                                      "sentence-transformers modules")
                for role in roles:
                    st_errors[role] = st_folder(params, bridge, name, role, graphs[role], weights,
                                                records[role]["encoder"], staging / "sentence-transformers" / role,
                                                root)
            for t in tasks:
                (staging / "eval").mkdir(exist_ok=True)
                (staging / "eval" / f"{t['task']}.json").write_text(
                    json.dumps({"protocol": t["protocol"], "metrics": t["metrics"]}, indent=1, allow_nan=True) + "\n")
            (staging / "README.md").write_text(model_card(name, bridge, card, records, tasks, left_out, onnx_errors,
                                                          no_onnx, st_errors, license, version))
            record = {"format": PUBLISH_FORMAT, "bridge": name, "method": bridge.method,
                      "content_sha256": bridge.content_sha256, "code": version, "license": license,
                      "onnx": {r: {"file": f"onnx/{r}.onnx", "max_abs_error": e, "rows": PROBE_ROWS,
                                   "tolerance": ONNX_TOLERANCE} for r, e in onnx_errors.items()},
                      "no_onnx": no_onnx or None,
                      "sentence_transformers": {r: {"folder": f"sentence-transformers/{r}", "max_abs_error": e,
                                                    "texts": len(PROBE_TEXTS), "tolerance": ST_TOLERANCE}
                                                for r, e in st_errors.items()},
                      "tasks": [t["task"] for t in tasks], "left_out": left_out,
                      "files": {rel: sha256_file(staging / rel) for rel in folder_files(staging)}}
            (staging / MARKER).write_text(json.dumps(record, indent=1) + "\n")
            why = verify_folder(staging, hashes=False)
            if why:  # a symlink or special file a library wrote: the folder would not be replaceable later
                raise BridgeError(f"--out {out}: the folder as written is not a plain publish ({why}); nothing was "
                                  "written")
            _check_loads(staging, bridge)
            for path in staging.rglob("*"):
                if path.is_file():
                    fsync_file(path)
            return st_errors

        st_errors = write_dir(out, write)
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    return Published(out, written, onnx_errors, st_errors, [t["task"] for t in tasks], left_out, no_onnx)


def _check_loads(folder: Path, bridge: Any) -> None:
    """The folder's bridge loads through the public loader and transforms exactly as the fitted one."""
    from embridge.bridges.base import Bridge

    again = Bridge.load(folder, frozen=True)
    rng = np.random.default_rng(PROBE_SEED)
    for role, space in bridge.spaces.items():
        x = rng.standard_normal((8, space.dim)).astype(np.float32)
        if again.content_sha256 != bridge.content_sha256 or \
                not np.array_equal(again._transform(role, x), bridge._transform(role, x)):
            raise BridgeError(f"{folder}: the copied bridge does not transform as the fitted one; nothing was written")
