"""The molecule modality: RDKit fingerprints (``rdkit:``) over the PubChem identifiers table (``pubchem``).

Fingerprints are checked against RDKit called directly; bad molecule input (an invalid SMILES, an empty
name, a molecule with no name at all) is one line naming the file, line and CID, or left out with
``on_error: skip``, and a failed extraction leaves what was already written byte-identical.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rdkit")

from bridge_project import cli, tree_digest, write_params  # noqa: E402

from embridge.core.errors import BridgeError  # noqa: E402
from embridge.encoders.registry import load_encoder  # noqa: E402
from embridge.sources.pubchem import PubChemOptions, PubChemSource  # noqa: E402

#: the real table's layout: CID, CAS, formula, weight, SMILES, InChI, InChIKey, IUPAC name, common name,
#: synonyms
GOOD = [
    "2244\t50-78-2\tC9H8O4\t180.16\tCC(=O)OC1=CC=CC=C1C(=O)O\tx\ty\t2-acetyloxybenzoic acid\taspirin"
    "\tacetylsalicylic acid\t50-78-2\taspirin",
    "2519\t58-08-2\tC8H10N4O2\t194.19\tCN1C=NC2=C1C(=O)N(C(=O)N2C)C\tx\ty\t1,3,7-trimethylpurine-2,6-dione"
    "\tcaffeine"
    "\tguaranine\tmethyltheobromine",
    "702\t64-17-5\tC2H6O\t46.07\tCCO\tx\ty\tethanol\tethanol\tethyl alcohol",
    "887\t67-56-1\tCH4O\t32.04\tCO\tx\ty\tmethanol\tmethanol\twood alcohol",
    "241\t71-43-2\tC6H6\t78.11\tC1=CC=CC=C1\tx\ty\tbenzene\tbenzene\tbenzol",
    "1140\t108-88-3\tC7H8\t92.14\tCC1=CC=CC=C1\tx\ty\ttoluene\ttoluene\tmethylbenzene",
]
BAD = {
    "invalid SMILES": "9999\t0-00-0\tX\t0\tC1CC(\tx\ty\tbroken ring\tbroken\tnothing",
    "no common name": "9998\t0-00-0\tX\t0\tCCCC\tx\ty\tbutane\t   \tn-butane",
    "no iupac name": "9997\t0-00-0\tX\t0\tCCCCC\tx\ty\t\tpentane",
    "no name at all": "9996\t0-00-0\tX\t0\tCCCCCC\tx\ty",
}


def table(path: Path, *extra: str) -> Path:
    path.write_text("\n".join([*GOOD, *extra]) + "\n", encoding="utf-8")
    return path


def source(path: Path, **options) -> PubChemSource:
    return PubChemSource("pc", PubChemOptions(path=str(path), **options))


@pytest.mark.parametrize("case, names, says", [
    ("invalid SMILES", ["common"], "CID 9999: invalid SMILES 'C1CC('"),
    ("no common name", ["common"], "CID 9998: no common name"),
    ("no iupac name", ["common", "iupac"], "CID 9997: no iupac name"),
    ("no name at all", ["common"], "CID 9996: no common name"),
])
def test_a_bad_molecule_is_one_line_naming_its_line_or_is_left_out(tmp_path, case, names, says) -> None:
    path = table(tmp_path / "t.tsv", BAD[case])
    with pytest.raises(BridgeError) as e:
        source(path, names=names)
    message = str(e.value)
    assert "\n" not in message and message.startswith(f"{path}:{len(GOOD) + 1}: {says}"), message
    kept = source(path, names=names, on_error="skip")
    assert sorted(kept.rows("molecule").ids) == sorted(f"cid-{line.split()[0]}" for line in GOOD)
    assert len(kept.rows("text")) == len(GOOD) * len(names)


def test_rows_names_views_groups_and_seeded_sizes(tmp_path) -> None:
    path = table(tmp_path / "t.tsv")
    src = source(path, names=["common", "iupac", "synonyms"], max_synonyms=2, test_fraction=0.5, seed=3)
    mol, text = src.rows("molecule"), src.rows("text")
    assert mol.ids[0] == "cid-2244" and mol.payload[0] == "CC(=O)OC1=CC=CC=C1C(=O)O"
    by_id = dict(zip(text.ids, text.payload, strict=True))
    assert by_id["cid-2244#common"] == "aspirin" and by_id["cid-2244#iupac"] == "2-acetyloxybenzoic acid"
    # synonyms: the CAS number and a repeat of the common name are left out
    assert by_id["cid-2244#synonym0"] == "acetylsalicylic acid" and "cid-2244#synonym1" not in by_id
    assert by_id["cid-2519#synonym1"] == "methyltheobromine"
    assert set(text.labels) == {"common", "iupac", "synonym"}
    # every text row shares its molecule's group and split
    split_of = dict(zip(mol.groups, mol.splits, strict=True))
    assert all(split_of[g] == s for g, s in zip(text.groups, text.splits, strict=True))
    # size: a seeded draw by CID hash; one more molecule in the file moves none of the drawn ones out
    three = source(path, size=3, seed=1).rows("molecule").ids
    grown = table(tmp_path / "grown.tsv", "5000\t1-1-1\tX\t0\tCCN\tx\ty\tethanamine\tethylamine")
    assert set(source(grown, size=3, seed=1).rows("molecule").ids) <= set(three) | {"cid-5000"}
    with pytest.raises(BridgeError, match="size: 7 molecules asked"):
        source(path, size=7)


def test_a_malformed_line_or_a_repeated_cid_is_one_line(tmp_path) -> None:
    with pytest.raises(BridgeError, match=r"t.tsv:7: 3 fields"):
        source(table(tmp_path / "t.tsv", "1\t2\t3"))
    with pytest.raises(BridgeError, match=r"t.tsv:7: CID 702 again \(first on line 3\)"):
        source(table(tmp_path / "t.tsv", GOOD[2]))


def test_fingerprints_are_rdkit_s_own_and_bad_smiles_are_bad_items() -> None:
    from rdkit import Chem, DataStructs
    from rdkit.Chem import MACCSkeys, rdFingerprintGenerator

    smiles = ["CC(=O)OC1=CC=CC=C1C(=O)O", "C1CC(", "CCCCCCCC", "[C]", ""]
    morgan = load_encoder("rdkit:morgan", {"radius": 3, "size": 1024}).towers["molecule"]
    prepared = morgan.preprocess(smiles)
    assert prepared.ok.tolist() == [True, False, True, True, False]
    assert prepared.reasons[1] == "invalid SMILES 'C1CC('" and prepared.reasons[4] == "invalid SMILES ''"
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=3, fpSize=1024)
    good = np.array(smiles)[prepared.ok]
    want = np.stack([generator.GetCountFingerprintAsNumPy(Chem.MolFromSmiles(s)) for s in good])
    np.testing.assert_array_equal(morgan.encode(prepared.data), np.log1p(want.astype(np.float32)))
    assert want[1].max() > 1  # the octane chain counts its CH2 environments: counts, not bits

    bits = load_encoder("rdkit:morgan", {"counts": False, "transform": "none"}).towers["molecule"]
    assert set(np.unique(bits.encode(bits.preprocess(["CCCCCCCC"]).data))) == {0.0, 1.0}

    maccs = load_encoder("rdkit:maccs", {"transform": "none"}).towers["molecule"]
    prepared = maccs.preprocess(smiles)
    assert prepared.ok.tolist() == [True, False, True, False, False]  # a bare carbon atom sets no MACCS key
    assert prepared.reasons[3].startswith("empty fingerprint")
    expected = np.zeros(167)
    DataStructs.ConvertToNumpyArray(MACCSkeys.GenMACCSKeys(Chem.MolFromSmiles(smiles[0])), expected)
    np.testing.assert_array_equal(maccs.encode(prepared.data)[0], expected)
    with pytest.raises(BridgeError, match="radius, size and counts are Morgan's"):
        load_encoder("rdkit:maccs", {"radius": 3})


def test_identity_names_every_option() -> None:
    identity = load_encoder("rdkit:morgan", {"radius": 1, "size": 512, "counts": False}).identity()
    assert {k: identity[k] for k in ("model", "radius", "size", "counts", "transform")} == {
        "model": "rdkit:morgan", "radius": 1, "size": 512, "counts": False, "transform": "log1p"}
    assert identity["revision"].startswith("rdkit-")


def _project(tmp_path: Path, on_error: str = "fail") -> Path:
    project = tmp_path / "p"
    project.mkdir()
    table(project / "pubchem.tsv")
    write_params(project, {
        "datasets": {"pc": {"source": "pubchem", "options": {"path": "pubchem.tsv", "on_error": on_error,
                                                             "names": ["common", "iupac"]}}},
        "encoders": {"morgan": {"model": "rdkit:morgan", "options": {"size": 256}}},
        "extract": {"sets": {"pc-morgan-molecule": {"dataset": "pc", "encoder": "morgan",
                                                    "tower": "molecule"}}}})
    return project


def test_bad_molecule_input_on_the_cli_is_one_line_and_changes_nothing_written(tmp_path) -> None:
    project = _project(tmp_path)
    code, err = cli(project, "extract")
    assert code == 0, err
    before = tree_digest(project / "artifacts")
    for case in BAD:
        with (project / "pubchem.tsv").open("a") as f:
            f.write(BAD[case] + "\n")
        code, err = cli(project, "extract")
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert f"pubchem.tsv:{len(GOOD) + 1}: CID {BAD[case].split()[0]}" in err, err
        assert tree_digest(project / "artifacts") == before
        table(project / "pubchem.tsv")


def test_an_invalid_smiles_reaching_the_encoder_follows_extract_on_error() -> None:
    """A SMILES no source checked (a user's own source of molecule rows) is the encoder's bad item, as a
    corrupt image is: ``fail`` names its row, ``skip`` drops and records it."""
    from embridge.extract.encode import encode_rows
    from embridge.sources.base import Rows

    tower = load_encoder("rdkit:morgan", {"size": 256}).towers["molecule"]
    ids = np.array(["m1", "m2", "m3"])
    rows = Rows("molecule", ids, ["CCO", "C1CC(", "c1ccccc1"], ids, np.full(3, "train"), ids)
    with pytest.raises(BridgeError, match=r"^row 'm2': invalid SMILES 'C1CC\('"):
        encode_rows(tower, rows, 8, normalize=True, on_error="fail")
    keep, vectors, skipped = encode_rows(tower, rows, 8, normalize=True, on_error="skip")
    assert keep.tolist() == [0, 2] and skipped == [{"id": "m2", "reason": "invalid SMILES 'C1CC('"}]
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-6)
