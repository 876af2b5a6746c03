"""`bridge publish` (issue 25 item 3): a fitted bridge as a model folder.

ONNX equals the numpy transform for every method with an inference graph; the graph maps onto
sentence-transformers' own modules; the folder loads back through the public loader with identical outputs;
the model card lists the tasks and numbers of a run exactly as the metrics files hold them; bad requests are
one line and leave nothing behind. The real MiniLM check (the sentence-transformers folder equals
`bridge embed`) is slow: it extracts PubChem names through the packaged model.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from bridge_project import cli, cli_both, cli_with_edit, synthetic_lane, tree_digest, write_params
from test_methods_io import CASES, data, fitted  # noqa: F401 - data is a fixture

from embridge.bridges.base import Bridge
from embridge.bridges.onnx_graph import NUMPY_GRAPHS, inference_graph, run_onnx, to_onnx
from embridge.core.catalog import METHODS
from embridge.core.layout import Layout
from embridge.publish import MARKER, _st_modules, _steps


def _inputs(dim: int, seed: int, rows: int = 200) -> np.ndarray:
    """Half standard normal rows, half unit rows (what encoders give), seeded."""
    x = np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32)
    x[rows // 2:] /= np.linalg.norm(x[rows // 2:], axis=1, keepdims=True)
    return x


@pytest.mark.parametrize("method", sorted(CASES))
def test_onnx_equals_numpy_for_every_method(method: str, data, tmp_path: Path) -> None:  # noqa: F811
    """Each role's ONNX model against the method's own transform, loaded as publish loads it (frozen)."""
    fitted(method, data).save(tmp_path / method)
    bridge = Bridge.load(tmp_path / method, frozen=True)
    card = json.loads((tmp_path / method / "bridge.json").read_text())
    found = inference_graph(bridge, card)
    assert found is not None, f"{method} has no inference graph: it would publish without ONNX"
    graphs, weights = found
    for role, space in bridge.spaces.items():
        for seed in (0, 7):
            x = _inputs(space.dim, seed)
            want = np.asarray(bridge._transform(role, x), dtype=np.float32)
            got = run_onnx(to_onnx(graphs[role], weights, space.dim, want.shape[1]), x)
            assert got.shape == want.shape and got.dtype == np.float32
            assert np.abs(got - want).max() <= 1e-5, (method, role, np.abs(got - want).max())
            assert np.abs(want).max() > 0.1  # a real output, not zeros equal to zeros


def test_every_built_in_method_has_a_graph() -> None:
    """torch methods write theirs into bridge.json; the numpy ones are re-stated in NUMPY_GRAPHS."""
    torch_methods = {m for m in METHODS if METHODS.get(m).info.get("torch")}
    assert sorted(torch_methods | set(NUMPY_GRAPHS)) == sorted(CASES)


def test_onnx_model_has_a_dynamic_batch_and_names_the_bridge(data) -> None:  # noqa: F811
    import onnx

    bridge = fitted("textme", data)
    graphs, weights = inference_graph(bridge, {"inference": bridge.inference()})
    model = onnx.load_from_string(to_onnx(graphs["modal"], weights, 48, 64, {"embridge.role": "modal"}))
    (inp,), (out,) = model.graph.input, model.graph.output
    assert inp.name == "embeddings" and out.name == "shared"
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim] == ["batch", 48]
    assert {p.key: p.value for p in model.metadata_props} == {"embridge.role": "modal"}
    for rows in (1, 3, 1000):  # the batch axis is free
        assert run_onnx(model.SerializeToString(), _inputs(48, rows, rows)).shape == (rows, 64)


@pytest.mark.parametrize("method", ["textme", "cycle", "linear", "procrustes", "offset"])
def test_graph_as_sentence_transformers_modules(method: str, data) -> None:  # noqa: F811
    """A role's graph (batchnorm, GELU, subtraction folded into Dense) as Dense/Normalize modules gives the
    numpy transform of a normalised encoder output."""
    bridge = fitted(method, data)
    graphs, weights = inference_graph(bridge, {"inference": bridge.inference()})
    modules = torch.nn.Sequential(*_st_modules([("normalize",), *_steps(graphs[role := next(iter(graphs))],
                                                                        weights)]))
    x = _inputs(bridge.spaces[role].dim, 3)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    with torch.no_grad():
        got = modules({"sentence_embedding": torch.from_numpy(x)})["sentence_embedding"].numpy()
    assert np.abs(got - bridge._transform(role, unit)).max() <= 1e-5


# -- the CLI on a synthetic project ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("publish")
    params = synthetic_lane(tasks=["clip-zeroshot-linear", "clip-retrieval-linear", "audio-zeroshot-textme"],
                            groups=200)
    for name in ("textme-audio", "paired-audio"):
        params["fit"]["bridges"][name]["params"] = {"epochs": 2}
    write_params(project, params)
    for stage in ("extract", "fit", "eval"):
        code, err = cli(project, stage)
        assert code == 0, err
    return project


@pytest.fixture(scope="module")
def published(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("out") / "clip-linear"
    code, err, said = cli_both(project, "publish", "clip-linear", "--out", str(out), "--license", "apache-2.0")
    assert code == 0, err
    assert err == "" and "ONNX vs numpy" in said
    return out


def test_folder_loads_back_through_the_public_loader(project: Path, published: Path) -> None:
    import embridge

    fitted_bridge = Bridge.load(Layout(project).bridge("clip-linear"))
    for loaded in (Bridge.load(published), embridge.load(published)):
        assert loaded.content_sha256 == fitted_bridge.content_sha256
        for role, space in fitted_bridge.spaces.items():
            x = _inputs(space.dim, 1)
            np.testing.assert_array_equal(loaded._transform(role, x), fitted_bridge._transform(role, x))
    assert (published / "bridge.json").read_bytes() == (Layout(project).bridge("clip-linear") / "bridge.json").read_bytes()
    assert sorted(p.name for p in (published / "onnx").iterdir()) == ["source.onnx", "target.onnx"]
    assert not (published / "sentence-transformers").exists()  # a synthetic encoder is not an st: model


def test_model_card_lists_the_tasks_and_their_numbers(project: Path, published: Path) -> None:
    from huggingface_hub import ModelCard

    card = ModelCard((published / "README.md").read_text())
    assert card.data.library_name == "embridge" and card.data.license == "apache-2.0"
    assert "linear" in card.data.tags and "onnx" in card.data.tags
    text = card.text
    users = ["clip-retrieval-linear", "clip-zeroshot-linear"]
    assert json.loads((published / MARKER).read_text())["tasks"] == users
    for task in users:
        metrics = json.loads(Layout(project).metrics(task).read_text())
        head = {"clip-zeroshot-linear": "top1", "clip-retrieval-linear": "q2g/recall@1"}[task]
        row = next(line for line in text.splitlines() if line.startswith(f"| {task} |"))
        assert f"{head} **{metrics[head]:.4f}**" in row
        saved = json.loads((published / "eval" / f"{task}.json").read_text())
        assert saved["metrics"] == metrics  # every number, exactly as the eval stage wrote it
        assert saved["protocol"] == json.loads(Layout(project).protocol(task).read_text())
        assert f"- {task}: query synth-clip-image via clip-linear" in text  # its protocol line
    assert "audio-zeroshot-textme" not in text  # another bridge's task
    for role, fingerprint in json.loads((published / "bridge.json").read_text())["fitted_on"].items():
        assert f"| {role} | `synth-clip-" in text and f"`{fingerprint}`" in text


def test_stale_task_is_left_out_and_counted(project: Path, tmp_path: Path) -> None:
    protocol = Layout(project).protocol("clip-zeroshot-linear")
    original = protocol.read_text()
    card = json.loads(original)
    card["sides"]["query"]["bridge"]["content_sha256"] = "0" * 64
    protocol.write_text(json.dumps(card))
    try:
        code, err, said = cli_both(project, "publish", "clip-linear", "--out", str(tmp_path / "p"))
    finally:
        protocol.write_text(original)
    assert code == 0, err
    record = json.loads((tmp_path / "p" / MARKER).read_text())
    assert record["tasks"] == ["clip-retrieval-linear"]
    assert [x["task"] for x in record["left_out"]] == ["clip-zeroshot-linear"] and "stale" in said
    assert "1 task(s) that used this bridge are left out" in (tmp_path / "p" / "README.md").read_text()


def test_republish_replaces_an_earlier_publish_only(project: Path, published: Path, tmp_path: Path) -> None:
    before = (published / "README.md").read_bytes()
    code, err = cli(project, "publish", "clip-linear", "--out", str(published), "--license", "apache-2.0")
    assert code == 0, err
    assert (published / "README.md").read_bytes() == before  # same bridge, same bytes
    keep = tmp_path / "mine"
    keep.mkdir()
    (keep / "notes.txt").write_text("mine")
    (tmp_path / "file").write_text("x")
    for out, words in ((keep, "not a bridge publish"), (tmp_path / "file", "not a folder"),
                       (project / "artifacts" / "x", "artifacts/"), (project, "holding) the project"),
                       (project / ".bridge", ".bridge/"), (tmp_path / "new\nline", "control character")):
        code, err = cli(project, "publish", "clip-linear", "--out", str(out))
        assert code == 2 and words in err and err.count("\n") == 1, (out, err)
    assert (keep / "notes.txt").read_text() == "mine" and not (project / "artifacts" / "x").exists()


@pytest.mark.parametrize("args,words", [
    (["nope"], "no bridge 'nope'"),
    ([""], "give the name of a bridge"),
    (["clip-linear", "--license", "MIT License"], "one licence identifier"),
    (["clip-linear", "--sentence-transformers", "source"], "image tower"),
    (["clip-linear", "--sentence-transformers", "target"], "not a sentence-transformers"),
    (["clip-linear", "--sentence-transformers", "anchor"], "bridge roles are source, target"),
    (["clip-linear", "--seed", "3"], "--seed 3"),
])
def test_bad_requests_are_one_line(project: Path, tmp_path: Path, args: list[str], words: str) -> None:
    code, err = cli(project, "publish", *args, "--out", str(tmp_path / "p"))
    assert code == 2 and words in err and err.count("\n") == 1, err
    assert not (tmp_path / "p").exists()


def test_edited_truncated_or_stale_bridge_refused(project: Path, tmp_path: Path) -> None:
    copy = tmp_path / "project"
    shutil.copytree(project, copy)
    folder = Layout(copy).bridge("clip-linear")
    card = folder / "bridge.json"
    original = card.read_text()
    card.write_text(original.replace('"alpha": 0.0', '"alpha": 1.0'))
    code, err = cli(copy, "publish", "clip-linear", "--out", str(tmp_path / "p"))
    assert code == 2 and "content_sha256 does not match" in err, err
    card.write_text(original)
    weights = folder / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    code, err = cli(copy, "publish", "clip-linear", "--out", str(tmp_path / "p"))
    assert code == 2 and "weights.safetensors" in err, err
    shutil.copy(Layout(project).bridge("clip-linear") / "weights.safetensors", weights)
    code, err = cli_with_edit(copy, lambda p: p["encoders"]["syn-clip"]["options"].__setitem__("seed", 5),
                              "extract", "synth-clip-image")
    assert code == 0, err
    code, err = cli(copy, "publish", "clip-linear", "--out", str(tmp_path / "p"))
    assert code == 2 and "stale" in err and "refit" in err, err
    assert not (tmp_path / "p").exists()


def test_torch_bridge_publishes_its_written_graph(project: Path, tmp_path: Path) -> None:
    code, err = cli(project, "publish", "textme-audio", "--out", str(tmp_path / "t"))
    assert code == 0, err
    record = json.loads((tmp_path / "t" / MARKER).read_text())
    assert sorted(record["onnx"]) == ["anchor", "modal", "text"]
    assert all(v["max_abs_error"] <= 1e-5 for v in record["onnx"].values())
    assert record["tasks"] == ["audio-zeroshot-textme"]


# -- the real MiniLM -----------------------------------------------------------------------------------------

@pytest.mark.slow
def test_sentence_transformers_folder_equals_bridge_embed(tmp_path: Path) -> None:
    """PubChem names through the packaged MiniLM (with a query prefix) bridged into Morgan fingerprint space:
    SentenceTransformer(folder).encode equals `bridge embed` (a Dense 384 -> 2048 and Normalize after the
    encoder), offline, and the folder's config carries the prefix."""
    from bridge_project import REPO
    from sentence_transformers import SentenceTransformer

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["datasets"] = {"pubchem": {**params["datasets"]["pubchem"],
                                      "options": {**params["datasets"]["pubchem"]["options"], "size": 200}}}
    params["encoders"] = {"minilm": {**params["encoders"]["minilm"],
                                     "options": {"batch_size": 64, "prompt": "query: "}},
                          "morgan": params["encoders"]["morgan"]}
    params["extract"]["sets"] = {k: v for k, v in params["extract"]["sets"].items() if k.startswith("pubchem")}
    params["fit"] = {"bridges": {"names-to-molecules": {
        "method": "linear", "params": {"alpha": 10.0},
        "inputs": {"source": "pubchem-minilm-text", "target": "pubchem-morgan-molecule"}}}}
    params["eval"]["tasks"] = {}
    write_params(tmp_path, params)
    for stage in ("extract", "fit"):
        code, err = cli(tmp_path, stage)
        assert code == 0, err
    out = tmp_path / "published"
    code, err, said = cli_both(tmp_path, "publish", "names-to-molecules", "--out", str(out))
    assert code == 0 and err == "", err
    texts = ["aspirin", "caffeine", "sodium chloride", "2-acetoxybenzoic acid", "ethanol " * 40]
    code, err = cli(tmp_path, "embed", *texts, "--encoder", "minilm", "--bridge", "names-to-molecules",
                    "--out", str(tmp_path / "e.npy"))
    assert code == 0, err
    want = np.load(tmp_path / "e.npy")
    model = SentenceTransformer(str(out / "sentence-transformers" / "source"), device="cpu")
    got = model.encode(texts)
    assert got.shape == want.shape == (5, 2048)
    assert np.abs(got - want).max() <= 1e-5
    config = json.loads((out / "sentence-transformers/source/config_sentence_transformers.json").read_text())
    assert config["prompts"]["bridge"] == "query: " and config["default_prompt_name"] == "bridge"
    assert np.abs(model.encode(texts, prompt="") - want).max() > 1e-3  # the prefix matters
    assert "sentence-transformers/source vs bridge embed" in said
    assert "FutureWarning" not in err and "Default prompt name" not in err
    # params.yaml's encoder options changed without re-extracting: the folder would not be what was fitted
    for key, value in (("prompt", "passage: "), ("truncate_dim", 128), ("max_seq_length", 16)):
        code, err = cli_with_edit(tmp_path, lambda p, k=key, v=value: p["encoders"]["minilm"]["options"].__setitem__(k, v),
                                  "publish", "names-to-molecules", "--out", str(tmp_path / "again"))
        assert code == 2 and f"encoders.minilm.options.{key}" in err and err.count("\n") == 1, err
    assert not (tmp_path / "again").exists()


