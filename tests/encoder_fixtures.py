"""Tiny randomly initialised models of the real architectures, saved the way users save theirs.

Each builder writes a directory that the real adapter loads through the real
loading code (``SentenceTransformer(path)``, ``AutoModel.from_pretrained``,
``ClapModel.from_pretrained``, an onnxruntime session), so the tests exercise
exactly what a user's checkpoint goes through, offline and in seconds.
Also: small media files and a helper that runs ``bridge`` in-process.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

WORDS = ["a", "photo", "of", "the", "digit", "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "cat", "dog", "bird", "sound", "barking", "meowing", "chirping", "picture", "number", "handwritten", "poison", "long", "short", "text", "here", "is"]
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def save_tokenizer(path: Path, model_max_length: int = 32) -> Any:
    """A BERT-style WordPiece tokenizer over a small vocabulary, saved as ``tokenizer.json`` + config.

    Built with the ``tokenizers`` library so it loads through ``AutoTokenizer`` in transformers 4 and 5.
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(SPECIALS + list(WORDS))}
    core = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    core.normalizer = normalizers.BertNormalizer(lowercase=True)
    core.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    core.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="[UNK]", pad_token="[PAD]",
                                        cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
                                        model_max_length=model_max_length)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(path))
    return tokenizer


def tiny_bert_config() -> Any:
    from transformers import BertConfig

    return BertConfig(vocab_size=len(SPECIALS) + len(WORDS), hidden_size=32, num_hidden_layers=2,
                      num_attention_heads=4, intermediate_size=37, max_position_embeddings=64)


def build_st(path: Path, poison: bool = False) -> Path:
    """A sentence-transformers model (BERT + mean pooling) saved with ``save``.

    ``poison=True`` sets the embedding of the word "poison" to NaN, as a
    corrupt checkpoint would: texts containing it give NaN vectors.
    """
    import torch
    from sentence_transformers import SentenceTransformer, models
    from transformers import BertModel

    torch.manual_seed(0)
    bert_dir = path.parent / f"{path.name}-bert"
    tokenizer = save_tokenizer(bert_dir)
    bert = BertModel(tiny_bert_config())
    if poison:
        with torch.no_grad():
            bert.embeddings.word_embeddings.weight[tokenizer.convert_tokens_to_ids("poison")] = float("nan")
    bert.save_pretrained(str(bert_dir))
    transformer = models.Transformer(str(bert_dir), max_seq_length=32)
    pooling = models.Pooling(bert.config.hidden_size, pooling_mode="mean")
    SentenceTransformer(modules=[transformer, pooling], device="cpu").save(str(path))
    return path


