"""The task kinds end to end: each runs from params through `bridge eval`, writes its metrics and protocol card,
and refuses bad options in one line; the multi-label zero-shot runner against scikit-learn."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from bridge_project import cli, synthetic_lane, write_params

from embridge.core.catalog import KINDS
from embridge.core.config import Params
from embridge.core.errors import BridgeError
from embridge.core.vectors import Space, Vectors
from embridge.evaluate.tasks import ProtocolWords, TaskContext, task_kind, zeroshot

TASKS = {
    "geo": {"kind": "geometry", "query": {"set": "synth-clap-text"}, "gallery": {"set": "synth-anchor-text"},
            "options": {"k": 5, "samples": 300}},
    "cand": {"kind": "candidates", "query": {"set": "synth-clip-image"}, "gallery": {"set": "synth-clip-text"},
             "options": {"candidates": [2, 8]}},
    "by-label": {"kind": "retrieval", "query": {"set": "synth-clip-image"}, "gallery": {"set": "synth-clip-text"},
                 "options": {"positives": "label"}},
    "by-item": {"kind": "retrieval", "query": {"set": "synth-clip-image"}, "gallery": {"set": "synth-clip-text"}},
    # three modalities in the anchor's space: image and audio each mapped by a paired linear bridge
    "matrix": {"kind": "emergent", "query": {"set": "synth-anchor-text"},
               "sides": [{"set": "synth-clip-image", "bridge": "image-to-anchor"},
                         {"set": "synth-clap-audio", "bridge": "audio-to-anchor"}]},
    "transfer": {"kind": "transfer", "query": {"set": "synth-clip-image", "bridge": "image-to-anchor"},
                 "gallery": {"set": "synth-clap-audio", "bridge": "audio-to-anchor"},
                 "options": {"covariance": "shared", "reg": 0.1}},  # ~14 rows per class in 64-d, image vectors in a
    # subspace the audio vectors leave: one covariance with a real ridge (the Gaussian bridge works in its latent)
    "probe": {"kind": "probe", "query": {"set": "synth-clip-image"}, "sides": [{"set": "synth-clap-audio"}]},
}
#: numpy bridges, so the module needs no torch fit
BRIDGES = {"image-to-anchor": {"method": "linear", "inputs": {"source": "synth-clip-image",
                                                              "target": "synth-anchor-text"}, "params": {"alpha": 1.0}},
           "audio-to-anchor": {"method": "linear", "inputs": {"source": "synth-clap-audio",
                                                              "target": "synth-anchor-text"}, "params": {"alpha": 1.0}}}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("kinds")
    params = synthetic_lane(sets=["synth-clip-text", "synth-clip-image", "synth-clap-text", "synth-anchor-text",
                                  "synth-clap-audio"], groups=300)
    params["eval"]["tasks"] = TASKS
    params["fit"]["bridges"] = BRIDGES
    write_params(project, params)
    assert cli(project, "extract")[0] == 0
    assert cli(project, "fit")[0] == 0
    code, err = cli(project, "eval")
    assert code == 0, err
    return project


def test_each_kind_writes_its_metrics_and_protocol(project: Path) -> None:
    metrics = {t: json.loads((project / f"artifacts/metrics/{t}.json").read_text()) for t in TASKS}
    assert 0.0 < metrics["geo"]["linear_cka"] <= 1.0 and 0.0 <= metrics["geo"]["mutual_knn@5"] <= 1.0
    assert 100 < metrics["geo"]["pairs"] <= 300  # every test caption of the split, at most the sample
    assert set(metrics["cand"]) == {f"{d}/T{t}/{m}" for d in ("q2g", "g2q") for t in (2, 8) for m in ("accuracy", "mrr")}
    assert metrics["cand"]["q2g/T2/accuracy"] >= metrics["cand"]["q2g/T8/accuracy"]  # more distractors, harder
    assert 0.0 < metrics["by-label"]["q2g/map@r"] <= 1.0 and "q2g/precision@1" in metrics["by-label"]
    card = json.loads((project / "artifacts/protocols/by-label.json").read_text())
    assert card["positive"] == "gallery rows with the query's label" and card["sides"]["query"]["split"] == "test"
    assert card["sides"]["gallery"]["rows"] > card["sides"]["query"]["rows"] > 0
    assert card["labels"]["count"] == 16 and card["sides"]["query"]["dtype"] == "float16"
    for name, task in TASKS.items():  # every card states its kind's declared words, options deciding the variant
        card = json.loads((project / f"artifacts/protocols/{name}.json").read_text())
        words = task_kind(task["kind"]).protocol_of(task.get("options"))
        assert (card["positive"], card["hit"], card["ties"]) == (words.positive, words.hit, words.ties), name


def test_every_kind_declares_its_protocol_words() -> None:
    """What a card says is scored comes from the kind's declaration; the options that change what is scored
    (label positives, multi-label zero-shot) change the words, and a bad option is one line naming its key."""
    declared = {name: task_kind(name).protocol_of() for name in KINDS}
    assert len(declared) == len(KINDS) >= 8
    assert all(isinstance(w, ProtocolWords) and w.positive and w.hit and w.ties for w in declared.values())
    retrieval, zeroshot_kind = task_kind("retrieval"), task_kind("zeroshot")
    assert retrieval.protocol_of({"positives": "label"}).positive == "gallery rows with the query's label"
    assert declared["retrieval"].positive == "gallery rows of the query's group (its own captions / item)"
    assert zeroshot_kind.protocol_of({"labels": "multi"}).ties == "tied scores enter the ranking together (sklearn)"
    assert declared["zeroshot"].hit == "top-k: the true class among the k highest cosines"
    assert task_kind("candidates").protocol_of({"candidates": [2, 8]}) == declared["candidates"]
    with pytest.raises(BridgeError, match="^eval.tasks.t.options.positives: expected one of"):
        retrieval.protocol_of({"positives": "item"}, "eval.tasks.t.options")


def test_an_approximate_index_reports_its_recall_and_warns_across_modalities(project: Path, tmp_path: Path) -> None:
    """IVF built on caption vectors, queried by images: the modality gap costs it neighbours (clip-retrieval
    #76). The run measures that against exact search and says so."""
    copy = tmp_path / "p"
    shutil.copytree(project, copy)
    exact = json.loads((copy / "artifacts/metrics/by-item.json").read_text())
    assert exact["q2g/tie_dependent"] == 0.0 and "q2g/index_recall@10" not in exact
    code, err = cli(copy, "eval", "by-item", "--set", "eval.index=ivf")
    assert code == 0, err
    got = json.loads((copy / "artifacts/metrics/by-item.json").read_text())
    assert 0.0 < got["q2g/index_recall@10"] < 1.0 and got["q2g/cross_modal_index"] == 1.0
    assert got["q2g/recall@1"] < exact["q2g/recall@1"]  # what the lost neighbours cost the metric
    assert "warning: eval.tasks.by-item: the approximate index (ivf) is built on one modality" in err
    card = json.loads((copy / "artifacts/protocols/by-item.json").read_text())
    assert card["index"]["kind"] == "ivf" and "index_recall@10" in card["index"]["note"]


@pytest.mark.parametrize("task,key,value,expected", [
    ("geo", "k", 0, "eval.tasks.geo.options.k: Input should be greater than or equal to 1, got 0"),
    ("cand", "candidates", [1], "eval.tasks.cand.options.candidates.0: Input should be greater than or equal to 2"),
    ("by-label", "positive", "label", "eval.tasks.by-label.options.positive: unknown key (did you mean 'positives'?)"),
    ("transfer", "classifiers", ["qda"], "eval.tasks.transfer.options.classifiers.0: expected one of 'gaussian', 'ncm' or 'logistic', got 'qda'"),
    ("matrix", "ks", [0], "eval.tasks.matrix.options.ks.0: Input should be greater than or equal to 1"),
    ("probe", "C", 1, "eval.tasks.probe.options.C: unknown key; known keys: c, train_split"),
])
def test_bad_options_are_one_line(project: Path, tmp_path: Path, task: str, key: str, value: object,
                                  expected: str) -> None:
    copy = tmp_path / "p"
    shutil.copytree(project, copy)
    code, err = cli(copy, "eval", task, "--set", f"eval.tasks.{task}.options.{key}={json.dumps(value)}")
    assert code == 2 and err.count("\n") == 1 and expected in err, err


def test_multilabel_zeroshot_is_sklearns_macro_average_precision() -> None:
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(0)
    classes = ["cat", "dog", "car"]
    prompts = rng.standard_normal((3, 8))
    truth = rng.random((60, 3)) < 0.4
    truth[truth.sum(axis=1) == 0, 0] = True
    labels = np.array(["|".join(c for c, on in zip(classes, row, strict=True) if on) for row in truth])
    queries = truth.astype(float) @ prompts + 0.8 * rng.standard_normal((60, 8))
    space = Space("e", "t", 8)

    def rows(labels_: np.ndarray, vectors: np.ndarray) -> Vectors:
        ids = np.array([f"r{i}" for i in range(len(labels_))])
        return Vectors(space, ids, labels_, ids, np.full(len(ids), "test"), vectors.astype(np.float32))

    params = Params.model_validate({"eval": {"tasks": {"t": {
        "kind": "zeroshot", "query": {"set": "q"}, "gallery": {"set": "g"}, "options": {"labels": "multi"}}}}})
    prompt_rows = rows(np.array(classes), prompts)
    ctx = TaskContext(params, "t", params.eval.tasks["t"], rows(labels, queries), queries.astype(np.float32),
                      lambda side, split, where: (prompt_rows, prompts.astype(np.float32)))
    got = zeroshot(ctx).metrics["map"]
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)
    scores = unit(queries) @ unit(prompts).T
    assert got == pytest.approx(average_precision_score(truth, scores, average="macro"), abs=1e-6)


