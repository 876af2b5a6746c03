"""`artifacts/report/index.md`: the method-by-task table and the figures a person reads.

Built from what the eval stage wrote (metrics JSON, plot CSVs, and for the
2-D picture of the gap closing the projection CSV of each gap task), the
training curves in each fitted bridge's ``bridge.json``, and the project's
``report.yaml`` when it has one (papers' claims and committed sweep tables,
``papers.py``), so the report stage depends on those files alone. A task's
headline metric and columns are its kind's (``evaluate/tasks.py``).
Preservation ratios follow docs/methods.md ("Evaluation protocol"): method /
reference x 100, the reference being the task named in
``eval.tasks.<task>.reference``.

Figures are drawn on a ``Figure`` of their own with the Agg canvas, never
through pyplot's global state, so importing this module in a notebook leaves
its matplotlib backend as it was. Every table goes through
:func:`markdown_table`, which escapes ``|`` and turns line breaks into ``<br>``
in cells and headers, so a table always has one line per row and as many
cells in each row as in its header.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from embridge.core.config import Params, TaskSpec
from embridge.core.errors import BridgeError
from embridge.core.files import atomic_write, atomic_write_json, write_dir
from embridge.core.layout import Layout
from embridge.evaluate.tasks import headline, task_kind
from embridge.papers import (
    Measured,
    ReportConfig,
    SweepFigure,
    check_sweep_names,
    claim_rows,
    load_report_config,
    measures_any,
    number,
    sweep_measured,
    sweep_rows,
)

GAP_STATS = ("gap_length", "centroid_proximity_text", "centroid_proximity_modal", "gap_direction_consistency",
             "instance_gap_consistency", "alignment_noise_mean", "gap_orthogonality")


@dataclass
class Row:
    task: str
    spec: TaskSpec
    metrics: dict[str, float]

    @property
    def method(self) -> str:
        return self.spec.query.bridge or "none (encoder space)"

    @property
    def score(self) -> float:
        return self.number(headline(self.spec.kind, self.spec.options))

    def number(self, metric: str) -> float:
        """``metric`` as a finite number, else one line naming the metrics file and key (a ``true``, a string,
        a NaN is never printed as a number)."""
        source = str(Layout().metrics(self.task))
        if metric not in self.metrics:
            raise BridgeError(f"{source}: has no {metric!r}")
        return number(self.metrics[metric], source, metric)

    @property
    def spread(self) -> float | None:
        """Standard deviation of the headline over the bridges' seeds, when the task ran over seeds."""
        return self.metrics.get(f"{headline(self.spec.kind, self.spec.options)}/std")

    @property
    def value(self) -> str:
        """The headline as printed: ``mean ± std (n seeds)`` over seeds, else the number."""
        if self.spread is None:
            return f"{self.score:.4f}"
        return f"{self.score:.4f} ± {self.spread:.4f} ({int(self.metrics['seeds'])} seeds)"


def summary_rows(params: Params, root: Path = Path(".")) -> list[Row]:
    rows = []
    for name, spec in params.eval.tasks.items():
        path = Layout(root).metrics(name)
        try:
            metrics = json.loads(path.read_text())
        except FileNotFoundError:
            raise BridgeError(f"{path}: missing (run `bridge eval {name}` first)") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise BridgeError(f"{path}: not valid JSON ({getattr(e, 'msg', e)}); rerun `bridge eval {name}`") from None
        if not isinstance(metrics, dict):
            raise BridgeError(f"{path}: must hold a JSON object of metrics; rerun `bridge eval {name}`")
        rows.append(Row(name, spec, metrics))
    return rows


def preservation(row: Row, by_task: dict[str, Row]) -> float | None:
    """Row's headline metric as a percentage of its reference task's, or None."""
    ref = row.spec.reference
    if ref is None or by_task[ref].score == 0:
        return None
    kept = 100.0 * row.score / by_task[ref].score
    return kept if np.isfinite(kept) else None


def build_report(params: Params, root: Path = Path(".")) -> Path:
    """Write ``artifacts/report/index.md`` and its PNGs; returns the index path."""
    final = Layout(root).report()  # written aside, then replaces the report whole: a failure leaves the last one
    write_dir(final, lambda out: _write_report(params, root, out))
    return final / "index.md"


