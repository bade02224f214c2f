"""Invisible characters (C0/C1 controls, zero-width and bidirectional format characters) never reach a
transcript's words, in whatever form a subtitle file or ASR carries them, and each one is counted."""

from __future__ import annotations

import json
import sys
import unicodedata

import pytest

from curate.text import parse_subtitle_file, transcript_from_asr
from curate.text.invisible import REPAIR, strip_invisible, strip_invisible_words

# format characters that are drawn or part of a word's spelling: kept
KEPT_FORMAT = {
    0x200C,
    0x200D,
    *range(0x0600, 0x0606),
    0x06DD,
    0x070F,
    0x0890,
    0x0891,
    0x08E2,
    0x110BD,
    0x110CD,
    *range(0x13430, 0x13439),
}


def _repairs(transcript) -> dict:
    return dict(transcript.repairs)


def test_every_control_and_invisible_format_character_goes_and_the_rest_stays():
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        category = unicodedata.category(char)
        text, count = strip_invisible(f"a{char}b")
        if char in "\t\n\r":
            assert (text, count) == (f"a{char}b", 0)
        elif category == "Cc" or (category == "Cf" and code not in KEPT_FORMAT):
            assert text in ("ab", "a b") and count == 1, hex(code)
            assert (text == "a b") == char.isspace(), hex(code)  # a whitespace control still parts words
        else:
            assert (text, count) == (f"a{char}b", 0), hex(code)


def test_words_left_empty_are_dropped_with_their_indices():
    assert strip_invisible_words(["plain", "words"]) is None
    assert strip_invisible_words(["a\u200b", "\u202e", "b\x00c", "\u200dd"]) == (["a", "bc", "\u200dd"], [0, 2, 3], 3)


HOSTILE_CUES = [
    "hello\x00 world",
    "\u202ereversed text",
    "zero\u200bwidth split",
    "\u200b \ufeff",
    "tab\tand\x0bvertical",
]


def _vtt(texts) -> str:
    cues = [f"00:00:{2 * i:02d}.000 --> 00:00:{2 * i + 1:02d}.500\n{t}" for i, t in enumerate(texts)]
    return "WEBVTT\n\n" + "\n\n".join(cues) + "\n"


def _srt(texts) -> str:
    cues = [f"{i + 1}\n00:00:{2 * i:02d},000 --> 00:00:{2 * i + 1:02d},500\n{t}" for i, t in enumerate(texts)]
    return "\n\n".join(cues) + "\n"


@pytest.mark.parametrize("fmt", ["vtt", "srt"])
def test_raw_characters_in_cue_text_are_taken_out_before_words_are_cut(tmp_path, fmt):
    path = tmp_path / f"v.en.{fmt}"
    path.write_text((_vtt if fmt == "vtt" else _srt)(HOSTILE_CUES), encoding="utf-8")
    transcript = parse_subtitle_file(str(path), "v")
    assert [w.text for w in transcript.words] == [
        "hello",
        "world",
        "reversed",
        "text",
        "zerowidth",
        "split",
        "tab",
        "and",
        "vertical",
    ]
    assert _repairs(transcript)[REPAIR] == 6


def test_escaped_and_entity_forms_are_taken_out_of_the_words(tmp_path):
    """json3 carries them as \\u escapes and WebVTT as HTML entities: they appear only once decoded."""
    events = [{"tStartMs": 2000 * i, "dDurationMs": 1500, "segs": [{"utf8": t}]} for i, t in enumerate(HOSTILE_CUES)]
    path = tmp_path / "v.en.json3"
    path.write_text(json.dumps({"events": events}), encoding="ascii")  # every non-ASCII char escaped
    transcript = parse_subtitle_file(str(path), "v")
    assert [w.text for w in transcript.words] == [
        "hello",
        "world",
        "reversed",
        "text",
        "zerowidth",
        "split",
        "tab",
        "and",
        "vertical",
    ]
    assert _repairs(transcript)[REPAIR] == 5  # the vertical tab is whitespace: it parted two words
    entities = tmp_path / "e.en.vtt"
    entities.write_text(_vtt(["odd&#x202E;word &#x200B; end", "nul&#0;here"]), encoding="utf-8")
    words = parse_subtitle_file(str(entities), "e").words
    assert [w.text for w in words] == ["oddword", "end", "nul\ufffdhere"]  # html.unescape: &#0; is U+FFFD


def test_asr_words_lose_them_too():
    segments = [
        {
            "words": [
                {"word": "hi\u200b", "start": 0.0, "end": 0.4},
                {"word": "\u202e", "start": 0.4, "end": 0.5},
                {"word": "there", "start": 0.5, "end": 0.9},
            ]
        }
    ]
    transcript = transcript_from_asr(segments, "v", "tiny.en")
    assert [(w.text, w.start) for w in transcript.words] == [("hi", 0.0), ("there", 0.5)]
    assert _repairs(transcript)[REPAIR] == 2