def test_the_emergent_matrix_marks_trained_pairs_and_equals_direct_retrieval(project: Path) -> None:
    from embridge.core.layout import Layout
    from embridge.evaluate import metrics as m
    from embridge.evaluate.run import side_vectors

    got = json.loads((project / "artifacts/metrics/matrix.json").read_text())
    # the linear bridges were fitted on (image, anchor text) and (audio, anchor text) pairs; image-audio never
    assert got["text->image/trained"] == got["image->text/trained"] == got["audio->text/trained"] == 1.0
    assert got["image->audio/trained"] == got["audio->image/trained"] == 0.0
    params = Params.model_validate(__import__("yaml").safe_load((project / "params.yaml").read_text()))
    task = params.eval.tasks["matrix"]
    image, zi, _ = side_vectors(project, params, task.sides[0])
    audio, za, _ = side_vectors(project, params, task.sides[1])
    direct = m.retrieval(zi, image.groups, za, audio.groups, ks=(1, 5))
    assert got["image->audio/recall@1"] == pytest.approx(direct["recall@1"], abs=1e-12)
    emergent = [got[f"{a}->{b}/recall@1"] for a, b in (("image", "audio"), ("audio", "image"))]
    assert got["emergent/mean_recall@1"] == pytest.approx(np.mean(emergent))
    assert 1 / 75 < got["emergent/mean_recall@1"] < got["trained/mean_recall@1"]  # above chance, below trained
    assert Layout(project).plot("emergent", "matrix").read_text().splitlines()[0] == \
        "query,gallery,pair,recall@1,recall@5"


