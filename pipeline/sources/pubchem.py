"""``pubchem`` source: PubChem's identifiers table of molecules and their names, as ``chemicals`` ships it.

The file (``chemicals/Identifiers/chemical identifiers pubchem large.tsv``,
71,347 compounds) is tab-separated without a header: CID, CAS, formula,
molecular weight, SMILES, InChI, InChIKey, IUPAC name, common name, then any
number of synonyms. Each compound is one group ``cid-<CID>``:

* its SMILES is the ``molecule`` row (id ``cid-<CID>``), for the ``rdkit:``
  encoder family;
* each of its names in ``names`` is a ``text`` row of the group, labelled by
  its view (``common``, ``iupac``, ``synonym``), so a task side can take one
  view with ``subset: {labels: [iupac]}`` and retrieval counts every name of
  a molecule as a positive. Synonyms that are registry numbers (CAS
  ``50-78-2``, EC ``200-064-1``) or repeat another name are left out.

A molecule without a name of a requested view (an empty or missing cell, no
synonym left) or whose SMILES RDKit cannot parse is a bad row: with
``on_error: fail`` (default) one error names the file, line and CID, with
``skip`` the molecule is left out of both modalities, so every molecule row
has its names and every name its molecule (retrieval both ways needs a
positive for each query). ``size`` keeps a seeded draw of that many good
molecules (taken in the order of a hash of each CID, so adding a row to the
file moves no other molecule in or out); splits are drawn per group. Only the
molecules the draw reaches are checked.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from embridge.core.errors import BridgeError
from embridge.core.vectors import group_uniform
from embridge.sources.base import (
    Rows,
    Source,
    SourceOptions,
    assign_splits,
    concat_rows,
    parse_source_options,
)

#: columns of the table (0-based); names start at IUPAC_NAME, synonyms after COMMON_NAME
CID, SMILES, IUPAC_NAME, COMMON_NAME = 0, 4, 7, 8
VIEWS = ("common", "iupac", "synonyms")
#: registry numbers among PubChem's synonyms: CAS (50-78-2), EC (200-064-1), UNII-like codes are kept
REGISTRY = re.compile(r"^\d{2,7}-\d{2,3}-\d$")


class PubChemOptions(SourceOptions):
    path: str | None = Field(None, description="a table in this layout (default: the one of `chemicals`)")
    names: list[Literal["common", "iupac", "synonyms"]] = Field(default_factory=lambda: ["common"],
                                                                min_length=1)

    @field_validator("names")
    @classmethod
    def _once(cls, names: list[str]) -> list[str]:
        if len(set(names)) != len(names):  # one view twice would give every name two rows of one id
            raise ValueError(f"each view once, got {names}")
        return names
    max_synonyms: int = Field(5, ge=1, le=100, description="synonyms kept per molecule (in the file's order)")
    size: int | None = Field(None, gt=0, description="a seeded draw of this many molecules")
    test_fraction: float = Field(0.2, ge=0.0, le=1.0)
    seed: int = 0
    on_error: Literal["fail", "skip"] = Field("fail", description="a molecule without a name of a view or "
                                              "with an invalid SMILES: stop naming its line, or leave it out")


def packaged_table() -> Path:
    """The table inside the installed ``chemicals`` package."""
    try:
        import chemicals
    except ImportError:
        raise BridgeError("the pubchem source reads the table the `chemicals` package ships: "
                          "pip install chemicals (or set options.path)") from None
    return Path(chemicals.__file__).parent / "Identifiers" / "chemical identifiers pubchem large.tsv"


def read_table(path: Path) -> list[list[str]]:
    """Every line's fields; a line without a SMILES column is one error naming the file and line."""
    if not path.is_file():
        raise BridgeError(f"{path}: no such file (the pubchem source's table)")
    lines = []
    with path.open(encoding="utf-8") as f:
        try:
            for line in f:
                fields = line.rstrip("\n").split("\t")
                if len(fields) <= SMILES or not fields[CID].strip():
                    raise BridgeError(f"{path}:{len(lines) + 1}: {len(fields)} fields, expected CID, CAS, formula, "
                                      f"weight, SMILES, ... (tab-separated)")
                lines.append(fields)
        except UnicodeDecodeError as e:
            raise BridgeError(f"{path}:{len(lines) + 1}: not UTF-8 text (byte {e.object[e.start]:#x}); the table "
                              "must be UTF-8") from None
    if not lines:
        raise BridgeError(f"{path}: holds no molecules (an empty table)")
    return lines


def _name(fields: list[str], view: str) -> str:
    """The molecule's common or IUPAC name ("" when its cell is empty or the line stops before it)."""
    column = IUPAC_NAME if view == "iupac" else COMMON_NAME
    return fields[column].strip() if column < len(fields) else ""


