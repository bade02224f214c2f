"""Download: the chosen format, English subtitles and the info json of each video, with yt-dlp as a
library (never a shell).

The probe stage saved each video's info dict (VideoMeta.info_path); downloading is
``YoutubeDL.process_ie_result(info, download=True)`` on it, so a video is extracted once, not once per
artefact. Transient errors (HTTP 429/403/5xx, timeouts, cut connections) are retried with
exponential backoff and jitter; the last yt-dlp error text is kept in the failure. Files go to
``<output_dir>/videos/<safe id>/<safe id>.<ext>``: names come from schemas.safe_id, never from the
id or title as given, and every path is checked to resolve inside the output directory. A download
is made in a staging folder of this run's own and renamed into place once it is checked, and runs
that share the download folder never delete a video another one still uses (curate.media.sharing).

yt-dlp writes only to a local disk, so when output_dir is remote (gs://, s3://, any Beam filesystem)
a video goes to a scratch folder on the worker's own disk instead (download_root). The recipes keep
download -> transcript -> plan -> cut fused on that worker (no shuffle between them) and discard the
folder once the video's clips are staged or the video failed after its download (discard_download).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import random
import re
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from curate import files
from curate.errors import StageError
from curate.files import UnsafeFile, check_regular
from curate.media import sharing
from curate.media.cut import probe_media
from curate.media.deadline import DeadlineExceeded, Stalled, call_with_deadline
from curate.sources import local_path, read_sources
from schemas import VideoMeta, safe_id

log = logging.getLogger(__name__)

# statuses worth another try: rate limiting, YouTube's throttling 403s, server trouble
RETRY_STATUSES = frozenset({403, 408, 429, 500, 502, 503, 504})
# yt-dlp messages that mean the video will never download, whatever we retry
_UNAVAILABLE = re.compile(
    r"video unavailable|private video|has been removed|no longer available|account .* terminated|"
    r"members[- ]only|not available in your country|confirm your age|premieres in|live event will begin",
    re.IGNORECASE,
)
_BOT_CHECK = re.compile(r"confirm you.?re not a bot", re.IGNORECASE)
_TIMEOUT = re.compile(r"timed? ?out", re.IGNORECASE)
_TRUNCATED = re.compile(
    r"content ?too ?short|incomplete ?read|connection (?:reset|aborted)|"
    r"remote end closed|retrieved only|bytes read, \d+ more expected",
    re.IGNORECASE,
)
_HTTP_STATUS = re.compile(r"HTTP Error (\d{3})")
# An info json lists a video's formats and subtitles: a few MiB at most, even with comments
MAX_INFO_JSON_BYTES = 64 * 2**20


@dataclass(frozen=True)
class DownloadConfig:
    # files go to <output_dir>/videos/<safe id>/ when output_dir is local; when it is remote, to a
    # scratch folder on the worker's disk (download_root)
    output_dir: str
    min_height: int = 720  # never download a video stream known to be below this height
    target_height: int = 720  # prefer this height (the smallest above it when it is missing)
    format: Optional[str] = None  # a yt-dlp format string that replaces the selection above
    subtitle_langs: tuple = ("en", "en-orig", "en-.*")  # yt-dlp subtitleslangs (regexes)
    subtitle_format: str = "json3/vtt/srt/best"  # preference order of subtitle formats
    retries: int = 5  # further attempts after the first, on transient errors only
    backoff_base_s: float = 2.0  # first retry waits about this long, doubling each time
    backoff_max_s: float = 300.0  # cap of one wait
    jitter: float = 0.5  # each wait is scaled by a random factor in [1 - jitter, 1]
    min_interval_s: float = 0.0  # per-worker rate limit: at least this long between two downloads
    ratelimit_bytes_per_s: Optional[int] = None  # per-worker bandwidth cap (yt-dlp's ratelimit)
    socket_timeout_s: float = 30.0  # each wait for data (a trickling server never trips it: min_rate)
    # A download that writes less than this many bytes per second over any rate_window_s is killed
    # (a server trickling a few bytes a second; a retry may get a faster one) and fails "too_slow":
    # at 32 KiB/s a 10-minute 720p video would not even be done by deadline_s. 0: no minimum.
    min_rate_bytes_per_s: float = 32 * 1024
    rate_window_s: float = 60.0
    # wall-clock bound of one video's whole download, retries included; past it the download is
    # killed and the video fails with reason "deadline"
    deadline_s: float = 1800.0
    cookies_file: Optional[str] = None  # Netscape cookies.txt, for age/bot checks
    proxy: Optional[str] = None  # e.g. "socks5://127.0.0.1:1080"
    allow_file_urls: bool = True  # let file:// format URLs through (local mirrors, offline tests)
    # YouTube's format URLs expire after about 6 hours: an info json older than this (its "epoch",
    # the time of extraction) is extracted again from its page instead of being downloaded from
    info_max_age_s: float = 4 * 3600.0
    extra_ytdlp_options: dict = field(default_factory=dict)  # anything else, passed to YoutubeDL as is

    def __post_init__(self):
        if self.retries < 0 or self.backoff_base_s < 0 or not 0 <= self.jitter <= 1:
            raise ValueError("retries and backoff_base_s must be >= 0 and jitter within [0, 1]")
        if not self.deadline_s > 0:
            raise ValueError(f"the download deadline must be > 0 seconds, got {self.deadline_s}")
        if not self.min_rate_bytes_per_s >= 0 or not self.rate_window_s > 0:
            raise ValueError(
                f"the minimum download rate must be >= 0 and its window > 0 seconds, got "
                f"{self.min_rate_bytes_per_s} B/s over {self.rate_window_s} s"
            )
        try:  # downloads run in a child process (so that the deadline can kill them): options must pickle
            pickle.dumps(self.extra_ytdlp_options)
        except Exception as exc:  # noqa: BLE001 - any pickling error says the same
            raise ValueError(
                f"extra_ytdlp_options must be picklable (no lambdas or open handles; "
                f"downloads run in a child process): {exc}"
            ) from exc
        if self.cookies_file and not os.path.isfile(self.cookies_file):
            raise ValueError(f"cookies file {self.cookies_file} does not exist")

    @property
    def format_selector(self) -> str:
        # ">=?": a format whose height is unknown (a direct link) may still be the one; the filter
        # stage has already checked the probed height
        h = f"[height>=?{self.min_height}]" if self.min_height > 0 else ""
        return self.format or f"bv*{h}+ba/b{h}"


class _QuietLogger:
    """yt-dlp's messages go to Python logging at debug level: its errors reach the caller as
    exceptions (and then Failure records), so printing them too would only add noise."""

    def __init__(self):
        self._log = logging.getLogger("curate.ytdlp")

    def debug(self, msg):
        self._log.debug(msg)

    info = warning = error = debug


def ytdlp_options(cfg: DownloadConfig) -> dict:
    """YoutubeDL params shared by the probe and the download (network, quiet, no internal retries:
    retrying is ours, so that backoff and the failure record are in one place)."""
    opts = {
        "quiet": True,
        "no_warnings": True,
        "logger": _QuietLogger(),
        "noprogress": True,
        "color": {"stderr": "no_color"},
        "socket_timeout": cfg.socket_timeout_s,
        "retries": 0,
        "fragment_retries": 0,
        "extractor_retries": 0,
        "file_access_retries": 0,
        "enable_file_urls": cfg.allow_file_urls,
        "format": cfg.format_selector,
        "format_sort": [f"res:{cfg.target_height}", "ext:mp4:m4a"],
        "merge_output_format": "mp4",
        "writesubtitles": True,
        "writeautomaticsub": True,
        "subtitleslangs": list(cfg.subtitle_langs),
        "subtitlesformat": cfg.subtitle_format,
        "writeinfojson": True,
        "overwrites": False,
        "continuedl": True,
        "noplaylist": True,
    }
    if cfg.ratelimit_bytes_per_s:
        opts["ratelimit"] = cfg.ratelimit_bytes_per_s
    if cfg.cookies_file:
        opts["cookiefile"] = cfg.cookies_file
    if cfg.proxy:
        opts["proxy"] = cfg.proxy
    opts.update(cfg.extra_ytdlp_options)
    return opts


# ---------------------------------------------------------------------------------------------
# errors and retries


def _chain(exc: BaseException):
    """The error and what it wraps: yt-dlp's exc_info, causes and contexts."""
    seen, stack = set(), [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        exc_info = getattr(e, "exc_info", None)
        stack += [exc_info[1] if exc_info else None, e.__cause__, e.__context__]


def _http_status(exc: BaseException) -> Optional[int]:
    """The HTTP status behind a yt-dlp error, from the wrapped HTTPError or else the text."""
    for e in _chain(exc):
        status = getattr(e, "status", None) or getattr(e, "code", None)
        if isinstance(status, int) and 100 <= status < 600:
            return status
    match = _HTTP_STATUS.search(str(exc))
    return int(match.group(1)) if match else None


class AttemptFailed(Exception):
    """One download attempt's yt-dlp error, classified where it happened (in the download's child
    process) so that it crosses back as plain values."""

    def __init__(self, reason: str, retryable: bool, retry_after: Optional[float], text: str):
        super().__init__(reason, retryable, retry_after, text)
        self.reason, self.retryable, self.retry_after, self.text = reason, retryable, retry_after, text

    def __str__(self) -> str:
        return self.text


def classify_error(exc: BaseException) -> tuple[str, bool]:
    """(reason, retryable) of a yt-dlp failure: ("http_429", True), ("unavailable", False), ..."""
    if isinstance(exc, AttemptFailed):
        return exc.reason, exc.retryable
    # the message and the names of the wrapped errors (IncompleteRead, TimeoutError, ...)
    text = " ".join([str(exc)] + [type(e).__name__ for e in _chain(exc)])
    status = _http_status(exc)
    if status is not None:
        return f"http_{status}", status in RETRY_STATUSES
    if _UNAVAILABLE.search(text):
        return "unavailable", False
    if _BOT_CHECK.search(text):
        return "bot_check", False  # retrying makes it worse; cookies help
    if _TIMEOUT.search(text):
        return "timeout", True
    if _TRUNCATED.search(text):
        return "connection_cut", True
    if "did not get any data blocks" in text.lower():
        return "zero_length", True  # an empty body: sometimes a server hiccup, so worth a retry
    return "download_error", False


def _retry_after(exc: BaseException) -> Optional[float]:
    """Seconds from a Retry-After header on the HTTP error, when the server sent one."""
    if isinstance(exc, AttemptFailed):
        return exc.retry_after
    for e in (getattr(exc, "exc_info", None) or (None, None))[1], exc:
        response = getattr(e, "response", None)
        value = getattr(response, "headers", {}).get("Retry-After") if response is not None else None
        if value and str(value).strip().isdigit():
            return float(value)
    return None


def backoff_delay(attempt: int, cfg: DownloadConfig, rng: random.Random, retry_after: Optional[float] = None) -> float:
    """Wait before retry number ``attempt`` (0-based): base * 2^attempt capped, times a jitter
    factor in [1 - jitter, 1], and never shorter than the server's Retry-After (capped too)."""
    delay = min(cfg.backoff_max_s, cfg.backoff_base_s * 2**attempt) * (1 - cfg.jitter * rng.random())
    return min(cfg.backoff_max_s, max(delay, retry_after or 0.0))


def with_retries(
    call: Callable,
    cfg: DownloadConfig,
    *,
    video_id: str,
    what: str,
    sleep: Callable = time.sleep,
    rng: Optional[random.Random] = None,
):
    """``call()`` until it succeeds, retrying transient yt-dlp errors; StageError(reason, the
    last yt-dlp error text) when it gives up."""
    import yt_dlp  # heavy: yt-dlp loads its extractors; only the probe and download need it

    rng = rng or random.Random()
    attempt = 0
    while True:
        try:
            return call()
        except (yt_dlp.utils.DownloadError, yt_dlp.utils.ExtractorError, OSError, AttemptFailed) as exc:
            reason, retryable = classify_error(exc)
            if not retryable or attempt >= cfg.retries:
                tries = f" (after {attempt + 1} attempts)" if attempt else ""
                raise StageError(reason, f"{what}{tries}: {_clean(str(exc))}", video_id=video_id) from exc
            sleep(backoff_delay(attempt, cfg, rng, _retry_after(exc)))
            attempt += 1


def _clean(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text).strip()


# ---------------------------------------------------------------------------------------------
# paths and validation


def inside(path, root) -> Path:
    """``path`` resolved; StageError when it is not inside ``root`` (symlinks and ``..`` resolved)."""
    resolved, base = Path(path).resolve(), Path(root).resolve()
    if resolved != base and base not in resolved.parents:
        raise StageError("unsafe_path", f"{path} resolves outside {root}")
    return resolved


def download_root(cfg: DownloadConfig) -> Path:
    """Where yt-dlp writes: output_dir when it is local, else a scratch folder on this worker's disk,
    the same for every process of the worker (so the stage that discards a download finds it)."""

    local = local_path(cfg.output_dir)
    if local is not None:
        return Path(local)
    tag = hashlib.sha1(cfg.output_dir.encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"curate-downloads-{tag}"


def video_dir(cfg: DownloadConfig, video_id: str) -> Path:
    """``<download_root>/videos/<safe id>``, checked to stay inside the download root."""
    root = download_root(cfg) / "videos"
    return inside(root / safe_id(video_id), root)


def discard_download(video_id: str, cfg: DownloadConfig) -> bool:
    """This run is done with the folder the download stage used for a video (video_dir): its clips
    are staged, or it failed for good. The folder is deleted unless another run sharing the download
    folder still uses it (curate.media.sharing: then that run deletes it). Media that a source already
    had (a yt-dlp folder input) is used where it is and never lands there. Returns whether a folder
    was deleted."""

    return sharing.release(video_dir(cfg, video_id))


def read_info(path: str, video_id: str) -> dict:
    """The yt-dlp info dict saved at ``path`` (local or on any Beam filesystem, see curate.output.write).
    Raises StageError("bad_info_json") when it is missing, unreadable or not a JSON object, and
    "info_json_not_a_file" / "info_json_too_large" (unread) for a path that is not a regular file
    or a file over MAX_INFO_JSON_BYTES."""

    try:
        info = json.loads(files.read_regular(path, MAX_INFO_JSON_BYTES))
    except files.UnsafeFile as exc:
        raise StageError(f"info_json_{exc.reason}", str(exc), video_id=video_id) from None
    except (OSError, ValueError) as exc:  # Beam's BeamIOError is an OSError
        raise StageError("bad_info_json", f"{path}: {exc}", video_id=video_id) from exc
    if not isinstance(info, dict):
        raise StageError("bad_info_json", f"{path} is not a JSON object", video_id=video_id)
    return info


def check_media_file(path: str) -> None:
    """StageError "missing_media", "media_not_a_file" or "zero_length" unless ``path`` is a regular
    file with something in it (checked before FFmpeg opens it: it would wait forever on a pipe)."""

    try:
        check_regular(path)
    except UnsafeFile as exc:
        raise StageError("media_not_a_file", str(exc)) from None
    except OSError:
        raise StageError("missing_media", f"{path} does not exist") from None
    if os.path.getsize(path) == 0:
        raise StageError("zero_length", f"{path} is empty (0 bytes)")


def validate_media(path: str):
    """Check that a downloaded file is a whole, playable video. Returns what was measured
    (curate.media.cut.SourceInfo: duration, width, height, has_audio); raises StageError "zero_length",
    "truncated_video" or curate.media.cut.probe_media's reasons."""
    import av  # heavy: PyAV, only where media is decoded

    check_media_file(path)
    info = probe_media(path)  # opens it, needs a video stream, decodes the first frame
    if info.duration <= 0:
        raise StageError("zero_length", f"{path} has duration {info.duration}")
    # A file cut short keeps its header (mp4 with faststart), so the header is not enough: every
    # packet the index declares must be readable.
    try:
        with av.open(path) as container:
            declared = {s.index: s.frames for s in container.streams if s.frames}
            counted = dict.fromkeys(declared, 0)
            for packet in container.demux():
                if packet.size and packet.stream.index in counted:
                    counted[packet.stream.index] += 1
    except av.error.FFmpegError as exc:
        raise StageError("corrupt_video", f"{path}: {exc}") from exc
    short = {i: (counted[i], n) for i, n in declared.items() if counted[i] < n}
    if short:
        got, want = next(iter(short.values()))
        raise StageError("truncated_video", f"{path}: only {got} of {want} packets of a stream are present")
    return info


# ---------------------------------------------------------------------------------------------
# the download


class Downloader:
    """One worker's downloader: a YoutubeDL built once, the rate limit, the retry policy.

    sleep and rng are injectable so that tests of the retries run in milliseconds.
    """

    def __init__(
        self,
        cfg: DownloadConfig,
        *,
        sleep: Callable = time.sleep,
        rng: Optional[random.Random] = None,
        clock: Callable = time.monotonic,
    ):
        self.cfg = cfg
        self.sleep, self.rng, self.clock = sleep, rng or random.Random(), clock
        self._last_start: Optional[float] = None
        self.notes: Counter = Counter()  # what to count besides failures (curate.beam.videos counts it)

    def _wait_for_rate_limit(self) -> None:
        if self._last_start is not None and self.cfg.min_interval_s > 0:
            wait = self._last_start + self.cfg.min_interval_s - self.clock()
            if wait > 0:
                self.sleep(wait)
        self._last_start = self.clock()

    def _with_media(self, meta: VideoMeta, found: VideoMeta, measured=None) -> VideoMeta:
        """``meta`` with the files of a download (or of the input: ``found`` is ``meta``), checked to
        be a whole video (unless ``measured`` is given: it was), and what its stream measures;
        StageError below cfg.min_height."""
        if measured is None:
            measured = _validated(found.media_path, meta.video_id)
        declared = meta.height if found is meta else _declared_height(found.info_path)
        # a subtitle file the manifest names is the user's choice: it wins over what the download brought
        out = with_measured(meta._replace(height=declared), measured, self.notes)._replace(
            media_path=found.media_path,
            subtitle_path=meta.subtitle_path or found.subtitle_path or "",
            info_path=found.info_path or meta.info_path,
        )
        if out.height < self.cfg.min_height:  # what a server sent may be less than what it declared
            raise StageError(
                f"below_{self.cfg.min_height}p",
                f"{found.media_path}: the video stream is {out.width}x{out.height} (declared height: {declared})",
                video_id=meta.video_id,
            )
        return out

    def __call__(self, meta: VideoMeta) -> VideoMeta:
        if meta.media_path and os.path.exists(meta.media_path):
            return self._with_media(meta, meta)
        if not meta.info_path:
            raise StageError(
                "not_probed", "no saved info json to download from (run the probe first)", video_id=meta.video_id
            )
        folder = video_dir(self.cfg, meta.video_id)
        sharing.hold(folder)  # until discard_download: no other run deletes it meanwhile
        try:
            return self._download(meta, folder)
        except BaseException:
            sharing.release(folder)  # this run is done with the video
            raise

    def _download(self, meta: VideoMeta, folder: Path) -> VideoMeta:
        done = _downloaded(folder)
        if done is not None:  # published whole by an earlier run, or by another run now
            try:
                measured = _validated(done.media_path, meta.video_id)
            except StageError:
                shutil.rmtree(folder, ignore_errors=True)  # damaged since: download it again
            else:
                return self._with_media(meta, done, measured)
        info = read_info(meta.info_path, meta.video_id)
        staging = sharing.staging_folder(folder)
        template = str(staging / f"{folder.name}.%(ext)s").replace("%", "%%").replace("%%(ext)s", "%(ext)s")
        self._wait_for_rate_limit()
        page = info.get("webpage_url") or ""
        age_s = time.time() - (info.get("epoch") or time.time())
        stale_page = page if age_s > self.cfg.info_max_age_s and page.startswith("http") else ""
        ends = time.monotonic() + self.cfg.deadline_s

        def attempt():
            watch = RateWatch(staging, self.cfg.min_rate_bytes_per_s, self.cfg.rate_window_s)
            try:
                left = ends - time.monotonic()
                if left <= 0:  # spent in earlier attempts and their backoff
                    raise DeadlineExceeded("out of time after earlier attempts")
                return call_with_deadline(
                    _download_attempt,
                    (self.cfg, info, template, stale_page),
                    left,
                    preload=("yt_dlp", __name__),
                    watch=watch if self.cfg.min_rate_bytes_per_s > 0 else None,
                )
            except Stalled as exc:
                raise AttemptFailed("too_slow", True, None, f"yt-dlp download killed: {exc}") from None
            except DeadlineExceeded as exc:
                raise StageError(
                    "deadline", f"yt-dlp download {exc} (deadline_s={self.cfg.deadline_s:.0f})", video_id=meta.video_id
                ) from None

        try:
            with_retries(
                attempt, self.cfg, video_id=meta.video_id, what="yt-dlp download", sleep=self.sleep, rng=self.rng
            )
            fetched = _downloaded(staging)
            if fetched is None:
                raise StageError("missing_media", f"yt-dlp wrote no video into {staging}", video_id=meta.video_id)
            measured = _validated(fetched.media_path, meta.video_id)  # a broken download is never published
            if not sharing.publish(staging, folder):  # another run published it first: use that one
                measured = None
        finally:
            shutil.rmtree(staging, ignore_errors=True)  # a partial download is of no use to any run
        done = _downloaded(folder)
        if done is None:
            raise StageError("missing_media", f"{folder} holds no video", video_id=meta.video_id)
        return self._with_media(meta, done, measured)


class RateWatch:
    """Called about once a second while a download runs (curate.media.deadline's ``watch``): a text
    saying so when the bytes under ``folder`` grew by less than ``min_rate`` per second over the last
    ``window_s`` seconds, else None."""

    def __init__(self, folder: Path, min_rate: float, window_s: float, clock: Callable = time.monotonic):
        self.folder, self.min_rate, self.window_s, self.clock = folder, min_rate, window_s, clock
        self.samples = [(clock(), self._bytes())]  # (time, bytes written by then)

    def _bytes(self) -> int:
        try:
            return sum(e.stat().st_size for e in os.scandir(self.folder) if e.is_file())
        except OSError:  # not made yet, or a part renamed while this looked
            return 0

    def __call__(self) -> Optional[str]:
        now, written = self.clock(), self._bytes()
        self.samples.append((now, written))
        while len(self.samples) > 2 and now - self.samples[1][0] >= self.window_s:
            self.samples.pop(0)  # keep one sample at least window_s old
        then, before = self.samples[0]
        if now - then < self.window_s:
            return None
        rate = (written - before) / (now - then)
        if rate >= self.min_rate:
            return None
        return (
            f"{rate:.0f} B/s over the last {now - then:.0f} s, below the minimum of "
            f"{self.min_rate:.0f} B/s (min_rate_bytes_per_s)"
        )


def _download_attempt(cfg: DownloadConfig, info: dict, template: str, stale_page: str) -> None:
    """One yt-dlp download (run in a child process by Downloader, which kills it at the deadline):
    from the saved info dict, or from the video's page again when the info's URLs have expired."""
    import yt_dlp  # heavy: yt-dlp loads its extractors; only the probe and download need it

    ydl = yt_dlp.YoutubeDL({**ytdlp_options(cfg), "outtmpl": {"default": template}})
    try:
        if stale_page:
            ydl.extract_info(stale_page, download=True)
        else:
            ydl.process_ie_result(dict(info), download=True)
    except (yt_dlp.utils.DownloadError, yt_dlp.utils.ExtractorError, OSError) as exc:
        raise AttemptFailed(*classify_error(exc), _retry_after(exc), _clean(str(exc))) from None


def _downloaded(folder: Path) -> Optional[VideoMeta]:
    """The video, English subtitle and info json in a video's download folder (read the way a
    yt-dlp folder input is read), or None when it holds no video yet."""

    if not folder.is_dir():
        return None
    found = next((v for v in read_sources(str(folder)) if isinstance(v, VideoMeta) and v.media_path), None)
    if found is not None:
        for path in (found.media_path, found.subtitle_path, found.info_path):
            if path:
                inside(path, folder)
    return found


def with_measured(meta: VideoMeta, measured, notes: Counter) -> VideoMeta:
    """``meta`` with the size, duration and audio that its video stream measures
    (curate.media.cut.SourceInfo): an info json may declare anything, and the filter and the dataset
    (source_height) must hold what the file is. A declared height that differs is counted in
    ``notes`` ("height_disagrees", a Beam counter of the stage) and logged."""
    if meta.height is not None and meta.height != measured.height:
        notes["height_disagrees"] += 1
        log.warning(
            "%s: its info json declares a height of %s, its video stream is %dx%d: the stream counts",
            meta.video_id,
            meta.height,
            measured.width,
            measured.height,
        )
    return meta._replace(
        height=measured.height, width=measured.width, duration=measured.duration, has_audio=measured.has_audio
    )


def _validated(media: str, video_id: str):
    """validate_media, its StageError naming the video."""
    try:
        return validate_media(media)
    except StageError as exc:
        raise StageError(exc.reason, exc.detail, video_id=video_id) from exc


def _declared_height(info_path: str) -> Optional[int]:
    """The height the info json yt-dlp wrote beside a download gives its format, if any."""
    try:
        height = read_info(info_path, "").get("height") if info_path else None
    except StageError:
        return None
    return height if isinstance(height, int) and not isinstance(height, bool) else None


def download_video(meta: VideoMeta, cfg: DownloadConfig, downloader: Optional[Downloader] = None) -> VideoMeta:
    """Download one probed video; returns it with media_path, subtitle_path and info_path filled.

    A video whose media_path already exists (a yt-dlp folder, a resumed run) is only validated.
    Raises StageError: "http_429", "http_403", "timeout", "unavailable", ... (with yt-dlp's text),
    "zero_length", "truncated_video", "unreadable_media", "unsafe_path".
    """
    return (downloader or Downloader(cfg))(meta)
