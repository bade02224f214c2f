"""ASR for videos without usable subtitles: faster-whisper with word timestamps and VAD.

The model (a name faster-whisper knows, e.g. "tiny.en", "large-v3", or a local CTranslate2 folder) is
loaded once per worker, by the first video that needs it (a run whose videos all have subtitles
never loads one, nor needs it on disk); its segments become a schemas.Transcript through the text core
(curate.text.transcript_from_asr), the same path subtitles take after parsing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

from curate.errors import StageError
from curate.text import transcript_from_asr
from schemas import Transcript, VideoMeta


@dataclass(frozen=True)
class AsrConfig:
    model: str = "tiny.en"  # faster-whisper model name, or a local CTranslate2 model folder
    model_name: str = ""  # name recorded in Transcript.source ("asr:<name>"); default from model
    device: str = "cpu"  # "cpu", "cuda" or "auto"
    compute_type: str = "int8"  # CTranslate2 compute type: "int8", "float16", "int8_float16", ...
    cpu_threads: int = 0  # 0: CTranslate2's default
    language: Optional[str] = "en"  # None: let Whisper detect it
    beam_size: int = 5
    vad_filter: bool = True  # skip silence with Silero VAD (fewer hallucinated words)
    download_root: Optional[str] = None  # where model names are cached
    local_files_only: bool = False  # never fetch a model name from the hub

    @property
    def name(self) -> str:
        return self.model_name or os.path.basename(os.path.normpath(str(self.model)))


def load_model(cfg: AsrConfig):
    """The faster-whisper WhisperModel of cfg (heavy: once per worker)."""
    try:
        from faster_whisper import WhisperModel  # heavy: only the ASR stage needs faster-whisper (asr extra)
    except ImportError as exc:
        raise ImportError("ASR needs faster-whisper: pip install 'vidlang[asr]'") from exc
    return WhisperModel(
        str(cfg.model),
        device=cfg.device,
        compute_type=cfg.compute_type,
        cpu_threads=cfg.cpu_threads,
        download_root=cfg.download_root,
        local_files_only=cfg.local_files_only,
    )


class ModelOnFirstUse:
    """load_model(cfg), deferred to the first transcribe() call; what TranscribeAudio's workers hold."""

    def __init__(self, cfg: AsrConfig):
        self._cfg, self._model, self._error = cfg, None, None

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def transcribe(self, *args, **kwargs):
        if self._model is None:
            if self._error is None:  # a model that failed to load is not loaded again for every video
                try:
                    self._model = load_model(self._cfg)
                except Exception as exc:  # noqa: BLE001 - each video needing it gets a failure record
                    self._error = f"cannot load ASR model {self._cfg.model!r}: {type(exc).__name__}: {exc}"
            if self._error is not None:
                raise StageError("asr_model_unavailable", self._error)
        return self._model.transcribe(*args, **kwargs)


def has_audio_stream(path: str) -> bool:
    import av  # heavy: PyAV, only where media is decoded

    try:
        with av.open(path) as container:
            return bool(container.streams.audio)
    except av.error.FFmpegError as exc:
        raise StageError("unreadable_media", f"{path}: {exc}") from exc


def needs_asr(meta: VideoMeta) -> bool:
    """A video whose transcript must come from ASR: no subtitle file was found or downloaded."""
    return not meta.subtitle_path


def transcribe_video(meta: VideoMeta, model, cfg: AsrConfig = AsrConfig()) -> Transcript:
    """Whisper words with times for a downloaded video. Raises StageError "no_media", "no_audio",
    "unreadable_media", or the text core's ("no_words" when Whisper hears nothing)."""

    if not meta.media_path or not os.path.isfile(meta.media_path):
        raise StageError("no_media", f"no downloaded video to transcribe ({meta.media_path!r})", video_id=meta.video_id)
    try:
        audio = meta.has_audio if meta.has_audio is not None else has_audio_stream(meta.media_path)
    except StageError as exc:
        raise StageError(exc.reason, exc.detail, video_id=meta.video_id) from exc
    if not audio:
        raise StageError(
            "no_audio", f"{meta.media_path} has no audio stream and no usable subtitles", video_id=meta.video_id
        )
    segments, info = model.transcribe(
        meta.media_path, language=cfg.language, beam_size=cfg.beam_size, word_timestamps=True, vad_filter=cfg.vad_filter
    )
    return transcript_from_asr(list(segments), meta.video_id, cfg.name, cfg.language or info.language)
