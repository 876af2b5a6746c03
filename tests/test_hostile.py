"""Hostile inputs beyond the bad-input catalogue (issue 12): names that try to be paths, numbers that are
not finite or not sane, params files with nothing in them, bridge cards and manifests edited by hand,
tasks whose sides cannot meet, malformed tables, a read-only disk, and a fit that diverges.

Every case must give exit code 2 and exactly one line ``error: ...`` naming the culprit (file, key,
row, shard, task or bridge), never a traceback or an ``internal error``, and must leave everything
already written byte-for-byte as it was: ``artifacts/`` hashes the same and nothing appears outside it
(the project sits a few directories deep in ``tmp_path`` so a name that climbs out of ``artifacts/``
lands somewhere this test looks). ``tests/test_bad_inputs.py`` is the catalogue this extends; its
golden project and its ways of making an input bad are reused here.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from bridge_project import cli, synthetic_lane, tree_digest, write_params
from test_bad_inputs import (
    LINEAR,
    TEXT,
    golden,  # noqa: F401 (the fixture, used by `project`)
    json_file,
    params,
    remove,
    write,
)

OFFSET = Path("artifacts/bridges/clip-offset")
ANCHOR = Path("artifacts/embeddings/synth/syn-anchor/text")
#: how deep the project sits under tmp_path: deeper than any `..` chain below climbs out of artifacts/
DEPTH = ("up1", "up2", "up3", "up4", "up5")

Setup = Callable[[Path], None]


# -- ways to make an input hostile (beyond test_bad_inputs') --------------------------------------

def edit(change: Callable[[dict], Any]) -> Setup:
    """Apply ``change`` to the parsed params.yaml of the project and write it back."""
    def apply(project: Path) -> None:
        data = yaml.safe_load((project / "params.yaml").read_text())
        change(data)
        (project / "params.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return apply


def _sides(data: dict) -> Iterator[dict]:
    for task in data["eval"]["tasks"].values():
        for side in ("query", "gallery"):
            if task.get(side):
                yield task[side]


def _rename_key(mapping: dict, old: str, new: str) -> None:
    mapping[new] = mapping.pop(old)


def rename_bridge(new: str, old: str = "clip-linear") -> Setup:
    """Bridge ``old`` renamed ``new`` in fit.bridges and in every task side that uses it."""
    def change(data: dict) -> None:
        _rename_key(data["fit"]["bridges"], old, new)
        for side in _sides(data):
            if side.get("bridge") == old:
                side["bridge"] = new
    return edit(change)


def rename_task(new: str, old: str = "clip-zeroshot-linear") -> Setup:
    def change(data: dict) -> None:
        _rename_key(data["eval"]["tasks"], old, new)
        for task in data["eval"]["tasks"].values():
            if task.get("reference") == old:
                task["reference"] = new
    return edit(change)


def rename_dataset(new: str, old: str = "synth") -> Setup:
    def change(data: dict) -> None:
        _rename_key(data["datasets"], old, new)
        for spec in data["extract"]["sets"].values():
            if spec.get("dataset") == old:
                spec["dataset"] = new
    return edit(change)


def rename_encoder(new: str, old: str = "syn-anchor") -> Setup:
    """``syn-anchor`` is used by one set only (no bridge or task), so only that set refers to it."""
    def change(data: dict) -> None:
        _rename_key(data["encoders"], old, new)
        for spec in data["extract"]["sets"].values():
            if spec["encoder"] == old:
                spec["encoder"] = new
    return edit(change)


def rename_set(new: str, old: str = "synth-anchor-text") -> Setup:
    return edit(lambda data: _rename_key(data["extract"]["sets"], old, new))


def rename_world(new: str, old: str = "default") -> Setup:
    def change(data: dict) -> None:
        _rename_key(data["worlds"], old, new)
        for spec in (*data["datasets"].values(), *data["encoders"].values()):
            if spec.get("options", {}).get("world") == old:
                spec["options"]["world"] = new
    return edit(change)


def add_task(name: str, spec: dict) -> Setup:
    return edit(lambda data: data["eval"]["tasks"].update({name: spec}))


def offset_across_dims(data: dict) -> None:
    """clip-offset between syn-clip/image (48-d) and syn-anchor/text (64-d); its task goes, so the bridge
    is the only thing wrong."""
    data["fit"]["bridges"]["clip-offset"]["inputs"]["target"] = "synth-anchor-text"
    del data["eval"]["tasks"]["clip-zeroshot-offset"]


def weights_with(value: float, bridge: Path, tensor: str) -> Setup:
    """``value`` (NaN, inf) in one entry of ``tensor`` of the bridge's weights, with ``weights_sha256``
    updated to match: the checksum is consistent, only the numbers are poison."""
    def change(project: Path) -> None:
        from safetensors.numpy import load_file, save_file

        path = project / bridge / "weights.safetensors"
        weights = load_file(str(path))
        weights[tensor].flat[len(weights[tensor].flat) // 2] = value
        save_file(weights, str(path))
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        json_file(bridge / "bridge.json", lambda b: b.update(weights_sha256=digest))(project)
    return change


HOSTILE_ENCODERS = '''
import numpy as np
from embridge.encoders.base import Encoder, TextTower


class Letters(TextTower):
    dim = 26

    def encode(self, prepared):
        out = np.zeros((len(prepared), 26), dtype=np.float32)
        for i, text in enumerate(prepared):
            for ch in str(text).lower():
                if "a" <= ch <= "z":
                    out[i, ord(ch) - 97] += 1.0
        return out + 0.01


class LetterCounts(Encoder):
    family = "python"

    def __init__(self):
        self.towers = {"text": Letters()}

    def identity(self):
        return {"model": "python:hostile_encoders:LetterCounts", "revision": "v1"}
'''


def table(file: str, content: bytes | Callable[[Path], None], path: str | None = None) -> Setup:
    """A ``table`` dataset ``items`` read from ``file`` (bytes, or a writer of the file), encoded by a
    letter-count encoder of the user's own (``python:``), as set ``items-text``."""
    def change(project: Path) -> None:
        (project / "hostile_encoders.py").write_text(HOSTILE_ENCODERS)
        if callable(content):
            content(project / file)
        else:
            (project / file).write_bytes(content)

        def add(data: dict) -> None:
            data["datasets"]["items"] = {"source": "table", "options": {"path": path or file}}
            data["encoders"]["letters"] = {"model": "python:hostile_encoders:LetterCounts"}
            data["extract"]["sets"]["items-text"] = {"dataset": "items", "encoder": "letters",
                                                     "tower": "text"}
        edit(add)(project)
    return change


