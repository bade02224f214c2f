"""The CLIP tokenizer: loading (local folder or hub name), batch tokenisation to 77 tokens, and
training a small CLIP-compatible BPE vocabulary offline for tiny models."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Iterable, Sequence


def load_tokenizer(name_or_path: str):
    """A CLIP tokenizer from a folder written by ``save_pretrained`` or a hub name (the hub is only
    reached when HF_HUB_OFFLINE is unset)."""
    from transformers import CLIPTokenizerFast

    try:
        return CLIPTokenizerFast.from_pretrained(str(name_or_path))
    except OSError as exc:
        raise ValueError(f"cannot load a CLIP tokenizer from {name_or_path!r}: {exc}") from exc


def tokenize(tokenizer, texts: Sequence[str], context_length: int):
    """(input_ids_BL, attention_mask_BL) as int64 tensors, padded/truncated to ``context_length``
    (truncation keeps the end-of-text token)."""
    encoded = tokenizer(
        list(texts), padding="max_length", truncation=True, max_length=context_length, return_tensors="pt"
    )
    return encoded["input_ids"], encoded["attention_mask"]


def build_bpe_tokenizer(texts: Iterable[str], out_dir, vocab_size: int = 1000) -> Path:
    """Learn a byte-level BPE with CLIP's normaliser, pre-tokeniser and ``</w>`` word ends from
    ``texts`` and save it so that ``load_tokenizer(out_dir)`` loads it. For tiny models and offline
    runs only: real models use OpenAI's CLIP vocabulary.

    Like CLIP's vocabulary: special tokens, the 256 byte symbols with and without ``</w>``, then one
    token per merge. Written out here rather than with ``tokenizers``' trainer because that one breaks
    ties between equally frequent pairs in hash order, which differs between processes; here the
    smallest pair wins, so the same texts always give the same tokenizer."""
    from collections import Counter

    from tokenizers import pre_tokenizers
    from transformers import CLIPTokenizerFast

    base = CLIPTokenizerFast()  # CLIP's pipeline around an empty vocabulary
    specials = [base.bos_token, base.eos_token]
    normalizer, pre_tokenizer = base.backend_tokenizer.normalizer, base.backend_tokenizer.pre_tokenizer
    byte_symbols = sorted(pre_tokenizers.ByteLevel.alphabet())
    alphabet = byte_symbols + [s + "</w>" for s in byte_symbols]
    word_counts = Counter(
        piece for text in texts for piece, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text))
    )
    words = {w: (*w[:-1], w[-1] + "</w>") for w in word_counts}
    merges = []
    while len(specials) + len(alphabet) + len(merges) < vocab_size:
        pairs = Counter()
        for word, symbols in words.items():
            for pair in itertools.pairwise(symbols):
                pairs[pair] += word_counts[word]
        if not pairs:
            break
        best = min(pairs, key=lambda pair: (-pairs[pair], pair))
        merges.append(best)
        words = {w: _merge(symbols, best) for w, symbols in words.items()}
    vocab = {
        token: i for i, token in enumerate(dict.fromkeys([*specials, *alphabet, *(a + b for a, b in merges)]))
    }
    tokenizer = CLIPTokenizerFast(vocab=vocab, merges=merges)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(out_dir))
    return out_dir


def _merge(symbols: tuple, pair: tuple) -> tuple:
    out, i = [], 0
    while i < len(symbols):
        if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:
            out.append(symbols[i] + symbols[i + 1])
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return tuple(out)
