"""E-ViLM's truncated text vocabulary (section 4.1): "we truncate the vocabulary of the tokenizer by
retaining only the top 30% most frequent words in COCO dataset", which leaves the 128-wide text
embedding at 1.2M parameters (table 8).

    python -m train.families.evilm.vocab --frequencies captions_train2017.json --output VOCAB
    python -m train fit --config evilm-edgenext-small tokenizer=VOCAB ...

The base is BERT's WordPiece tokenizer (``--tokenizer``, a local bert-base-uncased folder or hub name);
the frequencies come from the file the user gives: COCO's caption annotations (JSON with
``annotations[].caption``), a text file of one caption per line, or ``word<TAB>count`` lines. Each
caption is split into the base tokenizer's WordPieces and each piece counted. The new vocabulary keeps,
in this order: BERT's special tokens, the letters, digits and ASCII punctuation alone and as ``##``
continuations (so that any English word still has a split, rare ones into pieces instead of [UNK]),
then the most frequent pieces (ties, and pieces the captions never use, in the base vocabulary's order),
until it holds ``--keep`` of the base vocabulary (30%: 9,157 of bert-base-uncased's 30,522). Ids are renumbered densely; the
tokenizer pipeline (lower-casing, BERT's pre-tokenizer, [CLS] ... [SEP]) is the base one's.
"""

from __future__ import annotations

import argparse
import json
import string
from collections import Counter
from pathlib import Path
from typing import Iterable

PAPER_KEEP = 0.3
SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
ALWAYS = tuple(string.ascii_lowercase + string.digits + string.punctuation)


def read_frequencies(path) -> Counter:
    """{text: count} from COCO captions JSON, captions one a line, or ``word<TAB>count`` lines."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        data = json.loads(text)
        captions = [a["caption"] for a in data.get("annotations", [])] if isinstance(data, dict) else data
        if not captions or not all(isinstance(c, str) for c in captions):
            raise ValueError(
                f"{path}: expected COCO caption annotations ({{'annotations': [{{'caption': ...}}]}}) "
                "or a JSON list of captions"
            )
        return Counter(captions)
    counts = Counter()
    for line in text.splitlines():
        word, tab, count = line.rpartition("\t")
        if tab and count.strip().isdigit():
            counts[word] += int(count)
        elif line.strip():
            counts[line.strip()] += 1
    if not counts:
        raise ValueError(f"{path}: no captions or word counts")
    return counts


def piece_counts(base, texts: Counter) -> Counter:
    """How often each of the base tokenizer's pieces occurs in ``texts`` (text -> count)."""
    counts = Counter()
    items = list(texts.items())
    for start in range(0, len(items), 1024):
        chunk = items[start : start + 1024]
        encoded = base([t for t, _ in chunk], add_special_tokens=False)["input_ids"]
        for ids, (_, n) in zip(encoded, chunk):
            for i in ids:
                counts[i] += n
    return counts


def truncated_vocabulary(base_vocab: dict, counts: Counter, size: int) -> list:
    """The kept tokens in their new id order (see the module docstring)."""
    kept = [t for t in SPECIALS if t in base_vocab]
    kept += [t for c in ALWAYS for t in (c, f"##{c}") if t in base_vocab]
    # every other piece by frequency, ties (pieces the captions never use too) in the base order, which
    # for BERT follows its own corpus's frequencies; reserved "[unusedN]" slots are left out
    token_of = {i: t for t, i in base_vocab.items() if not (t.startswith("[") and t.endswith("]"))}
    kept += [token_of[i] for i in sorted(token_of, key=lambda i: (-counts.get(i, 0), i))]
    return list(dict.fromkeys(kept))[:size]


def build_truncated_tokenizer(base_name: str, frequencies, out_dir, keep: float = PAPER_KEEP) -> Path:
    """Write the truncated WordPiece tokenizer to ``out_dir`` (``train.tokenizer.load_tokenizer`` loads it)."""
    from tokenizers import Tokenizer, decoders, models
    from transformers import BertTokenizerFast

    from train.tokenizer import load_tokenizer

    if not 0 < keep <= 1:
        raise ValueError(f"--keep {keep} must lie in (0, 1]")
    base = load_tokenizer(base_name)
    base_vocab = base.get_vocab()
    if "[MASK]" not in base_vocab:
        raise ValueError(f"{base_name} is not a BERT WordPiece tokenizer")
    size = round(keep * len(base_vocab))
    tokens = truncated_vocabulary(base_vocab, piece_counts(base, read_frequencies(frequencies)), size)
    vocab = {t: i for i, t in enumerate(tokens)}
    backend = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    source = base.backend_tokenizer
    backend.normalizer, backend.pre_tokenizer = source.normalizer, source.pre_tokenizer
    from tokenizers import processors

    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    backend.decoder = decoders.WordPiece()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    BertTokenizerFast(
        tokenizer_object=backend,
        unk_token="[UNK]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        mask_token="[MASK]",
    ).save_pretrained(str(out))
    return out


def main(argv: Iterable[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--frequencies", required=True, help="COCO captions JSON, captions one a line, or word<TAB>count lines"
    )
    parser.add_argument("--output", required=True, help="folder for the tokenizer (tokenizer=FOLDER)")
    parser.add_argument("--tokenizer", default="bert-base-uncased", help="the base WordPiece tokenizer")
    parser.add_argument("--keep", type=float, default=PAPER_KEEP, help="share of the base vocabulary kept")
    args = parser.parse_args(None if argv is None else list(argv))
    out = build_truncated_tokenizer(args.tokenizer, args.frequencies, args.output, args.keep)
    from train.tokenizer import load_tokenizer

    summary = {"output": str(out), "vocab_size": len(load_tokenizer(str(out)))}
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
