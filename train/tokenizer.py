"""Text tokenizers: loading (local folder or hub name; CLIP's BPE for VidLA, BERT's WordPiece for
HD-VILA), batch tokenisation to the model's context length, and learning a small vocabulary of either
kind offline for tiny models (``TrainConfig.tokenizer_kind``)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Iterable, Sequence


def load_tokenizer(name_or_path: str):
    """A tokenizer from a folder written by ``save_pretrained`` or a hub name (the hub is only reached
    when HF_HUB_OFFLINE is unset): its own class (CLIP, BERT, ...) as its tokenizer_config.json names it."""
    from transformers import AutoTokenizer, CLIPTokenizerFast

    folder = Path(str(name_or_path))
    try:
        if folder.is_dir() and "Bert" not in _saved_class(folder):
            return CLIPTokenizerFast.from_pretrained(str(folder))
        return AutoTokenizer.from_pretrained(str(name_or_path))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot load a tokenizer from {name_or_path!r}: {exc}") from exc


def _saved_class(folder: Path) -> str:
    import json

    try:
        return json.loads((folder / "tokenizer_config.json").read_text()).get("tokenizer_class") or ""
    except (OSError, ValueError):
        return ""


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
    vocab = {token: i for i, token in enumerate(dict.fromkeys([*specials, *alphabet, *(a + b for a, b in merges)]))}
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


# bert-*-uncased's special ids, kept by the small WordPiece vocabularies so that a model's
# mask_token_id is the same for both
WORDPIECE_SPECIALS = {0: "[PAD]", 100: "[UNK]", 101: "[CLS]", 102: "[SEP]", 103: "[MASK]"}


def build_wordpiece_tokenizer(texts: Iterable[str], out_dir, vocab_size: int = 1000) -> Path:
    """Learn a lower-casing BERT WordPiece vocabulary of at most ``vocab_size`` tokens from ``texts``
    and save it so that ``load_tokenizer(out_dir)`` loads it (a ``BertTokenizerFast``). For tiny
    models and offline runs only: real models use BERT's vocabulary.

    Ids 0..103 as in bert-*-uncased ([PAD] 0, [unusedN], [UNK] 100, [CLS] 101, [SEP] 102, [MASK] 103);
    then every character alone and as a ``##`` continuation (any word of those characters has a
    WordPiece split), then the most frequent words, ties in alphabetical order (the same texts always
    give the same vocabulary)."""
    from collections import Counter

    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import BertTokenizerFast

    first_free = max(WORDPIECE_SPECIALS) + 1
    if vocab_size < first_free + 2:
        raise ValueError(f"vocab_size {vocab_size} leaves no room after the {first_free} reserved ids")
    normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=None, clean_text=True)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    words = Counter(
        word for text in texts for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text))
    )
    chars = sorted({c for word in words for c in word})
    tokens = [WORDPIECE_SPECIALS.get(i, f"[unused{i - 1}]") for i in range(first_free)]
    tokens += chars + [f"##{c}" for c in chars]
    tokens += [w for w, _ in sorted(words.items(), key=lambda kv: (-kv[1], kv[0])) if len(w) > 1]
    vocab = {token: i for i, token in enumerate(list(dict.fromkeys(tokens))[:vocab_size])}
    # BERT's pipeline around the vocabulary, built here because BertTokenizerFast's vocabulary
    # argument changed name between transformers 4 and 5
    backend = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    backend.normalizer = normalizer
    backend.pre_tokenizer = pre_tokenizer
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", 101), ("[SEP]", 102)],
    )
    backend.decoder = decoders.WordPiece()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    BertTokenizerFast(tokenizer_object=backend).save_pretrained(str(out_dir))
    return out_dir


TOKENIZER_BUILDERS = {"clip": build_bpe_tokenizer, "wordpiece": build_wordpiece_tokenizer}
