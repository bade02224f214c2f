"""Right-to-left subtitle lines (Arabic, Persian, Urdu, Hebrew) typed in visual order.

Many RTL subtitles were typed in editors that lay text out left to right: to make the final "." or
"!" show at the left end of the line, where an RTL sentence ends, it was typed at the logical start
(".المكان خطير هنا"), and a dialogue dash at the logical end. Players show such files as intended,
but read logically the sentence ends are at the line starts. A file that does this on most of its
punctuated RTL lines has its leading marks moved back to the end of the line (the trailing dash is a
turn mark wherever it stands, see curate.text.turns).
"""

from __future__ import annotations

import re
from typing import Sequence

_RTL_LETTER = "\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff"
_HAS_RTL = re.compile(f"[{_RTL_LETTER}]")
# sentence ends and commas of Latin and Arabic script, as typed at either end of a line
_MARKS = ".!?…,:;؟،؛۔"
# a line of RTL text that starts with marks (after markup and spaces), and one that ends with them
# (markup, spaces and quotes may stand before the marks; quotes, markup and digits between them and
# the first letter)
_STARTS_WITH_MARKS = re.compile(
    rf"^((?:[ \t\"«»“”]|<[^<>]*>)*)([{_MARKS}]+)[ \t]*(?=(?:<[^<>]*>|[^\w\s<]|\d)*[{_RTL_LETTER}])", re.M
)
_ENDS_WITH_MARKS = re.compile(rf"[{_RTL_LETTER}][{_MARKS}]+(?:[ \t]|<[^<>]*>)*$", re.M)


def is_visual_order(texts: Sequence[str]) -> bool:
    """Whether the cue texts are RTL lines typed in visual order: more of their lines start with a
    mark than end with one."""
    if all(map(str.isascii, texts)):
        return False
    joined = "\n".join(texts)
    if not _HAS_RTL.search(joined):
        return False
    return len(_STARTS_WITH_MARKS.findall(joined)) > len(_ENDS_WITH_MARKS.findall(joined))


def to_logical_order(text: str) -> str:
    """The text with the marks that start an RTL line moved to the line's end (before a dialogue
    dash typed there)."""
    return "\n".join(map(_line, text.split("\n")))


_TRAILING_DASH = re.compile(r"[ \t]*[-‐‑–—]+$")


def _line(line: str) -> str:
    m = _STARTS_WITH_MARKS.match(line)
    if m is None:
        return line
    rest = line[m.end() :].rstrip()
    dash = _TRAILING_DASH.search(rest)
    at = dash.start() if dash else len(rest)
    return m.group(1) + rest[:at] + m.group(2) + rest[at:]