def _write_report(params: Params, root: Path, out: Path) -> None:
    rows = summary_rows(params, root)
    for r in rows:
        try:
            _ = r.score  # a finite number, else one line naming its metrics file
        except BridgeError as e:
            raise BridgeError(f"{e} (the headline); rerun `bridge eval {r.task}`; the report was not changed") from None
    by_task = {r.task: r for r in rows}
    config = load_report_config(root)
    check_sweep_names(config, params.eval.tasks)
    table = []
    for r in rows:
        kept = preservation(r, by_task)
        gallery = r.spec.gallery.set if r.spec.gallery else ""
        table.append([r.task, r.spec.kind, f"{r.spec.query.set} -> {gallery}", r.method,
                      headline(r.spec.kind, r.spec.options), r.value,
                      f"{kept:.1f}% of {r.spec.reference}" if kept is not None else ""])
    lines = ["# bridge report", "", "## Method by task", ""]
    lines += markdown_table(["task", "kind", "query -> gallery", "bridge", "metric", "value", "preservation"],
                            table, "lllllrr")
    protocol = ("Metrics: zero-shot top-1 over class vectors from prompt templates (normalise, average, "
                "re-normalise); retrieval recall@1 query -> gallery with every same-group row a positive; "
                "exact FAISS inner-product search on L2-normalised vectors.")
    lines += ["", protocol, ""]
    lines += _seed_section(rows) + _papers_section(rows, params, config)
    lines += _recall_figure(params, root, out) + _per_class_figure(params, root, out) + _gap_section(params, root,
                                                                                                       rows, out)
    lines += _emergent_section(params, root, out) + _sweep_sections(config, out) + _seed_figure(rows, out)
    lines += _curves_section(params, root, out)
    lines += _protocol_section(rows, root)
    atomic_write(out / "index.md", lambda tmp: tmp.write_text("\n".join(lines) + "\n"))
    summary = {r.task: {headline(r.spec.kind, r.spec.options): r.score,
                        **({"std": r.spread} if r.spread is not None else {})} for r in rows}
    atomic_write_json(Layout(root).summary(), summary)


