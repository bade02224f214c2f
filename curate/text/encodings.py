"""Subtitle files that are not UTF-8: which encoding to read them in.

charset-normalizer ranks the encodings a file decodes in by how messy the text comes out. Single-byte
code pages often tie: cp1250 and cp1252 read most bytes of a French or Portuguese text alike and
differ in a few letters, and which one came first was an accident of the ranking. Among the
encodings that read the file about as cleanly as the best one, the choice is

1. the code page of the file's language hint (the file name's "x.pt.srt", a WebVTT "Language: pt"),
2. else the one whose accented letters fit one language's alphabet best ("é è à ç œ" is French;
   the same bytes read as cp1250, "é č ŕ ç ś", fit no language),
3. else the first of a fixed order,

so a file is always decoded the same way. When the readings in the running differ, the choice is
recorded as an "encoding_ambiguous:<runner-up>" repair beside "decoded_as:<encoding>".
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Optional

from curate.text.words import TranscriptError

# Classic Mac OS code pages are not used for subtitles, yet win on short Western texts
_MAC_CODE_PAGES = ["mac_latin2", "mac_roman", "mac_cyrillic", "mac_greek", "mac_iceland", "mac_turkish"]
# how much messier than the best reading a reading may be and still be in the running
_MESS_MARGIN = 0.02

_CODE_PAGE_OF_LANGUAGE = {
    **dict.fromkeys("en fr de es pt it nl ca eu gl da sv no nb nn fi is af id ms sw ga".split(), "cp1252"),
    **dict.fromkeys("pl cs sk hu sl hr bs ro sq".split(), "cp1250"),
    **dict.fromkeys("ru uk be bg mk sr kk".split(), "cp1251"),
    **dict.fromkeys("ar fa ur".split(), "cp1256"),
    **dict.fromkeys("lt lv et".split(), "cp1257"),
    **{"el": "cp1253", "tr": "cp1254", "az": "cp1254", "he": "cp1255", "vi": "cp1258"},
}
# the accented letters of the languages written in Latin single-byte code pages
_ALPHABETS = [
    frozenset(letters)
    for letters in (
        "àâæçéèêëîïôœùûüÿ",  # French
        "ãáàâçéêíóôõúü",  # Portuguese
        "áéíóúñü",  # Spanish
        "äöüßé",  # German
        "àèéìíîòóùú",  # Italian
        "àçèéíïòóúü",  # Catalan
        "éëïóöüèà",  # Dutch
        "åäöéæø",  # Swedish, Danish, Norwegian, Finnish
        "áðéíóúýþæö",  # Icelandic
        "ąćęłńóśźż",  # Polish
        "áčďéěíňóřšťúůýž",  # Czech
        "áäčďéíĺľňóôŕšťúýž",  # Slovak
        "áéíóöőúüű",  # Hungarian
        "ăâîșțşţ",  # Romanian
        "čćđšž",  # Croatian, Bosnian, Slovenian
        "çë",  # Albanian
        "çğıöşüâîû",  # Turkish
        "äõöüšž",  # Estonian
        "āčēģīķļņšūž",  # Latvian
        "ąčęėįšųūž",  # Lithuanian
    )
]
_LATIN_END = 0x24F  # the last letter of Latin Extended-B
_PREFERENCE = ["cp1252", "cp1250", "cp1251", "cp1256", "cp1254", "cp1253", "cp1255", "cp1257", "cp1258"]
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_ASCII_BYTES = bytes(range(128))
_HEADER_LANGUAGE = re.compile(rb"^Language:[ \t]*([A-Za-z]{2,3})\b", re.M)


def decode_other(
    data: bytes, error: UnicodeDecodeError, path: str, video_id: str, language: str, repairs: Counter
) -> tuple[str, str]:
    """(text, encoding) of a file that is not UTF-8 (see the module docstring), counted in repairs."""
    try:
        import charset_normalizer  # lazy: only files that are not UTF-8 need it
    except ImportError as exc:
        raise ImportError(
            "subtitles that are not UTF-8 need charset-normalizer: pip install 'vidlang[curate]'"
        ) from exc
    matches = list(charset_normalizer.from_bytes(data, cp_exclusion=_MAC_CODE_PAGES))
    if not matches:
        raise TranscriptError(
            "subtitle_not_text",
            f"{path}: not UTF-8 (bad byte at offset {error.start}) and no other text encoding fits",
            video_id=video_id,
        )
    least_mess = min(m.chaos for m in matches)
    running = [(m.encoding, str(m)) for m in matches if m.chaos <= least_mess + _MESS_MARGIN]
    hint = _CODE_PAGE_OF_LANGUAGE.get(_language(data, language))
    high = data.translate(None, _ASCII_BYTES)  # the bytes the readings differ in
    fits = {
        # a single-byte code page reads the text's letters from those bytes alone: much faster
        encoding: _letter_fit(high.decode(encoding, "replace") if len(text) == len(data) else text)
        for encoding, text in running
    }
    ranked = sorted(running, key=lambda r: _rank(r, hint, fits[r[0]]))
    encoding, text = ranked[0]
    repairs[f"decoded_as:{encoding}"] += 1
    runner_up = next((e for e, t in ranked[1:] if t != text), None)
    if runner_up is not None:
        repairs[f"encoding_ambiguous:{runner_up}"] += 1
    return text.lstrip("\ufeff"), encoding


def _language(data: bytes, language: str) -> str:
    """The language hint: the file name's, else a WebVTT header's."""
    if language:
        return language.split("-")[0].lower()
    header = _HEADER_LANGUAGE.search(data[:512])
    return header.group(1).decode("ascii").lower() if header else ""


def _rank(reading: tuple, hint: Optional[str], fit: float) -> tuple:
    encoding = reading[0]
    preference = _PREFERENCE.index(encoding) if encoding in _PREFERENCE else len(_PREFERENCE)
    return (encoding != hint, -fit, preference, encoding)


def _letter_fit(text: str) -> float:
    """The share of the text's accented letters that belong to the one alphabet that holds the most
    of them (1.0 when it has none). Letters of other scripts than Latin count as fitting: the
    alphabets only tell Latin code pages apart."""
    accented = "".join(_NON_ASCII.findall(text)).casefold()
    letters = {ch: n for ch, n in Counter(accented).items() if ch.isalpha()}
    total = sum(letters.values())
    if not total:
        return 1.0
    other_scripts = sum(n for ch, n in letters.items() if ord(ch) > _LATIN_END)
    return (other_scripts + max(sum(n for ch, n in letters.items() if ch in a) for a in _ALPHABETS)) / total
