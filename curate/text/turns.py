"""Dialogue turns and speaker labels in the cue text of uploaded subtitles.

One cue may hold several turns, each its own sentence, and no word may carry their marks:

* dialogue dashes: a dash at the start of a line ("- Hi", "–Hi", "— ¿Qué?"), at its end (typed in
  visual order: "Ладно?-", "别怕!-", "!آره -") and, inside a line, a spaced dash after a sentence end
  or before a capital ("- Hi. - Hello!", "text. - Go!", "nó, - Nhưng");
* ">>" (a speaker change) and voice spans (``<v Name>``);
* speaker labels at the start of a line: "NAME:", "Name:", "Name Surname (role):",
  "Jesse Spencer-Smith:", ">> NAME:", "- NAME:", "[Name]", in any script.

A label in capitals is one wherever it stands at a line start (as it always was). A mixed-case one
needs each word capitalised and either a dash or ">>" before it or the same label at line starts
twice or more in the file (three times in a script without case), and never starts a line that
continues the sentence of the line before in its cue: "J'ai dit: ...", "Note: ..." and "und negative
Zahlen: ..." stay words. A label starts with a letter and its colon is followed by a space or the
line's end, so "10:30" is never one. "[Music]" and its kin are sound annotations, not speakers.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import NamedTuple, Optional, Sequence

from curate.text.words import CLOSING_MARKS, SENTENCE_END_MARKS

_DASHES = "-‐‑–—"
_DASH = re.escape(_DASHES)  # as a regex character class body
_DASH_ENDS = tuple(_DASHES)
# what a line starts with before its text: spaces and timing tags (karaoke), then ">>" and dashes
_LEAD = re.compile(
    rf"(?P<pre>(?:[ \t]|<\d[^<>]*>)*)(?P<marks>(?:(?:>>|&gt;&gt;|[{_DASH}]{{1,2}}(?![\d{_DASH}]))[ \t]*)*)"
)
_NAME_WORD = r"[^\W\d_][\w.'’\-]*"
_LABEL = re.compile(
    rf"(?P<name>{_NAME_WORD}(?:[ \t](?:{_NAME_WORD}|#?\d+)){{0,3}})(?P<role>[ \t]*\([^()\n]{{1,40}}\))?"
    r"[ \t]*(?:[:：][ \t]+(?=\S)|：|:[ \t]*$)"
)
_BRACKET_LABEL = re.compile(r"\[(?P<name>[^\[\]\n]{1,40})\][ \t]*(?=\S)")
_SOUNDS = frozenset("music applause laughter laughing laughs cheering cheers inaudible silence noise foreign".split())
_LABEL_AT_LINE_START = re.compile("^" + _LEAD.pattern + _LABEL.pattern, re.M)
_TURN_CHAR = re.compile(f"[{_DASH}>:：[]")  # a quicker search first
_TAG = re.compile(r"<[^<>]*>")
_VOICE = re.compile(r"<v(?:\.[^\s<>]*)?(?:[ \t]+([^<>]*))?>")
# a spaced dash inside a line (whether it starts a turn is decided in _turn_dashes), and one ending it
_MID_DASH = re.compile(rf"(?<=\S)([ \t]*)[{_DASH}]{{1,2}}[ \t]+(?=\S)")
_TRAILING_DASH = re.compile(rf"(?:(?<=[^\w\s{_DASH}])|[ \t]+)[{_DASH}]{{1,2}}[ \t]*$")
# where a turn mark may stand: a line that starts with a dash, ">>" or "[", a spaced dash, a dash
# after punctuation, a colon before a space, a voice span (hyphenated words are not enough)
_TURN_MARK = re.compile(
    rf"^[ \t]*(?:<\d[^<>]*>[ \t]*)*(?:[{_DASH}]|>|&gt;|\[)|\s[{_DASH}]{{1,2}}(?=\s|$)"
    rf"|[^\w\s{_DASH}][{_DASH}]{{1,2}}(?=\s|$)|:(?=[ \t]|$)|：|<v[\s.>]",
    re.M,
)


class Piece(NamedTuple):
    text: str  # the text of one turn (or of the lines of one), its marks and label removed
    new_turn: bool  # a dash or ">>" starts it
    speaker: Optional[str]  # its label or voice; None when it has none


def may_hold_turns(text: str) -> bool:
    """Whether split_turns could find a mark in the text (most cues have none)."""
    return _TURN_CHAR.search(text) is not None and _TURN_MARK.search(text) is not None


def speaker_labels(texts: Sequence[str]) -> tuple[frozenset, bool]:
    """(the mixed-case and caseless labels of a file that are labels by their number (see the
    module docstring; capitals and labels after a dash need no such evidence), whether the file
    labels its cues throughout: most cues start with a label, as meeting transcripts do, so that
    a cue without one goes on with the speaker before it)."""
    counts: Counter = Counter()
    for text in texts:
        if ":" not in text and "：" not in text:
            continue
        previous = None
        for line in text.split("\n"):
            if (":" in line or "：" in line) and not _continues(previous):
                label = _LABEL_AT_LINE_START.match(line)
                if label is not None:
                    counts[_label_name(label)] += 1
            previous = line if line.strip() else previous
    labels = frozenset(name for name, n in counts.items() if n >= (3 if _caseless(name) else 2) and _capitalised(name))
    labelled = sum(n for name, n in counts.items() if name in labels or _capitals(name))
    return labels, labelled > len(texts) / 2


def split_turns(text: str, labels: frozenset) -> list:
    """The Pieces of a cue's text (markup other than timestamps and voice spans removed), in
    order: a new one at each voice span, at each line, and at each dash inside a line that starts
    a turn. A voice span names the speaker of its first line, as a label does."""
    pieces = []
    for voice, part in _voice_parts(text):
        previous_line = None
        for line in part.split("\n"):
            line_pieces = _line_pieces(line, labels, previous_line)
            if voice is not None and line_pieces and previous_line is None:
                line_pieces[0] = line_pieces[0]._replace(speaker=line_pieces[0].speaker or voice)
            pieces += line_pieces
            if line.strip():
                previous_line = line
    return pieces


def _voice_parts(text: str) -> list:
    """[(voice name or None, text)]: the text cut at each <v Name> tag."""
    if "<v" not in text:
        return [(None, text)]
    parts = _VOICE.split(text)  # text, name, text, name, ...
    out = [(None, parts[0])] if parts[0].strip() else []
    for name, part in zip(parts[1::2], parts[2::2]):
        out.append(((name or "").strip() or None, part))
    return out


def _continues(previous_line: Optional[str]) -> bool:
    """Whether a line after previous_line (in the same cue) continues its sentence."""
    if previous_line is None:
        return False
    tail = _TAG.sub("", previous_line).rstrip().rstrip(CLOSING_MARKS)
    return bool(tail) and not tail.endswith(SENTENCE_END_MARKS) and not tail.endswith(_DASH_ENDS)


def _line_pieces(line: str, labels: frozenset, previous_line: Optional[str]) -> list:
    """The Pieces of one line (previous_line: the line before it in the cue, if any)."""
    if not _TURN_MARK.search(line):
        return [Piece(line, False, None)]
    trailing = _TRAILING_DASH.search(line) if line.rstrip().endswith(_DASH_ENDS) else None
    if trailing is not None:
        line = line[: trailing.start()]
    out = []
    for k, part in enumerate(_turn_dashes(line) if _MID_DASH.search(line) else (line,)):
        lead = _LEAD.match(part)
        new_turn = k > 0 or trailing is not None or bool(lead.group("marks"))
        rest = part[lead.end() :]
        speaker = None
        label = _LABEL.match(rest) if ":" in rest or "：" in rest else None
        if label is not None and _is_label(
            label, labels, after_mark=new_turn, continues=k == 0 and _continues(previous_line)
        ):
            speaker, rest = _label_name(label), rest[label.end() :]
        elif rest.startswith("["):
            bracket = _BRACKET_LABEL.match(rest)
            name = bracket.group("name").strip() if bracket else ""
            if name and name[0].isupper() and name.casefold() not in _SOUNDS:
                speaker, rest = name, rest[bracket.end() :]
        out.append(Piece(lead.group("pre") + rest, new_turn, speaker))
    return out


def _turn_dashes(line: str) -> list:
    """The line cut at each spaced dash inside it that starts a turn: one after a sentence end
    (closing quotes aside), or before a capital."""
    parts, start = [], 0
    for m in _MID_DASH.finditer(line):
        before = line[: m.start()].rstrip(CLOSING_MARKS)
        after = line[m.end() :]
        if not m.group(1) and before[-1:].isalnum():
            continue  # a hyphen ("well- known")
        if before.endswith(SENTENCE_END_MARKS) or after[:1].isupper():
            parts.append(line[start : m.start()])
            start = m.end()
    parts.append(line[start:])
    return parts


def _is_label(match: re.Match, labels: frozenset, *, after_mark: bool, continues: bool) -> bool:
    name = match.group("name")
    if _capitals(name):
        return True
    if not _capitalised(name) or continues:
        return False
    return after_mark or _label_name(match) in labels


def _label_name(match: re.Match) -> str:
    return match.group("name") + (match.group("role") or "")


def _words(name: str) -> list:
    return [w for w in name.split("(")[0].split() if not w.lstrip("#").isdigit()]


def _capitals(name: str) -> bool:
    """A label in capitals ("GUARD 2", "COOKIE MONSTER")."""
    bare = "".join(_words(name))
    return bare.isupper()


def _capitalised(name: str) -> bool:
    return all(w[0].isupper() or _caseless(w) for w in _words(name))


def _caseless(name: str) -> bool:
    first = name[0]
    return not first.isupper() and not first.islower()
