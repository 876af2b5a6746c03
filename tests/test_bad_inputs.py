"""The bad-input catalogue: each bad input gets one line naming what is wrong, exit code 2, and leaves
everything already written in ``artifacts/`` byte-for-byte as it was.

One table across the three stages and what they read: params and CLI flags, sources, encoders, shards
and manifests, bridges, and a concurrent writer. ``tests/test_cli_errors.py`` covers mistakes inside
params.yaml's sections; ``tests/test_integrity.py`` covers damaged shards and their repair.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from bridge_project import cli, synthetic_lane, tree_digest, write_params

from embridge.core.lock import hold
from embridge.extract.partition import set_lock

TEXT = Path("artifacts/embeddings/synth/syn-clip/text")
IMAGE = Path("artifacts/embeddings/synth/syn-clip/image")
LINEAR = Path("artifacts/bridges/clip-linear")


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three extracted sets (one no bridge uses) and two fitted bridges."""
    project = tmp_path_factory.mktemp("golden")
    write_params(project, synthetic_lane(tasks=["clip-zeroshot-linear", "clip-zeroshot-offset"],
                                         sets=["synth-anchor-text"], groups=300, extract={"shard_rows": 200}))
    for stage in ("extract", "fit"):
        code, err = cli(project, stage)
        assert code == 0, err
    return project


# -- ways to make an input bad ---------------------------------------------------------------------

Setup = Callable[[Path], None]


def params(key: str, value: Any) -> Setup:
    """Set ``key`` (dotted) of the project's params.yaml to ``value``."""
    def edit(project: Path) -> None:
        data = yaml.safe_load((project / "params.yaml").read_text())
        node = data
        *parents, leaf = key.split(".")
        for part in parents:
            node = node[part]
        node[leaf] = value
        (project / "params.yaml").write_text(yaml.safe_dump(data))
    return edit


def json_file(path: Path, edit: Callable[[dict], Any]) -> Setup:
    """Edit the JSON file ``path`` of the project in place. A bridge card is sealed anew (its
    ``content_sha256`` recomputed), as a user who edits it on purpose would: the checks behind the seal
    are what the case is about (an unsealed edit is refused by the seal alone: test_trust.py)."""
    def change(project: Path) -> None:
        data = json.loads((project / path).read_text())
        edit(data)
        if path.name == "bridge.json" and isinstance(data, dict) and "content_sha256" in data:
            from embridge.bridges.base import card_digest

            try:
                data["content_sha256"] = card_digest(data)
            except ValueError:  # NaN in the card: left unsealed, refused either way
                pass
        (project / path).write_text(json.dumps(data, indent=2))
    return change


def write(path: Path, content: bytes) -> Setup:
    return lambda project: (project / path).write_bytes(content)


def remove(path: Path) -> Setup:
    return lambda project: shutil.rmtree(project / path) if (project / path).is_dir() else (project / path).unlink()