def parquet_with_int_text(path: Path) -> None:
    pd.DataFrame({"id": ["a", "b", "c"], "text": [1, 2, 3]}).to_parquet(path)


def mkdir(path: str) -> Setup:
    return lambda project: (project / path).mkdir(parents=True)


def steps(*setups: Setup) -> Setup:
    def run(project: Path) -> None:
        for setup in setups:
            setup(project)
    return run


#: directories made read-only by a case; the test undoes it whatever happens
_LOCKED: list[Path] = []


def _writable(directory: Path) -> bool:
    probe = directory / ".write-probe"
    try:
        probe.mkdir()
    except OSError:
        return False
    probe.rmdir()
    return True


def read_only(rel: Path) -> Setup:
    """``rel`` read-only: chmod 0555, or, where that does not bind (running as root), ``chattr +i``
    (immutable: no entry can be created, renamed or removed in it). Skips when neither binds."""
    def change(project: Path) -> None:
        directory = project / rel
        directory.chmod(0o555)
        _LOCKED.append(directory)
        if not os.access(directory, os.W_OK) and not _writable(directory):
            return
        chattr = shutil.which("chattr")
        locked = chattr is not None and subprocess.run([chattr, "+i", str(directory)], capture_output=True,
                                                       check=False).returncode == 0
        if locked and not _writable(directory):
            return
        pytest.skip(f"cannot make {rel} read-only here: chmod does not bind (running as root) and "
                    f"chattr +i is unavailable or not supported by this file system")
    return change


