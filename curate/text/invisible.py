"""Characters that show nothing, taken out of transcript text before it is cut into words.

C0 and C1 control characters and the Unicode format characters that render as nothing (zero-width
space U+200B, the bidirectional marks, embeddings, overrides and isolates such as U+202E, the word
joiner, a BOM inside the text, soft hyphens, tag characters) carry no speech, yet reached
clips.parquet and the shards' .txt: a NUL ends a C string, U+202E shows what follows it reversed,
U+200B splits or hides a word from a text filter. Every character taken out is counted (the
transcript repair "invisible_characters_removed").

Kept: tab and newline (what the subtitle parsers cut lines and cues at); U+200C/U+200D (zero-width
non-joiner and joiner), part of the spelling of Persian and Indic words and of emoji sequences; and the
format characters that are drawn (Arabic number signs, the end of ayah, Egyptian hieroglyph
controls). Controls that Python counts as whitespace (vertical tab, form feed, the separators
U+001C-U+001F, NEL) become a space, so that the words on either side stay two words.

One place for this, so that whoever strips more (more format characters, other invisible marks)
extends these two classes and every caller gets it.
"""

from __future__ import annotations

import re
from typing import Optional

_WHITESPACE_CONTROLS = "\x0b\x0c\x1c-\x1f\x85"
_REMOVED = (
    "\x00-\x08\x0e-\x1b\x7f\x80-\x84\x86-\x9f"  # C0 and C1 controls that are not whitespace
    "\u00ad\u061c\u180e\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"  # invisible format (Cf)
)
_INVISIBLE = re.compile(f"[{_WHITESPACE_CONTROLS}{_REMOVED}]")
_TO_SPACE = re.compile(f"[{_WHITESPACE_CONTROLS}]")
_TO_NOTHING = re.compile(f"[{_REMOVED}]")
# the ASCII ones, for the usual (ASCII) text: bytes.translate finds them ten times faster than a regex
_ASCII_INVISIBLE = bytes(c for c in range(128) if _INVISIBLE.match(chr(c)))
REPAIR = "invisible_characters_removed"


def has_invisible(text: str) -> bool:
    if text.isascii():
        data = text.encode("ascii")
        return len(data.translate(None, _ASCII_INVISIBLE)) != len(data)
    return _INVISIBLE.search(text) is not None


def strip_invisible(text: str) -> tuple[str, int]:
    """(``text`` without invisible characters, how many were taken out or made a space)."""
    if not has_invisible(text):  # the usual case: one scan, no copy
        return text, 0
    text, spaced = _TO_SPACE.subn(" ", text)
    text, removed = _TO_NOTHING.subn("", text)
    return text, spaced + removed


def strip_invisible_words(words: list) -> Optional[tuple[list, list, int]]:
    """For words that hold invisible characters: (the words that are left, their indices in
    ``words``, how many characters were taken out); None when none holds any."""
    if not has_invisible("\n".join(words)):  # the usual case: one scan
        return None
    kept, indices, count = [], [], 0
    for i, word in enumerate(words):
        word, n = strip_invisible(word)
        count += n
        if word.strip():
            kept.append(word.strip())
            indices.append(i)
    return kept, indices, count