def test_a_method_without_a_graph_publishes_no_onnx_and_says_why() -> None:
    """A user's method with only a numpy transform: no ONNX model, and the reason (it is Python code)."""
    from embridge.bridges.base import MethodParams
    from embridge.core.vectors import Space
    from embridge.publish import onnx_models

    class Squared(Bridge):
        method = "python:here:Squared"
        roles = ("source",)

        def _fit(self, inputs):  # pragma: no cover - never fitted here
            pass

        def _transform(self, role, vectors):
            return vectors ** 2

        def state(self):
            return {}

        def load_state(self, state):
            pass

    bridge = Squared(MethodParams(), {"source": Space("enc", "text", 4)})
    assert inference_graph(bridge, {}) is None
    models, errors, why = onnx_models(bridge, {}, "squared")
    assert models == {} and errors == {} and "no inference graph" in why and "Python code" in why


# -- what the card may show: numbers bound to what exists now -------------------------------------------------

def _publish_record(project: Path, out: Path, *args: str) -> tuple[dict, str]:
    code, err, _ = cli_both(project, "publish", "clip-linear", "--out", str(out), *args)
    assert code == 0 and err == "", err
    return json.loads((out / MARKER).read_text()), (out / "README.md").read_text()


def _why(record: dict, task: str) -> str:
    return next(x["why"] for x in record["left_out"] if x["task"] == task)


