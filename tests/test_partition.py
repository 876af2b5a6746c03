"""Scale-out extraction: `--partition I/N` parts run as parallel processes and `--merge`, a plain extract
that picks up finished parts, and the Ray backend all give the bytes of one single-process extraction."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from bridge_project import cli, command, env, synthetic_lane, tree_digest, write_params

SET = "synth-clip-text"
TEXT = Path("artifacts/embeddings/synth/syn-clip/text")
PARTS = Path(".bridge/parts/synth/syn-clip/text")
PARAMS = synthetic_lane(sets=[SET], groups=600, extract={"shard_rows": 150})  # 1240 rows: 9 shards


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The digest of the set as one plain `bridge extract` writes it."""
    project = tmp_path_factory.mktemp("single")
    write_params(project, PARAMS)
    code, err = cli(project, "extract", SET)
    assert code == 0, err
    return tree_digest(project / TEXT)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write_params(tmp_path, PARAMS)
    return tmp_path


def test_parallel_partitions_merge_into_the_single_run_bytes(project: Path, single: dict[str, str]) -> None:
    jobs = [subprocess.Popen(command("extract", SET, "--partition", f"{i}/3"), cwd=project, env=env(project),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(3)]
    for job in jobs:
        _, err = job.communicate(timeout=120)
        assert job.returncode == 0, err
    owned = {part.name: sorted(int(f.name[5:10]) for f in part.glob("part-*")) for part in (project / PARTS).iterdir()}
    assert owned == {"0-of-3": [0, 3, 6], "1-of-3": [1, 4, 7], "2-of-3": [2, 5, 8]}  # disjoint, deterministic
    assert not (project / TEXT).exists()

    code, err = cli(project, "extract", SET, "--merge")
    assert code == 0, err
    assert tree_digest(project / TEXT) == single
    assert list((project / PARTS).iterdir()) == []  # merged parts are cleaned up


def test_plain_extract_takes_finished_parts_and_encodes_only_the_rest(project: Path, single: dict[str, str]) -> None:
    assert cli(project, "extract", SET, "--partition", "1/2")[0] == 0
    part = {f.name: f.stat().st_ino for f in (project / PARTS / "1-of-2").glob("part-*")}
    assert len(part) == 4

    assert cli(project, "extract", SET)[0] == 0
    assert tree_digest(project / TEXT) == single
    final = {f.name: f.stat().st_ino for f in (project / TEXT).glob("part-*")}
    assert {name for name, inode in final.items() if part.get(name) == inode} == set(part)  # linked, not redone


NAN_ENCODER = """
import numpy as np
from embridge.encoders.base import Encoder, Tower


class NaNTower(Tower):
    name = modality = "text"
    dim = 8

    def encode(self, prepared):
        out = np.ones((len(prepared), 8), np.float32)
        out[0] = np.nan
        return out


class NaNEncoder(Encoder):
    family = "python"

    def __init__(self):
        self.towers = {"text": NaNTower()}

    def identity(self):
        return {"model": "nan", "revision": "1"}
"""


@pytest.mark.slow
def test_ray_backend_writes_the_same_bytes_and_reports_bad_items_in_one_line(project: Path,
                                                                             single: dict[str, str]) -> None:
    """Ray Data actors on this machine's 2 CPUs encode; this process writes through the same SetWriter.
    A bad item found inside an actor is the same one line as with the local backend."""
    pytest.importorskip("ray.data", reason="the Ray backend is an optional extra: pip install 'bridge[ray]'")
    ray = {**env(project), "PYTHONPATH": str(project)}  # the actors import the user's encoder module from here
    done = subprocess.run(command("extract", SET, "--backend", "ray"), cwd=project, env=ray,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert tree_digest(project / TEXT) == single

    (project / "nan_encoders.py").write_text(NAN_ENCODER)
    params = {**PARAMS, "encoders": {"nan": {"model": "python:nan_encoders:NaNEncoder"}},
              "extract": {**PARAMS["extract"], "sets": {"nan-text": {"dataset": "synth", "encoder": "nan",
                                                                     "tower": "text"}}}}
    write_params(project, params)
    done = subprocess.run(command("extract", "nan-text", "--backend", "ray"), cwd=project, env=ray,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 2
    assert re.fullmatch(  # the row is the first of whichever shard an actor finished first
        r"error: extract\.sets\.nan-text \(synth\): row '[^']+': non-finite vector "
        r"\(NaN or inf, or a norm beyond float32\) from the encoder "
        r"\(1 bad rows in this batch; set extract\.on_error: skip to record and drop them\)",
        done.stderr.splitlines()[-1]), done.stderr
