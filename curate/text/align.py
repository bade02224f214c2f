"""DTW alignment of punctuated sentences to timed words (HD-VILA section 3.2).

Punctuation restoration changes case, attaches punctuation and may merge or split tokens, so the
sentences' tokens and the timed words are compared in normalised form (curate.text.words) and
matched by dynamic time warping. The path stays near the diagonal (the two token sequences are the
same speech), so only a band around the corner-to-corner diagonal is computed: O(N x band), not
O(N x M). The recursion, the band and the tie-breaking are those of dtw-python's ``symmetric2``
step pattern with a ``slantedband`` window, so on the same sequences both give the same path
(checked in benchmarks/bench_text.py and tests/text/test_align.py).
"""

from __future__ import annotations

import itertools
import math
import operator
from typing import Sequence

import numpy as np

from curate.text.words import normalize_tokens
from schemas import Sentence, TimedWord

# Half-width of the band, in tokens: at least this, and at least this share of the longer side.
MIN_BAND = 24
BAND_SHARE = 0.015


def band_width(n: int, m: int) -> int:
    # The band must also be wide enough for the slope of a very rectangular matrix to stay connected.
    slope = max(n, m) / max(1, min(n, m))
    return int(max(MIN_BAND, math.ceil(BAND_SHARE * max(n, m)), math.ceil(2 * slope + 2)))


def _python_kernel(a_ids, b_ids, w):
    """The banded symmetric2 recursion; compiled with numba (see _kernel). Returns the path as
    two index arrays, from (0, 0) to (n-1, m-1)."""
    n, m = a_ids.shape[0], b_ids.shape[0]
    lo = np.empty(n, np.int64)
    hi = np.empty(n, np.int64)
    for i in range(n):
        diag = i * (m - 1) / (n - 1) if n > 1 else 0.0
        lo[i] = max(0, int(math.ceil(diag - w)))
        hi[i] = min(m - 1, int(math.floor(diag + w)))
    width = 1
    for i in range(n):
        width = max(width, hi[i] - lo[i] + 1)
    # Only the step matrix is kept for the backtrack; the costs need just the previous row, and two
    # rows stay in the CPU cache where a full (n, width) matrix would not.
    previous = np.empty(width)
    current = np.empty(width)
    step = np.zeros((n, width), np.int8)  # 1 diagonal, 2 from the left, 3 from above
    for i in range(n):
        previous, current = current, previous
        # the bounds as locals (the compiler cannot tell that the writes below leave lo/hi alone);
        # row 0 has an empty previous row
        first, last = lo[i], hi[i]
        previous_first, previous_last = (lo[i - 1], hi[i - 1]) if i > 0 else (1, 0)
        a = a_ids[i]
        left = np.inf  # cost of (i, j - 1), carried along the row
        for j in range(first, last + 1):
            c = 0.0 if a == b_ids[j] else 1.0
            if i == 0 and j == 0:
                current[0] = left = c
                continue
            best = np.inf
            best_step = 0
            # dtw-python's order (first minimum wins): diagonal, then (i, j-1), then (i-1, j)
            if previous_first <= j - 1 <= previous_last:
                v = previous[j - 1 - previous_first] + 2.0 * c
                if v < best:
                    best, best_step = v, 1
            v = left + c
            if v < best:
                best, best_step = v, 2
            if previous_first <= j <= previous_last:
                v = previous[j - previous_first] + c
                if v < best:
                    best, best_step = v, 3
            current[j - first] = left = best
            step[i, j - first] = best_step
    path_i = np.empty(n + m, np.int64)
    path_j = np.empty(n + m, np.int64)
    i, j, k = n - 1, m - 1, 0
    while True:
        path_i[k], path_j[k] = i, j
        k += 1
        s = step[i, j - lo[i]]
        if s == 0:
            break
        if s == 1:
            i, j = i - 1, j - 1
        elif s == 2:
            j -= 1
        else:
            i -= 1
    return path_i[:k][::-1].copy(), path_j[:k][::-1].copy()


_compiled = None


def _kernel():
    global _compiled
    if _compiled is None:
        try:
            import numba  # lazy: compiling costs a second or two, once per process (cached on disk)
        except ImportError as exc:
            raise ImportError("DTW alignment needs numba: pip install 'vidlang[curate]'") from exc

        _compiled = numba.njit(cache=True, nogil=True)(_python_kernel)
    return _compiled