def protocol_line(task: str, root: Path = Path(".")) -> str:
    """One line of a task's protocol card: what was scored, how, by which rule."""
    path = Layout(root).protocol(task)
    try:
        card = json.loads(path.read_text())
    except FileNotFoundError:
        raise BridgeError(f"{path}: missing (run `bridge eval {task}` first)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BridgeError(f"{path}: not valid JSON ({getattr(e, 'msg', e)}); rerun `bridge eval {task}`") from None
    sides = "; ".join(f"{label} {s['set']}" + (f" via {s['bridge']['name']}" if "bridge" in s else "")
                      + f" ({s['split']}, {s['rows']} rows, {s['dtype']})" for label, s in card["sides"].items())
    return f"{task}: {sides}; positive: {card['positive']}; ties: {card['ties']}; index {card['index']['kind']}"


def markdown_table(header: list[str], rows: list[list[str]], align: str = "") -> list[str]:
    """A markdown table: ``align`` holds one ``l`` or ``r`` per column (left by default); a ``|`` inside a
    cell or header is escaped and a line break becomes ``<br>``, so every row is one line with the header's
    number of cells."""
    def cell(text: object) -> str:
        return re.sub(r"\r\n|\r|\n", "<br>", str(text).replace("|", "\\|"))

    def line(cells: list[str]) -> str:
        if len(cells) != len(header):
            raise ValueError(f"a row of {len(cells)} cells under a header of {len(header)}: {cells}")
        return "| " + " | ".join(cell(c) for c in cells) + " |"

    rule = "|" + "".join(" ---: |" if a == "r" else " --- |" for a in align.ljust(len(header), "l"))
    return [line(header), rule, *(line(r) for r in rows)]


def paper_table(rows: list[Row], params: Params, root: Path = Path("."), section: str = "synthetic",
                config: ReportConfig | None = None) -> list[dict[str, str]]:
    """The claims of ``section`` of the project's ``report.yaml`` (or ``config``) beside the project's
    number for each (``papers.py``); a sweep's row at the pipeline's setting stands in as a task named
    after the sweep."""
    config = load_report_config(root) if config is None else config
    return claim_rows(measured(rows, params, config), section, config)


def measured(rows: list[Row], params: Params, config: ReportConfig) -> Measured:
    """What the claims read: each task's metrics (checked against its file) and each sweep's row."""
    check_sweep_names(config, params.eval.tasks)
    sweeps = sweep_measured(config, params)
    files = {r.task: str(Layout().metrics(r.task)) for r in rows}
    return Measured({r.task: r.metrics for r in rows} | sweeps.metrics, files | (sweeps.files or {}),
                    sweeps.absent, sweeps.broken)


def claim_sections(rows: list[Row], params: Params, config: ReportConfig) -> list[tuple[str, list[dict[str, str]]]]:
    """(title, rows) of each claims section that names a task or sweep of the project (a lane measures the
    real claims only, the default pipeline the synthetic ones)."""
    names = {r.task for r in rows} | set(config.sweeps)
    return [(part.title, paper_table(rows, params, section=section, config=config))
            for section, part in config.claims.items() if measures_any(config, section, names)]


def _papers_section(rows: list[Row], params: Params, config: ReportConfig) -> list[str]:
    lines = []
    for title, table in claim_sections(rows, params, config):
        lines += [f"## {title}", ""]
        lines += markdown_table(["paper", "claim", "paper says", "ours", "verdict"],
                                [list(r.values()) for r in table], "lllrl") + [""]
    return lines


#: a task named ``<name>-s<k>`` is seed ``k`` of task ``<name>`` over dataset seeds (the real lanes)
SEEDED_TASK = re.compile(r"^(?P<name>.+)-s(?P<seed>\d+)$")


def _seedless(spec: TaskSpec, seed: str) -> str:
    """The task's spec with its seed's ``-s<k>`` suffix taken out of every name it holds: two tasks of one
    ``<name>`` are seeds of one experiment only when these agree (kind, sets, bridges, options)."""
    return re.sub(rf'-s{seed}(?=[-"])', "-s{seed}", json.dumps(spec.model_dump(mode="json"), sort_keys=True))


def seed_table(rows: list[Row]) -> list[dict[str, str]]:
    """Tasks run once per dataset seed (named ``<name>-s<k>``, two seeds or more, everything but the seed
    alike), one row per ``<name>``: mean ± std (ddof 1) of each metric its kind prints, and of its
    preservation ratio when it has a reference. A dataset seed redraws the items and the split, so the
    spread is sampling noise. Tasks of one ``<name>`` that differ in more than the seed (another bridge, set
    or kind) are not averaged together: each alike group of two or more is its own row, labelled with its
    seeds."""
    by_task = {r.task: r for r in rows}
    groups: dict[tuple[str, str], list[Row]] = {}
    for r in rows:
        match = SEEDED_TASK.match(r.task)
        if match:
            groups.setdefault((match["name"], _seedless(r.spec, match["seed"])), []).append(r)
    split = {name for name, _ in groups if sum(n == name for n, _ in groups) > 1}
    out = []
    for (name, _), members in groups.items():
        if len(members) < 2:
            continue
        first = members[0]
        label = name if name not in split else \
            f"{name} (seeds {', '.join(SEEDED_TASK.match(m.task)['seed'] for m in members)})"  # type: ignore[index]
        cells = {"task": label, "kind": first.spec.kind, "bridge": SEEDED_TASK.sub(r"\g<name>", first.method)}
        for metric in task_kind(first.spec.kind).columns:
            if all(metric in m.metrics for m in members):
                values = [m.number(metric) for m in members]
                cells[metric] = f"{np.mean(values):.4f} ± {np.std(values, ddof=1):.4f}"
        kept = [preservation(m, by_task) for m in members]
        if all(k is not None for k in kept):
            cells["preservation"] = f"{np.mean(kept):.1f} ± {np.std(kept, ddof=1):.1f} %"
        cells["seeds"] = str(len(members))
        out.append(cells)
    return out


def _seed_section(rows: list[Row]) -> list[str]:
    table = seed_table(rows)
    if not table:
        return []
    lines = ["## Over dataset seeds", "", ("Tasks named `<task>-s<k>` are one task per dataset seed (its own "
                                           "draw of items and split): mean ± std over the seeds."), ""]
    for kind in dict.fromkeys(r["kind"] for r in table):
        part = [r for r in table if r["kind"] == kind]
        columns = list(dict.fromkeys(c for r in part for c in r if c != "kind"))
        lines += markdown_table(columns, [[r.get(c, "") for c in columns] for r in part]) + [""]
    return lines


def emergent_matrix(params: Params, root: Path, task: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(side names, R@1 matrix [query, gallery] with NaN on the diagonal, trained mask) of an emergent task,
    from the plot CSV its eval wrote."""
    data = _read_csv(Layout(root).plot("emergent", task))
    names = list(dict.fromkeys([d["query"] for d in data] + [d["gallery"] for d in data]))
    recall = np.full((len(names), len(names)), np.nan)
    trained = np.zeros((len(names), len(names)), dtype=bool)
    for d in data:
        i, j = names.index(d["query"]), names.index(d["gallery"])
        recall[i, j], trained[i, j] = float(d["recall@1"]), d["pair"] == "trained"
    return names, recall, trained


def _emergent_section(params: Params, root: Path, out: Path) -> list[str]:
    lines: list[str] = []
    for task in (n for n, t in params.eval.tasks.items() if t.kind == "emergent"):
        names, recall, trained = emergent_matrix(params, root, task)
        lines += [f"## Emergent matrix: {task}", "", ("R@1, query (row) -> gallery (column); * = a trained pair, "
                  "the others were never paired"), ""]
        lines += markdown_table(["query \\ gallery", *names], [
            [name, *("" if i == j else f"{recall[i, j]:.3f}{'*' if trained[i, j] else ''}" for j in range(len(names)))]
            for i, name in enumerate(names)], "l" + "r" * len(names))
        fig, ax = _figure(1, 1, figsize=(1.3 * len(names) + 2, 1.1 * len(names) + 1.2))
        image = ax.imshow(np.ma.masked_invalid(recall), vmin=0, vmax=1, cmap="viridis")
        for i in range(len(names)):
            for j in range(len(names)):
                if i != j:
                    ax.text(j, i, f"{recall[i, j]:.2f}" + ("*" if trained[i, j] else ""), ha="center",
                            va="center", color="white" if recall[i, j] < 0.6 else "black", fontsize=9)
        ax.set_xticks(range(len(names)), names)
        ax.set_yticks(range(len(names)), names)
        ax.set(xlabel="gallery", ylabel="query", title=f"{task}: R@1 (* trained pair)")
        fig.colorbar(image, ax=ax, fraction=0.046)
        _save(fig, out / f"emergent_{task}.png")
        lines += ["", f"![{task}](emergent_{task}.png)", ""]
    return lines


def _seed_figure(rows: list[Row], out: Path) -> list[str]:
    """Each seeded task's headline: every seed's value and the mean with one standard deviation."""
    seeded = [r for r in rows if r.spread is not None]
    if not seeded:
        return []
    fig, ax = _figure(1, 1, figsize=(6.5, 0.5 * len(seeded) + 1.5))
    for y, r in enumerate(seeded):
        metric = headline(r.spec.kind, r.spec.options)
        values = [v for k, v in r.metrics.items() if k.startswith(f"{metric}/seed-")]
        ax.scatter(values, [y] * len(values), s=14, color="tab:gray", zorder=3)
        ax.errorbar(r.score, y, xerr=r.spread, fmt="o", color="tab:blue", capsize=4, zorder=4)
    ax.set_yticks(range(len(seeded)), [f"{r.task} ({headline(r.spec.kind, r.spec.options)})" for r in seeded],
                  fontsize=8)
    ax.set(xlabel="headline metric: seeds (grey), mean ± std (blue)", title="Spread over seeds")
    ax.grid(alpha=0.3, axis="x")
    _save(fig, out / "seed_spread.png")
    return ["## Spread over seeds", "", "![seed spread](seed_spread.png)", ""]


def bridge_cards(params: Params, root: Path) -> dict[str, list[dict]]:
    """Each fitted bridge's ``bridge.json`` (one per seed for a bridge fitted over seeds)."""
    out = {}
    for name, spec in params.fit.bridges.items():
        dirs = [Layout(root).bridge(name, s) for s in spec.seeds] or [Layout(root).bridge(name)]
        try:
            out[name] = [json.loads((d / "bridge.json").read_text()) for d in dirs]
        except FileNotFoundError:
            raise BridgeError(f"{dirs[0]}: no bridge.json (run `bridge fit {name}` first)") from None
    return out


def _curves_section(params: Params, root: Path, out: Path) -> list[str]:
    """Training loss per epoch of every torch bridge, one panel per bridge, one line per training stage
    (and seed). Each panel has its own scale: the stages' losses are different functions."""
    curves = {name: [c["info"]["curves"] for c in cards if c["info"].get("curves")]
              for name, cards in bridge_cards(params, root).items()}
    curves = {name: runs for name, runs in curves.items() if runs}
    if not curves:
        return []
    cols = min(3, len(curves))
    rows = -(-len(curves) // cols)
    fig, axes = _figure(rows, cols, figsize=(4.2 * cols, 2.8 * rows), squeeze=False)
    for ax, (name, runs) in zip(axes.flat, curves.items()):
        for stage_index, stage in enumerate(runs[0]):
            for seed_index, run in enumerate(runs):
                values = run[stage]
                ax.plot(range(1, len(values) + 1), values, color=f"C{stage_index}", alpha=1 if seed_index == 0
                        else 0.4, label=stage if seed_index == 0 else None)
        ax.set_title(name, fontsize=9)
        ax.set(xlabel="epoch", ylabel="training loss")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(curves):]:
        ax.axis("off")
    _save(fig, out / "training_curves.png")
    lines = ["## Training curves", ""]
    lines += markdown_table(["bridge", "stage", "epochs", "first loss", "last loss"],
                            [[name, stage, str(len(v)), f"{v[0]:.4f}", f"{v[-1]:.4f}"]
                             for name, runs in curves.items() for stage, v in runs[0].items() if v], "llrrr")
    return lines + ["", "![training curves](training_curves.png)", ""]


def _sweep_sections(config: ReportConfig, out: Path) -> list[str]:
    """Each sweep of ``report.yaml`` whose CSV is present: its title, paragraph, table and figure, as the
    config lays them out (``papers.Sweep``)."""
    lines: list[str] = []
    for name, sweep in config.sweeps.items():
        data = sweep_rows(config, name)
        if not data:
            continue
        where = f"{config.path}: sweeps.{name}"
        lines += [f"## {sweep.title}", ""]
        if sweep.about:
            lines += [_format(sweep.about, data[0], f"{where}.about"), ""]
        if sweep.table:
            lines += markdown_table([c.header for c in sweep.table],
                                    [[_format(c.value, d, f"{where}.table.{i}.value") for i, c in enumerate(sweep.table)]
                                     for d in data], "".join(c.align[0] for c in sweep.table))
        if sweep.figure:
            _sweep_figure(sweep.figure, data, out / f"{name}.png", f"{where}.figure")
            lines += ["", f"![{sweep.title}]({name}.png)"]
        lines += [""]
    return lines


def _format(template: str, row: dict, where: str) -> str:
    try:
        return template.format_map(row)
    except KeyError as e:
        raise BridgeError(f"{where}: no column {e.args[0]!r} in the sweep's CSV (columns: {', '.join(row)})") from None
    except (ValueError, TypeError) as e:
        raise BridgeError(f"{where}: {template!r} does not format the sweep's row ({e})") from None


def _sweep_figure(figure: SweepFigure, data: list[dict], path: Path, where: str) -> None:
    """One panel per ``panels`` entry: the column against ``x``, one line per ``group``."""
    for column in [figure.x, *([figure.group] if figure.group else []), *(p.y for p in figure.panels)]:
        if column not in data[0]:
            raise BridgeError(f"{where}: no column {column!r} in the sweep's CSV (columns: {', '.join(data[0])})")
    groups = list(dict.fromkeys(d[figure.group] for d in data)) if figure.group else [None]
    fig, axes = _figure(1, len(figure.panels), figsize=(5 * len(figure.panels), 3.8), squeeze=False)
    axes = axes[0]
    floor = figure.log_x_floor
    for i, group in enumerate(groups):
        points = [d for d in data if group is None or d[figure.group] == group]
        x = [max(float(d[figure.x]), floor) if floor else float(d[figure.x]) for d in points]
        for ax, panel in zip(axes, figure.panels, strict=True):
            ax.plot(x, [float(d[panel.y]) for d in points], marker="o", color=f"C{i}", label=group)
    for ax, panel in zip(axes, figure.panels, strict=True):
        ax.set(xlabel=f"{figure.x} (0 drawn at {floor:g})" if floor else figure.x, ylabel=panel.ylabel,
               title=panel.title)
        if floor:
            ax.set_xscale("log")
        ax.axhline(0, color="black", lw=0.8)
        ax.grid(alpha=0.3)
    if figure.group:
        axes[0].legend(fontsize=7)
    _save(fig, path)


def _protocol_section(rows: list[Row], root: Path) -> list[str]:
    lines = ["## Protocols", "", "What produced each number (full cards: `artifacts/protocols/<task>.json`).", ""]
    return lines + [f"- {protocol_line(r.task, root)}" for r in rows] + [""]


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _recall_figure(params: Params, root: Path, out: Path) -> list[str]:
    tasks = [n for n, t in params.eval.tasks.items() if t.kind == "retrieval"]
    if not tasks:
        return []
    fig, ax = _figure(1, 1, figsize=(6.5, 4))
    for name in tasks:
        data = _read_csv(Layout(root).plot("retrieval", name))
        ks = [int(d["k"]) for d in data]
        ax.plot(ks, [float(d["recall_q2g"]) for d in data], marker="o", label=f"{name} (query->gallery)")
        ax.plot(ks, [float(d["recall_g2q"]) for d in data], marker="x", linestyle="--",
                label=f"{name} (gallery->query)")
    ax.set(xlabel="k", ylabel="recall@k", title="Retrieval recall@k", ylim=(0, 1.02))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    _save(fig, out / "recall_at_k.png")
    return ["## Retrieval", "", "![recall@k](recall_at_k.png)", ""]


def _per_class_figure(params: Params, root: Path, out: Path) -> list[str]:
    tasks = [n for n, t in params.eval.tasks.items() if t.kind == "zeroshot"]
    if not tasks:
        return []
    fig, axes = _figure(len(tasks), 1, figsize=(8, 1.9 * len(tasks)), squeeze=False)
    for ax, name in zip(axes[:, 0], tasks):
        data = _read_csv(Layout(root).plot("zeroshot", name))
        ax.bar(range(len(data)), [float(d["accuracy"]) for d in data], color="tab:blue")
        ax.set_xticks(range(len(data)), [d["class"] for d in data], rotation=60, fontsize=6)
        ax.set(ylim=(0, 1), ylabel="accuracy")
        ax.set_title(name, fontsize=9)
    _save(fig, out / "per_class_accuracy.png")
    return ["## Zero-shot classification per class", "", "![per-class accuracy](per_class_accuracy.png)", ""]


def _gap_section(params: Params, root: Path, rows: list[Row], out: Path) -> list[str]:
    gaps = [r for r in rows if r.spec.kind == "gap"]
    if not gaps:
        return []
    lines = ["## Modality gap", ""]
    for r in gaps:
        table = []
        for stat in GAP_STATS:
            raw, bridged = (r.number(k) if k in r.metrics else None for k in (f"raw/{stat}", f"bridged/{stat}"))
            table.append([r.task, stat, "" if raw is None else f"{raw:.4f}", "" if bridged is None else f"{bridged:.4f}"])
        lines += markdown_table(["task", "statistic", "raw", "bridged"], table, "llrr")
        figure = f"gap_{r.task}.png"
        _projection_figure(Layout(root).projection(r.task), r, out / figure)
        lines += ["", f"![{r.task}: the two modalities before and after bridging]({figure})", ""]
    return lines


def _projection_figure(source: Path, row: Row, path: Path) -> None:
    """The 2-D PCA eval wrote for the gap task, raw and bridged, each panel with its own axes."""
    try:
        points = _read_csv(source)
    except FileNotFoundError:
        raise BridgeError(f"{source}: missing (run `bridge eval {row.task}` first)") from None
    stages = list(dict.fromkeys(p["stage"] for p in points))
    fig, axes = _figure(1, len(stages), figsize=(5 * len(stages), 4.2), squeeze=False)
    for ax, stage in zip(axes[0], stages, strict=True):
        for side, label in (("query", row.spec.query.set), ("gallery", row.spec.gallery.set)):
            xy = np.array([(float(p["x"]), float(p["y"])) for p in points if p["stage"] == stage and p["side"] == side])
            ax.scatter(*xy.T, s=5, alpha=0.5, label=label)
        title = "before (encoder space)" if stage == "raw" else "after bridging"
        ax.set_title(f"{title}\ncentroid gap {row.metrics[f'{stage}/gap_length']:.3f}", fontsize=9)
        ax.set(xlabel="PC 1", ylabel="PC 2")
        ax.legend(fontsize=7, markerscale=3)
    fig.suptitle(row.task, fontsize=10)
    _save(fig, path)


def _figure(rows: int, cols: int, figsize: tuple[float, float], squeeze: bool = True) -> tuple[Figure, Any]:
    """A figure of its own on the Agg canvas, with its axes: pyplot's global state and backend are left
    alone."""
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(rows, cols, squeeze=squeeze)


def _save(fig: Figure, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)


# -- docs/results.md: the report of a fresh default run, as a page of the docs ----------------------------

#: the command that writes docs/results.md (the Makefile's target)
RESULTS_COMMAND = "make results"
_FIGURE = re.compile(r"!\[(?P<alt>.*)\]\((?P<file>[^)]+\.png)\)")


def results_page(index: str, source: str = "artifacts/report/index.md") -> str:
    """``docs/results.md`` from the report's ``index.md``: a header saying it is generated and by what, and
    each figure as its path (the PNGs are DVC outputs, not in a clone, so a link to them would be broken)."""
    body = (index.split("\n", 1)[1] if index.startswith("# bridge report\n") else index).lstrip("\n")
    lines = [f"*Figure: {m['alt']}* (`{Path(source).parent.as_posix()}/{m['file']}` after `dvc repro`)"
             if (m := _FIGURE.fullmatch(line)) else line for line in body.splitlines()]
    header = ["# Results of the default pipeline", "",
              f"<!-- Generated by `{RESULTS_COMMAND}` from {source}; do not edit by hand. -->", "",
              (f"Generated by `{RESULTS_COMMAND}` from `{source}`, the report stage of `dvc repro` on the default "
               "pipeline (`params.yaml`, `report.yaml`). Do not edit it by hand: after a fresh `dvc repro`, run "
               f"`{RESULTS_COMMAND}` again."), ""]
    return "\n".join(header + lines).rstrip("\n") + "\n"


def write_results_page(out: Path, root: Path = Path(".")) -> Path:
    """Write ``out`` (``docs/results.md``) from ``<root>/artifacts/report/index.md``. ``out`` may not lie
    under ``artifacts/`` (DVC's outputs, the page's own input among them); an unreadable, empty or
    title-only index is one line, as is an ``out`` that cannot be written."""
    index = Layout(root).report() / "index.md"
    artifacts = index.parent.parent.resolve()
    target = out.resolve()
    if target == artifacts or artifacts in target.parents:
        raise BridgeError(f"{out}: inside {artifacts} (DVC's outputs, this page's input {index} among them); "
                          "write the page elsewhere, e.g. docs/results.md")
    if out.is_dir():
        raise BridgeError(f"{out}: is a directory; OUT is the page to write, e.g. docs/results.md")
    try:
        text = index.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BridgeError(f"{index}: missing (run `dvc repro` first: the page is the report stage's output)") from None
    except UnicodeDecodeError as e:
        raise BridgeError(f"{index}: not UTF-8 text (byte {e.start}); rerun `dvc repro`") from None
    except OSError as e:
        raise BridgeError(f"{index}: cannot read ({e.strerror or type(e).__name__})") from None
    if not text.strip() or text.strip() == "# bridge report":
        raise BridgeError(f"{index}: holds no report (empty or only its title); rerun `dvc repro`")
    source = (Layout().report() / "index.md").as_posix()  # as the project names it, wherever it is
    try:
        atomic_write(out, lambda tmp: tmp.write_text(results_page(text, source), encoding="utf-8"))
    except OSError as e:
        raise BridgeError(f"{out}: cannot write ({e.strerror or type(e).__name__})") from None
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m embridge.report docs/results.md``: what ``make results`` runs."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m embridge.report",
                                     description="Write the results page (docs/results.md) from the report of the "
                                                 "current artifacts (artifacts/report/index.md).")
    parser.add_argument("out", metavar="OUT", type=Path, help="the page to write, e.g. docs/results.md")
    args = parser.parse_args(argv)
    try:
        print(f"wrote {write_results_page(args.out)}")
    except BridgeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