def flip_byte(path: Path) -> Setup:
    def change(project: Path) -> None:
        data = bytearray((project / path).read_bytes())
        data[len(data) // 2] ^= 0x40
        (project / path).write_bytes(bytes(data))
    return change


def garbage_with_matching_checksum(project: Path) -> None:
    """A shard replaced by junk whose sha256 the manifest was updated to: only decoding can tell."""
    import hashlib

    junk = b"this is not a parquet file" * 40
    (project / TEXT / "part-00001.parquet").write_bytes(junk)
    json_file(TEXT / "manifest.json",
              lambda m: m["shards"][1].update(sha256=hashlib.sha256(junk).hexdigest()))(project)


# -- the catalogue ---------------------------------------------------------------------------------

S = re.escape
# (id, setup, argv, the whole stderr line as a regex); `setup` runs before the artifacts are hashed
CASES: list[Any] = [
    # params and command-line flags
    ("override without =", None, ["extract", "--set", "extract.dtype"],
     S("override 'extract.dtype': expected KEY.PATH=VALUE")),
    ("override into a scalar", None, ["fit", "--set", "extract.format.x=1"],
     S("override 'extract.format.x=1': 'format' in params.yaml is not a mapping")),
    ("params file is a list", write(Path("params.yaml"), b"- extract\n- fit\n"), ["eval"],
     S("params.yaml: top level must be a mapping of sections")),
    ("unknown set on the command line", None, ["extract", "synth-clip-txt"],
     S("no set 'synth-clip-txt' in extract.sets; defined: synth-anchor-text, synth-clip-image, synth-clip-text")),
    ("unknown bridge on the command line", None, ["fit", "clip-lin"],
     S("no bridge 'clip-lin' in fit.bridges; defined: clip-linear, clip-offset")),
    ("unknown task on the command line", None, ["eval", "zeroshot"],
     S("no task 'zeroshot' in eval.tasks; defined: clip-zeroshot-linear, clip-zeroshot-offset")),
    ("partition out of range", None, ["extract", "synth-clip-text", "--partition", "3/2"],
     S("--partition '3/2': expected I/N with 0 <= I < N, e.g. 0/4")),
    ("partition not a fraction", None, ["extract", "synth-clip-text", "--partition", "half"],
     S("--partition 'half': expected I/N with 0 <= I < N, e.g. 0/4")),
    ("partition and merge together", None, ["extract", "synth-clip-text", "--partition", "0/2", "--merge"],
     S("--partition and --merge do not go together: run the partitions, then --merge")),
    ("unknown backend", None, ["extract", "synth-clip-text", "--backend", "spark"],
     S("--backend 'spark': expected 'local' or 'ray'")),
    # sources
    ("unknown source kind", params("datasets.synth.source", "synthetc"), ["extract", "synth-clip-text"],
     S("params.yaml: datasets.synth.source: unknown source 'synthetc' (did you mean 'synthetic'?)")),
    ("misspelled world option", params("worlds.default.concept", 10), ["extract", "synth-clip-text"],
     S("params.yaml: worlds.default.concept: unknown key (did you mean 'concepts'?)")),
    ("world without the tower's modality", params("worlds.default.modalities", ["text", "audio"]),
     ["extract", "synth-clip-image"],
     S("params.yaml: encoders.syn-clip.options: tower 'image' is not a modality of the world ['text', 'audio']")),
    ("negative world size", params("worlds.default.concepts", -1), ["extract", "synth-clip-text"],
     S("params.yaml: worlds.default: concepts must be >= 1, got -1")),
    # encoders
    ("tower the encoder lacks", params("extract.sets.synth-anchor-text.tower", "video"),
     ["extract", "synth-anchor-text"], S("encoder 'synthetic:anchor' has no tower 'video'; towers: ['text']")),
    ("python encoder that does not import", params("encoders.syn-anchor.model", "python:nosuch.module:Encoder"),
     ["extract", "synth-anchor-text"],
     S("encoder 'python:nosuch.module:Encoder': cannot import module 'nosuch.module' (No module named 'nosuch')")),
    ("encoder dim too small", params("encoders.syn-anchor.options.dim", 3), ["extract", "synth-anchor-text"],
     S("params.yaml: encoders.syn-anchor.options: synthetic encoder dim must be >= 26 for this world, got 3")),
    ("misspelled encoder option", params("encoders.syn-anchor.options.dimm", 64), ["extract", "synth-anchor-text"],
     S("params.yaml: encoders.syn-anchor.options.dimm: unknown key (did you mean 'dim'?)")),
    # shards and manifests
    ("set never extracted", remove(IMAGE), ["fit", "clip-linear"],
     S(f"{IMAGE}/manifest.json: no embedding set here (run `bridge extract` first)")),
    ("manifest is not JSON", write(TEXT / "manifest.json", b'{"shards": ['), ["fit", "clip-linear"],
     S(f"{TEXT}/manifest.json: not valid JSON (Expecting value at line 1)")),
    ("set left incomplete", json_file(TEXT / "manifest.json", lambda m: m.update(complete=False)),
     ["eval", "clip-zeroshot-linear"],
     S(f"{TEXT}/manifest.json: set is incomplete (extraction was interrupted; rerun it)")),
    ("manifest shard path escapes", json_file(TEXT / "manifest.json",
                                              lambda m: m["shards"][0].update(file="../../../../params.yaml")),
     ["fit", "clip-linear"], S(f"{TEXT}/manifest.json: shard path '../../../../params.yaml' escapes the set directory")),
    ("manifest names an unknown format", json_file(TEXT / "manifest.json", lambda m: m.update(format="csv")),
     ["fit", "clip-linear"],
     S(f"{TEXT}/manifest.json: format: expected one of 'parquet' or 'hdf5', got 'csv'; "
       "rerun `bridge extract` to repair the set")),
    ("shard is junk with a matching checksum", garbage_with_matching_checksum, ["fit", "clip-linear"],
     S(f"{TEXT}/part-00001.parquet: cannot read shard (") + r"ArrowInvalid: .*\)"),
    ("bit flip read by eval", flip_byte(IMAGE / "part-00001.parquet"), ["eval", "clip-zeroshot-offset"],
     S(f"{IMAGE}/part-00001.parquet: checksum mismatch with manifest (shard is corrupt or truncated, ")
     + r"\d+ bytes\); rerun `bridge extract` to redo it"),
    ("merge with no finished parts", remove(TEXT), ["extract", "synth-clip-text", "--merge"],
     S("cannot merge synth-clip-text: shards 0, 1, 2, 3 of 4 are in no finished part under "
       ".bridge/parts/synth/syn-clip/text; run the missing `bridge extract synth-clip-text --partition I/N` first")),
    # bridges
    ("weights do not match bridge.json", flip_byte(LINEAR / "weights.safetensors"), ["eval", "clip-zeroshot-linear"],
     S(f"{LINEAR}/weights.safetensors: checksum does not match {LINEAR}/bridge.json (corrupt or replaced)")),
    ("weights file missing", remove(LINEAR / "weights.safetensors"), ["eval", "clip-zeroshot-linear"],
     S(f"{LINEAR}/weights.safetensors: missing weights file")),
    ("bridge never fitted", remove(LINEAR), ["eval", "clip-zeroshot-linear"],
     S(f"{LINEAR}/bridge.json: no such bridge (run `bridge fit` first)")),
    ("bridge.json is not JSON", write(LINEAR / "bridge.json", b"method: linear\n"), ["eval", "clip-zeroshot-linear"],
     S(f"{LINEAR}/bridge.json: not valid JSON (Expecting value at line 1)")),
    ("bridge.json dims disagree with the sets",
     json_file(LINEAR / "bridge.json", lambda b: b["spaces"]["source"].update(dim=7)), ["eval", "clip-zeroshot-linear"],
     S(f"bridge 'linear' ({LINEAR}): syn-clip/image vectors must be [n, 7], got [") + r"\d+, 48\]"),
    ("bridge.json names an unknown method", json_file(LINEAR / "bridge.json", lambda b: b.update(method="x")),
     ["eval", "clip-zeroshot-linear"], S(f"{LINEAR}/bridge.json: unknown bridge method 'x'") + ".*"),
    ("bridge.json params of the wrong type", json_file(LINEAR / "bridge.json", lambda b: b["params"].update(alpha="much")),
     ["eval", "clip-zeroshot-linear"],
     S(f"{LINEAR}/bridge.json: invalid bridge description (params.alpha: expected a number, got 'much')")),
]


def _id(case: Any) -> str:
    return case.values[0] if hasattr(case, "values") else case[0]


@pytest.mark.parametrize("name,setup,argv,expected", CASES, ids=[_id(c) for c in CASES])
def test_bad_input_gives_one_line_and_changes_nothing(golden: Path, tmp_path: Path, name: str,
                                                      setup: Setup | None, argv: list[str], expected: str) -> None:
    project = tmp_path / "project"
    shutil.copytree(golden, project, symlinks=True)
    if setup is not None:
        setup(project)
    before = tree_digest(project / "artifacts")
    code, err = cli(project, *argv)
    assert code == 2, err
    assert err.count("\n") == 1 and re.fullmatch(f"error: {expected}", err.strip()), err
    assert tree_digest(project / "artifacts") == before


def test_a_second_writer_of_a_set_is_refused_while_the_first_holds_it(golden: Path, tmp_path: Path) -> None:
    """The lock row of the catalogue: this test process holds the set's lock as a running extract would."""
    project = tmp_path / "project"
    shutil.copytree(golden, project, symlinks=True)
    remove(TEXT)(project)
    before = tree_digest(project / "artifacts")
    lock = set_lock(project, "synth/syn-clip/text")
    with hold(lock, "embedding set synth/syn-clip/text"):
        code, err = cli(project, "extract", "synth-clip-text")
    assert code == 2 and err.count("\n") == 1, err
    assert re.fullmatch(r"error: embedding set synth/syn-clip/text is being written by another process \(pid \d+, "
                        r"lock \.bridge/locks/embeddings/synth/syn-clip/text\.lock\); wait for it to finish or stop it",
                        err.strip()), err
    assert tree_digest(project / "artifacts") == before
    assert cli(project, "extract", "synth-clip-text")[0] == 0  # released with the holder
