"""Reading a subtitle file's text: the size limit, the encoding (UTF-8, else the one
curate.text.encodings picks), newlines normalised and invisible characters taken out; and how much
of a file may be unreadable before its times cannot be trusted (shared by the formats).
"""

from __future__ import annotations

from collections import Counter

from curate.files import UnsafeFile, read_regular
from curate.text.encodings import decode_other
from curate.text.invisible import REPAIR as INVISIBLE_REPAIR
from curate.text.invisible import strip_invisible
from curate.text.words import TranscriptError

# Subtitle files stay far below this (json3 captions, the largest format, take about a MiB per hour
# of speech, and a video lasts 12 hours at most); a file above it is not one, and would be held in
# memory whole. curate run --max-subtitle-mb changes it.
MAX_SUBTITLE_BYTES = 64 * 2**20


# A file with more unreadable blocks than this share (no timing line, a broken one) is not a
# subtitle file that lost a line here and there; its times cannot be trusted.
_MAX_UNREADABLE_SHARE = 0.1


def read_subtitle_text(
    path: str, video_id: str, repairs: Counter, language: str = "", max_bytes: int = MAX_SUBTITLE_BYTES
) -> tuple[str, str]:
    """(the file's text with newlines normalised and invisible characters taken out (counted,
    curate.text.invisible), its encoding): UTF-8 (a BOM is dropped), else the encoding
    curate.text.encodings picks, counted as a "decoded_as:<encoding>" repair; ``language`` is the
    file's language hint. A path that is not a regular file, or a file over ``max_bytes``, fails
    ("subtitle_not_a_file", "subtitle_too_large") unread."""
    try:
        data = read_regular(path, max_bytes)
    except UnsafeFile as exc:
        raise TranscriptError(f"subtitle_{exc.reason}", str(exc), video_id=video_id) from None
    except OSError as exc:
        raise TranscriptError("subtitle_unreadable", f"{path}: {exc.strerror or exc}", video_id=video_id) from exc
    if not data.strip():
        raise TranscriptError("subtitle_empty", f"{path}: the file is empty", video_id=video_id)
    try:
        text, encoding = data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError as exc:
        text, encoding = decode_other(data, exc, path, video_id, language, repairs)
    text, invisible = strip_invisible(text.replace("\r\n", "\n").replace("\r", "\n"))
    if invisible:
        repairs[INVISIBLE_REPAIR] += invisible
    return text, encoding
