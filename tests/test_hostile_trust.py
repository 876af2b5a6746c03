"""Hostile cases for issue 23: every number bound to the bytes that made it.

Written from the README, `bridge --help` and the issue text only (not the code). Each case builds its input on a
copy of one small project, runs the `bridge` CLI as a user would, and asserts what a demanding user expects:
a non-zero exit, ONE stderr line naming the culprit, no traceback, every already-written byte unchanged, and no
metric written. Where the issue allows a warning instead of a refusal, the case accepts exactly: a refusal, or
exit 0 with a warning naming the rows and no inflated metric.

Classes (the issue's "What to build"): 1 degenerate vectors earn no credit; 2 numbers bound to bytes; 3 complete
or refused; 4 values the tool reserves; 5 outputs published atomically; 6 one line for every user error.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import pathlib
import resource
import shutil
import signal
import struct
import subprocess
import tarfile
import threading
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml

VENV_BIN = "/work/main/.venv/bin"
ENV = dict(os.environ)
ENV.update(PATH=VENV_BIN + ":" + os.environ.get("PATH", ""), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
           COLUMNS="250", PYTHONDONTWRITEBYTECODE="1")
LABELS = ["red", "blue", "green"]
SNAP_DIRS = ("artifacts", "exports")
METRIC_DIRS = ("artifacts/metrics", "artifacts/protocols", "artifacts/plots", "artifacts/report", "artifacts/summary.json")


# ----------------------------------------------------------------------------------------------------------- helpers

def bridge(proj, *args, timeout=180, input=None, preexec_fn=None):
    r = subprocess.run(["bridge", *map(str, args)], cwd=proj, env=ENV, capture_output=True, text=True,
                       timeout=timeout, input=input, preexec_fn=preexec_fn)
    if os.environ.get("HOSTILE_LOG"):   # optional: one JSON line per CLI call, for the report table
        with open(os.environ["HOSTILE_LOG"], "a") as f:
            f.write(json.dumps({"test": os.environ.get("PYTEST_CURRENT_TEST", "setup"), "args": list(map(str, args)),
                                "rc": r.returncode, "stderr": lines(r.stderr)[-1:] and lines(r.stderr)[-1][:300],
                                "nlines": len(lines(r.stderr))}) + "\n")
    return r


def sha(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def snap(proj, dirs=SNAP_DIRS, extra=()):
    """sha256 of every file under the project's output folders (and any extra paths)."""
    out = {}
    for d in [*dirs, *extra]:
        p = pathlib.Path(proj) / d
        if p.is_file():
            out[str(d)] = sha(p)
        elif p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and not f.is_symlink():
                    out[str(f.relative_to(proj))] = sha(f)
    return out


def diff(a, b):
    changed = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    return changed[:8] + ([f"... {len(changed) - 8} more"] if len(changed) > 8 else [])


def lines(text):
    return [l for l in text.splitlines() if l.strip()]


def show(r):
    return f"rc={r.returncode}\n--- stderr:\n{r.stderr[-1500:]}\n--- stdout:\n{r.stdout[-800:]}"


def _names(line, culprit):
    alts = culprit if isinstance(culprit, tuple) else (culprit,)
    return any(a.lower() in line.lower() for a in alts)


def _problems(r, culprits, max_len=400):
    """What a demanding user would object to in a refusal: exit 0, a traceback, several lines, no culprit."""
    out = []
    if r.returncode == 0:
        out.append("exit 0 (expected a refusal)")
    if "Traceback" in r.stderr + r.stdout:
        out.append("traceback leaked")
    ls = lines(r.stderr)
    if len(ls) != 1:
        out.append(f"{len(ls)} stderr lines (expected one)")
    last = ls[-1] if ls else ""
    if len(last) > max_len:
        out.append(f"error line is {len(last)} chars long")
    if "internal error" in last:
        out.append("a user error reported as `internal error`")
    for c in culprits:
        if not _names(last, c):
            out.append(f"error line does not name {c!r}")
    return out


def assert_one_line(r, *culprits, max_len=400):
    """Non-zero exit, one stderr line (blank lines ignored) naming every culprit (a tuple: any of), no traceback,
    not `internal error`."""
    problems = _problems(r, culprits, max_len)
    assert not problems, "; ".join(problems) + "\n" + show(r)


def assert_refused(proj, r, before, *culprits, **kw):
    problems = _problems(r, culprits, kw.get("max_len", 400))
    after = snap(proj)
    if after != before:
        problems.append(f"already-written bytes changed: {diff(before, after)}")
    assert not problems, "; ".join(problems) + "\n" + show(r)


def run_until_refused(proj, cmds, *culprits):
    """Run commands in order; the first non-zero exit must be a clean one-line refusal naming the culprits.

    If it is the first command, nothing under artifacts/ or exports/ may change; if a later one, no metric,
    protocol, plot or report may change. All commands exiting 0 is a failure (the value passed)."""
    before = snap(proj)
    before_m = snap(proj, METRIC_DIRS)
    done = []
    for c in cmds:
        r = bridge(proj, *c)
        done.append((c, r.returncode, lines(r.stderr)[-1:] ))
        if r.returncode != 0:
            assert_one_line(r, *culprits)
            if len(done) == 1:
                after = snap(proj)
                assert after == before, f"already-written bytes changed: {diff(before, after)}"
            else:
                after_m = snap(proj, METRIC_DIRS)
                assert after_m == before_m, f"metrics changed: {diff(before_m, after_m)}"
            return r
    changed = diff(before, snap(proj))
    pytest.fail(f"every command exited 0 (the bad value passed); changed on disk: {changed}; calls: {done}\n"
                f"last: {show(r)}")


def metrics(proj, task):
    return json.loads((pathlib.Path(proj) / "artifacts/metrics" / f"{task}.json").read_text())


def edit_params(proj, fn):
    p = pathlib.Path(proj) / "params.yaml"
    d = yaml.safe_load(p.read_text())
    fn(d)
    p.write_text(yaml.safe_dump(d, sort_keys=False))


def png(seed, size=16):
    from PIL import Image
    rng = np.random.default_rng(seed)
    b = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size, size, 3)).astype("uint8")).save(b, format="PNG")
    return b.getvalue()


def tar_add(tf, name, data):
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    ti.mtime = 0
    tf.addfile(ti, io.BytesIO(data))


def write_tar(path, members):
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tf:
        for name, data in members:
            tar_add(tf, name, data)


def wds_members(keys):
    out = []
    for k in keys:
        out += [(f"k{k:04d}.png", png(1000 + k)), (f"k{k:04d}.cls", LABELS[k % 3].encode()),
                (f"k{k:04d}.txt", f"a {LABELS[k % 3]} thing".encode())]
    return out


def tab_table(split, n, off, labels=None):
    rows = list(range(off, off + n))
    return pa.table({
        "id": [f"tab-{i}" for i in rows],
        "image": [{"bytes": png(i), "path": f"tab-{i}.png"} for i in rows],
        "caption": [f"a {LABELS[i % 3]} thing" for i in rows],
        "label": labels if labels is not None else [LABELS[i % 3] for i in rows],
    })


def write_hfd(d, n=12):
    import datasets
    feats = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=LABELS),
                               "caption": datasets.Value("string")})
    ds = datasets.Dataset.from_dict({"image": [{"bytes": png(2000 + i), "path": None} for i in range(n)],
                                     "label": [i % 3 for i in range(n)],
                                     "caption": [f"a {LABELS[i % 3]} thing" for i in range(n)]}, features=feats)
    datasets.DatasetDict({"train": ds.select(range(8)), "test": ds.select(range(8, n))}).save_to_disk(str(d))


def hf_arrow(proj, split="train"):
    return pathlib.Path(proj) / "data/hfd" / split / "data-00000-of-00001.arrow"


def read_stream(path):
    with pa.OSFile(str(path), "rb") as f:
        return pa.ipc.open_stream(f).read_all()


def write_stream(path, table, chunk=2):
    """Write an Arrow stream in small record batches; returns the file offset after each batch."""
    ends = []
    with pa.OSFile(str(path), "wb") as sink:
        w = pa.ipc.new_stream(sink, table.schema)
        for b in table.to_batches(max_chunksize=chunk):
            w.write_batch(b)
            ends.append(sink.tell())
        w.close()
    return ends


def vec_column(arr):
    arr = np.asarray(arr, dtype=np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(arr.reshape(-1)), arr.shape[1])


def imp_paths(proj, i):
    p = pathlib.Path(proj) / "data/imp"
    return p / "img_emb" / f"img_emb_{i}.npy", p / "metadata" / f"metadata_{i}.parquet"


def set_meta_column(proj, i, name, values, type=None):
    _, m = imp_paths(proj, i)
    t = pq.read_table(m)
    t = t.set_column(t.schema.get_field_index(name), name, pa.array(values, type=type))
    pq.write_table(t, m)


def vt_files(proj):
    return sorted((pathlib.Path(proj) / "data/vt").glob("*.parquet"))


def faiss_index(proj):
    return pathlib.Path(proj) / "artifacts/indexes/syn-text/lin.faiss"


def set_dir(proj, ds, enc, tower):
    return pathlib.Path(proj) / "artifacts/embeddings" / ds / enc / tower


def safetensors_header(path):
    b = pathlib.Path(path).read_bytes()
    n = struct.unpack("<Q", b[:8])[0]
    return json.loads(b[8:8 + n]), b[8 + n:], n


def write_safetensors(path, header, data, pad_to=None):
    h = json.dumps(header, separators=(",", ":")).encode()
    if pad_to is not None:
        h = h.ljust(pad_to, b" ")
    pathlib.Path(path).write_bytes(struct.pack("<Q", len(h)) + h + data)


def rebind_weights(proj, name):
    """Update bridge.json's weights_sha256 to the (edited) weights file, as a careless user or tool would."""
    bdir = pathlib.Path(proj) / "artifacts/bridges" / name
    card = json.loads((bdir / "bridge.json").read_text())
    card["weights_sha256"] = sha(bdir / "weights.safetensors")
    (bdir / "bridge.json").write_text(json.dumps(card, indent=2))


def edit_lin_weights(proj, fn, name="lin"):
    path = pathlib.Path(proj) / "artifacts/bridges" / name / "weights.safetensors"
    header, data, n = safetensors_header(path)
    arrays = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        s, e = v["data_offsets"]
        arrays[k] = np.frombuffer(data[s:e], dtype={"F64": np.float64, "F32": np.float32}[v["dtype"]]).reshape(v["shape"]).copy()
    fn(arrays)
    out = bytearray(data)
    for k, a in arrays.items():
        s, e = header[k]["data_offsets"]
        out[s:e] = a.astype(np.float64 if header[k]["dtype"] == "F64" else np.float32).tobytes()
    write_safetensors(path, header, bytes(out), pad_to=n)
    rebind_weights(proj, name)


