"""How a file's cues show its captions (caption_layout): YouTube's automatic captions, other
roll-up captions, or uploaded subtitles; judged on evidence that holds for the whole file.
"""

from __future__ import annotations

import re

import numpy as np

from curate.text.inline_times import INLINE_TIME as _INLINE_TIME
from curate.text.subtitles.cues import Cues

# YouTube's word tags: a timestamp, then a <c> span that opens with the space before its word
_NOT_A_WORD_TAG = re.compile(r"<\d[^<>]*>(?!<c[^<>]*> )")

# A cue this short only shows lines that are already on screen (YouTube's transition cues).
_TRANSITION_CUE_SECONDS = 0.02
# Cues starting less than this apart are shown together (styled subtitles at several positions).
_SIMULTANEOUS_SECONDS = 0.05
_SAME_TIME_SECONDS = 0.002  # two times written alike, up to rounding

# Whole-file evidence of YouTube's automatic-caption shape (one repeated line proves nothing):
_AUTO_TAGGED_SHARE = 0.1  # cues with <time> word tags
_AUTO_TRANSITION_SHARE = 0.2  # 10 ms transition cues
_AUTO_ROLLED_SHARE = 0.5  # cues whose first line is the line the cue before ended with


def caption_layout(cues: Cues) -> str:
    """How a file shows its captions, on evidence that holds for the whole file:

    * "automatic": YouTube's automatic captions: many 10 ms transition cues, many cues with word
      tags (each timestamp opens a ``<c>`` span that starts with the space before its word), or
      rolled-up lines in YouTube's SRT export (each cue shown until the one after next starts);
    * "rolled": other roll-up captions (CEA-608 roll-up converted): most cues show the line the cue
      before ended with, then a new one;
    * "uploaded": everything else, karaoke and paint-on captions with timestamps inside words
      included, and files that repeat a line now and then ("Hey." / "Hey.") or show two cues at
      once (concurrent text, not rolled-up lines)."""
    n = len(cues.texts)
    if not n:
        return "uploaded"
    lengths = np.subtract(cues.ends, cues.starts)
    if np.count_nonzero(lengths <= _TRANSITION_CUE_SECONDS) >= _AUTO_TRANSITION_SHARE * n:
        return "automatic"  # checked first: the cheapest evidence
    tagged = 0
    for text in cues.texts:
        if "<" in text and _INLINE_TIME.search(text) and not _NOT_A_WORD_TAG.search(text):
            tagged += 1
            if tagged >= _AUTO_TAGGED_SHARE * n:
                return "automatic"
    if n < 2:
        return "uploaded"
    shown = [[line.strip() for line in text.split("\n") if line.strip()] for text in cues.texts]
    # rolling up: a cue shows the line the cue before ended with, then a new one
    rolled = sum(
        1
        for a, b, gap in zip(shown, shown[1:], np.diff(cues.starts).tolist())
        if a and len(b) >= 2 and a[-1] == b[0] and gap >= _SIMULTANEOUS_SECONDS
    )
    if rolled < max(2, _AUTO_ROLLED_SHARE * (n - 1)):
        return "uploaded"
    return "automatic" if _shown_until_next_but_one(cues) else "rolled"


def _shown_until_next_but_one(cues: Cues) -> bool:
    """Whether most cues end where the cue after next starts: YouTube's SRT export of automatic
    captions, where each line is shown twice, rolling."""
    if len(cues.starts) < 3:
        return False
    starts, ends = np.asarray(cues.starts), np.asarray(cues.ends)
    rolling = (np.abs(ends[:-2] - starts[2:]) < _SAME_TIME_SECONDS) & (ends[:-2] > starts[1:-1])
    return np.count_nonzero(rolling) >= _AUTO_ROLLED_SHARE * (len(starts) - 2)
