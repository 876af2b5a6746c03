"""Write this lane's params.yaml: molecules and their names (PubChem + RDKit + MiniLM), five bridges, two
name views, three seeds.

The lane is a grid (method x view x seed), so its params are written rather than typed: edit the constants
here, run ``python write_params.py`` in this folder, then ``bridge dvc`` (then ``make molecules`` runs the
lane; its page: docs/lanes/molecules.md).

* A seed is a dataset: its own seeded draw of ``SIZE`` molecules and its own 80/20 split by molecule, so
  the spread over seeds is the sampling noise of both (the closed-form bridges have no seed of their own).
* A view is which name of a molecule is its text: ``common`` (aspirin) or ``iupac`` (2-acetyloxybenzoic
  acid). Both are rows of one text set, labelled by view; a bridge fits on one view's rows, and a task
  asks with that view's names (``subset: {labels: [view]}``).
* Tasks: text -> molecule retrieval (R@1, R@5, MRR; molecule -> text is the task's g2q direction) and
  TextME's candidates protocol (the true molecule among T = 4 and 20 seeded candidates: MRR@4 / MRR@20).
"""

from __future__ import annotations

from pathlib import Path

import yaml

SIZE = 6000
SEEDS = (0, 1, 2)
VIEWS = ("common", "iupac")
#: method name in the task names -> the bridge spec's method and params
METHODS = {
    "linear": ("linear", {"alpha": 0.0}),
    "ridge": ("linear", {"alpha": 10.0}),
    "procrustes": ("procrustes", {}),
    "cca": ("cca", {}),
    "mlp": ("paired_mlp", {"hidden": 512, "epochs": 50, "threads": 1}),
}
ROLES = {"paired_mlp": ("modal", "anchor")}  # the others are (source, target)


def params() -> dict:
    datasets, sets, bridges, tasks = {}, {}, {}, {}
    for seed in SEEDS:
        data = f"pubchem-s{seed}"
        datasets[data] = {"source": "pubchem", "options": {
            "names": list(VIEWS), "size": SIZE, "test_fraction": 0.2, "seed": seed, "on_error": "skip"}}
        molecule, text = f"{data}-morgan", f"{data}-minilm"
        sets[molecule] = {"dataset": data, "encoder": "morgan", "tower": "molecule"}
        sets[text] = {"dataset": data, "encoder": "minilm", "tower": "text"}
        for view in VIEWS:
            for name, (method, method_params) in METHODS.items():
                source_role, target_role = ROLES.get(method, ("source", "target"))
                bridge = f"{name}-{view}-s{seed}"
                bridges[bridge] = {"method": method, "inputs": {source_role: molecule, target_role: text},
                                   "subsets": {target_role: {"labels": [view]}},
                                   "params": dict(method_params)}
                sides = {"query": {"set": text, "bridge": bridge, "subset": {"labels": [view]}},
                         "gallery": {"set": molecule, "bridge": bridge}}
                tasks[f"t2m-{name}-{view}-s{seed}"] = {"kind": "retrieval", **sides}
                tasks[f"cand-{name}-{view}-s{seed}"] = {"kind": "candidates", **sides,
                                                        "options": {"candidates": [4, 20]}}
    return {
        "datasets": datasets,
        "encoders": {
            "morgan": {"model": "rdkit:morgan",
                       "options": {"radius": 2, "size": 2048, "counts": True, "transform": "log1p"}},
            "minilm": {"model": "st:sentence-transformers/all-MiniLM-L6-v2", "options": {"batch_size": 128}},
        },
        "extract": {"format": "parquet", "dtype": "float16", "shard_rows": 250000, "batch_size": 256,
                    "normalize": True, "on_error": "fail", "sets": sets},
        "fit": {"bridges": bridges},
        "eval": {"index": "exact", "ks": [1, 5, 10], "tasks": tasks},
    }


HEADER = ("# Written by write_params.py (edit it, then `python write_params.py && bridge dvc`): the\n"
          "# molecule lane, PubChem molecules (Morgan fingerprints) and their names (MiniLM), 5 bridges x\n"
          "# 2 name views x 3 seeds.\n")

if __name__ == "__main__":
    out = Path(__file__).with_name("params.yaml")
    out.write_text(HEADER + yaml.safe_dump(params(), sort_keys=False, width=110))
    print(f"wrote {out}")
