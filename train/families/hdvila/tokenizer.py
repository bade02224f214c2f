"""BERT's WordPiece tokenizer for HD-VILA (section 5.1: WordPiece, at most 50 tokens): loading a local
``BertTokenizerFast`` folder (bert-base-uncased's vocabulary is bert-large-uncased's), and building a
small one offline from the shard texts for tiny models.

The small vocabulary keeps bert-uncased's special ids ([PAD] 0, [UNK] 100, [CLS] 101, [SEP] 102,
[MASK] 103), so the model's ``mask_token_id`` is the same for both; then every character alone and as
a ``##`` continuation (so any word of those characters has a WordPiece split), then the most frequent
words (ties in alphabetical order: the same texts always give the same vocabulary).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Iterable

SPECIALS = {0: "[PAD]", 100: "[UNK]", 101: "[CLS]", 102: "[SEP]", 103: "[MASK]"}
FIRST_FREE_ID = 104


def load_bert_tokenizer(name_or_path: str):
    from transformers import BertTokenizerFast

    try:
        return BertTokenizerFast.from_pretrained(str(name_or_path))
    except OSError as exc:
        raise ValueError(f"cannot load a BERT tokenizer from {name_or_path!r}: {exc}") from exc


def build_wordpiece_tokenizer(texts: Iterable[str], out_dir, vocab_size: int = 1000) -> Path:
    """Write a lower-casing WordPiece tokenizer of at most ``vocab_size`` tokens learnt from ``texts``
    to ``out_dir`` (``load_bert_tokenizer(out_dir)`` loads it)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import BertTokenizerFast

    if vocab_size < FIRST_FREE_ID + 2:
        raise ValueError(f"vocab_size {vocab_size} leaves no room after the {FIRST_FREE_ID} reserved ids")
    normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=None, clean_text=True)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    words = Counter(
        word for text in texts for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text))
    )
    chars = sorted({c for word in words for c in word})
    vocab = [SPECIALS.get(i, f"[unused{i - 1}]") for i in range(FIRST_FREE_ID)]
    vocab += chars + [f"##{c}" for c in chars]
    vocab += [w for w, _ in sorted(words.items(), key=lambda kv: (-kv[1], kv[0])) if len(w) > 1]
    vocab = {token: i for i, token in enumerate(list(dict.fromkeys(vocab))[:vocab_size])}
    # BERT's pipeline around the new vocabulary (built here: BertTokenizerFast's vocabulary argument
    # changed name between transformers 4 and 5)
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
