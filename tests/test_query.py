"""A fitted bridge in use (issue 11 items 5-7): `bridge embed`, `bridge search`, `bridge export`, on the synthetic
lane; the real lane's checks (MiniLM text -> MNIST digits) run in tests/test_pipeline_e2e.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from bridge_project import cli, synthetic_lane, write_params

from embridge.core.config import load_params
from embridge.core.layout import Layout
from embridge.query import BridgedEncoder, search_set, set_in_space
from embridge.sources.synthetic import SyntheticSource
from embridge.store.loading import load_vectors

TEXT, IMAGE = "synth-clip-text", "synth-clip-image"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("query")
    write_params(project, synthetic_lane(tasks=["clip-zeroshot-linear"], groups=300, extract={"shard_rows": 250}))
    for stage in ("extract", "fit"):
        code, err = cli(project, stage)
        assert code == 0, err
    return project


def test_embed_reproduces_the_vectors_eval_uses(project: Path) -> None:
    """Raw inputs -> tower -> bridge equals the stored set through the bridge, to float16 rounding."""
    params = load_params(project / "params.yaml")
    world = params.worlds["default"]
    source = SyntheticSource("synth", {**world, "groups": world["groups"]})
    raw = source.rows("text").take(slice(0, 50))
    rows, stored = set_in_space(params, TEXT, "clip-linear", project)
    got = BridgedEncoder("syn-clip", "text", params, "clip-linear", project).encode(raw.payload[:50])
    position = {i: k for k, i in enumerate(rows.ids)}
    want = stored[[position[i] for i in raw.ids[:50]]]
    assert np.abs(got - want).max() < 5e-3  # the set holds float16 (rel. error 2^-11 per coordinate)
    assert np.abs(got - want).max() > 0  # and is not the same array read back


def test_search_is_exact_and_reuses_its_index(project: Path) -> None:
    params = load_params(project / "params.yaml")
    _, queries = set_in_space(params, IMAGE, "clip-linear", project, splits=("test",))
    texts, gallery = set_in_space(params, TEXT, "clip-linear", project)
    hits = search_set(params, TEXT, queries[:20], k=5, bridge="clip-linear", root=project)
    brute = np.argsort(-(queries[:20] @ gallery.T), axis=1, kind="stable")[:, :5]
    assert [[h["id"] for h in q] for q in hits] == texts.ids[brute].tolist()
    scores = np.take_along_axis(queries[:20] @ gallery.T, brute, axis=1)
    assert np.allclose([[h["score"] for h in q] for q in hits], scores, atol=1e-5)
    index = Layout(project).index(TEXT, "clip-linear")
    card = json.loads(index.with_suffix(".json").read_text())
    assert card["kind"] == "exact" and card["rows"] == len(texts)
    before = index.stat().st_mtime_ns
    search_set(params, TEXT, queries[:1], k=1, bridge="clip-linear", root=project)
    assert index.stat().st_mtime_ns == before  # reused, not rebuilt
    own = load_vectors(Layout(project).embeddings(params.extract.sets[TEXT].path))
    raw = search_set(params, TEXT, own.vectors[:1], k=1, root=project)
    assert raw[0][0]["id"] == own.ids[0] and Layout(project).index(TEXT).exists()  # no bridge: its own index


def test_search_cli_by_row_id(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    params = load_params(project / "params.yaml")
    images = load_vectors(Layout(project).embeddings(params.extract.sets[IMAGE].path))
    row = str(images.ids[images.splits == "test"][0])
    code, err = cli(project, "search", TEXT, "--bridge", "clip-linear", "--id", row, "-k", "3", "--json")
    assert code == 2 and "no row" in err  # the id is an image row, not a row of the text set
    code, err = cli(project, "search", IMAGE, "--bridge", "clip-linear", "--id", row, "-k", "3", "--json")
    assert code == 0, err
    result = json.loads(capsys.readouterr().out)
    assert result[0]["results"][0]["id"] == row and result[0]["results"][0]["score"] == pytest.approx(1, abs=1e-5)
    for args, message in ((("--text", "a", "--id", row), "exactly one kind"), (("--id", row, "--bridge", "nope"),
                                                                              "no bridge 'nope'")):
        code, err = cli(project, "search", IMAGE, *args)
        assert code == 2 and message in err, err


@pytest.mark.parametrize("to", ["npy", "parquet"])
def test_export_reads_back_as_float_vectors(project: Path, to: str) -> None:
    params = load_params(project / "params.yaml")
    stored = load_vectors(Layout(project).embeddings(params.extract.sets[TEXT].path))
    out = project / "exports" / to
    code, err = cli(project, "export", TEXT, "--to", to, "--out", str(out))
    assert code == 0, err
    if to == "npy":  # clip-retrieval's layout: text_emb/text_emb_<k>.npy + metadata/metadata_<k>.parquet
        shards = sorted(out.glob("text_emb/text_emb_*.npy"), key=lambda p: int(p.stem.split("_")[-1]))
        assert len(shards) > 1
        vectors = np.concatenate([np.load(p) for p in shards])
        meta = [pq.read_table(out / "metadata" / f"metadata_{k}.parquet") for k in range(len(shards))]
        ids = np.concatenate([m.column("id").to_numpy(zero_copy_only=False) for m in meta])
    else:
        table = pq.read_table(out)
        ids = table.column("id").to_numpy(zero_copy_only=False)
        column = table.column("embedding").combine_chunks()
        assert column.type.list_size == stored.vectors.shape[1] and str(column.type.value_type) == "float"
        vectors = column.flatten().to_numpy().reshape(len(table), -1)
    want = dict(zip(stored.ids.tolist(), stored.vectors, strict=True))
    assert vectors.dtype == np.float32 and len(ids) == len(stored.ids)
    assert np.array_equal(vectors, np.stack([want[i] for i in ids.tolist()]))
    code, err = cli(project, "export", TEXT, "--to", "csv")
    assert code == 2 and "--to 'csv'" in err


def test_export_through_a_bridge_writes_the_shared_space(project: Path) -> None:
    """`bridge export --bridge`: the set's rows in the bridge's space, shard by shard, as eval and search see
    them; an unknown bridge is one line."""
    params = load_params(project / "params.yaml")
    rows, want = set_in_space(params, IMAGE, "clip-linear", project)
    out = project / "exports" / "bridged"
    code, err = cli(project, "export", IMAGE, "--bridge", "clip-linear", "--out", str(out))
    assert code == 0, err
    shards = sorted(out.glob("img_emb/img_emb_*.npy"), key=lambda p: int(p.stem.split("_")[-1]))
    assert len(shards) > 1  # shard_rows 250: the transform runs per shard
    vectors = np.concatenate([np.load(p) for p in shards])
    ids = np.concatenate([pq.read_table(out / "metadata" / f"metadata_{k}.parquet").column("id").to_numpy(
        zero_copy_only=False) for k in range(len(shards))])
    assert vectors.shape == want.shape and np.array_equal(ids, rows.ids)
    assert np.allclose(vectors, want, atol=1e-6)
    raw = load_vectors(Layout(project).embeddings(params.extract.sets[IMAGE].path))
    assert not np.allclose(vectors, raw.vectors, atol=1e-2)  # mapped, not the stored vectors
    code, err = cli(project, "export", TEXT, "--bridge", "clip-lin")
    assert code == 2 and "no bridge 'clip-lin' in fit.bridges" in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("layout", ["clip-retrieval", "parquet"])
def test_precomputed_vectors_import_identical(project: Path, layout: str) -> None:
    """An exported set comes back through the ``vectors`` source + ``precomputed`` encoder bit for bit."""
    params = yaml.safe_load((project / "params.yaml").read_text())
    to = "npy" if layout == "clip-retrieval" else "parquet"
    out = project / "exports" / f"round-{to}"
    code, err = cli(project, "export", TEXT, "--to", to, "--out", str(out))
    assert code == 0, err
    params["datasets"]["imported"] = {"source": "vectors", "options": {
        "path": str(out), "layout": layout, "modality": "text", "emb": "text_emb"}}
    params["encoders"]["team-clip"] = {"model": "precomputed:team-clip", "options": {"dim": 48, "towers": ["text"]}}
    params["extract"]["sets"]["imported-text"] = {"dataset": "imported", "encoder": "team-clip", "tower": "text"}
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        code, err = cli(project, "extract", "imported-text")
        assert code == 0, err
        cfg = load_params(project / "params.yaml")
        got = load_vectors(Layout(project).embeddings(cfg.extract.sets["imported-text"].path))
        want = load_vectors(Layout(project).embeddings(cfg.extract.sets[TEXT].path))
        order = {i: k for k, i in enumerate(got.ids)}
        pick = [order[i] for i in want.ids]
        assert np.array_equal(got.vectors[pick], want.vectors)
        for column in ("labels", "splits", "groups"):
            assert np.array_equal(getattr(got, column)[pick], getattr(want, column)), column
        params["encoders"]["team-clip"]["options"]["dim"] = 64  # the wrong dim: one line, nothing written
        (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        code, err = cli(project, "extract", "imported-text")
        assert code == 2 and "[n, 64]" in err, err
    finally:
        for key in ("datasets", "encoders"):
            params[key].pop("imported" if key == "datasets" else "team-clip")
        params["extract"]["sets"].pop("imported-text")
        (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def test_vectors_source_names_the_bad_column(tmp_path: Path) -> None:
    import pyarrow as pa

    from embridge.core.errors import BridgeError
    from embridge.sources.imported import load

    pq.write_table(pa.table({"id": ["a", "b"], "embedding": ["x", "y"]}), tmp_path / "bad.parquet")
    with pytest.raises(BridgeError, match=r"bad.parquet: column 'embedding' must hold lists of floats"):
        load("d", {"path": str(tmp_path / "bad.parquet")}, []).rows("image").take(slice(0, 2))
    pq.write_table(pa.table({"id": ["a", "b"], "embedding": [[0.1, 0.2], [0.3]]}), tmp_path / "ragged.parquet")
    with pytest.raises(BridgeError, match=r"ragged.parquet: column 'embedding': row 2 has 1 values"):
        load("d", {"path": str(tmp_path / "ragged.parquet")}, []).rows("image").take(slice(0, 2))
    pq.write_table(pa.table({"id": ["a", "b"], "embedding": [[0.1], [0.2]]}), tmp_path / "p1.parquet")
    pq.write_table(pa.table({"id": ["c", "a"], "embedding": [[0.3], [0.4]]}), tmp_path / "p2.parquet")
    with pytest.raises(BridgeError, match=r"duplicate id 'a' in column 'id' \(in \S*p1.parquet and \S*p2.parquet\)"):
        load("d", {"path": str(tmp_path / "p*.parquet")}, [])
    pq.write_table(pa.table({"id": ["c", "d", "c"], "embedding": [[0.3], [0.4], [0.5]]}), tmp_path / "p3.parquet")
    with pytest.raises(BridgeError, match=r"duplicate id 'c' in column 'id' \(in \S*p3.parquet\)"):
        load("d", {"path": str(tmp_path / "p3.parquet")}, [])


def test_vectors_are_decoded_in_batches_and_errors_name_the_file_row(tmp_path: Path, monkeypatch) -> None:
    """A file is decoded READ_BATCH rows at a time (bounded decode buffers); rows come out whole and in
    order, and a ragged row in a later batch is named by its row in the file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from embridge.core.errors import BridgeError
    from embridge.sources import imported
    from embridge.sources.imported import load

    monkeypatch.setattr(imported, "READ_BATCH", 3)
    values = np.arange(20, dtype=np.float32).reshape(10, 2)
    pq.write_table(pa.table({"id": [f"r{i}" for i in range(10)], "label": ["a", "b"] * 5,
                             "embedding": values.tolist()}), tmp_path / "v.parquet")
    rows = load("d", {"path": str(tmp_path / "v.parquet")}, []).rows("image").take(slice(0, 10))
    assert np.array_equal(rows.payload, values) and rows.ids.tolist() == [f"r{i}" for i in range(10)]
    assert rows.labels.tolist() == ["a", "b"] * 5
    ragged = values.tolist()
    ragged[7] = [1.0]
    pq.write_table(pa.table({"id": [f"r{i}" for i in range(10)], "embedding": ragged}), tmp_path / "r.parquet")
    with pytest.raises(BridgeError, match=r"r.parquet: column 'embedding': row 8 has 1 values, row 7 has 2"):
        load("d", {"path": str(tmp_path / "r.parquet")}, []).rows("image").take(slice(0, 10))


