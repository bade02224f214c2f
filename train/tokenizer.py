"""The CLIP tokenizer: loading (local folder or hub name), batch tokenisation to 77 tokens, and
training a small CLIP-compatible BPE vocabulary offline for tiny models."""
from __future__ import annotations

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
    encoded = tokenizer(list(texts), padding="max_length", truncation=True, max_length=context_length,
                        return_tensors="pt")
    return encoded["input_ids"], encoded["attention_mask"]


def build_bpe_tokenizer(texts: Iterable[str], out_dir, vocab_size: int = 1000) -> Path:
    """Train a byte-level BPE with CLIP's normaliser, pre-tokeniser and ``</w>`` word ends on
    ``texts`` and save it so that ``load_tokenizer(out_dir)`` loads it. For tiny models and offline
    runs only: real models use OpenAI's CLIP vocabulary."""
    import json

    from tokenizers import pre_tokenizers, trainers
    from transformers import CLIPTokenizerFast

    base = CLIPTokenizerFast()  # CLIP's pipeline around an empty vocabulary
    specials = [base.bos_token, base.eos_token]
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, end_of_word_suffix="</w>",
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    backend = base.backend_tokenizer
    backend.train_from_iterator(list(texts), trainer=trainer)
    model = json.loads(backend.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    tokenizer = CLIPTokenizerFast(vocab=model["vocab"], merges=merges)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(out_dir))
    return out_dir