def test_transfer_and_probe(project: Path) -> None:
    transfer = json.loads((project / "artifacts/metrics/transfer.json").read_text())
    for clf in ("gaussian", "ncm", "logistic"):
        assert 0.3 < transfer[f"transfer/{clf}"] <= 1.0  # 16 classes: chance is 0.06
        assert transfer[f"transfer/{clf}/vs_target"] == pytest.approx(
            transfer[f"transfer/{clf}"] - transfer[f"target/{clf}"])
    assert 0.0 < transfer["alignment_error"] < 1.5
    probe = json.loads((project / "artifacts/metrics/probe.json").read_text())
    assert min(probe["side/synth-clip-image"], probe["side/synth-clap-audio"], probe["accuracy"]) > 0.3
    # acc(All) by hand: each item's image and audio vectors side by side, scikit-learn's logistic regression
    from sklearn.linear_model import LogisticRegression

    from embridge.evaluate.run import side_vectors

    params = Params.model_validate(__import__("yaml").safe_load((project / "params.yaml").read_text()))
    task = params.eval.tasks["probe"]

    def joint(split: str) -> tuple[np.ndarray, np.ndarray]:
        (img, x, _), (aud, y, _) = side_vectors(project, params, task.query, split), side_vectors(project, params,
                                                                                          task.sides[0], split)
        row = {g: i for i, g in enumerate(aud.groups.tolist())}  # one image and one audio clip per item
        both = [(i, row[g]) for i, g in enumerate(img.groups.tolist()) if g in row]
        return (np.array([np.concatenate([x[i], y[j]]) for i, j in both]), img.labels[[i for i, _ in both]])

    (xtr, ytr), (xte, yte) = joint("train"), joint("test")
    mean, std = xtr.mean(0), xtr.std(0) + 1e-8
    model = LogisticRegression(max_iter=2000).fit((xtr - mean) / std, ytr)
    assert probe["accuracy"] == pytest.approx(np.mean(model.predict((xte - mean) / std) == yte))
    assert probe["rows/test"] == len(yte)
    card = json.loads((project / "artifacts/protocols/probe.json").read_text())
    assert {"query", "query/train", "sides.0", "sides.0/train"} <= set(card["sides"])