def _unlock() -> None:
    while _LOCKED:
        directory = _LOCKED.pop()
        if shutil.which("chattr"):
            subprocess.run(["chattr", "-i", str(directory)], capture_output=True, check=False)
        directory.chmod(0o755)


def outside_artifacts(top: Path, project: Path) -> dict[str, str]:
    """Every file under ``top`` that is not under the project's ``artifacts/`` (hashed on its own) or
    ``.bridge/`` (locks, logs, state: written by every run), with its sha256."""
    skip = (project / "artifacts", project / ".bridge")
    return {str(f.relative_to(top)): hashlib.sha256(f.read_bytes()).hexdigest() if f.is_file() else "dir"
            for f in sorted(top.rglob("*")) if not any(f == s or s in f.parents for s in skip)}


# -- the table -------------------------------------------------------------------------------------

S = re.escape
LONG = "b" * 300
CARD, MANIFEST = LINEAR / "bridge.json", TEXT / "manifest.json"
BRIDGE_JSON = S(str(CARD))
EVAL_LINEAR = ["eval", "clip-zeroshot-linear"]
SHARD_OR_MANIFEST = r"(manifest\.json|part-\d+\.parquet)"
TEXT_SET = S(str(TEXT))
NAN, INF = float("nan"), float("inf")
ZEROSHOT_RAW = {"kind": "zeroshot", "query": {"set": "synth-clip-image"}, "gallery": {"set": "synth-anchor-text"}}
THROUGH_LINEAR = {"kind": "zeroshot", "query": {"set": "synth-anchor-text", "bridge": "clip-linear"},
                  "gallery": {"set": "synth-clip-text", "bridge": "clip-linear"}}

