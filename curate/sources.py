"""Read the videos to curate from a manifest or a yt-dlp download folder.

Sources (the format is told by the file name; the flavour of a table by its columns):
- csv / tsv / jsonl / parquet manifests (optionally .gz, except parquet) with an id and/or URL column,
  detected among common names or given; bare YouTube ids become watch URLs; optional info_path,
  media_path and subtitle_path columns (relative to the manifest) point at files already on disk.
  A jsonl has no header: each row is read with its own fields;
- the HD-VILA-100M release jsonl (``video_id, url, clip: [{clip_id, span: [start, end]}]``): the spans
  become VideoMeta.given_spans;
- the Panda-70M csv (``videoID, url, timestamp, caption, matching_score``): its timestamps too;
- a plain .txt list, one id or URL per line;
- a yt-dlp download folder (``<id>.mp4``, ``<id>.info.json``, ``<id>.<lang>.vtt|json3|srt``): the
  videos are already downloaded, so media_path, info_path and subtitle_path are filled.
Local paths and file:// URLs; other schemes (gs://, s3://) go through curate.files (Beam's FileSystems).

A bad row becomes a Failure (stage "read") naming the file and line, and so does a folder's file whose
name is not UTF-8 ("undecodable_name", naming its bytes); a repeated id keeps its first occurrence and
the repeats become Failures ("duplicate_id"). A field that is not text (a list, an object) fails its
row ("bad_field"). A source that cannot be read at all, or a requested column missing from its header
line, raises ValueError (a jsonl row without it is that row's failure).
"""

from __future__ import annotations

import ast
import csv
import gzip
import io
import json
import os
import re
import urllib.parse
from pathlib import Path
from typing import Iterator, Optional, Union

import pyarrow.parquet as pq

from curate.files import open_read
from schemas import Failure, VideoMeta

URL_COLUMNS = ("url", "video_url", "webpage_url", "youtube_url", "link")
ID_COLUMNS = ("video_id", "videoid", "youtube_id", "ytid", "id")
PATH_COLUMNS = ("info_path", "media_path", "subtitle_path")
MEDIA_EXTS = (".mp4", ".mkv", ".webm", ".mov")
SUBTITLE_EXTS = ("json3", "vtt", "srt", "ass", "ssa")  # preference order when a folder holds several
_YOUTUBE_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")
_YOUTUBE_URL = re.compile(
    r"(?:youtube\.com/(?:watch\?(?:.*&)?v=|shorts/|embed/|live/|v/)|youtu\.be/)([A-Za-z0-9_-]{11})"
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SURROGATE = re.compile("[\udc80-\udcff]")


class BadRow(ValueError):
    """One manifest row that cannot become a VideoMeta."""

    def __init__(self, reason: str, message: str, video_id: str = ""):
        super().__init__(message)
        self.reason, self.video_id = reason, video_id


def watch_url(video_id: str) -> str:
    return f"https://www.youtube.com/watch?v={video_id}"


def local_path(path: str) -> Optional[str]:
    """The local file system path of a path or file:// URL; None for other schemes."""
    if path.startswith("file://"):
        return urllib.parse.unquote(urllib.parse.urlparse(path).path)
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]+://", path):
        return None
    return path