def search_json(proj, *extra):
    return bridge(proj, "search", "syn-text", "--bridge", "lin", "--id", "text-g000012-0", "-k", "5", "--json", *extra)


# --------------------------------------------------------------------------------------------------- the project

PARAMS = {
    "worlds": {"w": {"seed": 0, "concepts": 4, "latent_dim": 8, "private_dim": 4, "within_concept": 1.3,
                     "obs_noise": 0.6, "groups": 120, "captions_per_item": 2, "modalities": ["text", "image"]}},
    "datasets": {
        "syn": {"source": "synthetic", "options": {"world": "w"}},
        "imp": {"source": "vectors", "options": {"path": "data/imp", "layout": "clip-retrieval", "emb": "img_emb"}},
        "vt": {"source": "vectors", "options": {"path": "data/vt", "modality": "text"}},
        "tab": {"source": "table", "options": {"path": "data/tab", "columns": {"text": "caption"}}},
        "wds": {"source": "webdataset", "options": {"path": "data/wds"}},
        "hfd": {"source": "hf", "options": {"path": "data/hfd"}},
    },
    "encoders": {
        "clip": {"model": "synthetic:bimodal",
                 "options": {"world": "w", "towers": ["text", "image"], "dim": 16, "gap": 0.8, "seed": 1}},
        "pi": {"model": "precomputed:clip-i", "options": {"dim": 16, "towers": ["image"]}},
        "pt": {"model": "precomputed:clip-t", "options": {"dim": 16, "towers": ["text"]}},
        "eff": {"model": "efficientnet:efficientnet-lite0"},
        "mini": {"model": "st:sentence-transformers/all-MiniLM-L6-v2"},
    },
    "extract": {"format": "parquet", "dtype": "float32", "shard_rows": 100, "sets": {
        "syn-text": {"dataset": "syn", "encoder": "clip", "tower": "text"},
        "syn-image": {"dataset": "syn", "encoder": "clip", "tower": "image"},
        "imp-image": {"dataset": "imp", "encoder": "pi", "tower": "image"},
        "vt-text": {"dataset": "vt", "encoder": "pt", "tower": "text"},
        "tab-image": {"dataset": "tab", "encoder": "eff", "tower": "image"},
        "wds-image": {"dataset": "wds", "encoder": "eff", "tower": "image"},
        "hfd-image": {"dataset": "hfd", "encoder": "eff", "tower": "image"},
    }},
    "fit": {"bridges": {
        "lin": {"method": "linear", "inputs": {"source": "syn-image", "target": "syn-text"}, "params": {"alpha": 1.0}},
        "ilin": {"method": "linear", "inputs": {"source": "imp-image", "target": "syn-text"}, "params": {"alpha": 1.0}},
        "mlp": {"method": "paired_mlp", "inputs": {"modal": "syn-image", "anchor": "syn-text"},
                "params": {"epochs": 2, "threads": 1}},
    }},
    "eval": {"index": "exact", "ks": [1, 5, 10], "tasks": {
        "zs": {"kind": "zeroshot", "query": {"set": "syn-image", "bridge": "lin"},
               "gallery": {"set": "syn-text", "bridge": "lin"}},
        "ret": {"kind": "retrieval", "query": {"set": "syn-image", "bridge": "lin"},
                "gallery": {"set": "syn-text", "bridge": "lin"}},
        "izs": {"kind": "zeroshot", "query": {"set": "imp-image", "bridge": "ilin"},
                "gallery": {"set": "syn-text", "bridge": "ilin"}},
        "izsraw": {"kind": "zeroshot", "query": {"set": "imp-image"}, "gallery": {"set": "syn-text"}},
        "vret": {"kind": "retrieval", "query": {"set": "imp-image"}, "gallery": {"set": "vt-text"}},
        "mzs": {"kind": "zeroshot", "query": {"set": "syn-image", "bridge": "mlp"},
                "gallery": {"set": "syn-text", "bridge": "mlp"}},
        "tprobe": {"kind": "probe", "query": {"set": "tab-image"}},
    }},
}


