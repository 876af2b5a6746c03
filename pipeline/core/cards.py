"""The two files that describe an artifact, as typed, versioned models: an embedding set's
``manifest.json`` and a bridge's ``bridge.json`` (its card).

Reading validates the whole file against its model, so a hand-edited or
damaged file is one line naming the key (``validation.one_line``), not a
``KeyError`` later. Version 1 of both is what every earlier release wrote;
fields added since (a shard's ``source_sha256``) are optional, so those
files still read.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field

from embridge.core.validation import StrictModel

MANIFEST_SCHEMA = 1
BRIDGE_FORMAT = 1
SHA256 = "^[0-9a-f]{64}$"


class ShardEntry(StrictModel):
    index: int = Field(ge=0)
    file: str
    rows: int = Field(ge=0)
    sha256: str = Field(pattern=SHA256)
    embedding_offset: int | None = Field(None, ge=0)
    skipped: list[dict[str, str]] = Field(default_factory=list)
    source_sha256: str | None = Field(None, description="fingerprint of the shard's source rows")


class Identity(StrictModel):
    """An encoder's or a source's identity: the named fields are checked, a family's own are kept."""

    model_config = ConfigDict(extra="allow", frozen=True, allow_inf_nan=False)


class EncoderIdentity(Identity):
    name: str
    tower: str
    dim: int = Field(gt=0, le=1_000_000)


class SourceIdentity(Identity):
    dataset: str
    kind: str
    rows: int | None = Field(None, ge=0)


class Manifest(StrictModel):
    """``manifest.json``, schema 1: what a set holds and the checksum of each shard."""

    schema_version: Literal[1] = MANIFEST_SCHEMA
    encoder: EncoderIdentity
    source: SourceIdentity
    dtype: Literal["float16", "float32"]
    format: Literal["parquet", "hdf5"]
    shard_rows: int = Field(gt=0)
    shards: list[ShardEntry]
    skipped: list[dict[str, str]] = Field(default_factory=list)
    complete: bool = False
    written_by: str = ""
    rows: int | None = Field(None, ge=0)
    partition: dict[str, int] | None = None


class CardSpace(StrictModel):
    encoder: str
    tower: str
    dim: int = Field(gt=0, le=1_000_000)


class WeightSpec(StrictModel):
    """One array of ``weights.safetensors`` as the fit wrote it: a header edited to another dtype is refused."""

    dtype: str
    shape: list[int]


class BridgeCard(StrictModel):
    """``bridge.json``, version 1: what a saved bridge is, checked on load so an edited card is one line."""

    format_version: Literal[1] = BRIDGE_FORMAT
    method: str
    params: dict[str, Any] = Field(default_factory=dict)
    spaces: dict[str, CardSpace]
    fitted_on: dict[str, str] = Field(default_factory=dict)
    curve: list[float] = Field(default_factory=list)
    info: dict[str, Any] = Field(default_factory=dict)
    #: per role, the transform as ``pipeline/bridges/graph.py`` ops (torch methods): applied without torch
    inference: dict[str, list[list[Any]]] | None = None
    weights_sha256: str = Field(pattern="^[0-9a-f]{64}$")
    #: every array's dtype and shape (cards written before this field lack it and are refused on load)
    weights: dict[str, WeightSpec] | None = None
    #: sha256 of the rest of the card (canonical JSON), which holds ``weights_sha256``: card, inference
    #: graph and weights verified as one snapshot; ``bridges/base.py`` ``card_digest``
    content_sha256: str | None = Field(None, pattern="^[0-9a-f]{64}$")


def set_fingerprint(manifest: dict[str, Any]) -> str:
    """Identity of an embedding set's content: the hash of its shard checksums (what a bridge's
    ``fitted_on`` records, and what eval compares it with)."""
    return hashlib.sha256("".join(s["sha256"] for s in manifest["shards"]).encode()).hexdigest()[:16]


def read_complete_manifest(directory: Path) -> dict[str, Any]:
    """The manifest of the complete set in ``directory``; a missing, unreadable or incomplete one is one line."""
    from embridge.core.errors import BridgeError

    manifest_file = directory / "manifest.json"
    try:
        manifest = json.loads(manifest_file.read_text())
    except FileNotFoundError:
        raise BridgeError(f"{manifest_file}: no embedding set here (run `bridge extract` first)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        where = f" ({e.msg} at line {e.lineno})" if isinstance(e, json.JSONDecodeError) else ""
        raise BridgeError(f"{manifest_file}: not valid JSON{where}") from None
    except OSError as e:
        raise BridgeError(f"{manifest_file}: cannot read it ({e.strerror or e})") from None
    if not isinstance(manifest, dict) or not manifest.get("complete"):
        raise BridgeError(f"{manifest_file}: set is incomplete (extraction was interrupted; rerun it)")
    return manifest