def build_clip(path: Path) -> Path:
    """HF ``CLIPModel`` (ViT + text transformer) + tokenizer + ``CLIPImageProcessor`` config."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    torch.manual_seed(0)
    tokenizer = save_tokenizer(path)
    text = {"vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2,
            "num_attention_heads": 4, "max_position_embeddings": 32, "bos_token_id": 2, "eos_token_id": 3,
            "pad_token_id": 0}
    vision = {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 4,
              "image_size": 32, "patch_size": 8}
    CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)).save_pretrained(str(path))
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(str(path))
    return path


CLAP_RATE = 16_000


def build_clap(path: Path) -> Path:
    """HF ``ClapModel`` (HTSAT audio + RoBERTa text) + tokenizer + ``ClapFeatureExtractor`` at 16 kHz, 1 s."""
    import torch
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel

    torch.manual_seed(0)
    tokenizer = save_tokenizer(path)
    text = {"vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2,
            "num_attention_heads": 4, "max_position_embeddings": 40, "pad_token_id": 0, "projection_dim": 16}
    audio = {"spec_size": 64, "num_mel_bins": 16, "window_size": 4, "patch_size": 2, "patch_stride": 2,
             "depths": [1, 1], "num_attention_heads": [2, 2], "hidden_size": 32, "patch_embeds_hidden_size": 16,
             "projection_dim": 16, "enable_fusion": False}
    ClapModel(ClapConfig(text_config=text, audio_config=audio, projection_dim=16)).save_pretrained(str(path))
    ClapFeatureExtractor(feature_size=16, sampling_rate=CLAP_RATE, hop_length=160, max_length_s=1,
                         fft_window_size=400, truncation="rand_trunc", padding="repeatpad").save_pretrained(str(path))
    return path


def build_onnx(path: Path) -> Path:
    """A BERT text model exported to ``model.onnx`` (last_hidden_state output) + its tokenizer files."""
    import torch
    from transformers import BertModel

    class LastHidden(torch.nn.Module):
        def __init__(self, bert: BertModel) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids).last_hidden_state

    torch.manual_seed(0)
    save_tokenizer(path)
    model = BertModel(tiny_bert_config()).eval()
    ids = torch.ones(2, 5, dtype=torch.long)
    axes = {0: "batch", 1: "tokens"}
    torch.onnx.export(LastHidden(model), (ids, torch.ones_like(ids), torch.zeros_like(ids)),
                      str(path / "model.onnx"), input_names=["input_ids", "attention_mask", "token_type_ids"],
                      output_names=["last_hidden_state"], dynamo=False,
                      dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes,
                                    "last_hidden_state": axes})
    torch.save(model.state_dict(), path.parent / f"{path.name}-torch.pt")
    return path


def write_images(root: Path, names: dict[str, tuple[int, int, int]], size: tuple[int, int] = (20, 28)) -> None:
    """PNG files ``root/<name>`` filled with a colour and a seeded noise pattern."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, colour in names.items():
        file = root / name
        file.parent.mkdir(parents=True, exist_ok=True)
        pixels = np.clip(np.asarray(colour) + rng.integers(-40, 40, (*size, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(file)


def write_wavs(root: Path, names: dict[str, float], rate: int = 8_000, seconds: float = 0.5) -> None:
    """WAV files ``root/<name>``: a sine at the given frequency (written at ``rate``, not the model's)."""
    import soundfile

    t = np.arange(int(rate * seconds)) / rate
    for name, freq in names.items():
        file = root / name
        file.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(file, (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32), rate)


def write_params(path: Path, datasets: dict, encoders: dict, sets: dict, **extract: Any) -> Path:
    """A params.yaml with only the given datasets/encoders/sets (extract options as keywords)."""
    params = {"datasets": datasets, "encoders": encoders,
              "extract": {"batch_size": 4, "shard_rows": 1000, **extract, "sets": sets}}
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def run_bridge(args: list[str], cwd: Path, monkeypatch: pytest.MonkeyPatch,
               capsys: pytest.CaptureFixture) -> tuple[int, str]:
    """``bridge ARGS`` in ``cwd`` through the real entry point: (exit code, stderr)."""
    from embridge.stages.cli import main

    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "argv", ["bridge", *args])
    code = 0
    try:
        main()
    except SystemExit as e:
        code = int(e.code or 0)
    return code, capsys.readouterr().err


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers.utils import logging

    from embridge.encoders.runtime import quiet_transformers

    quiet_transformers()  # saving prints progress bars that would land in a test's captured stderr
    logging.get_verbosity()  # binds transformers' log handler to the session's stderr, not one test's capsys
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def st_model(models_dir: Path) -> Path:
    return build_st(models_dir / "st")


@pytest.fixture(scope="session")
def st_poisoned(models_dir: Path) -> Path:
    return build_st(models_dir / "st-poisoned", poison=True)


@pytest.fixture(scope="session")
def clip_model(models_dir: Path) -> Path:
    return build_clip(models_dir / "clip")


@pytest.fixture(scope="session")
def clap_model(models_dir: Path) -> Path:
    return build_clap(models_dir / "clap")


@pytest.fixture(scope="session")
def onnx_model(models_dir: Path) -> Path:
    pytest.importorskip("onnx", reason="exporting the tiny model to ONNX needs the onnx package (pip install onnx)")
    return build_onnx(models_dir / "onnx")