@pytest.mark.parametrize("edit,words", [
    (lambda m: m.__setitem__("top1", 0.9999), "differ from the file the eval stage wrote"),
    (lambda m: m.__setitem__("top1", "inf"), "differ from the file the eval stage wrote"),
    (lambda m: m.update({"extra": 1.0}), "differ from the file the eval stage wrote"),
])
def test_metrics_edited_after_eval_are_left_out(project: Path, tmp_path: Path, edit, words: str) -> None:
    """The protocol card records the metrics file's sha256; an edited file is left out, counted, never shown."""
    path = Layout(project).metrics("clip-zeroshot-linear")
    original = path.read_text()
    metrics = json.loads(original)
    edit(metrics)
    path.write_text(json.dumps(metrics))
    try:
        record, text = _publish_record(project, tmp_path / "p")
    finally:
        path.write_text(original)
    assert record["tasks"] == ["clip-retrieval-linear"]
    assert words in _why(record, "clip-zeroshot-linear") and "rerun `bridge eval clip-zeroshot-linear`" in text
    assert "0.9999" not in text and "| clip-zeroshot-linear |" not in text
    assert not (tmp_path / "p" / "eval" / "clip-zeroshot-linear.json").exists()


@pytest.mark.parametrize("value", ["1e400", "NaN", '"0.5"', "true", "null"])
def test_metrics_that_are_not_finite_numbers_are_left_out(project: Path, tmp_path: Path, value: str) -> None:
    """A metric that is not a finite number is left out and counted, even when its sha256 is the card's."""
    copy = tmp_path / "project"
    shutil.copytree(project, copy)
    layout = Layout(copy)
    path, protocol = layout.metrics("clip-zeroshot-linear"), layout.protocol("clip-zeroshot-linear")
    path.write_text(path.read_text().replace('"top1": ', f'"top1": {value}, "was": ', 1))
    card = json.loads(protocol.read_text())
    card["metrics_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    protocol.write_text(json.dumps(card))
    record, _ = _publish_record(copy, tmp_path / "p")
    assert record["tasks"] == ["clip-retrieval-linear"]
    assert "not a finite number ('top1')" in _why(record, "clip-zeroshot-linear")


def test_eval_only_set_re_extracted_after_eval_is_left_out(project: Path, tmp_path: Path) -> None:
    """A task read through the bridge a set the bridge was not fitted on: re-extracting that set (the bridge
    stays fresh) makes the task's numbers stale until eval runs again, which then lists the new numbers."""
    copy = tmp_path / "project"
    shutil.copytree(project, copy)
    params = yaml.safe_load((copy / "params.yaml").read_text())
    params["worlds"]["b"] = dict(params["worlds"]["default"])
    params["datasets"]["synth-b"] = {"source": "synthetic", "options": {"world": "b"}}
    params["extract"]["sets"]["b-clip-image"] = {"dataset": "synth-b", "encoder": "syn-clip", "tower": "image"}
    params["eval"]["tasks"]["b-zeroshot"] = {"kind": "zeroshot",
                                             "query": {"set": "b-clip-image", "bridge": "clip-linear"},
                                             "gallery": {"set": "synth-clip-text", "bridge": "clip-linear"}}
    write_params(copy, params)
    for args in (("extract", "b-clip-image"), ("eval", "b-zeroshot")):
        code, err = cli(copy, *args)
        assert code == 0, err
    before = json.loads(Layout(copy).metrics("b-zeroshot").read_text())["top1"]
    record, _ = _publish_record(copy, tmp_path / "p1")
    assert "b-zeroshot" in record["tasks"]
    params["worlds"]["b"]["obs_noise"] = 2.5
    write_params(copy, params)
    code, err = cli(copy, "extract", "b-clip-image")
    assert code == 0, err
    record, text = _publish_record(copy, tmp_path / "p2")
    assert "b-zeroshot" not in record["tasks"] and "| b-zeroshot |" not in text
    assert "set b-clip-image (query) has been re-extracted" in _why(record, "b-zeroshot")
    code, err = cli(copy, "eval", "b-zeroshot")
    assert code == 0, err
    after = json.loads(Layout(copy).metrics("b-zeroshot").read_text())["top1"]
    assert abs(after - before) > 0.01  # the set really changed what the task scores
    record, text = _publish_record(copy, tmp_path / "p3")
    assert "b-zeroshot" in record["tasks"]
    assert f"top1 **{after:.4f}**" in next(line for line in text.splitlines() if line.startswith("| b-zeroshot |"))


@pytest.mark.parametrize("edit", [
    lambda t: t.__setitem__("options", {"ks": [1, 3]}),
    lambda t: t["gallery"].__setitem__("subset", {"fraction": 0.5}),
    lambda t: t.__setitem__("kind", "retrieval"),
])
def test_task_redefined_after_eval_is_left_out(project: Path, tmp_path: Path, edit) -> None:
    code, err = cli_with_edit(project, lambda p: edit(p["eval"]["tasks"]["clip-zeroshot-linear"]),
                              "publish", "clip-linear", "--out", str(tmp_path / "p"))
    assert code == 0, err
    record = json.loads((tmp_path / "p" / MARKER).read_text())
    assert record["tasks"] == ["clip-retrieval-linear"]
    assert "params.yaml now defines eval.tasks.clip-zeroshot-linear otherwise" in _why(record, "clip-zeroshot-linear")


def test_task_without_a_card_or_with_another_tasks_card_is_counted(project: Path, tmp_path: Path) -> None:
    copy = tmp_path / "project"
    shutil.copytree(project, copy)
    layout = Layout(copy)
    layout.protocol("clip-retrieval-linear").unlink()
    shutil.copy(layout.protocol("clip-zeroshot-linear"), layout.protocol("clip-copied"))
    shutil.copy(layout.metrics("clip-zeroshot-linear"), layout.metrics("clip-copied"))
    record, text = _publish_record(copy, tmp_path / "p")
    assert record["tasks"] == ["clip-zeroshot-linear"]
    assert sorted(x["task"] for x in record["left_out"]) == ["clip-copied", "clip-retrieval-linear"]
    assert "no protocol card" in _why(record, "clip-retrieval-linear")
    assert "names task 'clip-zeroshot-linear'" in _why(record, "clip-copied")
    assert "2 task(s) that used this bridge are left out" in text


# -- the folder: only an earlier publish is replaced ----------------------------------------------------------

@pytest.mark.parametrize("marker", ["{}", "not json", '{"format": 1, "bridge": "clip-linear"}', None])
def test_a_foreign_folder_with_a_publish_json_is_kept(project: Path, published: Path, tmp_path: Path,
                                                      marker: str | None) -> None:
    """publish.json must parse, be a publish record and list exactly the folder's files; a user's file in an
    earlier publish (marker None: added to a real one) keeps the folder from being replaced."""
    keep = tmp_path / "mine"
    if marker is None:
        shutil.copytree(published, keep)
    else:
        keep.mkdir()
        (keep / MARKER).write_text(marker)
    (keep / "thesis.tex").write_text("mine")
    before = tree_digest(keep)
    code, err = cli(project, "publish", "clip-linear", "--out", str(keep))
    assert code == 2 and "not a bridge publish" in err and err.count("\n") == 1, err
    assert tree_digest(keep) == before


def test_publish_json_lists_every_file_and_verify_finds_a_swap(published: Path, tmp_path: Path) -> None:
    from embridge.publish import verify_folder

    record = json.loads((published / MARKER).read_text())
    files = sorted(str(p.relative_to(published)) for p in published.rglob("*") if p.is_file() and p.name != MARKER)
    assert sorted(record["files"]) == files and "onnx/source.onnx" in files
    assert verify_folder(published) is None
    copy = tmp_path / "copy"
    shutil.copytree(published, copy)
    shutil.copy(copy / "onnx" / "target.onnx", copy / "onnx" / "source.onnx")
    assert "onnx/source.onnx differs from the sha256" in verify_folder(copy)
    (copy / "onnx" / "source.onnx").unlink()
    assert "onnx/source.onnx, listed in publish.json, is missing" in verify_folder(copy)
    # the public loader checks a published folder as recorded before it reads the bridge from it
    import embridge

    assert embridge.load(published).content_sha256 == record["content_sha256"] if "content_sha256" in record \
        else embridge.load(published).is_fitted
    with pytest.raises(embridge.BridgeError, match="not the folder `bridge publish` wrote .onnx/source.onnx"):
        embridge.load(copy)


def test_a_symlinked_out_is_refused(project: Path, published: Path, tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(published, target_is_directory=True)
    before = tree_digest(published)
    code, err = cli(project, "publish", "clip-linear", "--out", str(link))
    assert code == 2 and "a symlink" in err and err.count("\n") == 1, err
    assert link.is_symlink() and tree_digest(published) == before


@pytest.mark.parametrize("license", ["{}", "---", "MIT", "mit\u202e", "`mit`", "-mit", "apache 2.0", "", "a/b"])
def test_license_must_be_a_hub_identifier(project: Path, tmp_path: Path, license: str) -> None:
    code, err = cli(project, "publish", "clip-linear", "--out", str(tmp_path / "p"), "--license", license)
    assert code == 2 and "one licence identifier" in err and err.count("\n") == 1, err
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize("license", ["mit", "cc-by-4.0", "gpl-3.0+", "other"])
def test_hub_licence_identifiers_are_accepted(license: str) -> None:
    from embridge.publish import LICENSE_ID

    assert LICENSE_ID.fullmatch(license)


# -- the sentence-transformers folder: options as the set was extracted ---------------------------------------

def _st_params(options: dict, normalize: bool = True):
    from embridge.core.config import Params

    params = synthetic_lane(tasks=["clip-retrieval-linear"], groups=200)
    params["encoders"]["st-text"] = {"model": "st:sentence-transformers/all-MiniLM-L6-v2", "options": options}
    params["extract"]["normalize"] = normalize
    return Params.model_validate(params)


@pytest.mark.parametrize("options,recorded,prompts,words", [
    ({"prompt": "query: "}, {}, None, ('encoders.st-text.options.prompt is "query: " while its set was extracted '
                                       "with null")),
    ({}, {"prompt": "query: "}, {}, ('encoders.st-text.options.prompt is null while its set was extracted with '
                                     '"query: "')),
    ({"prompt_name": "q"}, {"prompt": "query: "}, {"q": "search: "}, "options.prompt_name is \"q (\\\"search: \\\")\""),
    ({"truncate_dim": 64}, {"truncate_dim": 128}, None, ("options.truncate_dim is 64 while its set was extracted "
                                                         "with 128")),
    ({}, {"truncate_dim": 128}, None, "options.truncate_dim is null"),
    ({"max_seq_length": 16}, {}, None, "options.max_seq_length is 16 while its set was extracted with null"),
    ({}, {"max_seq_length": 16}, None, "options.max_seq_length is null while its set was extracted with 16"),
    ({"revision": "abc"}, {"revision": "def"}, None, "options.revision is \"abc\""),
    ({}, {"normalized": False}, None, "extracted unnormalised"),
])
def test_st_options_other_than_the_sets_are_refused(options: dict, recorded: dict, prompts, words: str) -> None:
    from embridge.publish import option_drift

    why = option_drift(_st_params(options), "st-text", {"model": "st:x", **recorded}, prompts)
    assert why is not None and words in why, why
    assert "re-extract" in why


@pytest.mark.parametrize("options,recorded,prompts", [
    ({}, {}, None), ({"prompt": "query: ", "batch_size": 8}, {"prompt": "query: "}, None),
    ({"prompt_name": "q"}, {"prompt": "search: "}, {"q": "search: "}), ({"truncate_dim": 64}, {"truncate_dim": 64}, {}),
    ({"max_seq_length": 16}, {"max_seq_length": 16}, None),
])
def test_st_options_as_the_set_was_extracted_pass(options: dict, recorded: dict, prompts) -> None:
    from embridge.publish import option_drift

    assert option_drift(_st_params(options), "st-text", {"model": "st:x", "normalized": True, **recorded},
                        prompts) is None


def test_a_user_method_gets_its_docstring_as_its_paper_line() -> None:
    from embridge.bridges.base import MethodParams
    from embridge.core.vectors import Space
    from embridge.publish import paper

    class Halved(Bridge):
        """Halves every vector, a toy user method.

        More text that is not the first line."""
        method = "python:here:Halved"
        roles = ("source",)

        def _fit(self, inputs):  # pragma: no cover - never fitted here
            pass

        def _transform(self, role, vectors):  # pragma: no cover
            return vectors / 2

        def state(self):  # pragma: no cover
            return {}

        def load_state(self, state):  # pragma: no cover
            pass

    class Bare(Halved):
        method = "python:here:Bare"

    spaces = {"source": Space("enc", "text", 4)}
    assert paper(Halved(MethodParams(), spaces)) == "python:here:Halved (a user-defined method): Halves every " \
        "vector, a toy user method."
    assert paper(Bare(MethodParams(), spaces)) == "python:here:Bare (a user-defined method)"
