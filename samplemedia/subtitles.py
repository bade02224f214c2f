"""The subtitles a download of the speech would give, in every format: YouTube automatic captions
(WebVTT with word timings, json3), manual WebVTT and SRT."""

from __future__ import annotations

import json
import re
from typing import Sequence

from samplemedia.speech import TruthSentence, TruthWord

_AUTO_LINE_CHARS = 38  # YouTube automatic captions wrap lines at about this width
_MANUAL_CUE_WORDS = 12  # manual subtitles: at most this many words on screen


def _vtt_time(t: float) -> str:
    ms = int(round(t * 1000))
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def _srt_time(t: float) -> str:
    return _vtt_time(t).replace(".", ",")


def _caption_word(text: str) -> str:
    """How YouTube's recognizer writes a word: lowercase, no punctuation (apostrophes kept)."""
    return re.sub(r"[^\w']", "", text.lower())


def _auto_lines(sentences: Sequence[TruthSentence]) -> list[list[TruthWord]]:
    """The caption lines of YouTube automatic captions: words wrapped at ~38 characters, across
    sentence boundaries (the recognizer knows nothing of sentences)."""
    lines: list[list[TruthWord]] = [[]]
    for word in (w for s in sentences for w in s.words):
        word = word._replace(text=_caption_word(word.text))
        if not word.text:
            continue
        width = sum(len(w.text) + 1 for w in lines[-1]) + len(word.text)
        if lines[-1] and width > _AUTO_LINE_CHARS:
            lines.append([])
        lines[-1].append(word)
    return [line for line in lines if line]


def auto_vtt(sentences: Sequence[TruthSentence]) -> str:
    """YouTube automatic captions as yt-dlp saves them: each cue shows the previous line plain and
    the new line with ``<time><c> word</c>`` tags (the first word untagged, at the cue start); a
    10 ms cue then shows the finished line alone before the next cue rolls it up."""
    lines = _auto_lines(sentences)
    out = ["WEBVTT", "Kind: captions", "Language: en", ""]
    previous = " "
    for i, line in enumerate(lines):
        start = line[0].start
        end = lines[i + 1][0].start - 0.010 if i + 1 < len(lines) else line[-1].end
        timed = line[0].text + "".join(f"<{_vtt_time(w.start)}><c> {w.text}</c>" for w in line[1:])
        plain = " ".join(w.text for w in line)
        out += [f"{_vtt_time(start)} --> {_vtt_time(end)} align:start position:0%", previous, timed, ""]
        out += [f"{_vtt_time(end)} --> {_vtt_time(end + 0.010)} align:start position:0%", plain, " ", ""]
        previous = plain
    return "\n".join(out) + "\n"


def _manual_cues(sentences: Sequence[TruthSentence]) -> list[tuple[float, float, str]]:
    """Uploaded subtitles: punctuated text, one sentence per cue, long sentences split into cues of
    at most _MANUAL_CUE_WORDS words, each cue timed from its first word's start to its last word's end."""
    cues = []
    for sentence in sentences:
        words = sentence.words
        for i in range(0, len(words), _MANUAL_CUE_WORDS):
            chunk = words[i : i + _MANUAL_CUE_WORDS]
            cues.append((chunk[0].start, chunk[-1].end, " ".join(w.text for w in chunk)))
    return cues


def _wrap(text: str, width: int = 42) -> str:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return "\n".join(lines + [line])


def manual_vtt(sentences: Sequence[TruthSentence]) -> str:
    out = ["WEBVTT", ""]
    for n, (start, end, text) in enumerate(_manual_cues(sentences), 1):
        out += [str(n), f"{_vtt_time(start)} --> {_vtt_time(end)}", _wrap(text), ""]
    return "\n".join(out) + "\n"


def srt(sentences: Sequence[TruthSentence]) -> str:
    out = []
    for n, (start, end, text) in enumerate(_manual_cues(sentences), 1):
        out += [str(n), f"{_srt_time(start)} --> {_srt_time(end)}", _wrap(text), ""]
    return "\n".join(out) + "\n"


def auto_json3(sentences: Sequence[TruthSentence]) -> str:
    """YouTube's json3 automatic captions: a window event, then per caption line an event whose
    segs carry the words with tOffsetMs relative to the event, and an "aAppend" newline event."""
    lines = _auto_lines(sentences)
    ms = lambda t: int(round(t * 1000))  # noqa: E731
    events = [
        {
            "tStartMs": 0,
            "dDurationMs": ms(lines[-1][-1].end) + 1000 if lines else 0,
            "id": 1,
            "wpWinPosId": 1,
            "wsWinStyleId": 1,
        }
    ]
    for i, line in enumerate(lines):
        start = ms(line[0].start)
        shown_until = ms(lines[i + 2][0].start) if i + 2 < len(lines) else ms(line[-1].end) + 500
        segs = [{"utf8": line[0].text, "acAsrConf": 0}]
        segs += [{"utf8": f" {w.text}", "tOffsetMs": ms(w.start) - start, "acAsrConf": 0} for w in line[1:]]
        events.append({"tStartMs": start, "dDurationMs": shown_until - start, "wWinId": 1, "segs": segs})
        next_start = ms(lines[i + 1][0].start) if i + 1 < len(lines) else ms(line[-1].end)
        events.append(
            {
                "tStartMs": next_start - 10,
                "dDurationMs": 10 if i + 1 < len(lines) else 500,
                "wWinId": 1,
                "aAppend": 1,
                "segs": [{"utf8": "\n"}],
            }
        )
    doc = {
        "wireMagic": "pb3",
        "pens": [{}],
        "wsWinStyles": [{}, {"mhModeHint": 2, "juJustifCode": 0, "sdScrollDir": 3}],
        "wpWinPositions": [{}, {"apPoint": 6, "ahHorPos": 20, "avVerPos": 100, "rcRows": 2, "ccCols": 40}],
        "events": events,
    }
    return json.dumps(doc, indent=1)