def banded_dtw(a_ids: np.ndarray, b_ids: np.ndarray, band: int) -> tuple[np.ndarray, np.ndarray]:
    """Warping path between two integer token sequences (equal ids cost 0, others 1), computed in
    a slanted band of half-width ``band`` around the corner-to-corner diagonal."""
    if len(a_ids) == 0 or len(b_ids) == 0:
        raise ValueError("cannot align an empty token sequence")
    return _kernel()(np.ascontiguousarray(a_ids, np.int64), np.ascontiguousarray(b_ids, np.int64), float(band))


def token_ids(*sequences: Sequence[str]) -> list[np.ndarray]:
    """The same integer id for the same token across the sequences."""
    vocab = {token: i for i, token in enumerate(set().union(*sequences))}
    return [np.fromiter(map(vocab.__getitem__, seq), np.int64, len(seq)) for seq in sequences]


def sentence_tokens(sentence_texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """The normalised tokens of the sentences, and the sentence index of each."""
    split = [text.split() for text in sentence_texts]
    tokens = normalize_tokens(list(itertools.chain.from_iterable(split)))
    owner = np.repeat(np.arange(len(split)), np.fromiter(map(len, split), np.int64, len(split)))
    if "" in tokens:  # pure punctuation ("-", "...") is no token
        owner = owner[np.fromiter(map(bool, tokens), bool, len(tokens))]
        tokens = [token for token in tokens if token]
    return tokens, owner


def word_tokens(words: Sequence[TimedWord]) -> list[str]:
    texts = list(map(operator.itemgetter(0), words))
    tokens = normalize_tokens(texts)
    if "" in tokens:  # a word that is all punctuation still stands for itself
        tokens = [token or text for token, text in zip(tokens, texts)]
    return tokens


def sentences_from_path(
    sentence_texts: Sequence[str],
    owner: Sequence[int],
    words: Sequence[TimedWord],
    path_i: np.ndarray,
    path_j: np.ndarray,
    segmenter: str,
) -> list[Sentence]:
    """Sentences timed by a warping path between their tokens (``owner``: sentence of each token)
    and the timed words.

    Every timed word belongs to the first sentence whose token the path pairs it with; a sentence
    left with no timed word (its tokens all paired with a word another sentence owns) is joined to
    the sentence before it (or after it, for the first), so no text is lost.
    """
    # first sentence paired with each timed word (the path is monotone, so owners never decrease)
    first = np.ones(len(path_j), bool)
    first[1:] = path_j[1:] != path_j[:-1]
    word_owner = np.asarray(owner, np.int64)[path_i[first]]
    sentence_ids = np.arange(len(sentence_texts))
    first_word = np.searchsorted(word_owner, sentence_ids, "left").tolist()
    last_word = (np.searchsorted(word_owner, sentence_ids, "right") - 1).tolist()
    has_tokens = np.bincount(np.asarray(owner, np.int64), minlength=len(sentence_texts)) > 0
    groups: list[list] = []  # [text, first word index, last word index]
    for k, text in enumerate(sentence_texts):
        if not has_tokens[k]:
            continue  # punctuation only
        if last_word[k] >= first_word[k]:
            groups.append([text, first_word[k], last_word[k]])
        elif groups:
            groups[-1][0] = f"{groups[-1][0]} {text}"
        else:
            groups.append([text, None, None])
    if groups and groups[0][1] is None:  # a leading sentence without words joins the next one
        orphan = groups.pop(0)[0]
        if not groups:
            return []
        groups[0][0] = f"{orphan} {groups[0][0]}"
    return [
        Sentence(
            text=text,
            start=words[a].start,
            end=words[b].end,
            num_words=len(text.split()),
            segmenter=segmenter,
        )
        for text, a, b in groups
    ]


def align_sentences(sentence_texts: Sequence[str], words: Sequence[TimedWord], *, segmenter: str) -> list[Sentence]:
    """Each sentence gets the start of its first timed word and the end of its last one (banded DTW
    over normalised tokens; see sentences_from_path for words shared by two sentences)."""
    tokens, owner = sentence_tokens(sentence_texts)
    if not tokens or not words:
        return []
    a_ids, b_ids = token_ids(tokens, word_tokens(words))
    path_i, path_j = banded_dtw(a_ids, b_ids, band_width(len(a_ids), len(b_ids)))
    return sentences_from_path(sentence_texts, owner, words, path_i, path_j, segmenter)
