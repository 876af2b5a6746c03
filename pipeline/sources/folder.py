"""``image_folder`` / ``audio_folder`` sources: one subfolder per class.

``path/<class>/<file>`` gives an item labelled ``<class>`` whose id and group
are its path relative to ``path``; files directly under ``path`` are
unlabelled. Files are listed, not opened: decoding happens in extraction's
worker processes, where a missing or corrupt file is a bad item handled by
``extract.on_error``. Caption templates and class prompts add text rows as
for any :class:`ItemSource`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from embridge.core.errors import BridgeError
from embridge.sources.base import ItemSource, Rows, SourceOptions, assign_splits, parse_source_options

EXTENSIONS = {
    "image": [".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"],
    "audio": [".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif"],
}


class FolderOptions(SourceOptions):
    path: str
    extensions: list[str] | None = None  # default: common image or audio suffixes
    captions: list[str] = Field(default_factory=list, description="caption templates with '{}'")
    class_names: dict[str, str] = Field(default_factory=dict)
    test_fraction: float = Field(0.2, ge=0.0, le=1.0)
    seed: int = 0


def scan(root: Path, extensions: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Sorted relative paths of the media files under ``root`` and their class (first subfolder)."""
    wanted = {e.lower() for e in extensions}
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                   if p.suffix.lower() in wanted and not any(part.startswith(".") for part in p.relative_to(root).parts))
    rel = np.asarray(files, dtype=str)
    parts = np.char.partition(rel, "/") if len(rel) else np.zeros((0, 3), dtype=str)
    labels = np.where(parts[:, 1] == "/", parts[:, 0], "") if len(rel) else rel
    return rel, labels.astype(str)


def _load(name: str, modality: str, options: dict[str, Any], class_prompts: list[str]) -> ItemSource:
    opts: FolderOptions = parse_source_options(FolderOptions, options, name)
    root = Path(opts.path)
    if not root.is_dir():
        raise BridgeError(f"datasets.{name}.options.path: {root} is not a directory")
    rel, labels = scan(root, opts.extensions or EXTENSIONS[modality])
    if not len(rel):
        raise BridgeError(f"datasets.{name}: no {modality} files under {root} "
                          f"(extensions {opts.extensions or EXTENSIONS[modality]})")
    paths = np.char.add(f"{root.as_posix()}/", rel).astype(object)
    items = Rows(modality, rel, paths, labels, assign_splits(rel, opts.test_fraction, opts.seed), rel)
    return ItemSource(name, modality, items, opts.captions, class_prompts, opts.class_names)


def load_images(name: str, options: dict[str, Any], class_prompts: list[str]) -> ItemSource:
    return _load(name, "image", options, class_prompts)


def load_audio(name: str, options: dict[str, Any], class_prompts: list[str]) -> ItemSource:
    return _load(name, "audio", options, class_prompts)