def _synonyms(fields: list[str], limit: int) -> list[str]:
    seen = {fields[i].strip() for i in (IUPAC_NAME, COMMON_NAME) if i < len(fields)}
    kept: list[str] = []
    for name in (s.strip() for s in fields[COMMON_NAME + 1:]):
        if name and name not in seen and not REGISTRY.match(name):
            seen.add(name)
            kept.append(name)
            if len(kept) == limit:
                break
    return kept


class PubChemSource(Source):
    def __init__(self, name: str, opts: PubChemOptions) -> None:
        self.name, self._opts = name, opts
        self.skipped: list[dict[str, str]] = []
        path = Path(opts.path) if opts.path is not None else packaged_table()
        lines = read_table(path)
        cids = np.asarray([f[CID].strip() for f in lines], dtype=str)
        unique, first, counts = np.unique(cids, return_index=True, return_counts=True)
        if (counts > 1).any():
            dup = unique[counts > 1][0]
            again = np.flatnonzero(cids == dup)[1]
            raise BridgeError(f"{path}:{again + 1}: CID {dup} again "
                              f"(first on line {first[counts > 1][0] + 1})")
        order = np.arange(len(lines)) if opts.size is None else \
            np.argsort(group_uniform(cids, opts.seed), kind="stable")
        wanted = len(lines) if opts.size is None else opts.size
        keep = []
        for i in order.tolist():
            problem = self._problem(lines[i])
            if problem is None:
                keep.append(i)
                if len(keep) == wanted:
                    break
            elif opts.on_error == "fail":
                raise BridgeError(f"{path}:{i + 1}: CID {cids[i]}: {problem} (set datasets.{name}.options."
                                  f"on_error: skip to leave such molecules out)")
            else:
                self.skipped.append({"id": f"cid-{cids[i]}", "reason": f"{path.name}:{i + 1}: {problem}"})
        if opts.size is not None and len(keep) < opts.size:
            raise BridgeError(f"datasets.{name}.options.size: {opts.size} molecules asked, {path} has "
                              f"{len(keep)} with every name of {opts.names} and a valid SMILES")
        keep = np.sort(np.asarray(keep, dtype=np.int64))
        self._lines = [lines[i] for i in keep]
        self._groups = np.char.add("cid-", cids[keep]).astype(str)
        self._splits = assign_splits(self._groups, opts.test_fraction, opts.seed)

    def _problem(self, fields: list[str]) -> str | None:
        """Why a molecule cannot be a row of this dataset, or None."""
        from rdkit import Chem, RDLogger

        for view in self._opts.names:
            if view == "synonyms":
                if not _synonyms(fields, 1):
                    return "no synonym (other than registry numbers and its other names)"
            elif not _name(fields, view):
                return f"no {view} name"
        RDLogger.DisableLog("rdApp.*")
        if not fields[SMILES].strip() or Chem.MolFromSmiles(fields[SMILES].strip()) is None:
            return f"invalid SMILES {fields[SMILES].strip()[:60]!r}"
        return None

    def modalities(self) -> list[str]:
        return ["molecule", "text"]

    def rows(self, modality: str) -> Rows:
        n = len(self._lines)
        if modality == "molecule":
            smiles = np.asarray([f[SMILES].strip() for f in self._lines], dtype=object)
            return Rows("molecule", self._groups, smiles, np.full(n, "molecule"), self._splits, self._groups)
        if modality != "text":
            raise BridgeError(f"dataset {self.name!r} has no {modality!r} rows; it has {self.modalities()}")
        parts = []
        for view in self._opts.names:
            if view == "synonyms":
                lists = [_synonyms(f, self._opts.max_synonyms) for f in self._lines]
                count = np.fromiter(map(len, lists), dtype=np.int64, count=n)
                rank = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
                texts = np.asarray([s for names in lists for s in names], dtype=object)
                ids = np.char.add(np.char.add(np.repeat(self._groups, count), "#synonym"),
                                  rank.astype(str))
                index = np.repeat(np.arange(n), count)
                label = "synonym"
            else:
                texts = np.asarray([_name(f, view) for f in self._lines], dtype=object)
                ids, index, label = np.char.add(self._groups, f"#{view}"), np.arange(n), view
            parts.append(Rows("text", ids.astype(str), texts, np.full(len(texts), label), self._splits[index],
                              self._groups[index]))
        return concat_rows(parts)


def load(name: str, options: dict[str, Any], class_prompts: list[str]) -> PubChemSource:
    if class_prompts:
        raise BridgeError(f"datasets.{name}.class_prompts: the pubchem source has no classes to prompt")
    return PubChemSource(name, parse_source_options(PubChemOptions, options, name))
