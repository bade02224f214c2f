"""Probe: one yt-dlp metadata extraction per video, turned into a VideoMeta for the filter.

The info dict is saved as ``<work_dir>/<safe id>.info.json`` (VideoMeta.info_path) and the download
stage downloads from it, so nothing is extracted twice. work_dir may be local or on any filesystem
Beam knows (default ``DIR/.probe`` under the output): it is read and written through curate.output.write,
so the download may run on another worker than the probe. Inputs that already carry an info json (a
yt-dlp download folder, a manifest with an info_path column) are read, not extracted; a local video
without one is measured with PyAV.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter
from typing import Callable, Optional

from curate import files
from curate.errors import StageError
from curate.media.cut import probe_media
from curate.media.download import (
    DownloadConfig,
    check_media_file,
    inside,
    read_info,
    with_measured,
    with_retries,
    ytdlp_options,
)
from curate.sources import local_path
from schemas import VideoMeta, safe_id


def _is_english(code: str) -> bool:
    return code.split("-")[0].lower() == "en"


def _base(code: str) -> str:
    return code.split("-")[0].lower()


def _has_codec(value) -> bool:
    return bool(value) and value != "none"


def video_language(info: dict) -> str:
    """The spoken language: the info's own field, else the language YouTube's recognizer detected
    (its "<lang>-orig" automatic captions), else the one language of all uploaded subtitles."""
    if info.get("language"):
        return _base(info["language"])
    auto = info.get("automatic_captions") or {}
    orig = sorted(k for k in auto if k.endswith("-orig"))
    if orig:
        return _base(orig[0])
    manual = {_base(k) for k in (info.get("subtitles") or {}) if k != "live_chat"}
    return manual.pop() if len(manual) == 1 else ""


def subtitle_kind(info: dict, language: str) -> str:
    """ "manual" if English subtitles were uploaded, "auto" if YouTube's recognizer made English ones,
    else "" (ASR needed). Automatic captions list machine translations into every language, so an
    automatic "en" counts only when it is the original ("en-orig") or the video is in English."""
    if any(_is_english(k) for k in (info.get("subtitles") or {})):
        return "manual"
    auto = info.get("automatic_captions") or {}
    if any(k.endswith("-orig") and _is_english(k) for k in auto):
        return "auto"
    if any(_is_english(k) for k in auto) and language in ("", "en"):
        return "auto"
    return ""


def meta_from_info(meta: VideoMeta, info: dict, *, downloaded: bool = False) -> VideoMeta:
    """Fill a VideoMeta from a yt-dlp info dict. ``downloaded``: the info describes a file already on
    disk, so its own height counts, not the best format offered."""
    formats = [f for f in info.get("formats") or () if _has_codec(f.get("vcodec", "unknown")) and f.get("height")]
    best = max(formats, key=lambda f: (f["height"], f.get("fps") or 0), default=None)
    if downloaded or best is None:
        best = info
    if downloaded:
        has_audio = _has_codec(info.get("acodec", "unknown"))
    else:
        has_audio = any(_has_codec(f.get("acodec")) for f in info.get("formats") or ()) or _has_codec(
            info.get("acodec")
        )
    language = video_language(info)
    categories = info.get("categories") or [""]
    url = meta.url
    if (not url or url.startswith("file:")) and info.get("webpage_url"):
        url = info["webpage_url"]
    return meta._replace(
        url=url,
        title=info.get("title") or meta.title,
        duration=float(info["duration"]) if info.get("duration") is not None else meta.duration,
        height=int(best["height"]) if best.get("height") else None,
        width=int(best["width"]) if best.get("width") else None,
        fps=float(best["fps"]) if best.get("fps") else None,
        category=categories[0] or "",
        language=language,
        subtitle_kind=subtitle_kind(info, language),
        has_audio=has_audio,
    )


def _subtitle_kind_of_file(path: str) -> str:
    """auto or manual, from the file itself: YouTube's recognizer leaves word timing tags."""
    try:
        with files.open_regular(path) as f:
            head = f.read(65536).decode("utf-8", errors="replace")
    except files.UnsafeFile as exc:
        raise StageError(f"subtitle_{exc.reason}", str(exc)) from None
    except FileNotFoundError:
        raise StageError("subtitle_missing", f"the subtitle file {path} does not exist") from None
    except OSError as exc:
        raise StageError("subtitle_unreadable", f"{path}: {exc.strerror or exc}") from None
    return "auto" if ("<c>" in head or "acAsrConf" in head) else "manual"


def info_json_path(work_dir: str, video_id: str) -> str:
    """``<work_dir>/<safe id>.info.json``; a local one is checked to stay inside work_dir (symlinks)."""
    name = f"{safe_id(video_id)}.info.json"
    local = local_path(work_dir)
    if local is None:  # safe_id leaves no "/" nor ".." to escape an object prefix with
        return files.join(work_dir, name)
    return str(inside(os.path.join(local, name), local))


