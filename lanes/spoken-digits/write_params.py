"""Write this lane's params.yaml: numbers read by real voices, MNIST digits and the number words, in
MiniLM's text space; EmergentBridge, its anchor-only ablation and a ridge route; three speaker folds.

The lane is a grid (fold x method), so its params are written rather than typed: edit the constants here,
run ``python write_params.py`` in this folder, then ``bridge dvc`` (``make spoken-digits`` does all of it).

* Data (``spoken_digits`` source): Asterisk's 8 voices of 7 speakers read the numbers 0-20 and 30-90
  (Debian packages, ``make spoken-digits-setup``); 1,000 MNIST digits (30 % test); the English words as
  text ("seven", "the number seven"). Groups are the numbers: images pair with words, clips pair with
  words, and audio <-> image is never paired (EmergentBridge's emergent setting).
* A seed is a speaker fold (leave-speakers-out): fold k's clips of ``FOLDS[k]`` are test, the others
  train, and its torch bridges train with seed k. Every speaker is tested in exactly one fold, so the mean
  over the folds covers every voice and the spread is the speakers' (and the seed's) together. Images and
  words are one dataset for all folds (``words``): a bridge pairs rows across datasets by group.
* Bridges per fold: ``emergent`` (EmergentBridge, lambda 0.1, diffusion proxies of the images; the images
  enter the text space by a ridge map on their (word, image) pairs, ``bound_map: ridge``), ``anchor``
  (the same with lambda 0: the anchor-only ablation) and ``ridge`` (closed form audio -> words, with the
  shared ``image-ridge`` for the images). TextME's route does not apply: it needs an audio encoder with a
  text tower (a CLAP), and no such model is packaged offline.
* Tasks per fold: the emergent matrix (text, test images, unheard voices; numbers 0-9, R@1 both ways) for
  each method, and zero-shot of the unheard voices' 28 numbers against the words' prompts.
"""

from __future__ import annotations

from pathlib import Path

import yaml

#: fold -> the speakers it holds out (test); every speaker once
FOLDS = {0: ["allison", "june"],              # en-US and es-MX (Allison), fr-CA (June)
         1: ["menardi", "es-co"],              # it (Menardi; Carlo stays in training), es-CO
         2: ["carlo", "ivrvoice", "armelle"]}  # it (Carlo, the one male voice), ru, fr (Armelle)
DIGITS = [str(i) for i in range(10)]  # the numbers MNIST has: the emergent matrices' rows
HEAD = {"bound_map": "ridge", "epochs": 100, "batch_size": 64, "threads": 1}
METHODS = {"emergent": {"proxy_weight": 0.1}, "anchor": {"proxy_weight": 0.0}}


def params() -> dict:
    datasets = {"words": {"source": "spoken_digits",
                          "options": {"voices": {}, "images": 1000, "texts": ["{}", "the number {}"], "seed": 0},
                          "class_prompts": ["{}", "the number {}", "the digit {}"]}}
    sets = {"words-text": {"dataset": "words", "encoder": "minilm", "tower": "text"},
            "words-image": {"dataset": "words", "encoder": "effnet", "tower": "image"}}
    bridges = {"image-ridge": {"method": "linear", "inputs": {"source": "words-image", "target": "words-text"},
                               "params": {"alpha": 10.0}}}
    tasks = {"image-zeroshot": {"kind": "zeroshot", "query": {"set": "words-image", "bridge": "image-ridge"},
                                "gallery": {"set": "words-text", "bridge": "image-ridge",
                                            "subset": {"labels": DIGITS}}}}
    for k, speakers in FOLDS.items():
        audio = f"audio-s{k}"
        datasets[f"spoken-s{k}"] = {"source": "spoken_digits", "options": {"images": 0, "test_speakers": speakers}}
        sets[audio] = {"dataset": f"spoken-s{k}", "encoder": "whisper", "tower": "audio"}
        for method, extra in METHODS.items():
            bridges[f"{method}-s{k}"] = {"method": "emergent", "params": {**extra, **HEAD, "seed": k},
                                         "inputs": {"anchor": "words-text", "bound": "words-image", "new": audio}}
        bridges[f"ridge-s{k}"] = {"method": "linear", "inputs": {"source": audio, "target": "words-text"},
                                  "params": {"alpha": 10.0}}
        for method in (*METHODS, "ridge"):
            bridge = f"{method}-s{k}"
            tasks[f"matrix-{method}-s{k}"] = {
                "kind": "emergent",
                "query": {"set": "words-text", "bridge": bridge, "subset": {"labels": DIGITS}},
                "sides": [{"set": "words-image", "bridge": "image-ridge" if method == "ridge" else bridge},
                          {"set": audio, "bridge": bridge, "subset": {"labels": DIGITS}}]}
            tasks[f"zeroshot-{method}-s{k}"] = {"kind": "zeroshot", "query": {"set": audio, "bridge": bridge},
                                                "gallery": {"set": "words-text", "bridge": bridge}}
        tasks[f"geometry-s{k}"] = {"kind": "geometry", "query": {"set": audio}, "gallery": {"set": "words-text"},
                                   "options": {"k": 5}}
    return {
        "datasets": datasets,
        "encoders": {
            "minilm": {"model": "st:sentence-transformers/all-MiniLM-L6-v2", "options": {"batch_size": 128}},
            "effnet": {"model": "efficientnet:efficientnet-lite0", "options": {"batch_size": 32}},
            "whisper": {"model": "whisper:tiny.en", "options": {"batch_size": 8}},
        },
        "extract": {"format": "parquet", "dtype": "float32", "shard_rows": 250000, "normalize": True, "on_error": "fail",
                    "sets": sets},
        "fit": {"bridges": bridges},
        "eval": {"index": "exact", "ks": [1, 5, 10], "tasks": tasks},
    }


if __name__ == "__main__":
    out = Path(__file__).with_name("params.yaml")
    header = ("# Written by write_params.py (the lane's grid: edit it there, then `python write_params.py` and\n"
              "# `bridge dvc`). The spoken-digits lane: docs/lanes/spoken-digits.md.\n")
    out.write_text(header + yaml.safe_dump(params(), sort_keys=False, width=120))
    print(f"wrote {out}")