def test_classifiers_on_a_hand_made_case() -> None:
    """Two classes: ncm and the Gaussian classifier against hand-derived answers, logistic separates them."""
    from embridge.evaluate.classify import gaussian, logistic, ncm

    x_train = np.array([[0.0, 0.0], [2.0, 0.0], [10.0, 0.0], [12.0, 0.0]])
    y_train = np.array(["a", "a", "b", "b"])
    x_test = np.array([[5.9, 0.0], [6.1, 0.0], [-3.0, 0.0]])  # class means 1 and 11: the boundary is 6
    assert ncm(x_train, y_train, x_test).tolist() == ["a", "b", "a"]
    # equal spreads and priors: the Gaussian boundary is the midpoint too
    assert gaussian(x_train + [[0, 0.1], [0, -0.1], [0, 0.1], [0, -0.1]], y_train, x_test).tolist() == ["a", "b", "a"]
    assert logistic(x_train, y_train, np.array([[-1.0, 0.0], [13.0, 0.0]])).tolist() == ["a", "b"]


@pytest.mark.parametrize("tasks,expected", [
    ({"kind": "emergent", "query": {"set": "synth-clip-image"}},
     "eval.tasks.t.sides: emergent tasks need at least 2 sides (query plus sides), got 1"),
    ({"kind": "probe", "query": {"set": "synth-clip-image"}, "gallery": {"set": "synth-clip-text"}},
     "eval.tasks.t.gallery: probe tasks take their sides from query and sides, not a gallery"),
    ({"kind": "retrieval", "query": {"set": "synth-clip-image"}, "gallery": {"set": "synth-clip-text"},
      "sides": [{"set": "synth-clip-text"}]}, "eval.tasks.t.sides: retrieval tasks have no extra sides"),
    ({"kind": "emergent", "query": {"set": "synth-clip-image"}, "sides": [{"set": "nope"}]},
     "eval.tasks.t.sides.0.set: unknown embedding set 'nope'"),
])
def test_bad_sides_are_one_line(project: Path, tmp_path: Path, tasks: dict, expected: str) -> None:
    copy = tmp_path / "p"
    shutil.copytree(project, copy)
    params = __import__("yaml").safe_load((copy / "params.yaml").read_text())
    params["eval"]["tasks"]["t"] = tasks
    write_params(copy, params)
    code, err = cli(copy, "eval", "t")
    assert code == 2 and err.count("\n") == 1 and expected in err, err


def test_the_report_reads_the_emergent_matrix_from_what_eval_wrote(project: Path) -> None:
    from embridge.report import emergent_matrix

    params = Params.model_validate(__import__("yaml").safe_load((project / "params.yaml").read_text()))
    names, recall, trained = emergent_matrix(params, project, "matrix")
    got = json.loads((project / "artifacts/metrics/matrix.json").read_text())
    assert names == ["text", "image", "audio"] and np.isnan(np.diag(recall)).all()
    assert recall[1, 2] == pytest.approx(got["image->audio/recall@1"]) and not trained[1, 2] and trained[0, 1]


def test_paper_claims_compute_their_number_and_verdict() -> None:
    from bridge_project import REPO

    from embridge.papers import claim_rows, load_report_config

    config = load_report_config(REPO)  # the claims this repository ships (report.yaml)
    claims = config.claims["synthetic"].claims
    metrics = {"audio-zeroshot-textme": {"top1": 0.40}, "audio-zeroshot-paired": {"top1": 0.50},
               "image-audio-transfer": {"transfer/gaussian": 0.70, "target/gaussian": 0.73}}
    rows = {(r["paper"], r["claim"]): r for r in claim_rows(metrics, "synthetic", config)}
    textme = rows[(claims[0].paper, claims[0].claim)]
    assert textme["ours"] == "80.0" and textme["verdict"] == "reproduced"  # 100 x 0.40 / 0.50, inside 74-88
    transfer = next(r for r in rows.values() if r["paper"] == "Kamboj & Do")
    assert transfer["ours"] == "-3.0" and transfer["verdict"].startswith("not reproduced")  # 3 points below target
    assert sum(r["verdict"].startswith("not measured") for r in rows.values()) == len(claims) - 2
