"""Tiny models built offline: randomly initialised BLIP-2, Llama and CLIP checkpoints from small configs,
a punctuators-format ONNX punctuator and a CLIP-compatible BPE tokenizer.

Each factory writes a directory laid out exactly like a hub checkpoint (config.json, weights,
tokenizer files, processor/preprocessor config, chat template), so the stages load it through the
same code that loads real weights. Used by the tests, by benchmarks/bench_*.py and by
scripts/check_vllm_backend.py (in the vLLM venv, which has no pytest: this module imports none).

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
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
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


def make_tiny_llama(
    out_dir,
    *,
    chat_template: bool = True,
    answer: str = "words",
    seed: int = 0,
    hidden_size: int = 64,
    num_layers: int = 2,
    max_positions: int = 1024,
) -> str:
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
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=hidden_size // 32,
        num_key_value_heads=hidden_size // 32,
        head_dim=32,
        max_position_embeddings=max_positions,
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        dtype="float32",
    )
    model = LlamaForCausalLM(config).eval()
    _silence_special_rows(model.lm_head.weight, special_ids(tokenizer), answer=answer, eos_id=tokenizer.eos_token_id)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return str(out)


def make_tiny_blip2(
    out_dir,
    *,
    seed: int = 0,
    image_size: int = 224,
    answer: str = "words",
    vision_hidden: int = 32,
    vision_layers: int = 1,
    text_hidden: int = 32,
    text_layers: int = 1,
    num_query_tokens: int = 4,
) -> str:
    """A tiny BLIP-2 (ViT + Q-Former + OPT) with its Blip2Processor (PIL image processor, word-level
    tokenizer) saved beside it. The default sizes are for tests; larger ones give a random model with
    meaningful throughput. Returns the checkpoint directory."""
    import torch
    from transformers import (
        Blip2Config,
        Blip2ForConditionalGeneration,
        Blip2Processor,
        Blip2QFormerConfig,
        Blip2VisionConfig,
        OPTConfig,
    )

    assert answer in ("words", "eos")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = _word_level_tokenizer(extra_special=("<image>",))
    image_token_id = tokenizer.convert_tokens_to_ids("<image>")
    torch.manual_seed(seed)
    vision = Blip2VisionConfig(
        hidden_size=vision_hidden,
        intermediate_size=4 * vision_hidden,
        num_hidden_layers=vision_layers,
        num_attention_heads=max(1, vision_hidden // 32),
        image_size=image_size,
        patch_size=14,
    )
    qformer = Blip2QFormerConfig(
        hidden_size=vision_hidden,
        intermediate_size=4 * vision_hidden,
        num_hidden_layers=1,
        num_attention_heads=max(1, vision_hidden // 32),
        encoder_hidden_size=vision_hidden,
        vocab_size=len(tokenizer),
    )
    text = OPTConfig(
        vocab_size=len(tokenizer),
        hidden_size=text_hidden,
        ffn_dim=4 * text_hidden,
        num_hidden_layers=text_layers,
        num_attention_heads=max(1, text_hidden // 32),
        word_embed_proj_dim=text_hidden,
        max_position_embeddings=256,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    config = Blip2Config(
        vision_config=vision.to_dict(),
        qformer_config=qformer.to_dict(),
        text_config=text.to_dict(),
        num_query_tokens=num_query_tokens,
        image_token_index=image_token_id,
    )
    model = Blip2ForConditionalGeneration(config).eval()
    _silence_special_rows(
        model.get_output_embeddings().weight, special_ids(tokenizer), answer=answer, eos_id=tokenizer.eos_token_id
    )
    model.save_pretrained(out)
    Blip2Processor(
        image_processor=_image_processor(image_size), tokenizer=tokenizer, num_query_tokens=num_query_tokens
    ).save_pretrained(out)
    return str(out)


def make_tiny_punctuator(out_dir, *, seed: int = 0, max_length: int = 48, vocab_size: int = 120) -> str:
    """A randomly initialised punctuators-format model (SentencePiece tokenizer trained here on
    generated sentences, a 4-head ONNX graph, config.yaml), so that curate.text.load_punctuator and
    inference run through the package's real code. Its punctuation is random, not learned.
    max_length is small so that long texts take the package's overlapping-window path."""
    import numpy as np
    import onnx
    import sentencepiece as spm
    from onnx import TensorProto, helper, numpy_helper

    from factories.media import SAMPLE_SENTENCES
    from samplemedia import sentences_for

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    corpus = out / "corpus.txt"
    text = sentences_for(600, seed=seed) + SAMPLE_SENTENCES
    corpus.write_text("\n".join(s.lower() for s in text), encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(corpus),
        model_prefix=str(out / "sp"),
        vocab_size=vocab_size,
        model_type="unigram",
        max_sentencepiece_length=8,
        character_coverage=1.0,
        bos_id=1,
        eos_id=2,
        pad_id=3,
        unk_id=0,
        minloglevel=2,
    )
    corpus.unlink()
    pre_labels, post_labels = ["<NULL>", "¿"], ["<NULL>", ".", ",", "?"]
    max_chars, dim = 16, 8
    rng = np.random.default_rng(seed)

    def weights(name, *shape, bias=0.0):
        return numpy_helper.from_array((rng.standard_normal(shape) + bias).astype(np.float32), name)

    seg_bias = np.zeros((dim, 2), np.float32)
    seg_bias[:, 0] = 1.5  # most tokens are not sentence ends
    inits = [
        weights("embed", vocab_size, dim),
        weights("w_pre", dim, len(pre_labels)),
        weights("w_post", dim, len(post_labels)),
        weights("w_cap", dim, max_chars * 2),
        numpy_helper.from_array((rng.standard_normal((dim, 2)) + seg_bias).astype(np.float32), "w_seg"),
        numpy_helper.from_array(np.array([0, 0, max_chars, 2], np.int64), "cap_shape"),
    ]
    nodes = [
        helper.make_node("Gather", ["embed", "input_ids"], ["h"]),
        helper.make_node("MatMul", ["h", "w_pre"], ["pre_logits"]),
        helper.make_node("ArgMax", ["pre_logits"], ["pre_preds"], axis=-1, keepdims=0),
        helper.make_node("MatMul", ["h", "w_post"], ["post_logits"]),
        helper.make_node("ArgMax", ["post_logits"], ["post_preds"], axis=-1, keepdims=0),
        helper.make_node("MatMul", ["h", "w_cap"], ["cap_flat"]),
        helper.make_node("Reshape", ["cap_flat", "cap_shape"], ["cap_logits"]),
        helper.make_node("ArgMax", ["cap_logits"], ["cap_preds"], axis=-1, keepdims=0),
        helper.make_node("MatMul", ["h", "w_seg"], ["seg_logits"]),
        helper.make_node("ArgMax", ["seg_logits"], ["seg_preds"], axis=-1, keepdims=0),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_punct_cap_seg",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["B", "T"])],
        [
            helper.make_tensor_value_info(n, TensorProto.INT64, shape)
            for n, shape in (
                ("pre_preds", ["B", "T"]),
                ("post_preds", ["B", "T"]),
                ("cap_preds", ["B", "T", max_chars]),
                ("seg_preds", ["B", "T"]),
            )
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(out / "model.onnx"))
    (out / "config.yaml").write_text(
        f"max_length: {max_length}\nlanguages: [en]\nnull_token: <NULL>\n"
        f"pre_labels: {json_list(pre_labels)}\npost_labels: {json_list(post_labels)}\n",
        encoding="utf-8",
    )
    return str(out)


def json_list(items) -> str:
    import json

    return json.dumps(items, ensure_ascii=False)


def save_tiny_clip(directory, cfg):
    """A randomly initialised transformers CLIPModel with the tower shapes of `cfg` (a ModelConfig or any
    config with the same tower fields), saved with save_pretrained."""
    import torch
    from transformers import CLIPConfig, CLIPModel

    common = dict(intermediate_size=None, hidden_act=cfg.hidden_act, layer_norm_eps=cfg.layer_norm_eps)
    text = dict(
        common,
        hidden_size=cfg.text_width,
        num_hidden_layers=cfg.text_layers,
        num_attention_heads=cfg.text_heads,
        intermediate_size=int(cfg.text_width * cfg.mlp_ratio),
        vocab_size=cfg.vocab_size,
        max_position_embeddings=cfg.context_length,
        bos_token_id=cfg.vocab_size - 2,
        eos_token_id=cfg.vocab_size - 1,
        pad_token_id=0,
    )
    vision = dict(
        common,
        hidden_size=cfg.vision_width,
        num_hidden_layers=cfg.vision_layers,
        num_attention_heads=cfg.vision_heads,
        intermediate_size=int(cfg.vision_width * cfg.mlp_ratio),
        image_size=cfg.image_size,
        patch_size=cfg.patch_size,
    )
    torch.manual_seed(123)
    clip = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=cfg.embed_dim)).eval()
    with torch.no_grad():  # HF zero-inits biases and uses unit LayerNorms: make every tensor distinctive
        for p in clip.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    clip.save_pretrained(directory)
    return clip


def saved_tiny_clip(tmp_path_factory, cfg, name: str = "tiny-clip") -> tuple:
    """(cfg, directory, model): save_tiny_clip of ``cfg`` in a fresh folder of the session."""
    directory = tmp_path_factory.mktemp(name)
    return cfg, directory, save_tiny_clip(directory, cfg)


def make_tiny_tokenizer(out_dir) -> Path:
    """A BPE tokenizer trained offline on the sentences of the tiny shards (factories.shards)."""
    from factories.shards import WORDS as SHARD_WORDS
    from factories.shards import sentence
    from train.tokenizer import build_bpe_tokenizer

    texts = [sentence(i) for i in range(300)] + [" ".join(SHARD_WORDS)]
    return build_bpe_tokenizer(texts, out_dir, vocab_size=600)


if __name__ == "__main__":  # python tests/factories/models.py DIR: write both for a manual run
    import sys

    root = sys.argv[1] if len(sys.argv) > 1 else "tiny-models"
    print(make_tiny_blip2(os.path.join(root, "blip2")))
    print(make_tiny_llama(os.path.join(root, "llama")))
