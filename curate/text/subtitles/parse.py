"""The entry point: a subtitle file -> a Transcript, read (reading), its format detected (detect)
and handed to the reader of that format and layout.
"""

from __future__ import annotations

from collections import Counter

from curate.text.subtitles.ass import ass_cues
from curate.text.subtitles.auto_captions import auto_caption_words
from curate.text.subtitles.detect import _SRT_HEAD, _language_from_name, detect_format
from curate.text.subtitles.json3 import json3_words
from curate.text.subtitles.layout import caption_layout
from curate.text.subtitles.reading import MAX_SUBTITLE_BYTES, read_subtitle_text
from curate.text.subtitles.srt import srt_cues
from curate.text.subtitles.uploaded import cue_words
from curate.text.subtitles.vtt import vtt_cues
from curate.text.words import TranscriptError, looks_punctuated, make_transcript
from schemas import Transcript


def parse_subtitle_file(path: str, video_id: str, max_bytes: int = MAX_SUBTITLE_BYTES) -> Transcript:
    """A subtitle file (.vtt automatic or uploaded, .srt, .json3, .ass/.ssa) as a Transcript, with the
    repairs made on the way, the text encoding and the dialogue turns recorded in it.

    The format comes from the extension (else the content; a SubRip body under a .vtt name is read
    as SRT, "srt_body_in_vtt_file"); automatic captions vs uploaded subtitles from the content of
    the whole file (caption_layout). Raises TranscriptError naming the file and the problem (also
    for a path that is not a regular file or a file over ``max_bytes``).
    """
    path = str(path)
    repairs: Counter = Counter()
    language = _language_from_name(path)
    text, encoding = read_subtitle_text(path, video_id, repairs, language, max_bytes)
    fmt = detect_format(path, text)
    turns: tuple = ()
    if fmt == "vtt" and not text.lstrip().startswith("WEBVTT") and _SRT_HEAD.match(text.lstrip()):
        fmt = "srt"
        repairs["srt_body_in_vtt_file"] += 1
    if fmt in ("vtt", "srt"):
        if fmt == "vtt":
            cues, header_language = vtt_cues(text, path, video_id, repairs)
            language = header_language or language
        else:
            cues = srt_cues(text, path, video_id, repairs)
        layout = caption_layout(cues)
        if layout == "uploaded":
            words, turns = cue_words(cues, path, video_id, repairs)
        else:
            automatic = layout == "automatic"
            words = auto_caption_words(cues, path, video_id, repairs, estimate_ends=automatic)
        source = f"{fmt}_auto" if layout == "automatic" else fmt
    elif fmt == "json3":
        words, source = json3_words(text, path, video_id, repairs), "json3"
    elif fmt == "ass":  # authored subtitles: read as uploaded ones
        words, turns = cue_words(ass_cues(text, path, video_id, repairs), path, video_id, repairs)
        source = "ass"
    else:
        raise TranscriptError(
            "subtitle_unknown_format", f"{path}: not WebVTT, SRT, json3 or SubStation (ASS/SSA)", video_id=video_id
        )
    return make_transcript(
        words,
        video_id,
        source,
        punctuated=looks_punctuated(words),
        language=language,
        origin=path,
        repairs=repairs,
        encoding=encoding,
        turns=turns,
    )