# (id, setup, argv, the stderr line after "error: " as a regex); `setup` runs before anything is hashed
CASES: list[Any] = [
    # names: every user-chosen name is one safe path component
    ("bridge named ../embeddings", rename_bridge("../embeddings"), ["fit", "../embeddings"],
     r"params\.yaml: fit\.bridges\b.*'\.\./embeddings'.*"),
    ("bridge named ../../x", rename_bridge("../../x"), ["fit", "../../x"],
     r"params\.yaml: fit\.bridges\b.*'\.\./\.\./x'.*"),
    ("bridge named a/b", rename_bridge("a/b"), ["fit"], r"params\.yaml: fit\.bridges\b.*'a/b'.*"),
    ("bridge named .hidden", rename_bridge(".hidden"), ["fit"],
     r"params\.yaml: fit\.bridges\b.*'\.hidden'.*"),
    ("bridge named by the empty string", rename_bridge(""), ["fit"], r"params\.yaml: fit\.bridges\b.*''.*"),
    ("bridge named by 300 characters", rename_bridge(LONG), ["fit"],
     r"params\.yaml: fit\.bridges\b.*b{20}.*"),
    ("bridge name with a space", rename_bridge("clip linear"), ["fit"],
     r"params\.yaml: fit\.bridges\b.*'clip linear'.*"),
    ("task named ../../../../x", rename_task("../../../../x"), ["eval"],
     r"params\.yaml: eval\.tasks\b.*'\.\./\.\./\.\./\.\./x'.*"),
    ("task named .hidden", rename_task(".hidden"), ["eval"], r"params\.yaml: eval\.tasks\b.*'\.hidden'.*"),
    ("task named a/b", rename_task("a/b"), ["eval", "a/b"], r"params\.yaml: eval\.tasks\b.*'a/b'.*"),
    ("dataset named ../x", rename_dataset("../x"), ["extract"], r"params\.yaml: datasets\b.*'\.\./x'.*"),
    ("dataset named by the empty string", rename_dataset(""), ["extract"], r"params\.yaml: datasets\b.*''.*"),
    ("encoder named ../../x", rename_encoder("../../x"), ["extract", "synth-anchor-text"],
     r"params\.yaml: encoders\b.*'\.\./\.\./x'.*"),
    ("encoder name with a space", rename_encoder("syn anchor"), ["extract", "synth-anchor-text"],
     r"params\.yaml: encoders\b.*'syn anchor'.*"),
    ("set named ../embeddings", rename_set("../embeddings"), ["extract"],
     r"params\.yaml: extract\.sets\b.*'\.\./embeddings'.*"),
    ("set named by 300 characters", rename_set(LONG), ["extract"], r"params\.yaml: extract\.sets\b.*b{20}.*"),
    ("world named ../../x", rename_world("../../x"), ["extract"], r"params\.yaml: worlds\b.*'\.\./\.\./x'.*"),
    ("world named .hidden", rename_world(".hidden"), ["extract"], r"params\.yaml: worlds\b.*'\.hidden'.*"),
    ("set's tower is ..", params("extract.sets.synth-anchor-text.tower", ".."),
     ["extract", "synth-anchor-text"],
     r"params\.yaml: extract\.sets\.synth-anchor-text\.tower\b.*'\.\.'.*"),
    ("fit input space ../x/text", params("fit.bridges.clip-linear.inputs.source", "../x/text"),
     ["fit", "clip-linear"], r"params\.yaml: fit\.bridges\.clip-linear\.inputs\.source\b.*"),
    ("task query set ../x/image", params("eval.tasks.clip-zeroshot-linear.query.set", "../x/image"),
     EVAL_LINEAR, r"params\.yaml: eval\.tasks\.clip-zeroshot-linear\.query\.set\b.*"),
    # numbers: finite where a number is meant, sizes within a bound
    ("method param .nan", params("fit.bridges.clip-linear.params.alpha", NAN), ["fit", "clip-linear"],
     r"params\.yaml: fit\.bridges\.clip-linear\.params\.alpha: .*finite.*"),
    ("method param .inf", params("fit.bridges.clip-linear.params.alpha", INF), ["fit", "clip-linear"],
     r"params\.yaml: fit\.bridges\.clip-linear\.params\.alpha: .*finite.*"),
    ("method param -.inf", params("fit.bridges.clip-linear.params.alpha", -INF), ["fit", "clip-linear"],
     r"params\.yaml: fit\.bridges\.clip-linear\.params\.alpha: .*finite.*"),
    ("method param .nan from --set", None,
     ["fit", "clip-linear", "--set", "fit.bridges.clip-linear.params.alpha=.nan"],
     r".*fit\.bridges\.clip-linear\.params\.alpha: .*finite.*"),
    ("eval.ks holds 0", params("eval.ks", [0, 1, 5]), ["eval"], r"params\.yaml: eval\.ks\b.*"),
    ("eval.ks holds 10**9", params("eval.ks", [1, 10**9]), ["eval"], r"params\.yaml: eval\.ks\b.*"),
    ("eval.ks is empty", params("eval.ks", []), ["eval"], r"params\.yaml: eval\.ks\b.*"),
    ("extract.shard_rows 0", params("extract.shard_rows", 0), ["extract"],
     r"params\.yaml: extract\.shard_rows: .*"),
    ("extract.shard_rows 10**12", params("extract.shard_rows", 10**12), ["extract"],
     r"params\.yaml: extract\.shard_rows: .*"),
    ("extract.batch_size 0", params("extract.batch_size", 0), ["extract"],
     r"params\.yaml: extract\.batch_size: .*"),
    ("world groups .nan", params("worlds.default.groups", NAN), ["extract"],
     r"params\.yaml: worlds\.default\.groups: .*"),
    ("world within_concept .nan", params("worlds.default.within_concept", NAN), ["extract"],
     r"params\.yaml: worlds\.default\.within_concept: .*finite.*"),
    ("world obs_noise .inf", params("worlds.default.obs_noise", INF), ["extract"],
     r"params\.yaml: worlds\.default\.obs_noise: .*finite.*"),
    # params files and --set values
    ("--set value with a YAML error", None, ["fit", "--set", "fit.bridges.clip-linear.params.alpha=[1,"],
     S("override 'fit.bridges.clip-linear.params.alpha=[1,': ") + ".*"),
    ("--set value with an open quote", None, ["extract", "--set", 'extract.dtype="float16'],
     S("override 'extract.dtype=\"float16': ") + ".*"),
    ("--set with an empty key", None, ["fit", "--set", "=1"], S("override '=1': ") + ".*"),
    ("empty params.yaml", write(Path("params.yaml"), b""), ["eval"], r"params\.yaml: .+"),
    ("params.yaml of comments only", write(Path("params.yaml"), b"# extract: {}\n# nothing here yet\n"),
     ["fit"], r"params\.yaml: .+"),
    ("params.yaml with empty sections",
     write(Path("params.yaml"), b"extract:\n  sets: {}\nfit:\n  bridges: {}\neval:\n  tasks: {}\n"), ["eval"],
     r"params\.yaml: .+"),
    ("--params is a directory", mkdir("conf.yaml"), ["fit", "--params", "conf.yaml"],
     r"(.*/)?conf\.yaml: .*director.*"),
    ("--params file missing", None, ["eval", "--params", "conf/nope.yaml"],
     r"(.*/)?conf/nope\.yaml: .*not found.*"),
    # bridge cards edited by hand
    ("bridge.json format_version 2", json_file(CARD, lambda b: b.update(format_version=2)),
     EVAL_LINEAR, BRIDGE_JSON + r": .*format_version.*"),
    ("bridge.json space dim 0", json_file(CARD, lambda b: b["spaces"]["source"].update(dim=0)),
     EVAL_LINEAR, BRIDGE_JSON + r": .*spaces\.source\.dim.*"),
    ("bridge.json space dim negative",
     json_file(CARD, lambda b: b["spaces"]["target"].update(dim=-3)),
     EVAL_LINEAR, BRIDGE_JSON + r": .*spaces\.target\.dim.*"),
    ("bridge.json weights_sha256 not hex",
     json_file(CARD, lambda b: b.update(weights_sha256="not-a-sha256-at-all")),
     EVAL_LINEAR, BRIDGE_JSON + r": .*weights_sha256.*"),
    ("bridge.json curve holds NaN", json_file(CARD, lambda b: b.update(curve=[3.5, NAN])),
     EVAL_LINEAR, BRIDGE_JSON + r": .*curve.*"),
    ("bridge.json without method", json_file(CARD, lambda b: b.pop("method")),
     EVAL_LINEAR, BRIDGE_JSON + r": .*\bmethod\b.*"),
    ("bridge.json with an unknown key", json_file(CARD, lambda b: b.update(colour="blue")),
     EVAL_LINEAR, BRIDGE_JSON + r": .*\bcolour\b.*"),
    ("bridge.json params with an unknown key", json_file(CARD, lambda b: b["params"].update(alpah=1)),
     EVAL_LINEAR, BRIDGE_JSON + r": .*params\.alpah\b.*"),
    ("NaN weights with a consistent checksum", weights_with(NAN, LINEAR, "weight"),
     EVAL_LINEAR,
     r"(?=.*clip-linear).*(?i:non-finite|nan|inf).*"),
    ("inf weights with a consistent checksum", weights_with(INF, OFFSET, "mu_source"),
     ["eval", "clip-zeroshot-offset"], r"(?=.*clip-offset).*(?i:non-finite|nan|inf).*"),
    # manifests edited by hand: every field the shards also record is cross-checked
    ("manifest dtype float16 -> float32", json_file(MANIFEST, lambda m: m.update(dtype="float32")),
     EVAL_LINEAR, f".*{TEXT_SET}/{SHARD_OR_MANIFEST}\\b.*(dtype|float).*"),
    ("manifest encoder.dim 48 -> 64", json_file(MANIFEST, lambda m: m["encoder"].update(dim=64)),
     EVAL_LINEAR, f".*{TEXT_SET}/{SHARD_OR_MANIFEST}\\b.*\\b(dim|48|64)\\b.*"),
    ("manifest rows changed", json_file(MANIFEST, lambda m: m.update(rows=m["rows"] + 1)),
     EVAL_LINEAR, f".*{TEXT_SET}/manifest\\.json\\b.*rows.*"),
    ("manifest shard rows changed", json_file(MANIFEST, lambda m: m["shards"][0].update(rows=199)),
     EVAL_LINEAR, f".*{TEXT_SET}/(manifest\\.json|part-00000\\.parquet)\\b.*rows.*"),
    ("manifest shard entry removed", json_file(MANIFEST, lambda m: m["shards"].pop(1)),
     EVAL_LINEAR, f".*{TEXT_SET}/manifest\\.json\\b.*(shard|rows|part-00001).*"),
    # bridges and tasks whose spaces cannot meet
    ("offset bridge between 48-d and 64-d spaces", edit(offset_across_dims), ["fit", "clip-offset"],
     r"(?=.*clip-offset).*\b(dim|48|64)\b.*"),
    ("zeroshot sides of different dims and no bridge", add_task("raw-across", ZEROSHOT_RAW),
     ["eval", "raw-across"],
     r"(?=.*raw-across).*\b(dim|48|64)\b.*"),
    ("query bridge does not map the query's space", add_task("anchor-via-linear", THROUGH_LINEAR),
     ["eval", "anchor-via-linear"], r"(?=.*anchor-via-linear)(?=.*clip-linear).*"),
    # tables
    ("CSV row with an extra cell", table("items.csv", b"id,text\na,a cat\nb,a dog,extra\nc,a bird\n"),
     ["extract", "items-text"], r".*items\.csv\b.*\b(line|row) 3\b.*"),
    ("JSONL with a broken line",
     table("items.jsonl", b'{"id": "a", "text": "a cat"}\n{"id": "b", "text": \n'
                          b'{"id": "c", "text": "a bird"}\n'),
     ["extract", "items-text"], r".*items\.jsonl\b.*\b(line|row) 2\b.*"),
    ("Parquet text column of integers", table("items.parquet", parquet_with_int_text),
     ["extract", "items-text"],
     r".*items\.parquet\b.*\btext\b.*"),
    ("table path is a directory", table("tables.csv", lambda p: p.mkdir()), ["extract", "items-text"],
     r".*tables\.csv\b.*director.*"),
    # file systems
    ("read-only artifacts/bridges for fit", steps(remove(LINEAR), read_only(Path("artifacts/bridges"))),
     ["fit", "clip-linear"], r".*artifacts/bridges\b.*"),
    ("read-only embeddings dir for extract",
     steps(remove(TEXT), read_only(Path("artifacts/embeddings/synth/syn-clip"))),
     ["extract", "synth-clip-text"],
     r".*artifacts/embeddings/synth/syn-clip\b.*"),
    ("read-only artifacts for eval", read_only(Path("artifacts")), EVAL_LINEAR,
     r".*artifacts(/metrics|/plots)?\b.*"),
]