def _fresh_info(path: str, max_age_s: float) -> Optional[dict]:
    """The info a previous run saved at ``path``, unless it is missing, unreadable or so old that its
    format URLs have expired."""
    if not files.exists(path):
        return None
    try:
        info = read_info(path, "")
    except StageError:
        return None
    fresh = isinstance(info, dict) and time.time() - (info.get("epoch") or 0) <= max_age_s
    return info if fresh else None


class Prober:
    """One worker's prober: a YoutubeDL built once, the retry policy, where info jsons go."""

    def __init__(
        self, cfg: DownloadConfig, work_dir: str, *, sleep: Callable = time.sleep, rng: Optional[random.Random] = None
    ):
        self.cfg, self.work_dir = cfg, work_dir
        self.sleep, self.rng = sleep, rng or random.Random()
        self._ydl = None
        self.notes: Counter = Counter()  # what to count besides failures (curate.beam.videos counts it)

    @property
    def ydl(self):
        if self._ydl is None:  # built on first use: folder inputs never need it
            import yt_dlp  # heavy: yt-dlp loads its extractors; only the probe and download need it

            opts = ytdlp_options(self.cfg)
            # any format will do for metadata; the download selects the real one
            opts.update(
                format=None,
                format_sort=[],
                writeinfojson=False,
                writesubtitles=False,
                writeautomaticsub=False,
                ignore_no_formats_error=True,
            )
            self._ydl = yt_dlp.YoutubeDL({k: v for k, v in opts.items() if v is not None})
        return self._ydl

    def __call__(self, meta: VideoMeta) -> VideoMeta:
        if meta.info_path:
            info = read_info(meta.info_path, meta.video_id)
            out = meta_from_info(meta, info, downloaded=bool(meta.media_path))
            if meta.media_path:  # the file is here: what it is decides, not what its info json says
                out = with_measured(out, self._measure(meta), self.notes)
            if meta.subtitle_path and not out.subtitle_kind:
                out = out._replace(subtitle_kind=_subtitle_kind_of_file(meta.subtitle_path))
            return out
        if meta.media_path:
            return self._probe_local(meta)
        if not meta.url:
            raise StageError("no_url", "nothing to probe: no url, info json or media file", video_id=meta.video_id)
        path = info_json_path(self.work_dir, meta.video_id)
        info = _fresh_info(path, self.cfg.info_max_age_s)  # a rerun probes nothing twice
        if info is None:
            info = with_retries(
                lambda: self.ydl.extract_info(meta.url, download=False),
                self.cfg,
                video_id=meta.video_id,
                what="yt-dlp probe",
                sleep=self.sleep,
                rng=self.rng,
            )
            info = self.ydl.sanitize_info(info)
            probed = meta_from_info(meta, info)
            if info.get("direct") and (probed.duration is None or probed.height is None):
                info = self._measure_direct_url(info, meta)
            # complete or absent, even when the run is killed
            files.write_bytes_atomic(path, json.dumps(info).encode("utf-8"))
        out = meta_from_info(meta, info)._replace(info_path=path)
        if meta.subtitle_path and not out.subtitle_kind:
            out = out._replace(subtitle_kind=_subtitle_kind_of_file(meta.subtitle_path))
        return out

    def _measure_direct_url(self, info: dict, meta: VideoMeta) -> dict:
        """A direct media URL (yt-dlp's generic extractor: a file:// or http(s) .mp4) comes without
        duration or size: FFmpeg measures them from the URL itself, into the info that is saved."""

        url = info.get("url") or meta.url
        try:
            measured = probe_media(local_path(url) or url, timeout=self.cfg.socket_timeout_s)
        except StageError as exc:
            raise StageError(exc.reason, exc.detail, video_id=meta.video_id) from exc
        return dict(
            info,
            duration=info.get("duration") or measured.duration,
            height=measured.height,
            width=measured.width,
            acodec="unknown" if measured.has_audio else "none",
        )

    def _measure(self, meta: VideoMeta):
        try:
            check_media_file(meta.media_path)
            return probe_media(meta.media_path)
        except StageError as exc:
            raise StageError(exc.reason, exc.detail, video_id=meta.video_id) from exc

    def _probe_local(self, meta: VideoMeta) -> VideoMeta:
        measured = self._measure(meta)
        kind = _subtitle_kind_of_file(meta.subtitle_path) if meta.subtitle_path else ""
        return meta._replace(
            duration=measured.duration,
            height=measured.height,
            width=measured.width,
            has_audio=measured.has_audio,
            subtitle_kind=kind,
        )


def probe_video(meta: VideoMeta, cfg: DownloadConfig, work_dir: str, prober: Optional[Prober] = None) -> VideoMeta:
    """Probe one video; returns it with duration, height, width, fps, category, language,
    subtitle_kind, has_audio and info_path filled. Raises StageError (http_429, unavailable, ...)."""
    return (prober or Prober(cfg, work_dir))(meta)
