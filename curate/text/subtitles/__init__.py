"""Subtitle files -> timed words: YouTube automatic captions (WebVTT with rolling cues and word
timings, or exported as SRT), uploaded WebVTT and SRT (karaoke and meeting transcripts included),
YouTube json3, and SubStation (.ass/.ssa) files, read as uploaded subtitles.

Real files carry local defects that players shrug off, so these parsers repair what is local and
count every repair by kind (recorded in Transcript.repairs): a text encoding other than UTF-8 (and
which code page was picked when several read the file), a SubRip body under a .vtt name, a stray
line or block without a timing line, a cue with a broken or reversed timing line, a time with one
or two fraction digits, cues out of order, cues shown together (merged) or overlapping (trimmed only
where automatic captions exported as SRT roll; elsewhere concurrent speech), sentence ends typed at
the start of right-to-left lines, a word timed before the word it follows (recognizer jitter), a
sentence said faster than anyone speaks (flagged). A file fails (a TranscriptError naming the file
and the problem) only when it is not a subtitle file at all (no header, mostly unreadable blocks,
not text), nothing usable is left, or it is absurd (times past a day, a speech rate no one reaches).

One module per job; the format modules import the shared ones (reading, cleaning, cues, layout),
never the package itself, and this __init__ imports them all to keep the names callers import:

* reading: the file's bytes -> text (size limit, encoding, invisible characters)
* cleaning: a cue's text -> its spoken words (clean_text), for every format
* cues: cue blocks -> timed cues (Cues), shared by WebVTT and SRT, with their time repairs
* vtt, srt: WebVTT and SubRip files -> cues
* ass: SubStation (ASS/SSA) files -> cues (the [Events] Dialogue lines by their Format line)
* layout: whether cues are automatic captions, other roll-up captions or uploaded subtitles
* auto_captions: rolling (automatic) captions -> words
* uploaded: uploaded subtitles' cues -> words and dialogue turns
* json3: YouTube json3 -> words
* detect: the format from the extension or content, the language from the file name
* parse: parse_subtitle_file, the entry point
"""

from __future__ import annotations

from curate.text.subtitles.ass import ass_cues
from curate.text.subtitles.auto_captions import auto_caption_words
from curate.text.subtitles.cleaning import clean_text
from curate.text.subtitles.cues import Cues
from curate.text.subtitles.detect import detect_format
from curate.text.subtitles.json3 import json3_words
from curate.text.subtitles.layout import caption_layout
from curate.text.subtitles.parse import parse_subtitle_file
from curate.text.subtitles.reading import MAX_SUBTITLE_BYTES, read_subtitle_text
from curate.text.subtitles.srt import srt_cues
from curate.text.subtitles.uploaded import cue_words
from curate.text.subtitles.vtt import vtt_cues

__all__ = [
    "MAX_SUBTITLE_BYTES",
    "Cues",
    "ass_cues",
    "auto_caption_words",
    "caption_layout",
    "clean_text",
    "cue_words",
    "detect_format",
    "json3_words",
    "parse_subtitle_file",
    "read_subtitle_text",
    "srt_cues",
    "vtt_cues",
]
