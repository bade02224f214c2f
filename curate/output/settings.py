"""What the decisions stored in an output directory depend on, so that a rerun never reuses them under
other settings.

The first run into DIR records in DIR/.state/settings.json the recipe, every option that changes which
videos are kept or what their clips are, and the identity of the input (its path and a fingerprint
of its content). A rerun into DIR compares:
- other settings: refused (OutputConflictError) naming each option that differs, whatever else is
  asked: the clips already written were made under the recorded ones;
- another input, or the same input with other content (a fixed subtitle file, an edited manifest):
  refused unless the rerun retries the failed videos (``--retry-failed``), which redoes every video
  without clips under the new input and keeps the written ones.
Options that change only how the work is done (batch sizes, devices, retries, shard sizes, download
folder) are not recorded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os

from curate.errors import OutputConflictError
from curate.files import exists, join, read_bytes, size_and_mtime, write_bytes_atomic
from curate.models.asr import AsrConfig
from curate.models.config import config_from_args
from curate.sources import local_path

SETTINGS = os.path.join(".state", "settings.json")
# fields of each config that change nothing in the output
_WORK_ONLY = {
    "cut": {"clips_per_process", "timeout_s", "ffmpeg"},
    "asr": {"device", "compute_type", "cpu_threads", "download_root", "local_files_only"},
    "annotate": {
        "caption_batch_size",
        "summary_batch_size",
        "summary_backend",
        "device",
        "dtype",
        "vllm_gpu_memory_utilization",
        "vllm_max_model_len",
        "vllm_enforce_eager",
        "model_accelerator",
    },
}
# files in a yt-dlp folder up to this size are fingerprinted by content (subtitles, info json);
# larger ones (the videos) by name and size
_HASHED_BYTES = 1 << 22


def _fields(name: str, config) -> dict:
    values = dataclasses.asdict(config)
    return {
        k: list(v) if isinstance(v, tuple) else v
        for k, v in sorted(values.items())
        if k not in _WORK_ONLY.get(name, ())
    }


def run_settings(cfg) -> dict:
    """The recorded settings of a curate.config.RunConfig."""

    return {
        "recipe": cfg.recipe,
        "id_column": cfg.id_column,
        "url_column": cfg.url_column,
        "filter": _fields("filter", cfg.filter_config()),
        "cut": _fields("cut", cfg.cut),
        "use_given_spans": cfg.use_given_spans,
        "video_seconds": cfg.video_seconds,  # adds the "video" scale (missing in older records: None)
        "punctuator": cfg.punctuator,
        "asr": _fields("asr", cfg.asr or AsrConfig()),
        "annotate": _fields("annotate", config_from_args(cfg.annotate)),
    }


def _hash_stream(digest, f) -> None:
    while chunk := f.read(1 << 22):
        digest.update(chunk)


def input_fingerprint(path: str) -> str:
    """sha256 of a local manifest's bytes, of a remote one's size and modification time (not read
    here: it may be gigabytes on an object store), or of a folder's file names, sizes and the
    contents of its small files."""

    digest = hashlib.sha256()
    local = local_path(path)
    if local is None:
        digest.update(repr(size_and_mtime(path)).encode())
        return digest.hexdigest()
    if os.path.isdir(local):
        for name in sorted(os.listdir(local)):
            full = os.path.join(local, name)
            if not os.path.isfile(full):
                continue
            size = os.path.getsize(full)
            # the name's own bytes: a name that is not UTF-8 is listed as lone surrogates
            digest.update(os.fsencode(name) + f"\0{size}\0".encode())
            if size <= _HASHED_BYTES:
                with open(full, "rb") as f:
                    _hash_stream(digest, f)
        return digest.hexdigest()
    with open(local, "rb") as f:
        _hash_stream(digest, f)
    return digest.hexdigest()


def _differences(recorded: dict, current: dict, prefix: str = "") -> list:
    out = []
    for key in sorted(set(recorded) | set(current)):
        then, now = recorded.get(key), current.get(key)
        if isinstance(then, dict) and isinstance(now, dict):
            out += _differences(then, now, f"{prefix}{key}.")
        elif then != now:
            out.append(f"{prefix}{key}: {then!r} then, {now!r} now")
    return out


def _fill_older_record(recorded: dict, current: dict) -> dict:
    """Settings recorded before an option existed, read with what the run did then: frames were
    captioned at the grid times ("exact") before --caption-frames (which matters only with a
    caption model)."""
    annotate = dict(recorded.get("annotate", {}))
    if "caption_frames" not in annotate:
        then = "exact" if annotate.get("caption_model") else current.get("annotate", {}).get("caption_frames")
        annotate["caption_frames"] = then
    return {**recorded, "annotate": annotate}


def check_rerun(out_dir: str, cfg, *, retry_failed: bool = False) -> None:
    """Refuse (OutputConflictError) a run into `out_dir` whose settings or input differ from the ones
    recorded there, as the module docstring says; record them when the run may go on."""
    path = join(out_dir, SETTINGS)
    current = {"settings": run_settings(cfg), "input": cfg.input, "input_fingerprint": input_fingerprint(cfg.input)}
    if exists(path):
        try:
            recorded = json.loads(read_bytes(path))
            recorded["settings"], recorded["input"], recorded["input_fingerprint"]  # noqa: B018
        except (ValueError, KeyError, TypeError) as exc:
            raise OutputConflictError(
                f"{path} is damaged ({type(exc).__name__}: {exc}). It records the settings and input "
                f"{out_dir} was made with, which a rerun must match. Restore it from a backup; or, if you "
                "know this run uses the same settings and input, delete it and rerun (this run's are "
                "then recorded); or write to a new --output"
            ) from None
        older = _fill_older_record(recorded["settings"], current["settings"])
        changed = _differences(older, current["settings"])
        if changed:
            raise OutputConflictError(
                f"{out_dir} holds a run made with other settings ({'; '.join(changed)}); its clips and "
                "decisions depend on them. Rerun with the recorded settings, or write to a new --output"
            )
        same_input = recorded["input"] == current["input"]
        if not same_input or recorded["input_fingerprint"] != current["input_fingerprint"]:
            what = "the same --input with changed content" if same_input else "another --input"
            if not retry_failed:
                raise OutputConflictError(
                    f"{out_dir} was curated from {recorded['input']}; this run reads {what}. Videos "
                    "already written are kept and the dropped ones would keep their old decisions: add "
                    "--retry-failed to redo the dropped videos with this input, or write to a new --output"
                )
    write_bytes_atomic(path, json.dumps(current, indent=2, sort_keys=True).encode())


def made_with(out_dir: str) -> dict:
    """The models that made the dataset in `out_dir`, from its recorded settings: {"punctuator",
    "asr_model", "caption_model", "summary_model"}, None where none was used (or nothing is recorded)."""
    path = join(out_dir, SETTINGS)
    try:
        settings = json.loads(read_bytes(path))["settings"] if exists(path) else {}
    except (ValueError, KeyError, TypeError):
        settings = {}
    annotate = settings.get("annotate") or {}
    return {
        "punctuator": settings.get("punctuator"),
        "asr_model": (settings.get("asr") or {}).get("model"),
        "caption_model": annotate.get("caption_model"),
        "summary_model": annotate.get("summary_model"),
    }