def _id(case: Any) -> str:
    return case[0]


def assert_one_line(code: int, err: str, expected: str) -> None:
    assert code == 2, f"exit {code}: {err}"
    assert "Traceback" not in err and "internal error" not in err, err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert re.fullmatch(f"error: {expected}", err.strip()), err


@pytest.fixture
def project(golden: Path, tmp_path: Path) -> Iterator[Path]:  # noqa: F811 (the imported fixture)
    """A copy of the golden project, a few directories deep so that escapes land where we look."""
    where = tmp_path.joinpath(*DEPTH, "project")
    shutil.copytree(golden, where, symlinks=True)
    try:
        yield where
    finally:
        _unlock()


def test_there_are_at_least_forty_cases() -> None:
    assert len(CASES) >= 40
    assert len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("name,setup,argv,expected", CASES, ids=[_id(c) for c in CASES])
def test_hostile_input_gives_one_line_and_changes_nothing(project: Path, tmp_path: Path, name: str,
                                                          setup: Setup | None, argv: list[str],
                                                          expected: str) -> None:
    if setup is not None:
        setup(project)
    artifacts, outside = tree_digest(project / "artifacts"), outside_artifacts(tmp_path, project)
    code, err = cli(project, *argv)
    _unlock()  # before hashing: an immutable directory is still readable, but leave nothing locked
    assert_one_line(code, err, expected)
    assert tree_digest(project / "artifacts") == artifacts
    assert outside_artifacts(tmp_path, project) == outside, "a file was written outside artifacts/"


