"""``rdkit:`` molecular fingerprints of SMILES strings: one ``molecule`` tower, no weights.

The standard weight-free molecule encoder of cheminformatics, computed with
RDKit: ``rdkit:morgan`` (circular Morgan / ECFP fingerprints, ``radius`` and
``size`` bits, ``counts`` of each hashed substructure or bits) and
``rdkit:maccs`` (the 166 MACCS structural keys, bits; RDKit's 167-long vector
whose bit 0 is always unset). ``transform`` shapes the values before
extraction's L2 normalisation: ``log1p`` damps the counts of frequent
substructures (a long alkyl chain would otherwise dominate the vector),
``none`` keeps them. Every option and the RDKit version are in the identity,
so another radius is another set.

Bad items, decided in ``preprocess`` like a corrupt image: a SMILES RDKit
cannot parse (``invalid SMILES``) and a molecule with no bit set (``empty
fingerprint``: a bare carbon atom sets no MACCS key, and a zero vector has no
direction to score). Extraction's ``on_error`` then fails naming the row or
records and drops it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np
from pydantic import Field

from embridge.core.errors import BridgeError
from embridge.encoders.base import Encoder, Options, Tower, parse_options
from embridge.encoders.preprocess import Prepared

KINDS = ("morgan", "maccs")


class RDKitOptions(Options):
    radius: int = Field(2, ge=0, le=6, description="Morgan radius (2 is ECFP4)")
    size: int = Field(2048, ge=8, le=65536, description="Morgan fingerprint length (bits)")
    counts: bool = Field(True, description="Morgan: count each substructure instead of setting a bit")
    transform: Literal["none", "log1p"] = "log1p"


@lru_cache(maxsize=8)
def _generator(radius: int, size: int) -> Any:
    from rdkit.Chem import rdFingerprintGenerator

    return rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=size)


@dataclass(frozen=True)
class Fingerprints:
    """SMILES -> float32 fingerprints ``[n_good, dim]``; unparsable SMILES and empty fingerprints are bad
    items.

    Plain values only, so it pickles into a worker like the image and audio preprocessors.
    """

    kind: str
    radius: int
    size: int
    counts: bool

    @property
    def dim(self) -> int:
        return 167 if self.kind == "maccs" else self.size

    def one(self, mol: Any) -> np.ndarray:
        if self.kind == "maccs":
            from rdkit import DataStructs
            from rdkit.Chem import MACCSkeys

            bits = np.zeros(167, dtype=np.float32)
            DataStructs.ConvertToNumpyArray(MACCSkeys.GenMACCSKeys(mol), bits)
            return bits
        generator = _generator(self.radius, self.size)
        if self.counts:
            return generator.GetCountFingerprintAsNumPy(mol)
        return generator.GetFingerprintAsNumPy(mol)

    def __call__(self, payloads: Any) -> Prepared:
        from rdkit import Chem, RDLogger

        RDLogger.DisableLog("rdApp.*")  # RDKit prints a parse error per bad SMILES; ours is a reason per row
        out = np.zeros((len(payloads), self.dim), dtype=np.float32)
        reasons = np.full(len(payloads), "", dtype=object)
        for i, smiles in enumerate(payloads):
            mol = Chem.MolFromSmiles(str(smiles)) if str(smiles).strip() else None
            if mol is None:
                reasons[i] = f"invalid SMILES {str(smiles)[:60]!r}"
                continue
            out[i] = self.one(mol)
            if not out[i].any():
                reasons[i] = f"empty fingerprint (no {self.kind} bit set) for {str(smiles)[:60]!r}"
        ok = reasons == ""
        return Prepared(out[ok], ok, reasons)


class MoleculeTower(Tower):
    name = modality = "molecule"

    def __init__(self, fingerprints: Fingerprints, transform: str) -> None:
        self._fingerprints, self._transform, self.dim = fingerprints, transform, fingerprints.dim

    @property
    def preprocess(self) -> Fingerprints:
        return self._fingerprints

    def encode(self, prepared: np.ndarray) -> np.ndarray:
        return np.log1p(prepared) if self._transform == "log1p" else prepared


class RDKitEncoder(Encoder):
    family = "rdkit"

    def __init__(self, kind: str, options: RDKitOptions) -> None:
        import rdkit

        if kind not in KINDS:
            raise BridgeError(f"encoder 'rdkit:{kind}': unknown fingerprint; known: {', '.join(KINDS)}")
        if kind == "maccs" and options.model_fields_set & {"radius", "size", "counts"}:
            raise BridgeError(f"encoder 'rdkit:{kind}': MACCS keys are 166 fixed bits; options radius, size "
                              f"and counts are Morgan's")
        fingerprints = Fingerprints(kind, options.radius, options.size, options.counts and kind == "morgan")
        shape = {"radius": options.radius, "size": options.size, "counts": fingerprints.counts} \
            if kind == "morgan" else {}
        self._identity = {"model": f"rdkit:{kind}", "revision": f"rdkit-{rdkit.__version__}", **shape,
                          "transform": options.transform}
        self.towers = {"molecule": MoleculeTower(fingerprints, options.transform)}

    def identity(self) -> dict[str, Any]:
        return self._identity


def load(model: str, options: dict[str, Any]) -> Encoder:
    return RDKitEncoder(model, parse_options(RDKitOptions, options, f"rdkit:{model}"))