def parse_timestamp(value) -> float:
    """Seconds from "HH:MM:SS.fff", "M:SS", "SS.f" or a number."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        parts = str(value).strip().split(":")
        if not 1 <= len(parts) <= 3 or not all(re.fullmatch(r"\d+(?:[.,]\d+)?", p) for p in parts):
            raise ValueError(f"bad timestamp {value!r}")
        seconds = 0.0
        for part in parts:
            seconds = seconds * 60 + float(part.replace(",", "."))
    if seconds < 0:
        raise ValueError(f"negative timestamp {value!r}")
    return seconds


def parse_spans(pairs) -> tuple:
    """((start, end), ...) in seconds from [[start, end], ...] of timestamps."""
    spans = []
    for pair in pairs:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise ValueError(f"a span must be a [start, end] pair, got {pair!r}")
        start, end = parse_timestamp(pair[0]), parse_timestamp(pair[1])
        if end <= start:
            raise ValueError(f"span {pair!r} ends before it starts")
        spans.append((start, end))
    return tuple(spans)


def _id_from_url(url: str) -> str:
    match = _YOUTUBE_URL.search(url)
    if match:
        return match.group(1)
    # a direct media URL (file://.../abc.mp4, https://host/abc.mp4): its file name without extension
    name = urllib.parse.unquote(urllib.parse.urlparse(url).path).rstrip("/").rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[0] if "." in name else name


def _pick(columns: list, wanted: Optional[str], candidates: tuple, what: str) -> Optional[str]:
    if wanted is not None:
        if wanted not in columns:
            raise ValueError(f"no {what} column {wanted!r}; columns are {columns}")
        return wanted
    lower = {c.lower(): c for c in columns}
    return next((lower[c] for c in candidates if c in lower), None)


class _Columns:
    """Which columns of a table hold what: decided once from a header line, or for each row of a
    jsonl from that row's own fields. Raises ValueError (without the source's name) when there is
    no id or url column, or a requested one is missing."""

    def __init__(self, columns: list, id_column: Optional[str], url_column: Optional[str]):
        self.id = _pick(columns, id_column, ID_COLUMNS, "id")
        self.url = _pick(columns, url_column, URL_COLUMNS, "url")
        if self.id is None and self.url is None:
            raise ValueError(
                f"found no id or url column among {columns}; name them with "
                f"id_column=/url_column= (looked for {ID_COLUMNS + URL_COLUMNS})"
            )
        lower = {c.lower(): c for c in columns}
        self.hdvila_clips = lower.get("clip")  # HD-VILA-100M release (a list of {clip_id, span})
        self.panda_timestamps = lower.get("timestamp")  # Panda-70M
        self.paths = {c: lower[c] for c in PATH_COLUMNS if c in lower}


def _text(row: dict, column: Optional[str], *, numbers: bool = False) -> str:
    """A text field of a row ("" when absent or null); numbers only where they may stand for text
    (an id column of a typed table). Raises BadRow for any other type (a list, an object, ...)."""
    value = row.get(column) if column else None
    if value is None:
        return ""
    if isinstance(value, str) or (numbers and isinstance(value, int) and not isinstance(value, bool)):
        return str(value).strip()
    raise BadRow("bad_field", f"field {column!r} is a {type(value).__name__} ({value!r:.60}), not text")


def _resolve_path(value: str, base_dir: str) -> str:
    """A path column's value: relative paths are relative to the manifest, file:// URLs become local
    paths, and other URLs (gs://, s3://) stay as they are for Beam's FileSystems."""
    local = local_path(value)
    if local is None:
        return value
    return os.path.normpath(os.path.join(base_dir, local))


def meta_from_row(row: dict, cols: _Columns, base_dir: str) -> VideoMeta:
    """One manifest row as a VideoMeta; raises BadRow."""
    video_id = _text(row, cols.id, numbers=True)
    url = _text(row, cols.url)
    if url and "://" not in url:  # a bare id in the url column
        video_id, url = video_id or url, ""
    if not video_id and url:
        video_id = _id_from_url(url)
    if not video_id:
        raise BadRow("missing_id", "no video id (and none in the url)")
    if _CONTROL.search(video_id):
        raise BadRow("bad_id", f"video id {video_id!r} contains control characters", video_id)
    if url and urllib.parse.urlparse(url).scheme not in ("http", "https", "file"):
        raise BadRow("bad_url", f"url {url!r} is not http(s) or file://", video_id)
    paths = {}
    for field, column in cols.paths.items():
        try:
            value = _text(row, column)
        except BadRow as exc:
            raise BadRow(exc.reason, str(exc), video_id) from None
        paths[field] = _resolve_path(value, base_dir) if value else ""
    if not url and not paths.get("info_path") and not paths.get("media_path"):
        url = watch_url(video_id)
    spans: tuple = ()
    try:
        if cols.hdvila_clips and isinstance(row.get(cols.hdvila_clips), list):
            spans = parse_spans(clip["span"] for clip in row[cols.hdvila_clips])
        elif cols.panda_timestamps and row.get(cols.panda_timestamps):
            value = row[cols.panda_timestamps]
            spans = parse_spans(ast.literal_eval(value) if isinstance(value, str) else value)
    except (ValueError, TypeError, KeyError, SyntaxError) as exc:
        raise BadRow("bad_span", f"bad clip spans: {exc}", video_id) from exc
    return VideoMeta(video_id=video_id, url=url, given_spans=spans, **paths)


# ---------------------------------------------------------------------------------------------
# table formats: each yields (location, row dict)


def _open_text(path: str) -> io.TextIOBase:
    local = local_path(path)
    if local is not None:
        raw = open(local, "rb")
    else:
        raw = open_read(path)
    if path.endswith(".gz"):
        raw = gzip.GzipFile(fileobj=raw)
    # bytes that are not UTF-8 become lone surrogates instead of an exception that would end the whole
    # read: the row holding them is reported (_undecodable) and the rows around it are kept
    return io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape", newline="")


def _undecodable(values) -> Optional[ValueError]:
    """An error naming the first byte that is not UTF-8 among ``values``, or None."""
    for value in values:
        match = _SURROGATE.search(value) if isinstance(value, str) else None
        if match:
            byte = ord(match.group()) - 0xDC00
            return ValueError(f"not UTF-8: byte 0x{byte:02x} at {value[: match.start()][-20:]!r}")
    return None


def _csv_rows(path: str, delimiter: str):
    with _open_text(path) as f:
        reader = csv.DictReader(f, delimiter=delimiter)
        try:
            header = reader.fieldnames or []
        except csv.Error as exc:
            raise ValueError(f"{path}: cannot read the header line: {exc}") from exc
        if not header:
            raise ValueError(f"{path} is empty: no header line with an id or url column")
        if _undecodable(header):
            raise ValueError(f"{path}: header line is {_undecodable(header)}")
        yield "header", header
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:  # e.g. a field over csv's size limit: this row only
                yield f"line {start}", ValueError(f"unreadable csv row: {exc}")
                continue
            yield f"line {start}", _undecodable(list(row.values()) + list(row)) or row


def _jsonl_rows(path: str):
    """Rows without a header: each row's own fields say which columns it has."""
    with _open_text(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                bad = _undecodable([line])
                if bad:
                    raise bad
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise ValueError(f"expected a JSON object, got {type(row).__name__}")
            except ValueError as exc:
                row = exc
            yield f"line {number}", row


def _txt_rows(path: str):
    yield "header", ["url"]
    with _open_text(path) as f:
        for number, line in enumerate(f, 1):
            if line.strip() and not line.lstrip().startswith("#"):
                yield f"line {number}", _undecodable([line]) or {"url": line.strip()}


def _parquet_rows(path: str):
    local = local_path(path)
    if local is None:
        handle = open_read(path)
    else:
        handle = local
    parquet = pq.ParquetFile(handle)
    yield "header", parquet.schema_arrow.names
    number = 0
    for batch in parquet.iter_batches(batch_size=4096):
        for row in batch.to_pylist():
            number += 1
            yield f"row {number}", row


def _table_rows(path: str):
    name = path[:-3] if path.endswith(".gz") else path
    suffix = os.path.splitext(name)[1].lower()
    if suffix == ".csv":
        return _csv_rows(path, ",")
    if suffix == ".tsv":
        return _csv_rows(path, "\t")
    if suffix in (".jsonl", ".ndjson", ".json"):
        return _jsonl_rows(path)
    if suffix == ".parquet" and not path.endswith(".gz"):
        return _parquet_rows(path)
    if suffix == ".txt":
        return _txt_rows(path)
    raise ValueError(
        f"{path}: unknown manifest format {suffix!r}; expected .csv, .tsv, .jsonl, .parquet, "
        f".txt (optionally .gz) or a yt-dlp download folder"
    )


def _row_columns(row: dict, id_column: Optional[str], url_column: Optional[str]) -> _Columns:
    try:
        return _Columns(list(row), id_column, url_column)
    except ValueError as exc:
        reason = "missing_id" if str(exc).startswith("found no id or url") else "missing_column"
        raise BadRow(reason, f"row: {exc}") from None


def _read_table(path: str, id_column: Optional[str], url_column: Optional[str]):
    rows = _table_rows(path)
    base_dir = os.path.dirname(local_path(path) or "")
    header = None  # a table with a header line: its columns hold for every row
    for location, row in rows:
        if location == "header":
            try:
                header = _Columns(list(row), id_column, url_column)
            except ValueError as exc:
                raise ValueError(f"{path}: {exc}") from None
            continue
        where = f"{path}:{location}"
        if isinstance(row, Exception):
            yield where, Failure("", "read", "bad_row", f"{where}: {row}")
            continue
        try:
            cols = header or _row_columns(row, id_column, url_column)
            yield where, meta_from_row(row, cols, base_dir)
        except BadRow as exc:
            yield where, Failure(exc.video_id, "read", exc.reason, f"{where}: {exc}")


# ---------------------------------------------------------------------------------------------
# a yt-dlp download folder


def _classify(name: str) -> Optional[tuple]:
    """(video id, "info" | "media" | "subs", (lang, ext) of a subtitle) of a file name in a yt-dlp
    folder; None for any other file."""
    if name.endswith(".info.json"):
        return name[: -len(".info.json")], "info", None
    stem, ext = os.path.splitext(name)
    if ext.lower() in MEDIA_EXTS and not name.endswith((".part", ".temp.mp4")):
        return stem, "media", None
    parts = name.rsplit(".", 2)
    if len(parts) == 3 and parts[2] in SUBTITLE_EXTS:
        return parts[0], "subs", (parts[1], parts[2])
    return None


def _folder_entries(folder: str):
    """(id, {"media": path, "info": path, "subs": [(lang, ext, path)]}) sorted by id, and
    {id or name: [names]} of the files whose names are not UTF-8 (os.listdir gives their bytes as
    lone surrogates: no id, path or record may carry them on)."""
    entries: dict = {}
    undecodable: dict = {}
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        found = _classify(name)
        if found is None or not os.path.isfile(path):
            continue
        video_id, kind, sub = found
        if _SURROGATE.search(name):
            undecodable.setdefault(video_id if _SURROGATE.search(video_id) else name, []).append(name)
        elif kind == "subs":
            entries.setdefault(video_id, {}).setdefault("subs", []).append((*sub, path))
        else:
            entries.setdefault(video_id, {})[kind] = path
    return sorted(entries.items()), undecodable


def _shown_name(name: str) -> str:
    """A file name as text that any record can hold: bytes that are not UTF-8 as \\xNN."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def english_subtitle(subs) -> str:
    """The English subtitle to use among (lang, ext, path): "en" before "en-*", then by format."""
    english = [s for s in subs if s[0].split("-")[0].lower() == "en"]
    english.sort(key=lambda s: (s[0] != "en", SUBTITLE_EXTS.index(s[1]), s[0]))
    return english[0][2] if english else ""


def _read_folder(folder: str):
    entries, undecodable = _folder_entries(folder)
    for key, names in sorted(undecodable.items()):
        where = os.path.join(_shown_name(folder), _shown_name(key))
        listed = ", ".join(_shown_name(n) for n in names)
        yield (
            where,
            Failure(
                "",
                "read",
                "undecodable_name",
                f"{where}: the file name is {_undecodable([key])}; rename it to curate the video (files: {listed})",
            ),
        )
    for video_id, found in entries:
        where = os.path.join(folder, video_id)
        if "media" not in found and "info" not in found:
            yield (
                where,
                Failure(video_id, "read", "no_media_or_info", f"{where}.*: subtitles without a video or an info json"),
            )
            continue
        media = found.get("media", "")
        yield (
            where,
            VideoMeta(
                video_id=video_id,
                url=Path(media).resolve().as_uri() if media else "",
                media_path=media,
                info_path=found.get("info", ""),
                subtitle_path=english_subtitle(found.get("subs", ())),
            ),
        )


# ---------------------------------------------------------------------------------------------


def source_records(path: str, *, id_column: Optional[str] = None, url_column: Optional[str] = None) -> Iterator[tuple]:
    """(where, VideoMeta or Failure) for every row of a manifest or yt-dlp folder, in source order,
    repeats included (where: the file and line, or the folder entry). Raises ValueError when the
    source itself is unusable."""
    local = local_path(path)
    if local is not None and not os.path.exists(local):
        raise ValueError(f"{path} does not exist")
    if local is not None and os.path.isdir(local):
        return _read_folder(local)
    return _read_table(path, id_column, url_column)


def duplicate_of(meta: VideoMeta, where: str, first_where: str) -> Failure:
    """The failure of a row that repeats a video id first read at `first_where`."""
    return Failure(meta.video_id, "read", "duplicate_id", f"{where}: repeats the video first read at {first_where}")


def read_sources(
    path: str, *, id_column: Optional[str] = None, url_column: Optional[str] = None
) -> Iterator[Union[VideoMeta, Failure]]:
    """Every video of a manifest or yt-dlp folder, in source order, as a VideoMeta, and every bad or
    repeated row as a Failure (stage "read"), in memory (the pipeline deduplicates by key instead:
    curate.beam.videos.ReadSources). Raises ValueError when the source itself is unusable."""
    first_seen: dict = {}
    for where, record in source_records(path, id_column=id_column, url_column=url_column):
        if isinstance(record, VideoMeta):
            if record.video_id in first_seen:
                yield duplicate_of(record, where, first_seen[record.video_id])
                continue
            first_seen[record.video_id] = where
        yield record


def check_source(path: str, *, id_column: Optional[str] = None, url_column: Optional[str] = None) -> None:
    """Raise ValueError naming the problem when the source is unusable as a whole: missing, an unknown
    format, empty, or without an id/url column (reading up to its first record tells). Bad rows are not
    such a problem: they become Failures when the source is read."""
    if next(iter(read_sources(path, id_column=id_column, url_column=url_column)), None) is None:
        raise ValueError(f"{path}: no videos in it (empty manifest or folder)")