def test_parted_rows_read_one_part_per_slice(tmp_path: Path) -> None:
    """Shards that straddle files come out whole and in order; a file is read once per sequential pass."""
    import pyarrow as pa

    from embridge.sources.imported import load

    for k, n in enumerate((3, 5, 2)):
        pq.write_table(pa.table({"id": [f"r{k}-{i}" for i in range(n)],
                                 "embedding": [[float(k), float(i)] for i in range(n)]}), tmp_path / f"p{k}.parquet")
    rows = load("d", {"path": str(tmp_path)}, []).rows("image")
    reads: list[int] = []
    inner = rows.read
    rows.read = lambda k: reads.append(k) or inner(k)
    shards = [rows.take(slice(i, i + 4)) for i in range(0, len(rows), 4)]
    assert len(rows) == 10 and [len(s) for s in shards] == [4, 4, 2]
    assert list(np.concatenate([s.ids for s in shards])) == [f"r{k}-{i}" for k, n in enumerate((3, 5, 2))
                                                              for i in range(n)]
    assert shards[1].payload.dtype == np.float32 and shards[1].payload.tolist()[0] == [1.0, 1.0]
    assert reads == [0, 1, 2]


def test_a_text_search_loads_its_bridge_once(project: Path, monkeypatch) -> None:
    """Query space, encoder and gallery share one frozen load; a changed card (a refit) loads again."""
    from embridge import query
    from embridge.bridges.base import Bridge

    loads = []
    real = Bridge.load.__func__

    def counted(cls, path, frozen=False, fresh_in=None):
        loads.append(path)
        return real(cls, path, frozen=frozen, fresh_in=fresh_in)

    monkeypatch.setattr(Bridge, "load", classmethod(counted))
    monkeypatch.setattr(query, "_LOADED", {})
    params = load_params(project / "params.yaml")
    image_set = next(s for s, ref in params.extract.sets.items() if ref.tower == "image")
    encoder = query.query_space(params, image_set, "clip-linear", "text", project)
    queries = BridgedEncoder(encoder, "text", params, "clip-linear", project).encode(
        SyntheticSource("synth", params.worlds["default"]).rows("text").take(slice(0, 3)).payload)
    hits = search_set(params, image_set, queries, 3, "clip-linear", project)
    assert len(loads) == 1 and len(hits) == 3 and all(len(h) == 3 for h in hits)
    card = Layout(project).bridge("clip-linear") / "bridge.json"
    original = card.read_text()
    try:
        card.write_text(original.replace("\n", "\n ", 1))  # other bytes, same meaning: treated as a new fit
        query.query_space(params, image_set, "clip-linear", "text", project)
        assert len(loads) == 2
    finally:
        card.write_text(original)
