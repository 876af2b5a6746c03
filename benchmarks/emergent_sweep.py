"""Where EmergentBridge's proxy term pays: a sweep over lambda, pair sparsity, disjoint pair groups,
gap size and proxy kind (issue 10 item 9), on the default pipeline's world, over world seeds.

Every point is a params.yaml setting, so ``dvc exp run`` repeats it on the pipeline (the command
is printed beside each row): the world and encoders are ``worlds.default``, ``syn-clip`` (anchor
= text, bound = image) and ``syn-clap`` (new = audio); the bridge is ``emergent-audio``'s
params plus the point's; the scores are the ``emergent-matrix`` task's R@1 (both ways, test
groups) of audio <-> text (the trained anchor pair) and audio <-> image (never paired).
This script runs the same fit and metric in one process (a dvc experiment per point and seed
would spend most of its time re-extracting unchanged sets).

    python benchmarks/emergent_sweep.py                   # the grid below, 3 seeds, ~15 min on 2 cores
    python benchmarks/emergent_sweep.py --out FILE.csv    # also write the table (the report draws it)
    python benchmarks/emergent_sweep.py --settings "disjoint groups" --out FILE.csv   # rerun one setting's rows
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]

from embridge.bridges.emergent import EmergentBridge, EmergentParams
from embridge.core.config import Subset
from embridge.core.vectors import Space, Vectors
from embridge.evaluate import metrics
from embridge.worlds.synthetic import EncoderConfig, SyntheticEncoder, World, WorldConfig

PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())
BRIDGE = "emergent-audio"
#: one factor at a time around the default, lambda crossed with each (the gain's shape is in lambda)
LAMBDAS = (0.0, 0.03, 0.1, 0.3, 1.0)
SETTINGS = {
    "default": {},
    # a tenth of the head's pairs, at the same number of optimiser steps (epochs x 10)
    "sparse pairs (10 %)": {"subsets": {"new": {"fraction": 0.1}}, "epochs": 500},
    # the held-out protocol: (anchor, bound) and (new, anchor) pairs from disjoint halves of the groups
    "disjoint groups": {"subsets": {"bound": {"part": "0/2"}, "new": {"part": "1/2"}}},
    "wide gap (clip gap 1.6)": {"gap": 1.6},
    "regressor proxy": {"proxy": "regressor", "proxy_epochs": 100},
}


def sets(seed: int, gap: float | None) -> dict[str, Vectors]:
    world = World(WorldConfig(**{**PARAMS["worlds"]["default"], "seed": seed}))
    out = {}
    for role, enc_name, tower in (("anchor", "syn-clip", "text"), ("bound", "syn-clip", "image"),
                                  ("new", "syn-clap", "audio")):
        options = {k: v for k, v in PARAMS["encoders"][enc_name]["options"].items() if k != "world"}
        if gap is not None and enc_name == "syn-clip":
            options["gap"] = gap
        enc = SyntheticEncoder(world, EncoderConfig(kind="bimodal", **options))
        obs = world.observations(tower)
        vectors = enc.encode(tower, obs.payload)
        out[role] = Vectors(Space(enc_name, tower, vectors.shape[1]), obs.ids, obs.labels, obs.groups,
                            obs.splits, vectors, fingerprint=f"{enc_name}/{tower}/{seed}/{gap}")
    return out


def r1_both_ways(x: Vectors, zx: np.ndarray, y: Vectors, zy: np.ndarray) -> float:
    return 50.0 * (metrics.retrieval(zx, x.groups, zy, y.groups, ks=(1,))["recall@1"]
                   + metrics.retrieval(zy, y.groups, zx, x.groups, ks=(1,))["recall@1"])


def run_point(seed: int, lam: float, setting: dict) -> dict[str, float]:
    setting = dict(setting)
    data = sets(seed, setting.pop("gap", None))
    subsets = {role: Subset(**spec) for role, spec in setting.pop("subsets", {}).items()}
    train = {r: v.take(np.flatnonzero(v.splits == "train")) for r, v in data.items()}
    train = {r: v.take(np.flatnonzero(subsets[r].keep(v.groups, v.labels))) if r in subsets else v
             for r, v in train.items()}  # as the pipeline's fit_rows applies fit.bridges.<b>.subsets
    test = {r: v.take(np.flatnonzero(v.splits == "test")) for r, v in data.items()}
    base = {k: v for k, v in PARAMS["fit"]["bridges"][BRIDGE].get("params", {}).items()}
    params = EmergentParams(**{**base, **setting, "proxy_weight": lam})
    bridge = EmergentBridge(params, {r: v.space for r, v in train.items()})
    bridge.fit(train)
    zm = bridge.transform(test["new"].vectors, space=data["new"].space.key)
    return {"anchor_r1": r1_both_ways(test["new"], zm, test["anchor"], test["anchor"].vectors),
            "emergent_r1": r1_both_ways(test["new"], zm, test["bound"], test["bound"].vectors)}


def dvc_command(lam: float, setting: dict) -> str:
    sets_ = [f"fit.bridges.{BRIDGE}.params.proxy_weight={lam}"]
    for key, value in setting.items():
        if key == "gap":
            sets_.append(f"encoders.syn-clip.options.gap={value}")
        elif key == "subsets":  # new keys of params.yaml: "++" adds them (Hydra's override grammar)
            sets_ += [f"++fit.bridges.{BRIDGE}.subsets.{role}.{k}={v}" for role, spec in value.items()
                      for k, v in spec.items()]
        else:
            sets_.append(f"fit.bridges.{BRIDGE}.params.{key}={str(value).lower() if isinstance(value, bool) else value}")
    return "dvc exp run " + " ".join(f"-S {s}" for s in sets_)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--settings", default=",".join(SETTINGS), help="comma-separated names of SETTINGS")
    ap.add_argument("--lambdas", default=",".join(map(str, LAMBDAS)))
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    lambdas = [float(x) for x in args.lambdas.split(",")]
    rows = []
    print(f"{'setting':26s} {'lambda':>6s} {'anchor R@1':>14s} {'emergent R@1':>14s} {'d anchor':>9s} "
          f"{'d emergent':>11s} {'rel':>6s} {'s/fit':>6s}")
    for name in args.settings.split(","):
        setting = SETTINGS[name]
        runs = {}
        for lam in lambdas:
            t0 = time.perf_counter()
            runs[lam] = [run_point(s, lam, setting) for s in seeds]
            seconds = (time.perf_counter() - t0) / len(seeds)
            a = np.array([r["anchor_r1"] for r in runs[lam]])
            e = np.array([r["emergent_r1"] for r in runs[lam]])
            a0 = np.array([r["anchor_r1"] for r in runs[lambdas[0]]])
            e0 = np.array([r["emergent_r1"] for r in runs[lambdas[0]]])
            row = {"setting": name, "lambda": lam, "anchor_r1": a.mean(), "anchor_r1_std": a.std(ddof=1),
                   "emergent_r1": e.mean(), "emergent_r1_std": e.std(ddof=1),
                   "anchor_change": (a - a0).mean(), "emergent_gain": (e - e0).mean(),
                   "relative_gain": 100 * ((e - e0) / e0).mean(), "seeds": len(seeds),
                   "command": dvc_command(lam, setting)}
            rows.append(row)
            print(f"{name:26s} {lam:6.2f} {a.mean():7.2f} ± {a.std(ddof=1):4.2f} {e.mean():7.2f} ± "
                  f"{e.std(ddof=1):4.2f} {row['anchor_change']:+9.2f} {row['emergent_gain']:+11.2f} "
                  f"{row['relative_gain']:+5.0f}% {seconds:6.1f}", flush=True)
    if args.out:
        rows = [{k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in r.items()} for r in rows]
        if args.out.exists():  # the settings not run this time keep their rows
            with args.out.open(newline="") as f:
                ran = {r["setting"] for r in rows}
                rows = [r for r in csv.DictReader(f) if r["setting"] not in ran] + rows
        rows.sort(key=lambda r: list(SETTINGS).index(r["setting"]) if r["setting"] in SETTINGS else len(SETTINGS))
        with args.out.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main()
