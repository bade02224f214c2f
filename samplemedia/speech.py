"""Speech with known sentence times: espeak-ng synthesizes every sentence on its own and its
leading/trailing silence is trimmed, so each sentence's start and end in the audio are exact; word
times inside a sentence are spread over that span by word length (approximate)."""

from __future__ import annotations

import re
import subprocess
import tempfile
import wave
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple, Sequence

import numpy as np

from curate.text.words import spread_times

SAMPLE_RATE = 22050  # espeak-ng's native rate
_SILENCE_THRESHOLD = 200  # int16 amplitude below which a sample counts as silence


class TruthWord(NamedTuple):
    text: str
    start: float
    end: float


class TruthSentence(NamedTuple):
    text: str
    start: float  # exact: first audible sample of the sentence
    end: float  # exact: last audible sample of the sentence
    words: tuple  # tuple[TruthWord, ...]; approximate times (see module docstring)


def _espeak_samples(text: str, voice: str, speed: int) -> np.ndarray:
    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(speed), "-w", f.name, "--", text],
            check=True,
            capture_output=True,
        )
        with wave.open(f.name) as w:
            assert w.getframerate() == SAMPLE_RATE and w.getsampwidth() == 2
            return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)


def _trim_silence(samples: np.ndarray) -> np.ndarray:
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > _SILENCE_THRESHOLD)
    if loud.size == 0:
        raise ValueError("espeak-ng produced no audible speech")
    return samples[loud[0] : loud[-1] + 1]


def _word_times(text: str, start: float, end: float) -> tuple:
    words = text.split()
    spans = spread_times([re.sub(r"[^\w']", "", w) for w in words], start, end)
    return tuple(TruthWord(w, a, b) for w, (a, b) in zip(words, spans))


def synthesize_speech(
    sentences: Sequence[str],
    *,
    pause: float = 0.6,
    lead_in: float = 0.5,
    voice: str = "en-us",
    speed: int = 165,
) -> tuple[np.ndarray, tuple]:
    """Speech of the sentences, one after another with ``pause`` seconds of silence between them.

    Returns (int16 samples at SAMPLE_RATE, tuple[TruthSentence]).
    """
    if not sentences:
        raise ValueError("no sentences to speak")
    with ThreadPoolExecutor(max_workers=2) as pool:
        clips = list(pool.map(lambda s: _trim_silence(_espeak_samples(s, voice, speed)), sentences))
    pieces, truth = [np.zeros(int(lead_in * SAMPLE_RATE), np.int16)], []
    position = len(pieces[0])
    gap = np.zeros(int(pause * SAMPLE_RATE), np.int16)
    for text, clip in zip(sentences, clips):
        start, end = position / SAMPLE_RATE, (position + len(clip)) / SAMPLE_RATE
        truth.append(TruthSentence(text, start, end, _word_times(text, start, end)))
        pieces += [clip, gap]
        position += len(clip) + len(gap)
    return np.concatenate(pieces), tuple(truth)