# -- controls: the same setups with nothing hostile in them succeed ----------------------------------

CONTROLS: list[Any] = [
    ("renamed bridge", rename_bridge("clip-linear-2"), ["fit", "clip-linear-2"]),
    ("renamed task", rename_task("clip-zeroshot-linear-2"), ["eval", "clip-zeroshot-linear-2"]),
    ("renamed dataset", rename_dataset("synth2"), ["extract", "synth-anchor-text"]),
    ("renamed encoder", rename_encoder("syn-anchor-2"), ["extract", "synth-anchor-text"]),
    ("renamed set", rename_set("anchor-2"), ["extract", "anchor-2"]),
    ("renamed world", rename_world("default-2"), ["extract", "synth-anchor-text"]),
    ("good CSV table", table("items.csv", b"id,text\na,a cat\nb,a dog\nc,a bird\n"),
     ["extract", "items-text"]),
    ("weights rewritten finite", weights_with(0.5, LINEAR, "weight"), EVAL_LINEAR),
]


@pytest.mark.parametrize("name,setup,argv", CONTROLS, ids=[c[0] for c in CONTROLS])
def test_control_without_the_hostile_part_succeeds(project: Path, name: str, setup: Setup,
                                                    argv: list[str]) -> None:
    """Each way of building a hostile case, used with a harmless value, runs: so a failure above is
    about the hostile value, not about how the case was built."""
    setup(project)
    code, err = cli(project, *argv)
    assert code == 0, err


