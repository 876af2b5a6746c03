"""The "your own data" walk-through (docs/guides/your-own-data.md, linked from the README), pasted as a user
would: its bash block runs in an empty folder
(real MNIST digits in a Parquet folder, MiniLM with a prompt, EfficientNet-lite0, a ridge bridge, embed, search)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from bridge_project import env

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def walkthrough() -> str:
    """The first bash block of the guide's step-by-step section."""
    text = (REPO / "docs/guides/your-own-data.md").read_text()
    section = text[text.index("## Step by step"):]
    return re.search(r"```bash\n(.*?)```", section, re.DOTALL).group(1)


def test_the_readme_walkthrough_runs_as_pasted(tmp_path: Path) -> None:
    done = subprocess.run(["bash", "-e", "-c", walkthrough()], cwd=tmp_path, env=env(tmp_path), capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    project = tmp_path / "my-digits"
    metrics = json.loads((project / "artifacts/metrics/digits-zeroshot.json").read_text())
    assert metrics["top1"] > 0.5  # 10 classes: chance is 0.1 (0.64 when the walk-through was written)
    first = re.search(r"│\s+1 │ (\S+)\s+│ (\S+)\s+│", done.stdout)
    assert first and first.group(2) == "7", done.stdout[-2000:]  # "a handwritten digit 7" finds a 7 first
    manifest = json.loads((project / "artifacts/embeddings/digits/anchor/text/manifest.json").read_text())
    assert "Represent this caption of an image: " in json.dumps(manifest)  # the prompt is in the encoder identity
    sevens = np.load(project / "sevens.npy")
    assert sevens.shape == (1, 384) and abs(np.linalg.norm(sevens) - 1) < 1e-3
