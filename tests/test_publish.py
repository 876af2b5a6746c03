"""`bridge publish` (issue 25 item 3): a fitted bridge as a model folder.

ONNX equals the numpy transform for every method with an inference graph; the graph maps onto
sentence-transformers' own modules; the folder loads back through the public loader with identical outputs;
the model card lists the tasks and numbers of a run exactly as the metrics files hold them; bad requests are
one line and leave nothing behind. The real MiniLM check (the sentence-transformers folder equals
`bridge embed`) is slow: it extracts PubChem names through the packaged model.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from bridge_project import cli, cli_both, cli_with_edit, synthetic_lane, write_params
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
