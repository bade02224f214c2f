"""The model stages' loading code on tiny checkpoints saved to disk, and validate_models on bad input."""

import argparse
import json

import numpy as np
import pytest

from curate.models.caption import Blip2Captioner, captioner_input_size
from curate.models.check import validate_models
from curate.models.config import AnnotateConfig, add_arguments, config_from_args
from curate.models.summarize import PromptsTokenizedOnRead, TransformersSummarizer, prompt_token_ids, summary_prompt


def test_blip2_loads_from_disk_and_captions_a_batch(tiny_blip2):
    captioner = Blip2Captioner.load(tiny_blip2, device="cpu", max_new_tokens=8)
    assert type(captioner.processor.image_processor).__name__ == "BlipImageProcessorPil"  # no torchvision
    assert captioner_input_size(tiny_blip2) == (224, 224)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (224, 224, 3), dtype=np.uint8) for _ in range(3)]
    captions = captioner.caption(images)
    assert len(captions) == 3 and all(c and len(c.split()) <= 8 for c in captions)
    # batched and one-by-one agree (no padding leaks between images)
    assert [captioner.caption([im])[0] for im in images] == captions


def test_llama_summarizer_uses_the_chat_template(tiny_llama, tiny_llama_no_template):
    summarizer = TransformersSummarizer.load(tiny_llama, device="cpu", max_new_tokens=6)
    ids = prompt_token_ids(summarizer.tokenizer, summary_prompt("A man cooks."))
    text = summarizer.tokenizer.decode(ids)
    assert text.startswith("<s> [INST]") and text.endswith("[/INST]")
    prompts = [
        summary_prompt("A man cooks fish."),
        summary_prompt("Two dogs run on a beach. The sun sets over the sea."),
    ]
    answers = summarizer.summarize(prompts)
    assert len(answers) == 2 and all(1 <= len(a.split()) <= 6 for a in answers)
    # left padding in a batch gives the same answers as one prompt at a time
    assert [summarizer.summarize([p])[0] for p in prompts] == answers

    plain = TransformersSummarizer.load(tiny_llama_no_template, device="cpu", max_new_tokens=4)
    plain_text = plain.tokenizer.decode(prompt_token_ids(plain.tokenizer, "a man is cooking"))
    assert "[INST]" not in plain_text and plain_text.startswith("<s> a man is cooking")


def test_vllm_prompts_are_tokenized_one_at_a_time_as_read(tiny_llama):
    """What VllmSummarizer hands LLM.generate: the prompt_token_ids of each message, built when vLLM
    reads it (vLLM adds each request to the engine as it reads it), none before."""
    tokenizer = TransformersSummarizer.load(tiny_llama, device="cpu").tokenizer
    messages = [summary_prompt(t) for t in ("A man cooks fish.", "Two dogs run on a beach.", "A child rides a bike.")]
    expected = [{"prompt_token_ids": prompt_token_ids(tokenizer, m)} for m in messages]
    calls = []
    apply_chat_template = tokenizer.apply_chat_template
    tokenizer.apply_chat_template = lambda *args, **kwargs: calls.append(1) or apply_chat_template(*args, **kwargs)
    prompts = PromptsTokenizedOnRead(tokenizer, messages)
    assert len(prompts) == 3 and not calls
    read = iter(prompts)
    assert next(read) == expected[0] and len(calls) == 1
    assert list(read) == expected[1:] and len(calls) == 3
    assert prompts[1:] == expected[1:] and prompts[-1] == expected[-1]


def test_cli_options_map_to_the_config():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        [
            "--caption-model",
            "m1",
            "--caption-fps",
            "0.5",
            "--summary-model",
            "m2",
            "--summary-backend",
            "transformers",
            "--summary-max-words",
            "20",
            "--model-device",
            "cpu",
        ]
    )
    config = config_from_args(args)
    assert (
        config.caption_model,
        config.caption_fps,
        config.summary_model,
        config.summary_backend,
        config.summary_max_words,
        config.device,
    ) == ("m1", 0.5, "m2", "transformers", 20, "cpu")
    assert not config_from_args(parser.parse_args([])).enabled
    assert config_from_args(None) == AnnotateConfig()
    with pytest.raises(ValueError, match="--caption-fps"):
        AnnotateConfig(caption_fps=0)
    assert config.caption_frames == "keyframe" and config.model_accelerator is None
    hint = "type:nvidia-l4;count:1;install-nvidia-driver"
    assert config_from_args(parser.parse_args(["--model-accelerator", hint])).model_accelerator == hint
    assert config_from_args(parser.parse_args(["--caption-frames", "exact"])).caption_frames == "exact"
    with pytest.raises(ValueError, match="--caption-frames must be one of .*'nearest'"):
        AnnotateConfig(caption_frames="nearest")


def test_validate_models_accepts_the_tiny_models(tiny_blip2, tiny_llama):
    config = validate_models(
        AnnotateConfig(caption_model=tiny_blip2, summary_model=tiny_llama, summary_backend="transformers")
    )
    assert config.caption_model == tiny_blip2


def test_validate_models_names_a_missing_or_wrong_model(tmp_path, tiny_llama, tiny_blip2):
    missing = str(tmp_path / "no-such-model")
    with pytest.raises(ValueError, match=r"--caption-model .*no-such-model.*no such directory"):
        validate_models(AnnotateConfig(caption_model=missing))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=r"--summary-model .*empty.*not a model directory"):
        validate_models(AnnotateConfig(summary_model=str(empty), summary_backend="transformers"))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="unreadable config.json"):
        validate_models(AnnotateConfig(caption_model=str(broken)))
    with pytest.raises(ValueError, match=r"--caption-model .*model_type 'llama', expected one of \('blip-2',\)"):
        validate_models(AnnotateConfig(caption_model=tiny_llama))
    no_tokenizer = tmp_path / "no-tokenizer"
    no_tokenizer.mkdir()
    (no_tokenizer / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(ValueError, match=r"--summary-model .*no-tokenizer.*cannot load its tokenizer"):
        validate_models(AnnotateConfig(summary_model=str(no_tokenizer), summary_backend="transformers"))
    with pytest.raises(ValueError, match=r"no-such-org/no-such-model.*not resolvable as a hub model"):
        validate_models(AnnotateConfig(caption_model="no-such-org/no-such-model"))


def test_validate_models_says_how_to_get_vllm(tiny_llama):
    pytest.importorskip("transformers")
    try:
        import vllm  # noqa: F401

        pytest.skip("vllm is installed in this environment")
    except ImportError:
        pass
    with pytest.raises(
        ValueError, match=r"--summary-backend vllm needs the vllm package.*--summary-backend transformers"
    ):
        validate_models(AnnotateConfig(summary_model=tiny_llama, summary_backend="vllm"))
