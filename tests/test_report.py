"""The report as a library piece: it leaves a notebook's matplotlib alone, every markdown table it writes is
well-formed, its claims and sweeps come from the project's report.yaml (none: no section, no error), and
docs/results.md is what `make results` writes from the report of the current artifacts."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from bridge_project import REPO, cli, synthetic_lane, write_params

TASKS = ["clip-zeroshot-raw", "clip-zeroshot-linear", "clip-retrieval-linear", "clip-gap", "image-audio-transfer",
         "clap-anchor-geometry", "audio-zeroshot-textme"]
SWEEP = "setting,alpha,r1,r1_std,seeds,command\n" + "".join(
    f"{s},{a},{r:.2f},{r / 50:.2f},3,dvc exp run -S fit.bridges.clip-linear.params.alpha={a}\n"
    for s, rows in (("default", ((0.0, 61.5), (1.0, 63.25), (10.0, 58.0))), ("wide | gap", ((0.0, 40.0), (1.0, 44.0))))
    for a, r in rows)
#: a project's own report.yaml: claims on its tasks (one with a '|' in its text) and a sweep read at the
#: pipeline's alpha
CONFIG = {
    "sweeps": {"alpha-sweep": {
        "path": "results/alpha_sweep.csv", "title": "Ridge sweep", "about": "Over {seeds:g} seeds.",
        "row": {"setting": "default", "alpha": {"param": "fit.bridges.clip-linear.params.alpha"}},
        "table": [{"header": "setting", "value": "{setting}", "align": "left"}, {"header": "alpha", "value": "{alpha:g}"},
                  {"header": "R@1", "value": "{r1:.2f} ± {r1_std:.2f}"}],
        "figure": {"x": "alpha", "group": "setting", "log_x_floor": 0.1, "panels": [{"y": "r1", "title": "R@1"}]}}},
    "claims": {"mine": {"title": "Our claims", "claims": [
        {"paper": "Us", "claim": "a linear map keeps | most of zero-shot top-1 (%)", "measure": "ratio",
         "a": {"task": "clip-zeroshot-linear", "metric": "top1"}, "b": {"task": "clip-zeroshot-raw", "metric": "top1"},
         "low": 50, "high": 150},
        {"paper": "Us", "claim": "the sweep's R@1 at our alpha", "measure": "value",
         "a": {"task": "alpha-sweep", "metric": "r1"}, "low": 60, "high": 70, "digits": 2},
        {"paper": "Them", "claim": "a task we do not run", "measure": "value", "a": {"task": "nope", "metric": "x"},
         "low": 0, "high": 1, "why": "no such task here"}]}},
}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("report")
    params = synthetic_lane(tasks=TASKS, groups=200)
    for bridge in params["fit"]["bridges"].values():  # torch bridges: two epochs draw a training curve
        if "epochs" in bridge.get("params", {}):
            bridge["params"] = {**bridge["params"], "epochs": 2}
    tasks = params["eval"]["tasks"]
    for seed in (0, 1):  # one task per dataset seed: the report's "over dataset seeds" table
        tasks[f"clip-retrieval-linear-s{seed}"] = tasks["clip-retrieval-linear"]
    write_params(project, params)
    for stage in ("extract", "fit", "eval"):
        code, err = cli(project, stage)
        assert code == 0, err
    (project / "results").mkdir()
    (project / "results/alpha_sweep.csv").write_text(SWEEP)
    (project / "report.yaml").write_text(yaml.safe_dump(CONFIG, sort_keys=False))
    code, err = cli(project, "report")
    assert code == 0, err
    return project


def _cells(line: str) -> int:
    """Cells of a markdown table row: its pipes that are not escaped, less one."""
    return len(re.findall(r"(?<!\\)\|", line.strip())) - 1


def tables(text: str) -> list[list[str]]:
    """Every markdown table of ``text``: runs of lines starting with '|'."""
    found: list[list[str]] = []
    previous = False
    for line in text.splitlines():
        row = line.startswith("|")
        if row and not previous:
            found.append([])
        if row:
            found[-1].append(line)
        previous = row
    return found


def test_every_table_of_the_report_is_well_formed(project: Path) -> None:
    index = (project / "artifacts/report/index.md").read_text()
    found = tables(index)
    headers = {t[0] for t in found}
    for needed in ("| task | kind | query -> gallery | bridge | metric | value | preservation |",
                   "| paper | claim | paper says | ours | verdict |", "| setting | alpha | R@1 |",
                   "| bridge | stage | epochs | first loss | last loss |", "| task | statistic | raw | bridged |"):
        assert needed in headers, f"{needed} not in the report"
    assert any(t[0].startswith("| task | bridge | q2g/recall@1") for t in found)  # over dataset seeds
    for table in found:
        assert len(table) >= 3, table  # header, rule, at least one row
        assert re.fullmatch(r"\|( ---:? \|)+", table[1]), table[1]
        assert {_cells(line) for line in table} == {_cells(table[0])}, table
    assert "keeps \\| most" in index and "wide \\| gap" in index  # a '|' in a cell is escaped, not a column


def test_markdown_table_refuses_a_ragged_row() -> None:
    from embridge.report import markdown_table

    assert markdown_table(["a", "b"], [["1", "x|y"]], "lr") == ["| a | b |", "| --- | ---: |", "| 1 | x\\|y |"]
    with pytest.raises(ValueError, match="a row of 3 cells under a header of 2"):
        markdown_table(["a", "b"], [["1", "2", "3"]])


def test_claims_and_the_sweep_come_from_report_yaml(project: Path) -> None:
    index = (project / "artifacts/report/index.md").read_text()
    metrics = {t: json.loads((project / f"artifacts/metrics/{t}.json").read_text())
               for t in ("clip-zeroshot-linear", "clip-zeroshot-raw")}
    kept = 100 * metrics["clip-zeroshot-linear"]["top1"] / metrics["clip-zeroshot-raw"]["top1"]
    rows = {line.split(" | ")[1]: line for line in index.splitlines() if line.startswith(("| Us |", "| Them |"))}
    ours = rows["a linear map keeps \\| most of zero-shot top-1 (%)"].split(" | ")[3]
    assert ours == f"{kept:.1f}"
    # the sweep's row at params.yaml's alpha (0.0) and the default setting: 61.50, inside 60-70
    assert "| Us | the sweep's R@1 at our alpha | 60 to 70 | 61.50 | reproduced |" in index
    assert "| Them | a task we do not run | 0 to 1 |  | not measured: its tasks are not in params.yaml (no such " \
           "task here) |" in index
    assert "## Our claims" in index and "## Ridge sweep" in index and "Over 3 seeds." in index
    assert "| wide \\| gap | 1 | 44.00 ± 0.88 |" in index and "![Ridge sweep](alpha-sweep.png)" in index
    png = (project / "artifacts/report/alpha-sweep.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 5000


def test_the_sweep_row_follows_the_pipeline_setting(project: Path, tmp_path: Path) -> None:
    from embridge.core.config import load_params
    from embridge.papers import load_report_config, sweep_metrics

    config = load_report_config(project)
    params = load_params(project / "params.yaml", ["fit.bridges.clip-linear.params.alpha=10"])
    assert sweep_metrics(config, params)["alpha-sweep"]["r1"] == 58.0
    params = load_params(project / "params.yaml", ["fit.bridges.clip-linear.params.alpha=3"])
    assert sweep_metrics(config, params) == {}  # no row at alpha 3: the claim is not measured
    del params.fit.bridges["clip-linear"]
    assert sweep_metrics(config, params) == {}  # the project has no such bridge: nothing, not an error


def test_a_project_without_report_yaml_has_no_claims_and_no_error(project: Path, tmp_path: Path) -> None:
    copy = tmp_path / "p"
    shutil.copytree(project, copy)
    (copy / "report.yaml").unlink()
    code, err = cli(copy, "report")
    assert code == 0, err
    index = (copy / "artifacts/report/index.md").read_text()
    assert "## Method by task" in index and "paper says" not in index and "sweep" not in index.lower()
    # claims and sweeps never touch the pipeline's numbers
    assert (copy / "artifacts/summary.json").read_bytes() == (project / "artifacts/summary.json").read_bytes()


def test_the_report_stage_depends_on_report_yaml_and_the_sweep(project: Path) -> None:
    import contextlib

    from embridge.core.config import load_params
    from embridge.dag import stages

    with contextlib.chdir(project):
        report = stages(load_params("params.yaml"))["report"]
    assert {"report.yaml", "results/alpha_sweep.csv"} <= set(report["deps"])
    assert report["params"] == ["eval", "fit"]


@pytest.mark.parametrize("edit,expected", [
    (lambda c: c["claims"]["mine"]["claims"][0].update(measure="ratoi"),
     ("report.yaml: claims.mine.claims.0.measure: expected one of 'value', 'ratio' or 'difference', got 'ratoi' "
      "(did you mean 'ratio'?)")),
    (lambda c: c["claims"]["mine"]["claims"][0].pop("b"), "report.yaml: claims.mine.claims.0: a ratio claim needs a `b`"),
    (lambda c: c["claims"]["mine"]["claims"][1].update(low=80), "claims.mine.claims.1: low (80) is above high (70)"),
    (lambda c: c["sweeps"]["alpha-sweep"].update(colour="red"),
     "report.yaml: sweeps.alpha-sweep.colour: unknown key"),
    (lambda c: c["sweeps"]["alpha-sweep"]["table"][1].update(value="{alpah:g}"),
     "report.yaml: sweeps.alpha-sweep.table.1.value: no column 'alpah' in the sweep's CSV"),
    (lambda c: c.update(claims_from="report.yaml", claims={}), "report.yaml: claims_from: report.yaml leads back to itself"),
])
def test_a_bad_report_yaml_is_one_line(project: Path, tmp_path: Path, edit, expected: str) -> None:
    copy = tmp_path / "p"
    shutil.copytree(project, copy)
    config = yaml.safe_load((copy / "report.yaml").read_text())
    edit(config)
    (copy / "report.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    before = (copy / "artifacts/report/index.md").read_bytes()
    code, err = cli(copy, "report")
    assert code == 2 and err.count("\n") == 1 and expected in err, err
    assert (copy / "artifacts/report/index.md").read_bytes() == before  # the last report stays whole


def test_a_lane_shares_the_repository_claims() -> None:
    from embridge.papers import load_report_config

    root = load_report_config(REPO)
    for lane in ("molecules", "migration", "spoken-digits"):
        config = load_report_config(REPO / "lanes" / lane)
        assert config.claims == root.claims and config.sweeps == {}
        assert [p.resolve() for p in config.files] == [(REPO / "lanes" / lane / "report.yaml").resolve(),
                                                       (REPO / "report.yaml").resolve()]


def test_importing_the_report_leaves_matplotlib_alone(tmp_path: Path) -> None:
    """A notebook's backend stays what it was, through import and drawing; pyplot is never imported."""
    script = f"""
import sys, matplotlib
matplotlib.use("svg")
import embridge.report as report
assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
fig, ax = report._figure(1, 1, figsize=(2, 2))
ax.plot([0, 1], [0, 1])
report._save(fig, __import__("pathlib").Path({str(tmp_path / 'f.png')!r}))
assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
assert "matplotlib.pyplot" not in sys.modules
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "f.png").read_bytes().startswith(b"\x89PNG")


def test_the_results_page_is_the_report_with_a_generated_header(project: Path, tmp_path: Path) -> None:
    from embridge.report import results_page, write_results_page

    out = write_results_page(tmp_path / "results.md", project)
    page = out.read_text()
    index = (project / "artifacts/report/index.md").read_text()
    assert page.startswith("# Results of the default pipeline\n") and "Generated by `make results`" in page
    assert page == results_page(index)
    assert "](" not in page.split("Generated by", 1)[1]  # no link into artifacts/, which a clone lacks
    assert "*Figure: Ridge sweep* (`artifacts/report/alpha-sweep.png` after `dvc repro`)" in page
    body = [line for line in index.splitlines()[1:] if not line.startswith("![")]
    assert all(line in page.splitlines() for line in body)  # every line but the title and the figures, as is


def test_docs_results_md_is_what_make_results_writes() -> None:
    """docs/results.md holds the generator's output for the current artifacts/ (`make results` after `dvc
    repro`); a hand edit, or a report regenerated since, fails here."""
    from embridge.report import results_page

    index = REPO / "artifacts/report/index.md"
    if not index.exists():
        pytest.skip("artifacts/report/index.md is absent (no `dvc repro` in this checkout): nothing to compare")
    page = REPO / "docs/results.md"
    assert page.exists(), "docs/results.md is missing: run `make results`"
    assert page.read_text() == results_page(index.read_text()), "docs/results.md is stale: run `make results`"
    summary = json.loads((REPO / "artifacts/summary.json").read_text())
    for task, numbers in summary.items():  # the page's numbers are the run's
        (_, value), *_ = numbers.items()  # the headline
        assert f"| {task} |" in page.read_text() and f"{value:.4f}" in page.read_text(), task
    assert np.isfinite([v for n in summary.values() for v in n.values()]).all()



def _bool_metric_read_by_a_claim(project: Path) -> None:
    metrics = project / "artifacts/metrics/clip-zeroshot-raw.json"
    metrics.write_text(json.dumps({**json.loads(metrics.read_text()), "top5": True}))
    config = yaml.safe_load((project / "report.yaml").read_text())
    config["claims"]["mine"]["claims"][0]["b"]["metric"] = "top5"
    (project / "report.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


@pytest.mark.parametrize("edit,expected", [
    (lambda p: (p / "report.yaml").write_text((p / "report.yaml").read_text() + "sweeps: {}\n"),
     "report.yaml: not valid YAML at line"),  # a second `sweeps` key
    (lambda p: (p / "report.yaml").write_bytes(b"claims: {\xff}\n"), "report.yaml: not UTF-8 text (byte 9)"),
    (_bool_metric_read_by_a_claim,  # a `true` is not 1.0
     ("artifacts/metrics/clip-zeroshot-raw.json: top5 is 'True', not a finite number (read by report.yaml: "
      "claims.mine.claims.0.b)")),
    (lambda p: (p / "results/alpha_sweep.csv").write_text(SWEEP.replace("61.50", "nan")),
     "results/alpha_sweep.csv: line 2: column 'r1' is 'nan', not a finite number"),
])
def test_a_hostile_report_input_is_one_line_and_keeps_the_last_report(project: Path, tmp_path: Path, edit,
                                                                     expected: str) -> None:
    copy = tmp_path / "p"
    shutil.copytree(project, copy)
    edit(copy)
    before = (copy / "artifacts/report/index.md").read_bytes()
    code, err = cli(copy, "report")
    assert code == 2 and err.count("\n") == 1 and expected in err, err
    assert (copy / "artifacts/report/index.md").read_bytes() == before