# -- a fit that diverges ---------------------------------------------------------------------------

TORCH_BRIDGES = ["textme-audio", "paired-audio"]


@pytest.fixture(scope="module")
def torch_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sets of TextME's audio bridges (and its paired upper bound), extracted; 3 epochs each."""
    project = tmp_path_factory.mktemp("torch")
    lane = synthetic_lane(tasks=["audio-zeroshot-textme"], groups=200)
    assert set(TORCH_BRIDGES) <= set(lane["fit"]["bridges"]), lane["fit"]["bridges"]
    for name in TORCH_BRIDGES:
        spec = lane["fit"]["bridges"][name]
        spec["params"] = {**spec.get("params", {}), "epochs": 3}
    write_params(project, lane)
    code, err = cli(project, "extract")
    assert code == 0, err
    return project


@pytest.mark.parametrize("bridge", TORCH_BRIDGES)
def test_diverging_fit_names_bridge_and_epoch_and_writes_nothing(torch_project: Path, tmp_path: Path,
                                                                 bridge: str) -> None:
    project = tmp_path / "project"
    shutil.copytree(torch_project, project, symlinks=True)
    before = tree_digest(project / "artifacts")
    code, err = cli(project, "fit", bridge, "--set", f"fit.bridges.{bridge}.params.lr=1.0e+30")
    assert_one_line(code, err, rf".*fit\.bridges\.{S(bridge)}\b.*\bepoch \d+.*")
    assert tree_digest(project / "artifacts") == before
    bridges = project / "artifacts" / "bridges"
    assert not bridges.exists() or not any(bridges.iterdir()), sorted(bridges.iterdir())


def test_torch_control_fits_with_a_sane_lr(torch_project: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(torch_project, project, symlinks=True)
    code, err = cli(project, "fit", "paired-audio")
    assert code == 0, err
    card = json.loads((project / "artifacts/bridges/paired-audio/bridge.json").read_text())
    assert all(math.isfinite(x) for x in card["curve"]) and len(card["curve"]) == 3
