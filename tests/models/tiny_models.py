"""Tiny randomly initialised BLIP-2 and Llama checkpoints, built offline from small configs.

Each factory writes a directory laid out exactly like a hub checkpoint (config.json, weights,
tokenizer files, processor/preprocessor config, chat template), so the stages load it through the
same code that loads real weights. Used by tests/models and by benchmarks/bench_*.py.

The tokenizers are word-level over a small English vocabulary (no hub download). With random weights
a model answers random words; the factories zero the output rows of the special tokens so that greedy
decoding never stops early or emits markup (``answer="eos"`` does the opposite: the model answers
end-of-sequence at once, which is how tests get a real empty answer).
"""
from __future__ import annotations

import os
from pathlib import Path

WORDS = (
    "a an the man woman child people dog cat car bus boat bike road street river forest kitchen table "
    "window door house room city park beach sky sun rain snow tree water field ball game team player "
    "food plate cup knife bread fish cooking cutting riding walking running sitting standing holding "
    "playing talking looking showing wearing shirt hat red blue green white black yellow small large "
    "old young two three group of in on at with and near next to front behind over under into from "
    "is are was were has have this that it he she they we you video shows scene screen text logo "
    "camera view close up shot people's person hands face hair light dark night day morning evening "
    "bridge mountain wall floor chair computer phone book paper sign shop market crowd music stage "
    "summary sentence here sure following words picture image frame then after before during while "
    "yesterday fisherman repaired wooden nobody expected wondered why looks different grandmother "
    "neighbour carried heavy suitcase plan lunch curious followed guide edge summarize sentences single "
    "not exceeding do output any additional use external information 25 , . ? ! ' \" :"
).split()

SPECIAL = ("<pad>", "<s>", "</s>", "<unk>")


def _word_level_tokenizer(extra_special=(), chat_template=None):
    """A PreTrainedTokenizerFast over WORDS: lower-cased, split on whitespace and punctuation, BOS
    prepended like Llama/OPT tokenizers do."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import AddedToken, PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(SPECIAL + tuple(extra_special))}
    for word in WORDS:
        vocab.setdefault(word, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces, no space before punctuation
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", vocab["<s>"])]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
    )
    if extra_special:  # same ids as in the vocabulary; marked special so that decoding skips them
        fast.add_tokens([AddedToken(t, special=True, normalized=False) for t in extra_special], special_tokens=True)
    if chat_template is not None:
        fast.chat_template = chat_template
    return fast


def special_ids(tokenizer) -> list:
    """Ids of every special and added token (markup a word-emitting model must never produce)."""
    return sorted(set(tokenizer.all_special_ids) | set(tokenizer.added_tokens_decoder))


def _silence_special_rows(lm_head_weight, special_ids, *, answer: str, eos_id: int):
    import torch

    with torch.no_grad():
        for i in special_ids:
            lm_head_weight[i].zero_()
        if answer == "eos":
            # every hidden state scores highest on </s>: the model stops at once
            lm_head_weight.zero_()
            lm_head_weight[eos_id].fill_(0.0)
            lm_head_weight[eos_id].add_(1.0)


def _image_processor(image_size: int):
    """BLIP-2's image processor; the PIL one needs no torchvision (older transformers lack it)."""
    try:
        from transformers.models.blip.image_processing_pil_blip import BlipImageProcessorPil as processor_class
    except ImportError:
        from transformers import BlipImageProcessor as processor_class
    return processor_class(size={"height": image_size, "width": image_size})


# Llama-2 chat's template in miniature: [INST] user [/INST] answer</s>
LLAMA_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'user' %}[INST] {{ message['content'] }} [/INST]"
    "{% elif message['role'] == 'system' %}<<SYS>> {{ message['content'] }} <</SYS>> "
    "{% else %} {{ message['content'] }} {{ eos_token }}{% endif %}{% endfor %}"
)


def make_tiny_llama(out_dir, *, chat_template: bool = True, answer: str = "words", seed: int = 0,
                    hidden_size: int = 64, num_layers: int = 2, max_positions: int = 1024) -> str:
    """A tiny Llama causal LM (head size 32, as vLLM's CPU attention needs) with a word-level
    tokenizer and, by default, a chat template. Returns the checkpoint directory."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    assert answer in ("words", "eos")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = _word_level_tokenizer(
        extra_special=("[INST]", "[/INST]", "<<SYS>>", "<</SYS>>"),
        chat_template=LLAMA_CHAT_TEMPLATE if chat_template else None,
    )
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers, num_attention_heads=hidden_size // 32, num_key_value_heads=hidden_size // 32,
        head_dim=32, max_position_embeddings=max_positions, tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, dtype="float32",
    )
    model = LlamaForCausalLM(config).eval()
    _silence_special_rows(model.lm_head.weight, special_ids(tokenizer), answer=answer,
                          eos_id=tokenizer.eos_token_id)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return str(out)


def make_tiny_blip2(out_dir, *, seed: int = 0, image_size: int = 224, answer: str = "words",
                    vision_hidden: int = 32, vision_layers: int = 1, text_hidden: int = 32,
                    text_layers: int = 1, num_query_tokens: int = 4) -> str:
    """A tiny BLIP-2 (ViT + Q-Former + OPT) with its Blip2Processor (PIL image processor, word-level
    tokenizer) saved beside it. The default sizes are for tests; larger ones give a random model with
    meaningful throughput. Returns the checkpoint directory."""
    import torch
    from transformers import (Blip2Config, Blip2ForConditionalGeneration, Blip2Processor,
                              Blip2QFormerConfig, Blip2VisionConfig, OPTConfig)

    assert answer in ("words", "eos")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = _word_level_tokenizer(extra_special=("<image>",))
    image_token_id = tokenizer.convert_tokens_to_ids("<image>")
    torch.manual_seed(seed)
    vision = Blip2VisionConfig(
        hidden_size=vision_hidden, intermediate_size=4 * vision_hidden, num_hidden_layers=vision_layers,
        num_attention_heads=max(1, vision_hidden // 32), image_size=image_size, patch_size=14,
    )
    qformer = Blip2QFormerConfig(
        hidden_size=vision_hidden, intermediate_size=4 * vision_hidden, num_hidden_layers=1,
        num_attention_heads=max(1, vision_hidden // 32), encoder_hidden_size=vision_hidden,
        vocab_size=len(tokenizer),
    )
    text = OPTConfig(
        vocab_size=len(tokenizer), hidden_size=text_hidden, ffn_dim=4 * text_hidden, num_hidden_layers=text_layers,
        num_attention_heads=max(1, text_hidden // 32), word_embed_proj_dim=text_hidden, max_position_embeddings=256,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False,
    )
    config = Blip2Config(
        vision_config=vision.to_dict(), qformer_config=qformer.to_dict(), text_config=text.to_dict(),
        num_query_tokens=num_query_tokens, image_token_index=image_token_id,
    )
    model = Blip2ForConditionalGeneration(config).eval()
    _silence_special_rows(model.get_output_embeddings().weight, special_ids(tokenizer), answer=answer,
                          eos_id=tokenizer.eos_token_id)
    model.save_pretrained(out)
    Blip2Processor(image_processor=_image_processor(image_size), tokenizer=tokenizer,
                   num_query_tokens=num_query_tokens).save_pretrained(out)
    return str(out)


if __name__ == "__main__":  # python tests/models/tiny_models.py DIR: write both for a manual run
    import sys

    root = sys.argv[1] if len(sys.argv) > 1 else "tiny-models"
    print(make_tiny_blip2(os.path.join(root, "blip2")))
    print(make_tiny_llama(os.path.join(root, "llama")))