def _build(proj):
    proj.mkdir(parents=True)
    p = json.loads(json.dumps(PARAMS))
    # 1. the synthetic sets, exported (as README shows) into the files the imported datasets read
    p1 = dict(p, extract=dict(p["extract"], sets={k: p["extract"]["sets"][k] for k in ("syn-text", "syn-image")}),
              fit={"bridges": {"lin": p["fit"]["bridges"]["lin"]}}, eval=dict(p["eval"], tasks={}))
    (proj / "params.yaml").write_text(yaml.safe_dump(p1, sort_keys=False))
    for args in (["extract"], ["export", "syn-image", "--to", "npy", "--out", "data/imp"],
                 ["export", "syn-text", "--to", "parquet", "--out", "data/vtx"]):
        r = bridge(proj, *args)
        assert r.returncode == 0, (args, show(r))
    (proj / "data/vt").mkdir()
    for f in sorted((proj / "data/vtx").glob("*.parquet")):   # captions only: no rows of the tool's prompt split
        t = pq.read_table(f)
        pq.write_table(t.filter(pc.not_equal(t["split"], "prompt")), proj / "data/vt" / f.name)
    shutil.rmtree(proj / "data/vtx")
    shutil.rmtree(proj / "artifacts")
    # 2. user data in three layouts: an HF Parquet folder, WebDataset tars, a save_to_disk folder
    (proj / "data/tab").mkdir()
    pq.write_table(tab_table("train", 9, 0), proj / "data/tab/train-00000-of-00001.parquet")
    pq.write_table(tab_table("test", 6, 100), proj / "data/tab/test-00000-of-00001.parquet")
    (proj / "data/wds").mkdir()
    for s in range(2):
        write_tar(proj / f"data/wds/shard-{s:04d}.tar", wds_members(range(s * 6, s * 6 + 6)))
    write_hfd(proj / "data/hfd")
    (proj / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    for args in (["extract"], ["fit"], ["eval"]):
        r = bridge(proj, *args, timeout=300)
        assert r.returncode == 0, (args, show(r))
    r = search_json(proj)   # builds artifacts/indexes/syn-text/lin.faiss
    assert r.returncode == 0, show(r)


@pytest.fixture(scope="session")
def base(tmp_path_factory):
    proj = tmp_path_factory.mktemp("hostile") / "base"
    _build(proj)
    return proj


@pytest.fixture
def proj(base, tmp_path):
    dst = tmp_path / "p"
    shutil.copytree(base, dst, symlinks=True)
    return dst


# =================================================================================== class 1: degenerate vectors

def test_c1_zero_vectors_in_two_imported_files(proj):
    """Class 1: imported vectors zeroed in two npy files are refused at import, naming the file."""
    for i in (0, 1):
        e, _ = imp_paths(proj, i)
        a = np.load(e)
        a[:3] = 0
        np.save(e, a)
    before = snap(proj)
    r = bridge(proj, "extract", "imp-image")
    assert_refused(proj, r, before, ("img_emb_0.npy", "img_emb_1.npy"))


def test_c1_zero_vectors_skip_names_rows(proj):
    """Class 1: under on_error: skip, zeroed imported rows are skipped and named (or refused), never stored."""
    e, m = imp_paths(proj, 0)
    a = np.load(e)
    a[:2] = 0
    np.save(e, a)
    ids = pq.read_table(m)["id"].to_pylist()[:2]
    edit_params(proj, lambda d: d["extract"].__setitem__("on_error", "skip"))
    before = snap(proj)
    r = bridge(proj, "extract", "imp-image")
    if r.returncode != 0:
        assert_refused(proj, r, before, ("img_emb_0.npy", ids[0]))
        return
    assert "Traceback" not in r.stderr + r.stdout
    assert any(ids[0] in l for l in lines(r.stderr + r.stdout)), "exit 0 without naming the skipped rows\n" + show(r)
    t = pq.read_table(sorted(set_dir(proj, "imp", "pi", "image").glob("part-*.parquet")))
    assert ids[0] not in t["id"].to_pylist() and t.num_rows == 118, "a zero vector was stored"


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf"])
def test_c1_nonfinite_imported_vector(proj, bad):
    """Class 1: an imported npy with a non-finite value is refused at import naming the file."""
    e, _ = imp_paths(proj, 1)
    a = np.load(e)
    a[4, 3] = float(bad)
    np.save(e, a)
    before = snap(proj)
    r = bridge(proj, "extract", "imp-image")
    assert_refused(proj, r, before, "img_emb_1.npy")


def test_c1_float16_overflow_not_written(proj):
    """Class 1: normalize false + float16 with values beyond 65504 would store +-inf: refused naming the file."""
    for i in (0, 1):
        e, _ = imp_paths(proj, i)
        np.save(e, np.load(e) * 1e6)
    edit_params(proj, lambda d: d["extract"].update(normalize=False, dtype="float16"))
    before = snap(proj)
    r = bridge(proj, "extract", "imp-image")
    assert_refused(proj, r, before, ("img_emb_0.npy", "img_emb_1.npy", "float16", "overflow"))


def test_c1_norm_overflow_is_not_zero(proj):
    """Class 1: a finite float32 row whose squared norm overflows is refused, or stored as a true unit vector."""
    e, m = imp_paths(proj, 0)
    a = np.load(e).astype(np.float32)
    a[5] = 3e37
    np.save(e, a)
    rid = pq.read_table(m)["id"][5].as_py()
    before = snap(proj)
    r = bridge(proj, "extract", "imp-image")
    if r.returncode != 0:
        assert_refused(proj, r, before, ("img_emb_0.npy", rid))
        return
    t = pq.read_table(sorted(set_dir(proj, "imp", "pi", "image").glob("part-*.parquet"))).to_pandas()
    v = np.frombuffer(t.loc[t["id"] == rid, "embedding"].iloc[0], dtype=np.float32)
    assert np.all(np.isfinite(v)) and abs(np.linalg.norm(v) - 1) < 1e-3, f"stored {v[:4]}, norm {np.linalg.norm(v)}"


def test_c1_denormal_vector(proj):
    """Class 1: a row of denormal values (norm underflows to 0) is refused, or stored as a true unit vector."""
    e, m = imp_paths(proj, 0)
    a = np.load(e).astype(np.float32)
    a[6] = 1e-44
    np.save(e, a)
    rid = pq.read_table(m)["id"][6].as_py()
    before = snap(proj)
    r = bridge(proj, "extract", "imp-image")
    if r.returncode != 0:
        assert_refused(proj, r, before, ("img_emb_0.npy", rid))
        return
    t = pq.read_table(sorted(set_dir(proj, "imp", "pi", "image").glob("part-*.parquet"))).to_pandas()
    v = np.frombuffer(t.loc[t["id"] == rid, "embedding"].iloc[0], dtype=np.float32)
    assert np.all(np.isfinite(v)) and abs(np.linalg.norm(v) - 1) < 1e-3, f"stored norm {np.linalg.norm(v)}"


def test_c1_zero_caption_vector_parquet(proj):
    """Class 1: one zero row in an imported float-list Parquet file is refused naming the file or row."""
    f = vt_files(proj)[1]
    t = pq.read_table(f)
    emb = np.array(t["embedding"].to_pylist(), dtype=np.float32)
    emb[7] = 0
    rid = t["id"][7].as_py()
    pq.write_table(t.set_column(t.schema.get_field_index("embedding"), "embedding", vec_column(emb)), f)
    before = snap(proj)
    r = bridge(proj, "extract", "vt-text")
    assert_refused(proj, r, before, (f.name, rid))


def test_c1_retrieval_query_equals_gallery(proj):
    """Class 1: a retrieval whose query and gallery are the same rows is refused (recall@1 would be 1.0)."""
    edit_params(proj, lambda d: d["eval"]["tasks"].__setitem__(
        "self", {"kind": "retrieval", "query": {"set": "syn-text"}, "gallery": {"set": "syn-text"}}))
    before = snap(proj)
    r = bridge(proj, "eval", "self")
    assert_refused(proj, r, before, "self")


def test_c1_retrieval_same_set_through_bridge(proj):
    """Class 1: the same set on both sides through one bridge (identical rows) is refused as well."""
    edit_params(proj, lambda d: d["eval"]["tasks"].__setitem__(
        "self2", {"kind": "retrieval", "query": {"set": "syn-image", "bridge": "lin"},
                  "gallery": {"set": "syn-image", "bridge": "lin"}}))
    before = snap(proj)
    r = bridge(proj, "eval", "self2")
    assert_refused(proj, r, before, "self2")


@pytest.mark.slow
def test_c1_class_names_merge_two_classes(proj):
    """Class 1: class_names {blue: red} gives two classes one display name, so identical prompts and class
    vectors: zero-shot must refuse (the issue saw top-1 0.50 -> 0.93)."""
    def add(d):
        d["datasets"]["tabt"] = {"source": "table", "options": {"path": "data/tab", "columns": {"text": "caption"},
                                                                "class_names": {"blue": "red"}},
                                 "class_prompts": ["a {} thing"]}
        d["extract"]["sets"]["tabt-text"] = {"dataset": "tabt", "encoder": "mini", "tower": "text"}
        d["eval"]["tasks"]["tzs"] = {"kind": "zeroshot", "query": {"set": "tabt-text"}, "gallery": {"set": "tabt-text"}}
    edit_params(proj, add)
    run_until_refused(proj, [["extract", "tabt-text"], ["eval", "tzs"]], ("blue", "red"))


def test_c1_collapsed_bridge_zero_weights(proj):
    """Class 1: a bridge whose weight matrix is zeroed (every output the same point) is refused on load/eval."""
    edit_lin_weights(proj, lambda a: a["weight"].__setitem__(Ellipsis, 0.0))
    before = snap(proj)
    r = bridge(proj, "eval", "zs")
    assert_refused(proj, r, before, "lin")


def test_c1_rank_one_bridge(proj):
    """Class 1: a bridge collapsed to rank 1 (outputs on one line) is refused on load/eval."""
    def rank1(a):
        w = a["weight"]
        u, s, vt = np.linalg.svd(w)
        a["weight"] = s[0] * np.outer(u[:, 0], vt[0])
    edit_lin_weights(proj, rank1)
    before = snap(proj)
    r = bridge(proj, "eval", "zs")
    assert_refused(proj, r, before, "lin")


def _gallery_vectors(proj, fn):
    for f in vt_files(proj):
        t = pq.read_table(f)
        emb = np.array(t["embedding"].to_pylist(), dtype=np.float32)
        emb = fn(t, emb)
        pq.write_table(t.set_column(t.schema.get_field_index("embedding"), "embedding", vec_column(emb)), f)


def _no_credit(proj, task, metric, chance_plus_noise, culprit):
    """Refused somewhere, or exit 0 with a warning naming the rows and the metric at chance."""
    before_m = snap(proj, METRIC_DIRS)
    for cmd in (["extract", "vt-text"], ["eval", task]):
        r = bridge(proj, *cmd)
        if r.returncode != 0:
            assert_one_line(r, culprit)
            assert snap(proj, METRIC_DIRS) == before_m, "metrics changed on a refusal"
            return
    assert "Traceback" not in r.stderr + r.stdout
    value = metrics(proj, task)[metric]
    assert value <= chance_plus_noise, f"{metric} = {value:.3f} for degenerate vectors (chance+noise {chance_plus_noise})"
    assert any(_names(l, culprit) for l in lines(r.stderr)), "exit 0 without a warning naming the rows\n" + show(r)


def test_c1_constant_gallery_vectors_tie(proj):
    """Class 1: every gallery row the same vector: ties must not earn recall@1 (refuse, or chance + warning)."""
    _gallery_vectors(proj, lambda t, e: np.tile(e[:1], (len(e), 1)))
    _no_credit(proj, "vret", "q2g/recall@1", 0.1, ("vt", "tie", "duplicate", "constant"))


def test_c1_class_constant_gallery_ties(proj):
    """Class 1: gallery rows replaced by their class mean (ties within a class): no optimistic recall@1."""
    def classmean(t, e):
        lab = np.array(t["label"].to_pylist())
        out = e.copy()
        for l in set(lab):
            out[lab == l] = e[lab == l].mean(0)
        return out
    _gallery_vectors(proj, classmean)
    _no_credit(proj, "vret", "q2g/recall@1", 0.15, ("vt", "tie", "duplicate"))


def test_c1_search_zero_query_vector(proj):
    """Class 1: a zero query vector (--vector) ties with everything: refused naming the file."""
    np.save(proj / "q.npy", np.zeros((1, 16), np.float32))
    before = snap(proj)
    r = bridge(proj, "search", "syn-text", "--bridge", "lin", "--vector", "q.npy", "-k", "3")
    assert_refused(proj, r, before, "q.npy")


def test_c1_search_nan_query_vector(proj):
    """Class 1: a NaN query vector is refused naming the file."""
    q = np.ones((1, 16), np.float32)
    q[0, 2] = np.nan
    np.save(proj / "q.npy", q)
    before = snap(proj)
    r = bridge(proj, "search", "syn-text", "--bridge", "lin", "--vector", "q.npy", "-k", "3")
    assert_refused(proj, r, before, "q.npy")


def test_c1_duplicate_gallery_rows_different_groups(proj):
    """Class 1: the positive caption duplicated under another group: the tie must not count for the query."""
    def dup(t, e):
        grp = np.array(t["group"].to_pylist())
        out = e.copy()
        # every caption of group g is copied onto the first caption of the next group: ties across groups
        order = sorted(set(grp))
        first = {g: np.where(grp == g)[0][0] for g in order}
        for a, b in zip(order, order[1:]):
            out[first[b]] = e[first[a]]
        return out
    _gallery_vectors(proj, dup)
    before_m = snap(proj, METRIC_DIRS)
    for cmd in (["extract", "vt-text"], ["eval", "vret"]):
        r = bridge(proj, *cmd)
        if r.returncode != 0:
            assert_one_line(r, ("vt", "duplicate", "tie"))
            assert snap(proj, METRIC_DIRS) == before_m
            return
    ties = json.loads((proj / "artifacts/protocols/vret.json").read_text()).get("ties", "")
    assert not str(ties).startswith("optimistic"), f"headline still uses the optimistic tie rule: {ties!r}"


# ================================================================================ class 2: numbers bound to bytes

def _stale_ok(proj, r, before, task, bridge_name):
    """A stale bridge: refused in one line saying to refit, or exit 0 with 'stale' in the card next to the number."""
    if r.returncode != 0:
        assert_refused(proj, r, before, bridge_name, ("refit", "bridge fit", "stale"))
        return
    assert "Traceback" not in r.stderr + r.stdout
    card = (proj / "artifacts/protocols" / f"{task}.json").read_text()
    assert "stale" in card.lower(), "stale bridge scored with exit 0 and no 'stale' in the protocol card\n" + show(r)


def test_c2_stale_bridge_after_reextract(proj):
    """Class 2: re-extract syn-image with another encoder setting, eval without refitting: refused or marked stale."""
    edit_params(proj, lambda d: d["encoders"]["clip"]["options"].__setitem__("seed", 5))
    assert bridge(proj, "extract", "syn-image", "syn-text").returncode == 0
    before = snap(proj)
    r = bridge(proj, "eval", "zs")
    _stale_ok(proj, r, before, "zs", "lin")


def test_c2_stale_bridge_imported_vectors_changed(proj):
    """Class 2: imported vectors replaced by other ones, re-imported; eval through the old bridge: stale."""
    rng = np.random.default_rng(0)
    for i in (0, 1):
        e, _ = imp_paths(proj, i)
        a = np.load(e)
        np.save(e, a + 0.5 * rng.standard_normal(a.shape).astype(a.dtype))
    assert bridge(proj, "extract", "imp-image").returncode == 0
    before = snap(proj)
    r = bridge(proj, "eval", "izs")
    _stale_ok(proj, r, before, "izs", "ilin")


def test_c2_stale_bridge_search(proj):
    """Class 2: search through a bridge fitted on sets since re-extracted: refused naming the bridge (or 'stale')."""
    edit_params(proj, lambda d: d["encoders"]["clip"]["options"].__setitem__("seed", 5))
    assert bridge(proj, "extract", "syn-image", "syn-text").returncode == 0
    before = snap(proj)
    r = search_json(proj)
    if r.returncode == 0:
        assert "stale" in (r.stdout + r.stderr).lower(), "stale bridge used by search with no word\n" + show(r)
    else:
        assert_refused(proj, r, before, "lin")


def test_c2_stale_bridge_export(proj):
    """Class 2: export --bridge with a bridge fitted on an older set: refused naming the bridge."""
    edit_params(proj, lambda d: d["encoders"]["clip"]["options"].__setitem__("seed", 5))
    assert bridge(proj, "extract", "syn-image", "syn-text").returncode == 0
    before = snap(proj)
    r = bridge(proj, "export", "syn-image", "--bridge", "lin", "--to", "parquet")
    assert_refused(proj, r, before, "lin")


def test_c2_edited_inference_graph(proj):
    """Class 2: an op removed from bridge.json's inference graph (weights_sha256 unchanged) is refused."""
    bj = proj / "artifacts/bridges/mlp/bridge.json"
    card = json.loads(bj.read_text())
    card["inference"]["modal"] = [op for op in card["inference"]["modal"] if op[0] != "subtract"]
    bj.write_text(json.dumps(card, indent=2))
    before = snap(proj)
    r = bridge(proj, "eval", "mzs")
    assert_refused(proj, r, before, ("mlp", "bridge.json"))


def test_c2_edited_card_params(proj):
    """Class 2: bridge.json's params edited (renormalize false) without refitting: refused (content hash)."""
    bj = proj / "artifacts/bridges/lin/bridge.json"
    card = json.loads(bj.read_text())
    card["params"]["renormalize"] = False
    bj.write_text(json.dumps(card, indent=2))
    before = snap(proj)
    r = bridge(proj, "eval", "zs")
    assert_refused(proj, r, before, ("lin", "bridge.json"))


def test_c2_edited_fitted_on(proj):
    """Class 2: bridge.json's fitted_on edited to another fingerprint: refused as stale/edited."""
    bj = proj / "artifacts/bridges/lin/bridge.json"
    card = json.loads(bj.read_text())
    card["fitted_on"]["source"] = "0" * 16
    bj.write_text(json.dumps(card, indent=2))
    before = snap(proj)
    r = bridge(proj, "eval", "zs")
    assert_refused(proj, r, before, ("lin", "bridge.json"))


def test_c2_safetensors_dtype_edited(proj):
    """Class 2: safetensors header dtype F64 -> I64 (checksum updated) is refused against the card."""
    path = proj / "artifacts/bridges/lin/weights.safetensors"
    header, data, n = safetensors_header(path)
    for k, v in header.items():
        if k != "__metadata__" and v["dtype"] in ("F64", "F32"):
            v["dtype"] = {"F64": "I64", "F32": "I32"}[v["dtype"]]
    write_safetensors(path, header, data, pad_to=n)
    rebind_weights(proj, "lin")
    before = snap(proj)
    r = bridge(proj, "eval", "zs")
    assert_refused(proj, r, before, ("weights.safetensors", "dtype", "lin"))


def test_c2_weights_edited_checksum_stale(proj):
    """Class 2: weights changed in place without updating weights_sha256: refused naming the file."""
    path = proj / "artifacts/bridges/lin/weights.safetensors"
    b = bytearray(path.read_bytes())
    b[-20] ^= 0x40
    path.write_bytes(bytes(b))
    before = snap(proj)
    r = bridge(proj, "eval", "zs")
    assert_refused(proj, r, before, ("weights.safetensors", "lin"))


def test_c2_protocol_card_subsets_from_bridge(proj):
    """Class 2: the card reports the subsets of the bridge that ran (part 0/2), not params.yaml's edited 1/2."""
    edit_params(proj, lambda d: d["fit"]["bridges"]["ilin"].__setitem__("subsets", {"source": {"part": "0/2"}}))
    r = bridge(proj, "fit", "ilin")
    assert r.returncode == 0, show(r)
    edit_params(proj, lambda d: d["fit"]["bridges"]["ilin"].__setitem__("subsets", {"source": {"part": "1/2"}}))
    before = snap(proj)
    r = bridge(proj, "eval", "izs")
    if r.returncode != 0:
        assert_refused(proj, r, before, "ilin")
        return
    card = (proj / "artifacts/protocols/izs.json").read_text()
    assert "0/2" in card and "1/2" not in card, "the card does not report the loaded bridge's own subset"


def test_c2_protocol_card_names_set_fingerprints(proj):
    """Class 2: the card names each set's fingerprint, the ones the bridge recorded as fitted_on."""
    card = (proj / "artifacts/protocols/zs.json").read_text()
    fitted_on = json.loads((proj / "artifacts/bridges/lin/bridge.json").read_text())["fitted_on"]
    missing = [v for v in fitted_on.values() if v not in card]
    assert not missing, f"the protocol card lacks the fingerprints {missing} of the sets the bridge was fitted on"


def test_c2_concurrent_fit_during_eval(proj):
    """Class 2: `bridge fit lin` alternating two alphas while `bridge eval zs` repeats: every card names the
    weights whose vectors produced its number."""
    runs = {}
    for alpha in ("0.0", "3000.0"):
        assert bridge(proj, "fit", "lin", "--set", f"fit.bridges.lin.params.alpha={alpha}").returncode == 0
        h = json.loads((proj / "artifacts/bridges/lin/bridge.json").read_text())["content_sha256"]
        r = bridge(proj, "eval", "zs", "--set", f"fit.bridges.lin.params.alpha={alpha}")
        assert r.returncode == 0, show(r)
        runs[h] = (metrics(proj, "zs")["top1"], metrics(proj, "zs")["balanced_accuracy"])
    assert len(set(runs.values())) == 2, f"the two bridges score alike, the test cannot tell them apart: {runs}"
    stop = threading.Event()

    def fitter():
        i = 0
        while not stop.is_set():
            alpha = ("0.0", "3000.0")[i % 2]
            bridge(proj, "fit", "lin", "--set", f"fit.bridges.lin.params.alpha={alpha}")
            i += 1

    th = threading.Thread(target=fitter)
    th.start()
    bad = []
    try:
        for _ in range(16):
            r = bridge(proj, "eval", "zs")
            if r.returncode != 0:
                assert_one_line(r, "lin")
                continue
            card = json.loads((proj / "artifacts/protocols/zs.json").read_text())
            h = card["sides"]["query"]["bridge"].get("content_sha256")
            m = metrics(proj, "zs")
            got = (m["top1"], m["balanced_accuracy"])
            if runs.get(h) != got:
                bad.append((h[:12] if h else h, "known hash" if h in runs else "unknown hash", got,
                            "its own metrics would be", runs.get(h)))
    finally:
        stop.set()
        th.join()
    assert not bad, f"metrics of one bridge under a card naming another: {bad}"


def _permuted_index(proj):
    import faiss
    idx = faiss.read_index(str(faiss_index(proj)))
    n, d = idx.ntotal, idx.d
    x = idx.reconstruct_n(0, n)
    perm = np.random.default_rng(1).permutation(n)
    new = faiss.IndexFlatIP(d) if idx.metric_type == faiss.METRIC_INNER_PRODUCT else faiss.IndexFlatL2(d)
    new.add(np.ascontiguousarray(x[perm]))
    faiss.write_index(new, str(faiss_index(proj)))


def _index_refused_or_rebuilt(proj, r0, r):
    if r.returncode != 0:
        assert_one_line(r, ("lin.faiss", "index"))
        return
    assert "Traceback" not in r.stderr + r.stdout
    assert json.loads(r.stdout) == json.loads(r0.stdout), "a replaced index was reused: other ids for the same query"


def test_c2_search_index_replaced_same_rows_other_order(proj):
    """Class 2: the .faiss replaced by a valid index of the same rows in another order: refused or rebuilt."""
    r0 = search_json(proj)
    _permuted_index(proj)
    _index_refused_or_rebuilt(proj, r0, search_json(proj))


def test_c2_search_index_other_dim(proj):
    """Class 2/6: the .faiss replaced by an index of another dim: one line naming the index, or rebuilt."""
    import faiss
    r0 = search_json(proj)
    idx = faiss.IndexFlatIP(8)
    idx.add(np.random.default_rng(0).standard_normal((256, 8)).astype(np.float32))
    faiss.write_index(idx, str(faiss_index(proj)))
    _index_refused_or_rebuilt(proj, r0, search_json(proj))


def test_c2_search_index_truncated(proj):
    """Class 2: a truncated .faiss: one line naming the index, or rebuilt with the same results."""
    r0 = search_json(proj)
    b = faiss_index(proj).read_bytes()
    faiss_index(proj).write_bytes(b[: len(b) // 2])
    _index_refused_or_rebuilt(proj, r0, search_json(proj))


def test_c2_search_index_card_edited(proj):
    """Class 2: the index's card edited to claim other rows: refused or rebuilt, never trusted."""
    r0 = search_json(proj)
    c = faiss_index(proj).with_suffix(".json")
    card = json.loads(c.read_text())
    card["rows"] = card.get("rows", 0) + 1
    c.write_text(json.dumps(card))
    _index_refused_or_rebuilt(proj, r0, search_json(proj))


def test_c2_shard_rewritten_valid_parquet(proj):
    """Class 2: a store shard rewritten as valid Parquet with other vectors: eval refuses naming the shard."""
    f = set_dir(proj, "syn", "clip", "image") / "part-00000.parquet"
    t = pq.read_table(f)
    emb = t["embedding"].to_pylist()
    t = t.set_column(t.schema.get_field_index("embedding"), t.schema.field("embedding"),
                     pa.array(emb[::-1], t.schema.field("embedding").type))
    pq.write_table(t, f)
    before = snap(proj)
    r = bridge(proj, "eval", "zs")
    assert_refused(proj, r, before, "part-00000")


def test_c2_manifest_rows_edited(proj):
    """Class 2: a manifest whose row count is edited: refused naming the manifest or shard."""
    mf = set_dir(proj, "syn", "clip", "text") / "manifest.json"
    m = json.loads(mf.read_text())
    m["rows"] += 5
    mf.write_text(json.dumps(m, indent=2))
    before = snap(proj)
    r = bridge(proj, "eval", "zs")
    assert_refused(proj, r, before, ("manifest.json", "syn-text", "syn/clip/text"))


# ================================================================================= class 3: complete or refused

def _wds_refused(proj, *culprits):
    before = snap(proj)
    r = bridge(proj, "extract", "wds-image")
    assert_refused(proj, r, before, *culprits)


def test_c3_tar_ends_at_member_boundary(proj):
    """Class 3: a tar cut exactly after a member (no end-of-archive blocks) is refused naming the shard."""
    p = proj / "data/wds/shard-0001.tar"
    with tarfile.open(p) as tf:
        ms = tf.getmembers()
    cut = ms[-4]   # drop the last key's members, end on a boundary
    end = cut.offset_data + math.ceil(cut.size / 512) * 512
    p.write_bytes(p.read_bytes()[:end])
    _wds_refused(proj, "shard-0001.tar")


def test_c3_tar_cut_mid_member(proj):
    """Class 3: a tar cut in the middle of a member's data is refused naming the shard."""
    p = proj / "data/wds/shard-0000.tar"
    with tarfile.open(p) as tf:
        m = tf.getmembers()[6]
    p.write_bytes(p.read_bytes()[: m.offset_data + 40])
    _wds_refused(proj, "shard-0000.tar")


def test_c3_tar_gz_beside_tar(proj):
    """Class 3: a .tar.gz shard beside .tar shards is read (its rows counted) or refused naming it."""
    with tarfile.open(proj / "data/wds/shard-0002.tar.gz", "w:gz", format=tarfile.USTAR_FORMAT) as tf:
        for name, data in wds_members(range(12, 16)):
            tar_add(tf, name, data)
    before = snap(proj)
    r = bridge(proj, "extract", "wds-image")
    if r.returncode != 0:
        assert_refused(proj, r, before, "shard-0002.tar.gz")
        return
    rows = json.loads((set_dir(proj, "wds", "eff", "image") / "manifest.json").read_text())["rows"]
    assert rows == 16, f"exit 0 but the .tar.gz shard's rows are missing: {rows} rows stored"


def test_c3_tar_duplicate_key(proj):
    """Class 3: one key twice in a tar is refused naming the key (not the last silently kept)."""
    p = proj / "data/wds/shard-0000.tar"
    write_tar(p, wds_members(range(6)) + [("k0002.png", png(77)), ("k0002.cls", b"green")])
    _wds_refused(proj, "k0002")


def test_c3_tar_key_png_and_jpg(proj):
    """Class 3: a key with both .png and .jpg members is refused naming the key."""
    from PIL import Image
    b = io.BytesIO()
    Image.new("RGB", (16, 16), (9, 9, 9)).save(b, format="JPEG")
    p = proj / "data/wds/shard-0000.tar"
    write_tar(p, wds_members(range(6)) + [("k0003.jpg", b.getvalue())])
    _wds_refused(proj, "k0003")


def test_c3_tar_duplicate_key_across_shards(proj):
    """Class 3: the same key in two tar shards is refused naming the key."""
    write_tar(proj / "data/wds/shard-0001.tar", wds_members([6, 7, 8, 9, 10, 2]))
    _wds_refused(proj, "k0002")


def test_c3_tar_empty_file(proj):
    """Class 3: a zero-byte .tar shard is refused naming it (not read as zero rows)."""
    (proj / "data/wds/shard-0002.tar").write_bytes(b"")
    _wds_refused(proj, "shard-0002.tar")


def test_c3_tar_corrupt_image_fail(proj):
    """Class 3: a key whose .png is garbage, on_error: fail, is refused naming the key."""
    members = wds_members(range(6))
    members[3] = ("k0001.png", b"\x89PNG garbage")
    write_tar(proj / "data/wds/shard-0000.tar", members)
    _wds_refused(proj, "k0001")


def test_c3_tar_corrupt_image_skip_names_key(proj):
    """Class 3: the same under on_error: skip: refused, or exit 0 naming the skipped key with one row fewer."""
    members = wds_members(range(6))
    members[3] = ("k0001.png", b"\x89PNG garbage")
    write_tar(proj / "data/wds/shard-0000.tar", members)
    edit_params(proj, lambda d: d["extract"].__setitem__("on_error", "skip"))
    before = snap(proj)
    r = bridge(proj, "extract", "wds-image")
    if r.returncode != 0:
        assert_refused(proj, r, before, "k0001")
        return
    assert "Traceback" not in r.stderr + r.stdout
    assert "k0001" in r.stderr + r.stdout, "exit 0 without naming the skipped key\n" + show(r)
    rows = json.loads((set_dir(proj, "wds", "eff", "image") / "manifest.json").read_text())["rows"]
    assert rows == 11


def _hf_refused(proj, *culprits):
    before = snap(proj)
    r = bridge(proj, "extract", "hfd-image")
    assert_refused(proj, r, before, *culprits)


def test_c3_arrow_cut_between_record_batches(proj):
    """Class 3: a save_to_disk Arrow file cut between record batches (no end-of-stream) is refused naming it."""
    f = hf_arrow(proj)
    ends = write_stream(f, read_stream(f), chunk=2)
    f.write_bytes(f.read_bytes()[: ends[1]])
    _hf_refused(proj, "data-00000-of-00001.arrow")


def test_c3_arrow_cut_mid_batch(proj):
    """Class 3: an Arrow file cut inside a record batch is refused naming it."""
    f = hf_arrow(proj)
    ends = write_stream(f, read_stream(f), chunk=2)
    f.write_bytes(f.read_bytes()[: ends[1] + 30])
    _hf_refused(proj, "data-00000-of-00001.arrow")


def test_c3_arrow_file_missing(proj):
    """Class 3: state.json lists an Arrow file that is gone: refused naming it."""
    hf_arrow(proj, "test").unlink()
    _hf_refused(proj, "data-00000-of-00001.arrow")


def _image_without_bytes(t, row, path):
    col = t["image"].combine_chunks()
    b = col.field("bytes").to_pylist()
    p = col.field("path").to_pylist()
    b[row], p[row] = None, path
    new = pa.StructArray.from_arrays([pa.array(b, pa.binary()), pa.array(p, pa.string())], names=["bytes", "path"])
    return t.set_column(t.schema.get_field_index("image"), t.schema.field("image"), new)


def test_c3_hf_image_path_without_bytes(proj):
    """Class 3: a save_to_disk Image entry holding a path but no bytes is refused naming the row or path."""
    f = hf_arrow(proj)
    t = read_stream(f)
    write_stream(f, _image_without_bytes(t, 2, "missing-2.png"), chunk=100)
    _hf_refused(proj, ("missing-2.png", "row 2"))


def test_c3_table_image_path_without_bytes(proj):
    """Class 3: an HF-layout Parquet Image struct with a path but no bytes is refused naming it."""
    f = proj / "data/tab/train-00000-of-00001.parquet"
    pq.write_table(_image_without_bytes(pq.read_table(f), 4, "gone-4.png"), f)
    before = snap(proj)
    r = bridge(proj, "extract", "tab-image")
    assert_refused(proj, r, before, ("gone-4.png", "tab-4"))


def test_c3_table_parquet_truncated(proj):
    """Class 3: a truncated Parquet file (footer cut) in the table folder is refused naming it."""
    f = proj / "data/tab/test-00000-of-00001.parquet"
    f.write_bytes(f.read_bytes()[:-100])
    before = snap(proj)
    r = bridge(proj, "extract", "tab-image")
    assert_refused(proj, r, before, "test-00000-of-00001.parquet")


def test_c3_table_zero_byte_parquet(proj):
    """Class 3: a zero-byte Parquet file in the table folder is refused naming it."""
    (proj / "data/tab/train-00001-of-00002.parquet").write_bytes(b"")
    before = snap(proj)
    r = bridge(proj, "extract", "tab-image")
    assert_refused(proj, r, before, "train-00001-of-00002.parquet")


def test_c3_table_duplicate_ids(proj):
    """Class 3: one id twice across the table's files is refused naming the id."""
    f = proj / "data/tab/test-00000-of-00001.parquet"
    t = pq.read_table(f)
    ids = t["id"].to_pylist()
    ids[1] = "tab-3"
    pq.write_table(t.set_column(0, "id", pa.array(ids)), f)
    before = snap(proj)
    r = bridge(proj, "extract", "tab-image")
    assert_refused(proj, r, before, "tab-3")


def test_c3_vectors_parquet_truncated(proj):
    """Class 3: a truncated float-list Parquet file of imported vectors is refused naming it."""
    f = vt_files(proj)[2]
    f.write_bytes(f.read_bytes()[: len(f.read_bytes()) // 2])
    before = snap(proj)
    r = bridge(proj, "extract", "vt-text")
    assert_refused(proj, r, before, f.name)


def test_c3_npy_truncated(proj):
    """Class 3: a truncated clip-retrieval npy is refused naming it."""
    e, _ = imp_paths(proj, 1)
    e.write_bytes(e.read_bytes()[:-64 * 3 - 10])
    before = snap(proj)
    r = bridge(proj, "extract", "imp-image")
    assert_refused(proj, r, before, "img_emb_1.npy")


def test_c3_npy_metadata_row_mismatch(proj):
    """Class 3: metadata with more rows than its npy is refused naming the pair."""
    e, m = imp_paths(proj, 0)
    np.save(e, np.load(e)[:-3])
    before = snap(proj)
    r = bridge(proj, "extract", "imp-image")
    assert_refused(proj, r, before, ("img_emb_0.npy", "metadata_0.parquet"))


def test_c3_npy_without_metadata(proj):
    """Class 3: an extra npy with no metadata file beside it is refused naming it (not silently skipped)."""
    e, _ = imp_paths(proj, 0)
    shutil.copy(e, e.with_name("img_emb_2.npy"))
    before = snap(proj)
    r = bridge(proj, "extract", "imp-image")
    assert_refused(proj, r, before, ("img_emb_2.npy", "metadata_2"))


def test_c3_vectors_duplicate_ids_across_files(proj):
    """Class 3: one id in two imported metadata files is refused naming the id."""
    _, m0 = imp_paths(proj, 0)
    dup = pq.read_table(m0)["id"][0].as_py()
    _, m1 = imp_paths(proj, 1)
    ids = pq.read_table(m1)["id"].to_pylist()
    ids[0] = dup
    set_meta_column(proj, 1, "id", ids)
    before = snap(proj)
    r = bridge(proj, "extract", "imp-image")
    assert_refused(proj, r, before, dup)


# ============================================================================ class 4: values the tool reserves

def test_c4_vectors_split_prompt(proj):
    """Class 4: an imported caption row whose split is `prompt` is refused naming file/row/value."""
    f = vt_files(proj)[0]
    t = pq.read_table(f)
    sp = t["split"].to_pylist()
    sp[3] = "prompt"
    pq.write_table(t.set_column(t.schema.get_field_index("split"), "split", pa.array(sp)), f)
    run_until_refused(proj, [["extract", "vt-text"], ["eval", "vret"]], "prompt")


def test_c4_image_metadata_split_prompt(proj):
    """Class 4: an imported image row with split `prompt` is refused naming the value."""
    _, m = imp_paths(proj, 0)
    sp = pq.read_table(m)["split"].to_pylist()
    sp[0] = "prompt"
    set_meta_column(proj, 0, "split", sp)
    run_until_refused(proj, [["extract", "imp-image"], ["eval", "izsraw"]], "prompt")


@pytest.mark.slow
def test_c4_table_split_prompt(proj):
    """Class 4: a table row whose split column says `prompt` is refused (it would become a class prompt)."""
    f = proj / "data/tab/train-00000-of-00001.parquet"
    t = pq.read_table(f)
    t = t.append_column("split", pa.array(["prompt"] + ["train"] * (t.num_rows - 1)))
    pq.write_table(t, f)
    g = proj / "data/tab/test-00000-of-00001.parquet"
    u = pq.read_table(g)
    pq.write_table(u.append_column("split", pa.array(["test"] * u.num_rows)), g)
    edit_params(proj, lambda d: d["datasets"]["tab"]["options"]["columns"].__setitem__("split", "split"))
    run_until_refused(proj, [["extract", "tab-image"], ["eval", "tprobe"]], "prompt")


@pytest.mark.slow
def test_c4_classlabel_minus_one(proj):
    """Class 4: Hugging Face ClassLabel -1 ("no label") is refused naming the row and -1 (not a class '-1')."""
    f = hf_arrow(proj)
    t = read_stream(f)
    lab = t["label"].to_pylist()
    lab[1] = -1
    t = t.set_column(t.schema.get_field_index("label"), t.schema.field("label"), pa.array(lab, t.schema.field("label").type))
    write_stream(f, t, chunk=100)
    edit_params(proj, lambda d: d["eval"]["tasks"].__setitem__("hprobe", {"kind": "probe", "query": {"set": "hfd-image"}}))
    run_until_refused(proj, [["extract", "hfd-image"], ["eval", "hprobe"]], "-1")


def test_c4_null_label_imported(proj):
    """Class 4: a null label in imported metadata is refused naming the row (not a class 'None')."""
    _, m = imp_paths(proj, 1)
    t = pq.read_table(m)
    lab = t["label"].to_pylist()
    lab[2] = None
    rid = t["id"][2].as_py()
    set_meta_column(proj, 1, "label", lab, pa.string())
    run_until_refused(proj, [["extract", "imp-image"], ["eval", "izsraw"]], (rid, "metadata_1"))


@pytest.mark.slow
def test_c4_null_label_table(proj):
    """Class 4: a null label in a Parquet table is refused naming the row."""
    f = proj / "data/tab/test-00000-of-00001.parquet"
    t = pq.read_table(f)
    lab = t["label"].to_pylist()
    lab[0] = None
    pq.write_table(t.set_column(t.schema.get_field_index("label"), "label", pa.array(lab, pa.string())), f)
    run_until_refused(proj, [["extract", "tab-image"], ["eval", "tprobe"]], ("tab-100", "null", "label"))


@pytest.mark.slow
def test_c4_mixed_int_str_labels_across_table_files(proj):
    """Class 4: integer labels in one Parquet file and names in another (6 classes of 3) are refused."""
    f = proj / "data/tab/train-00000-of-00001.parquet"
    t = pq.read_table(f)
    pq.write_table(t.set_column(t.schema.get_field_index("label"), "label", pa.array([i % 3 for i in range(9)])), f)
    run_until_refused(proj, [["extract", "tab-image"], ["eval", "tprobe"]],
                      ("train-00000-of-00001.parquet", "test-00000-of-00001.parquet", "label"))


def test_c4_mixed_int_str_labels_across_vector_files(proj):
    """Class 4: imported metadata with integer labels in one file and strings in the other is refused."""
    _, m = imp_paths(proj, 0)
    lab = pq.read_table(m)["label"].to_pylist()
    set_meta_column(proj, 0, "label", [int(x.split("-")[1]) for x in lab], pa.int64())
    run_until_refused(proj, [["extract", "imp-image"], ["eval", "izsraw"]], ("metadata_0", "metadata_1"))


def _table_labels(proj, train_labels):
    f = proj / "data/tab/train-00000-of-00001.parquet"
    t = pq.read_table(f)
    pq.write_table(t.set_column(t.schema.get_field_index("label"), "label", pa.array(train_labels)), f)


def test_c4_labels_equal_after_nfc(proj):
    """Class 4: labels 'café' (NFC) and 'cafe\\u0301' (NFD) print alike: refused naming the label."""
    _table_labels(proj, ["caf\u00e9", "cafe\u0301", "red"] * 3)
    run_until_refused(proj, [["extract", "tab-image"], ["eval", "tprobe"]], ("caf", "NFC", "normal"))


def test_c4_labels_equal_after_whitespace(proj):
    """Class 4: labels 'red' and 'red ' (trailing space) are refused naming the label."""
    _table_labels(proj, ["red", "red ", "blue"] * 3)
    run_until_refused(proj, [["extract", "tab-image"], ["eval", "tprobe"]], "red")


def test_c4_imported_labels_trailing_space(proj):
    """Class 4: imported labels 'concept-00' and 'concept-00 ' are refused naming the label."""
    _, m = imp_paths(proj, 0)
    lab = pq.read_table(m)["label"].to_pylist()
    lab = [x + " " if (x == "concept-00" and i % 2) else x for i, x in enumerate(lab)]
    set_meta_column(proj, 0, "label", lab)
    run_until_refused(proj, [["extract", "imp-image"], ["eval", "izsraw"]], "concept-00")


@pytest.mark.slow
def test_c4_file_without_split_in_name(proj):
    """Class 4: a Parquet file without a split in its name, in a folder split by file names, is refused."""
    pq.write_table(tab_table("x", 3, 200), proj / "data/tab/extra.parquet")
    run_until_refused(proj, [["extract", "tab-image"], ["eval", "tprobe"]], "extra.parquet")


def test_c4_null_group_imported(proj):
    """Class 4: null groups in imported metadata (would merge into one group 'None') are refused naming a row."""
    _, m = imp_paths(proj, 0)
    t = pq.read_table(m)
    g = t["group"].to_pylist()
    g[0] = g[1] = None
    set_meta_column(proj, 0, "group", g, pa.string())
    run_until_refused(proj, [["extract", "imp-image"], ["eval", "vret"]], (t["id"][0].as_py(), "group", "null"))


def test_c4_null_id_imported(proj):
    """Class 4: a null id in imported metadata is refused naming the file/row."""
    _, m = imp_paths(proj, 1)
    ids = pq.read_table(m)["id"].to_pylist()
    ids[3] = None
    set_meta_column(proj, 1, "id", ids, pa.string())
    before = snap(proj)
    r = bridge(proj, "extract", "imp-image")
    assert_refused(proj, r, before, ("metadata_1", "id"))


@pytest.mark.slow
def test_c4_csv_empty_label(proj):
    """Class 4: an empty label cell in a CSV table (pandas reads NaN) is refused naming the row, not class 'nan'."""
    d = proj / "data/csv"
    d.mkdir()
    rows = ["id,image,label,split"]
    for i in range(8):
        (d / f"c{i}.png").write_bytes(png(500 + i))
        rows.append(f"c{i},{d / f'c{i}.png'},{'' if i == 5 else LABELS[i % 3]},{'test' if i >= 5 else 'train'}")
    (d / "t.csv").write_text("\n".join(rows) + "\n")

    def add(p):
        p["datasets"]["csvd"] = {"source": "table", "options": {"path": "data/csv/t.csv",
                                 "columns": {"image": "image", "label": "label", "split": "split", "id": "id"}}}
        p["extract"]["sets"]["csv-image"] = {"dataset": "csvd", "encoder": "eff", "tower": "image"}
        p["eval"]["tasks"]["cprobe"] = {"kind": "probe", "query": {"set": "csv-image"}}
    edit_params(proj, add)
    run_until_refused(proj, [["extract", "csv-image"], ["eval", "cprobe"]], ("c5", "row", "label"))


@pytest.mark.slow
def test_c4_jsonl_null_label(proj):
    """Class 4: a JSON null label in a JSONL table is refused naming the row, not class 'None'."""
    d = proj / "data/jl"
    d.mkdir()
    with open(d / "t.jsonl", "w") as f:
        for i in range(8):
            (d / f"j{i}.png").write_bytes(png(600 + i))
            f.write(json.dumps({"id": f"j{i}", "image": str(d / f"j{i}.png"),
                                "label": None if i == 6 else LABELS[i % 3], "split": "test" if i >= 5 else "train"}) + "\n")

    def add(p):
        p["datasets"]["jld"] = {"source": "table", "options": {"path": "data/jl/t.jsonl",
                                "columns": {"image": "image", "label": "label", "split": "split", "id": "id"}}}
        p["extract"]["sets"]["jl-image"] = {"dataset": "jld", "encoder": "eff", "tower": "image"}
        p["eval"]["tasks"]["jprobe"] = {"kind": "probe", "query": {"set": "jl-image"}}
    edit_params(proj, add)
    run_until_refused(proj, [["extract", "jl-image"], ["eval", "jprobe"]], ("j6", "null", "label"))


def test_c4_webdataset_cls_minus_one(proj):
    """Class 4: a WebDataset .cls of -1 ("no label") is refused naming the key, not a class '-1'."""
    members = wds_members(range(6))
    members[1] = ("k0000.cls", b"-1")
    write_tar(proj / "data/wds/shard-0000.tar", members)
    _wds_refused(proj, ("k0000", "-1"))


# ======================================================================== class 5: outputs published atomically

def _export_rows(folder):
    return sum(pq.read_metadata(f).num_rows for f in pathlib.Path(folder).rglob("*.parquet"))


def test_c5_export_over_larger_older_export(proj):
    """Class 5: re-export over an older export with more shards leaves no stale shard behind (or refuses)."""
    assert bridge(proj, "export", "syn-text", "--to", "parquet", "--out", "exports/t").returncode == 0
    edit_params(proj, lambda d: d["extract"].__setitem__("shard_rows", 1000))
    assert bridge(proj, "extract", "syn-text").returncode == 0
    before = snap(proj)
    r = bridge(proj, "export", "syn-text", "--to", "parquet", "--out", "exports/t")
    if r.returncode != 0:
        assert_refused(proj, r, before, "exports/t")
        return
    rows = json.loads((set_dir(proj, "syn", "clip", "text") / "manifest.json").read_text())["rows"]
    assert _export_rows(proj / "exports/t") == rows, \
        f"export folder holds {_export_rows(proj / 'exports/t')} rows for a {rows}-row set (old shards left)"


def test_c5_export_npy_over_larger_older_export(proj):
    """Class 5: the same for the npy layout: no img_emb / metadata file of the older export survives."""
    assert bridge(proj, "export", "syn-image", "--to", "npy", "--out", "exports/i").returncode == 0
    edit_params(proj, lambda d: d["extract"].__setitem__("shard_rows", 1000))
    assert bridge(proj, "extract", "syn-image").returncode == 0
    r = bridge(proj, "export", "syn-image", "--to", "npy", "--out", "exports/i")
    assert r.returncode == 0, show(r)
    files = sorted(str(p.relative_to(proj / "exports/i")) for p in (proj / "exports/i").rglob("*")
                   if p.is_file() and not p.name.startswith("_"))  # _export.json: the export's own card (README)
    assert len(files) == 2, f"stale files of the older export remain: {files}"


def test_c5_export_out_inside_artifacts(proj):
    """Class 5: --out inside artifacts/ is refused naming the path; the store is unchanged."""
    before = snap(proj)
    r = bridge(proj, "export", "syn-text", "--to", "parquet", "--out", "artifacts/exp")
    assert_refused(proj, r, before, "artifacts")


def test_c5_export_out_is_the_set_itself(proj):
    """Class 5: --out naming the set's own store folder is refused; the set is untouched."""
    before = snap(proj)
    r = bridge(proj, "export", "syn-text", "--to", "parquet", "--out", "artifacts/embeddings/syn/clip/text")
    assert_refused(proj, r, before, "artifacts")


def test_c5_export_out_symlink_into_artifacts(proj):
    """Class 5: --out a symlink that points into artifacts/ is refused."""
    os.symlink(proj / "artifacts/bridges", proj / "sneaky")
    before = snap(proj)
    r = bridge(proj, "export", "syn-text", "--to", "parquet", "--out", "sneaky/x")
    assert_refused(proj, r, before, ("sneaky", "artifacts"))


def test_c5_export_out_unrelated_folder(proj):
    """Class 5: --out an existing folder of the user's own files (not an export) is refused, files untouched."""
    d = proj / "exports/mine"
    d.mkdir(parents=True)
    (d / "thesis.tex").write_text("my work\n")
    before = snap(proj)
    r = bridge(proj, "export", "syn-text", "--to", "parquet", "--out", "exports/mine")
    assert_refused(proj, r, before, "exports/mine")


def test_c5_export_out_existing_file(proj):
    """Class 5/6: --out an existing regular file is refused in one line naming it; the file is unchanged."""
    (proj / "exports").mkdir(exist_ok=True)
    (proj / "exports/f.txt").write_text("keep\n")
    before = snap(proj)
    r = bridge(proj, "export", "syn-text", "--out", "exports/f.txt")
    assert_refused(proj, r, before, "f.txt")


def _report_once(proj):
    r = bridge(proj, "report")
    assert r.returncode == 0, show(r)


def test_c5_report_finds_nan(proj):
    """Class 5: `bridge report` finding a NaN in a metrics file refuses naming it and leaves the old report."""
    _report_once(proj)
    f = proj / "artifacts/metrics/zs.json"
    f.write_text(f.read_text().replace('"top1": 0.', '"top1": NaN, "was": 0.', 1))
    before = snap(proj)
    r = bridge(proj, "report")
    assert_refused(proj, r, before, "zs")


def test_c5_report_truncated_metrics(proj):
    """Class 5: a truncated metrics JSON: report refuses naming it and the old report stays whole."""
    _report_once(proj)
    f = proj / "artifacts/metrics/ret.json"
    f.write_text(f.read_text()[:40])
    before = snap(proj)
    r = bridge(proj, "report")
    assert_refused(proj, r, before, "ret")


def _big_project(proj):
    def add(p):
        p["worlds"]["big"] = dict(p["worlds"]["w"], groups=12000)
        p["datasets"]["big"] = {"source": "synthetic", "options": {"world": "big"}}
        p["encoders"]["bigclip"] = {"model": "synthetic:bimodal",
                                    "options": {"world": "big", "towers": ["text", "image"], "dim": 64, "seed": 1}}
        p["extract"]["sets"]["big-text"] = {"dataset": "big", "encoder": "bigclip", "tower": "text"}
        p["extract"]["shard_rows"] = 500
    edit_params(proj, add)
    r = bridge(proj, "extract", "big-text", timeout=300)
    assert r.returncode == 0, show(r)


def _rel_hashes(folder):
    folder = pathlib.Path(folder)
    return {str(f.relative_to(folder)): sha(f) for f in folder.rglob("*") if f.is_file()} if folder.exists() else {}


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_c5_kill_during_reexport(proj, sig):
    """Class 5: SIGTERM / SIGKILL during a re-export over an older export leaves the old export or the new one,
    never shard 0 new and the rest old."""
    _big_project(proj)
    assert bridge(proj, "export", "big-text", "--to", "parquet", "--out", "exports/big").returncode == 0
    old = _rel_hashes(proj / "exports/big")
    edit_params(proj, lambda d: d["encoders"]["bigclip"]["options"].__setitem__("seed", 2))
    assert bridge(proj, "extract", "big-text", timeout=300).returncode == 0
    t0 = time.time()
    assert bridge(proj, "export", "big-text", "--to", "parquet", "--out", "exports/ref").returncode == 0
    dur = time.time() - t0
    new = _rel_hashes(proj / "exports/ref")
    assert new != old
    p = subprocess.Popen(["bridge", "export", "big-text", "--to", "parquet", "--out", "exports/big"], cwd=proj,
                         env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(dur * 0.6)
    p.send_signal(sig)
    p.communicate(timeout=60)
    got = _rel_hashes(proj / "exports/big")
    assert got in (old, new), (f"export folder mixes old and new after {sig.name} at {dur * 0.6:.2f}s: "
                               f"{sum(got.get(k) == new.get(k) for k in new)} new files, "
                               f"{sum(got.get(k) == old.get(k) for k in old)} old, {len(got)} in all")


@pytest.mark.slow
def test_c5_kill_during_report(proj):
    """Class 5: SIGKILL during `bridge report` leaves artifacts/report/ and summary.json whole (old or new)."""
    _report_once(proj)
    old = snap(proj, ("artifacts/report", "artifacts/summary.json"))
    assert bridge(proj, "fit", "lin", "--set", "fit.bridges.lin.params.alpha=3000.0").returncode == 0
    assert bridge(proj, "eval", "zs", "ret").returncode == 0
    ref = proj.parent / "ref"
    shutil.copytree(proj, ref, symlinks=True)
    t0 = time.time()
    _report_once(ref)
    dur = time.time() - t0
    new = snap(ref, ("artifacts/report", "artifacts/summary.json"))
    assert new != old
    p = subprocess.Popen(["bridge", "report"], cwd=proj, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(dur * 0.7)
    p.kill()
    p.communicate(timeout=60)
    got = snap(proj, ("artifacts/report", "artifacts/summary.json"))
    assert got in (old, new), f"report mixes old and new files: {diff(old, got)[:5]}"


# ======================================================================= class 6: one line for every user error

def test_c6_duplicate_key_in_params(proj):
    """Class 6: a key twice in params.yaml (alpha) is refused naming it (not 'the last wins')."""
    import re
    p = proj / "params.yaml"
    p.write_text(re.sub(r"\n( +)alpha: 1.0\n", lambda m: f"\n{m[1]}alpha: 1.0\n{m[1]}alpha: 50.0\n", p.read_text(), count=1))
    assert yaml.safe_load(p.read_text())["fit"]["bridges"]["lin"]["params"]["alpha"] == 50.0   # a valid YAML dup
    before = snap(proj)
    r = bridge(proj, "fit", "lin")
    assert_refused(proj, r, before, "alpha", ("duplicate", "twice", "more than once", "repeated"))


def test_c6_duplicate_top_level_section(proj):
    """Class 6: a whole section twice in params.yaml (eval:) is refused naming it."""
    p = proj / "params.yaml"
    p.write_text(p.read_text() + "eval:\n  tasks: {}\n")
    before = snap(proj)
    r = bridge(proj, "eval", "zs")
    assert_refused(proj, r, before, "eval", ("duplicate", "twice", "more than once", "repeated"))


def test_c6_duplicate_set_override(proj):
    """Class 6: the same key given twice with --set is refused naming it."""
    before = snap(proj)
    r = bridge(proj, "fit", "lin", "--set", "fit.bridges.lin.params.alpha=1.0",
               "--set", "fit.bridges.lin.params.alpha=9.0")
    assert_refused(proj, r, before, "fit.bridges.lin.params.alpha")


@pytest.mark.parametrize("k", ["0", "-3", "abc"])
def test_c6_search_bad_k(proj, k):
    """Class 6: -k 0 / negative / not a number is one line naming -k (no usage box)."""
    before = snap(proj)
    r = bridge(proj, "search", "syn-text", "--bridge", "lin", "--id", "text-g000012-0", "-k", k)
    assert_refused(proj, r, before, ("-k", "k"))


def test_c6_seeds_single(proj):
    """Class 6: seeds: [7] either works (finite metrics) or is refused in one line naming seeds."""
    edit_params(proj, lambda d: d["fit"]["bridges"]["mlp"].__setitem__("seeds", [7]))
    before_m = snap(proj, METRIC_DIRS)
    for cmd in (["fit", "mlp"], ["eval", "mzs"]):
        r = bridge(proj, *cmd)
        if r.returncode != 0:
            assert_one_line(r, "seeds")
            assert snap(proj, METRIC_DIRS) == before_m
            return
    vals = metrics(proj, "mzs")
    assert all(isinstance(v, (int, float)) and math.isfinite(v) for v in vals.values()), vals


def _huge_list(proj, where, n=200_000):
    """Put a list of n integers at a params path (written as YAML flow text: dumping it with PyYAML is slow)."""
    edit_params(proj, lambda d: where(d, "HUGE_LIST"))
    p = proj / "params.yaml"
    p.write_text(p.read_text().replace("HUGE_LIST", "[" + ", ".join(map(str, range(1, n + 1))) + "]"))


def test_c6_seeds_huge_list(proj):
    """Class 6: 200k seeds are refused in one SHORT line naming seeds (not a megabytes-long error line)."""
    _huge_list(proj, lambda d, v: d["fit"]["bridges"]["mlp"].__setitem__("seeds", v))
    before = snap(proj)
    r = bridge(proj, "fit", "mlp")
    assert_refused(proj, r, before, "seeds", max_len=300)


def test_c6_seeds_duplicated(proj):
    """Class 6: seeds: [1, 1] (one fit counted twice, std 0) is refused naming seeds."""
    edit_params(proj, lambda d: d["fit"]["bridges"]["mlp"].__setitem__("seeds", [1, 1]))
    before = snap(proj)
    r = bridge(proj, "fit", "mlp")
    assert_refused(proj, r, before, "seeds")


def test_c6_ks_huge_list(proj):
    """Class 6: eval.ks with 200k entries is refused in one short line naming ks."""
    _huge_list(proj, lambda d, v: d["eval"].__setitem__("ks", v))
    before = snap(proj)
    r = bridge(proj, "eval", "ret")
    assert_refused(proj, r, before, "ks", max_len=300)


def test_c6_ks_zero(proj):
    """Class 6: eval.ks: [0] is refused naming eval.ks."""
    before = snap(proj)
    r = bridge(proj, "eval", "ret", "--set", "eval.ks=[0]")
    assert_refused(proj, r, before, "ks")


def test_c6_dataset_info_is_a_list(proj):
    """Class 6: dataset_info.json holding a list is one line naming that file (not `internal error`)."""
    (proj / "data/hfd/train/dataset_info.json").write_text("[]")
    _hf_refused(proj, "dataset_info.json")


def test_c6_state_json_garbage(proj):
    """Class 6: a state.json that is not JSON is one line naming it."""
    (proj / "data/hfd/test/state.json").write_text("{not json")
    _hf_refused(proj, "state.json")


def test_c6_npy_of_another_dim(proj):
    """Class 6: one clip-retrieval npy of another dim is one line naming that file."""
    e, _ = imp_paths(proj, 1)
    a = np.load(e)
    np.save(e, np.concatenate([a, a[:, :4]], axis=1))
    before = snap(proj)
    r = bridge(proj, "extract", "imp-image")
    assert_refused(proj, r, before, "img_emb_1.npy")


def test_c6_npy_object_dtype_never_unpickled(proj):
    """Class 6: an object-dtype (pickled) npy is refused naming it, and the pickle never runs."""
    marker = proj / "PWNED"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))
    e, _ = imp_paths(proj, 0)
    n = np.load(e).shape[0]
    arr = np.empty((n, 16), dtype=object)
    arr[:] = 0.0
    arr[0, 0] = Evil()
    np.save(e, arr, allow_pickle=True)
    before = snap(proj)
    r = bridge(proj, "extract", "imp-image")
    assert not marker.exists(), "a pickle inside an npy was executed"
    assert_refused(proj, r, before, "img_emb_0.npy")


def test_c6_npy_one_dimensional(proj):
    """Class 6: a 1-D npy is one line naming the file."""
    e, _ = imp_paths(proj, 0)
    np.save(e, np.load(e).reshape(-1))
    before = snap(proj)
    r = bridge(proj, "extract", "imp-image")
    assert_refused(proj, r, before, "img_emb_0.npy")


def _embed(proj, *args):
    return bridge(proj, "embed", "--encoder", "mini", "--tower", "text", *args)


def test_c6_lines_binary_file(proj):
    """Class 6: --lines on a binary file is one line naming the file."""
    (proj / "blob.bin").write_bytes(bytes(range(256)) * 8)
    before = snap(proj, extra=("out.npy",))
    r = _embed(proj, "--lines", "blob.bin", "--out", "out.npy")
    assert_one_line(r, "blob.bin")
    assert snap(proj, extra=("out.npy",)) == before


def test_c6_lines_missing_file(proj):
    """Class 6: --lines on a missing file is one line naming it."""
    r = _embed(proj, "--lines", "nope.txt", "--out", "out.npy")
    assert_one_line(r, "nope.txt")
    assert not (proj / "out.npy").exists()


def test_c6_lines_directory(proj):
    """Class 6: --lines naming a directory is one line naming it."""
    (proj / "adir").mkdir()
    r = _embed(proj, "--lines", "adir", "--out", "out.npy")
    assert_one_line(r, "adir")


def test_c6_lines_empty_file(proj):
    """Class 6: --lines on an empty file (no inputs) is one line naming it, no empty .npy written."""
    (proj / "empty.txt").write_text("")
    r = _embed(proj, "--lines", "empty.txt", "--out", "out.npy")
    assert_one_line(r, "empty.txt")
    assert not (proj / "out.npy").exists()


@pytest.mark.slow
def test_c6_embed_out_existing_directory(proj):
    """Class 6: embed --out an existing directory is one line naming it; the directory is untouched."""
    (proj / "outdir").mkdir()
    (proj / "outdir/keep.txt").write_text("x")
    before = snap(proj, extra=("outdir",))
    r = bridge(proj, "embed", "--encoder", "mini", "--tower", "text", "--out", "outdir", "a red thing")
    assert_one_line(r, "outdir")
    assert snap(proj, extra=("outdir",)) == before


def test_c6_embed_text_with_synthetic_encoder(proj):
    """Class 6: embedding free text with the synthetic encoder is one line naming the encoder, not `internal error`."""
    r = bridge(proj, "embed", "--encoder", "clip", "--tower", "text", "--out", "e.npy", "hello")
    assert_one_line(r, "clip")
    assert "internal error" not in r.stderr


def test_c6_search_vector_of_another_dim(proj):
    """Class 6: search --vector with a vector of another dim is one line naming the file."""
    np.save(proj / "q.npy", np.ones((1, 7), np.float32))
    before = snap(proj)
    r = bridge(proj, "search", "syn-text", "--bridge", "lin", "--vector", "q.npy")
    assert_refused(proj, r, before, "q.npy")


def test_c6_search_vector_missing(proj):
    """Class 6: search --vector of a missing file is one line naming it."""
    before = snap(proj)
    r = bridge(proj, "search", "syn-text", "--bridge", "lin", "--vector", "missing.npy")
    assert_refused(proj, r, before, "missing.npy")


def test_c6_search_unknown_id(proj):
    """Class 6: search --id of a row the set lacks is one line naming the id."""
    before = snap(proj)
    r = bridge(proj, "search", "syn-text", "--bridge", "lin", "--id", "no-such-row")
    assert_refused(proj, r, before, "no-such-row")


def test_c6_full_disk_export(proj, tmp_path):
    """Class 6: export onto a full file system (a 4 KiB tmpfs) is one line naming the path; nothing partial left."""
    mnt = tmp_path / "full"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        before = snap(proj)
        r = bridge(proj, "export", "syn-text", "--to", "parquet", "--out", str(mnt / "x"))
        assert_refused(proj, r, before, str(mnt))
        left = [str(p) for p in mnt.rglob("*")]
        assert not left, f"a partial export was left on the full disk: {left}"
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def test_c6_file_size_limit_on_eval(proj):
    """Class 6: a write failing with EFBIG (RLIMIT_FSIZE, as a full quota) is one line naming the path;
    the old metrics stay."""
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))
    before = snap(proj)
    r = bridge(proj, "eval", "zs", preexec_fn=limit)
    assert_refused(proj, r, before, "artifacts/")


def test_c6_params_yaml_syntax_error(proj):
    """Class 6: a YAML syntax error in params.yaml is one line naming the file and line."""
    p = proj / "params.yaml"
    p.write_text(p.read_text() + "\nbroken: [1, 2\n")
    before = snap(proj)
    r = bridge(proj, "eval", "zs")
    assert_refused(proj, r, before, "params.yaml")


def test_c6_params_yaml_is_a_list(proj):
    """Class 6: params.yaml holding a list is one line naming the file."""
    (proj / "params.yaml").write_text("- a\n- b\n")
    before = snap(proj)
    r = bridge(proj, "eval", "zs")
    assert_refused(proj, r, before, "params.yaml")


def test_c6_params_file_missing(proj):
    """Class 6: --params of a missing file is one line naming it."""
    before = snap(proj)
    r = bridge(proj, "eval", "zs", "--params", "nope.yaml")
    assert_refused(proj, r, before, "nope.yaml")


def test_c6_set_without_equals(proj):
    """Class 6: --set without '=' is one line naming the argument."""
    before = snap(proj)
    r = bridge(proj, "eval", "zs", "--set", "eval.index")
    assert_refused(proj, r, before, "eval.index")


def test_c6_metrics_folder_is_a_file(proj):
    """Class 6: artifacts/metrics being a file makes eval fail in one line naming that path."""
    shutil.rmtree(proj / "artifacts/metrics")
    (proj / "artifacts/metrics").write_text("not a folder")
    before = snap(proj)
    r = bridge(proj, "eval", "zs")
    assert_refused(proj, r, before, "artifacts/metrics")


def test_c6_manifest_is_a_list(proj):
    """Class 6: a set's manifest.json holding a list is one line naming it."""
    (set_dir(proj, "syn", "clip", "text") / "manifest.json").write_text("[]")
    before = snap(proj)
    r = bridge(proj, "eval", "zs")
    assert_refused(proj, r, before, "manifest.json")


def test_c6_bridge_json_garbage(proj):
    """Class 6: a bridge.json that is not JSON is one line naming it."""
    (proj / "artifacts/bridges/lin/bridge.json").write_text("{oops")
    before = snap(proj)
    r = bridge(proj, "eval", "zs")
    assert_refused(proj, r, before, "bridge.json")


def test_c6_safetensors_truncated(proj):
    """Class 6: a truncated weights.safetensors is one line naming it."""
    w = proj / "artifacts/bridges/lin/weights.safetensors"
    w.write_bytes(w.read_bytes()[:100])
    before = snap(proj)
    r = bridge(proj, "eval", "zs")
    assert_refused(proj, r, before, ("weights.safetensors", "lin"))


def test_c6_safetensors_huge_header_length(proj):
    """Class 6: a safetensors header length of 2**60 is one line naming the file (no giant allocation)."""
    w = proj / "artifacts/bridges/lin/weights.safetensors"
    b = w.read_bytes()
    w.write_bytes(struct.pack("<Q", 2 ** 60) + b[8:])
    rebind_weights(proj, "lin")
    before = snap(proj)
    r = bridge(proj, "eval", "zs")
    assert_refused(proj, r, before, ("weights.safetensors", "lin"))


def test_c6_export_unknown_format(proj):
    """Class 6: export --to csv is one line naming the format."""
    before = snap(proj)
    r = bridge(proj, "export", "syn-text", "--to", "csv")
    assert_refused(proj, r, before, "csv")
