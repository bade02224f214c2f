"""The spoken words of a cue's text, for every format: markup tags, SubStation codes and escapes,
entities, speaker marks, sound annotations and tokens of punctuation alone taken out
(clean_text), and the quick checks of whether a text holds anything clean_text acts on.
"""

from __future__ import annotations

import html
import re

from curate.text.words import join_words

_TAG = re.compile(r"<[^<>]*>")
_BRACE_TAG = re.compile(r"\{[^{}]*\}")  # SubStation / MicroDVD codes left in SRT files: {\an8}, {Y:i}
# Sound annotations: [Music] (also across lines, and one left open or closed at the text's edge),
# (APPLAUSE), a line that is all in parentheses ("(upbeat music)"), music notes.
_ANNOTATION = re.compile(
    r"\[[^\[\]]*\]|^[^\[\]]*\]|\[[^\[\]]*$|\(\s*[A-Z][A-Z0-9 '\-]*\)|^[ \t]*\([^()\n]*\)[ \t]*$|[♪♫♬]",
    re.M,
)
_ANNOTATION_MARK = re.compile("[][(♪♫♬]")
# ">>" (speaker change), "- " (dialogue dash) and "NAME:" labels at the start of a line
_SPEAKER_AT_LINE_START = re.compile(
    r"^[ \t]*(?:(?:>>|--?(?=\s))[ \t]*)*(?:[A-Z][A-Z0-9.'\-]*(?: [A-Z0-9][A-Z0-9.'\-]*){0,3}:\s+)?", re.M
)
# Tokens of punctuation alone ("...", a French "?", an Arabic "؟") are not words: one after a word
# joins it (keeping a sentence end), one at the start is dropped; a dash alone is dropped wherever
# it stands. "&", "%", "$" are spoken and stay.
_PUNCTUATION = r"\-–—‐‑‒―.,;:!?¡¿…'\"«»“”„‘’()*·•~/\\。、，！？：；「」『』（）・．｡؟،؛۔।॥։።፣፤፧"
# a dash standing alone between words is a pause, not part of the word before it
_DASH_TOKEN = re.compile(r" [\-–—‐‑‒―\[\]]+(?= |$)")  # (and a lone bracket left of an annotation)
_PUNCTUATION_TOKEN_AFTER_WORD = re.compile(rf" ([{_PUNCTUATION}]+)(?= |$)")
_PUNCTUATION_TOKEN_AT_START = re.compile(rf"^(?:[{_PUNCTUATION}]+(?: |$))+")
_EMPHASIS = re.compile(r"(?<!\S)\*+|\*+(?!\S)")  # *word*
# a sentence end inside a run of Chinese or Japanese text ends a word, so sentences can end there
_CJK_SENTENCE_END = re.compile(r"([。！？．｡])(?=[^\s。！？．｡」』）\"'”’])")

# SubStation escapes left in SRT and WebVTT text: a forced line break, a hard space
_ASS_ESCAPE = re.compile(r"\\[Nnh]")
_ASS_ESCAPED = {"\\N": "\n", "\\n": "\n", "\\h": " "}


def clean_text(text: str) -> str:
    """Spoken words of a cue's text (one or more lines; invisible characters are gone from the file's
    text already, and those that decoding makes are taken out of the words): markup tags, SubStation
    codes and escapes and entities resolved, speaker marks (">>", "- ", "NAME:"), sound annotations
    ("[Music]", "(APPLAUSE)", music notes) and tokens of punctuation alone removed; lines joined
    (without a space between Chinese or Japanese characters)."""
    if _has_cleaned_mark(text):  # else (most caption pieces) no markup: skip the regexes
        text = html.unescape(_BRACE_TAG.sub("", _TAG.sub("", text))).replace("\xa0", " ")
        if "\\" in text:
            text = _ASS_ESCAPE.sub(lambda m: _ASS_ESCAPED[m.group()], text)
        if "-" in text or ">" in text or ":" in text:
            text = _SPEAKER_AT_LINE_START.sub("", text)
        if _ANNOTATION_MARK.search(text):
            text = _ANNOTATION.sub(" ", text)
        if "<" in text or ">" in text:  # ">>" (a speaker change), or what is left of a broken tag
            text = text.replace("<", " ").replace(">", " ")
        if "*" in text:
            text = _EMPHASIS.sub("", text)
    text = join_words(text.split())
    if not text.isascii():
        text = _CJK_SENTENCE_END.sub(r"\1 ", text)
        if _DASH_TOKEN.search(text):
            text = _DASH_TOKEN.sub("", text)
    elif " -" in text or " [" in text or " ]" in text:
        text = _DASH_TOKEN.sub("", text)
    return _PUNCTUATION_TOKEN_AT_START.sub("", _PUNCTUATION_TOKEN_AFTER_WORD.sub(r"\1", text))


def _has_cleaned_mark(text: str) -> bool:
    return _CLEANED_MARK.search(text) is not None


def _needs_cleaning(text: str) -> bool:
    """Whether clean_text could change the text (a search for its marks first: faster)."""
    return _has_cleaned_mark(text) or bool(_PUNCTUATION_WORD.search(text))


def _has_punctuation_word(words: list) -> bool:
    """Whether one of the words is punctuation alone (for ASCII words, bytes.translate deletes the
    punctuation and an empty word shows as two adjacent newlines: faster than the regex)."""
    joined = "\n".join(words)
    if not joined.isascii():
        return bool(_PUNCTUATION_WORD.search(joined))
    bare = b"\n" + joined.encode("ascii").translate(None, _ASCII_PUNCTUATION) + b"\n"
    return b"\n\n" in bare


_CLEANED_MARKS = "&<>[](:-{*\\\xa0♪♫♬。！？"
_CLEANED_MARK = re.compile(f"[{re.escape(_CLEANED_MARKS)}]")  # a search: faster than str ones
_PUNCTUATION_WORD = re.compile(rf"(?<!\S)[{_PUNCTUATION}]+(?!\S)")
_ASCII_PUNCTUATION = bytes(c for c in range(128) if re.fullmatch(rf"[{_PUNCTUATION}]", chr(c)))
