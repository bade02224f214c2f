"""A local stand-in for YouTube's media servers, with fault injection, for the download tests.

``FakeYouTube`` serves bytes registered under URL paths on 127.0.0.1 only (a random free port) and
can be told to fail a path the next N times: ``server.fail("/v.mp4", 429, 429)`` answers two
429s and then the real file, so "fail twice then succeed" is one line. Faults:

    an int (403, 404, 429, 500, 503, ...)  that HTTP status, with a short body
    "slow"       wait ``slow_seconds`` before answering (longer than the client's socket timeout)
    "truncate"   announce the full Content-Length, send half, close the connection
    "trickle"    announce the full body, then send one byte every ``trickle_seconds`` (below any socket
                 timeout) until the client goes away or the server stops: a stalled download

``hosted_info(server, sample)`` turns a samplemedia sample video into an info json whose format
and subtitle URLs point at the server, the way the probe would have saved it.
"""

from __future__ import annotations

import collections
import http.server
import json
import threading
import time
from pathlib import Path
from typing import Optional, Union


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        fake = self.server.fake
        path = self.path.split("?")[0]
        fault = fake._next_fault(path)
        if fault == "slow":
            time.sleep(fake.slow_seconds)
            fault = None
        body = fake._files.get(path)
        if isinstance(fault, int):
            return self._send(fault, f"injected HTTP {fault}".encode(), "text/plain")
        if body is None:
            return self._send(404, b"not found", "text/plain")
        start, end = 0, len(body)
        status = 200
        header = self.headers.get("Range", "")
        if header.startswith("bytes="):
            first, _, last = header[6:].partition("-")
            start = int(first or 0)
            end = min(len(body), int(last) + 1) if last else len(body)
            if start >= len(body):
                return self._send(416, b"", "text/plain", extra={"Content-Range": f"bytes */{len(body)}"})
            status = 206
        extra = {"Content-Range": f"bytes {start}-{end - 1}/{len(body)}"} if status == 206 else {}
        if fault == "trickle":
            return self._trickle(body[start:end], self._type(path))
        if fault == "truncate":
            self._send(status, body[start:end], self._type(path), extra=extra, cut=True)
            return
        self._send(status, body[start:end], self._type(path), extra=extra)

    def _trickle(self, body: bytes, ctype: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        fake = self.server.fake
        for byte in body[:120]:  # bounded: the server thread ends within two minutes whatever happens
            if fake._stopped.wait(fake.trickle_seconds):
                return
            try:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
            except OSError:  # the client gave up
                return
        self.close_connection = True

    @staticmethod
    def _type(path: str) -> str:
        return {
            ".mp4": "video/mp4",
            ".m4a": "audio/mp4",
            ".vtt": "text/vtt",
            ".json": "application/json",
            ".json3": "application/json",
        }.get(Path(path).suffix, "application/octet-stream")

    def _send(self, status: int, body: bytes, ctype: str, *, extra=None, cut: bool = False):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        if cut:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if cut else body)
        if cut:
            self.wfile.flush()
            self.close_connection = True


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    fake: "FakeYouTube"

    def handle_error(self, request, client_address):
        pass  # a client that gave up (timeout test) resets the connection: expected here


class FakeYouTube:
    """A fault-injecting HTTP file server on 127.0.0.1; a context manager."""

    def __init__(self, slow_seconds: float = 3.0, trickle_seconds: float = 1.0):
        self.slow_seconds = slow_seconds
        self.trickle_seconds = trickle_seconds
        self._stopped = threading.Event()
        self._files: dict[str, bytes] = {}
        self._faults: dict[str, collections.deque] = collections.defaultdict(collections.deque)
        self.hits: collections.Counter = collections.Counter()  # path -> number of requests
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.fake = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def add(self, path: str, content: Union[bytes, str, Path]) -> str:
        """Serve ``content`` (bytes, or the bytes of a file) at ``path``; returns its URL."""
        data = Path(content).read_bytes() if isinstance(content, Path) else content
        self._files[path] = data.encode() if isinstance(data, str) else data
        return self.base_url + path

    def fail(self, path: str, *faults) -> None:
        """Answer the next requests of ``path`` with these faults, in order, then normally."""
        with self._lock:
            self._faults[path].extend(faults)

    def _next_fault(self, path: str):
        with self._lock:
            self.hits[path] += 1
            queue = self._faults.get(path)
            return queue.popleft() if queue else None

    def __enter__(self) -> "FakeYouTube":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stopped.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def hosted_info(
    server: FakeYouTube,
    sample,
    out_dir: Union[str, Path],
    *,
    video_id: str = "",
    media_bytes: Optional[bytes] = None,
    **overrides,
) -> str:
    """Write ``<out_dir>/<n>.info.json`` for a samplemedia sample video whose single mp4 format and
    English subtitle are served by ``server`` (under /<n>/); returns the info json's path.

    video_id: the id the info json claims (default the sample's); may be hostile, the file name is
    not derived from it. media_bytes: serve these bytes instead of the sample's mp4.
    """
    info = json.loads(Path(sample.info_path).read_text())
    n = len(server._files)
    video_id = video_id or sample.video_id
    media_url = server.add(f"/{n}/video.mp4", Path(sample.media_path) if media_bytes is None else media_bytes)
    page = f"{server.base_url}/{n}/watch"
    info.update(id=video_id, webpage_url=page, original_url=page)
    info["formats"] = [
        {
            "format_id": "22",
            "ext": "mp4",
            "width": info["width"],
            "height": info["height"],
            "fps": info["fps"],
            "vcodec": "avc1.64001f",
            "acodec": "mp4a.40.2",
            "url": media_url,
            "protocol": "http",
        }
    ]
    subs = {}
    if sample.subtitle_path:
        ext = Path(sample.subtitle_path).suffix[1:]
        subs = {"en": [{"ext": ext, "url": server.add(f"/{n}/sub.en.{ext}", Path(sample.subtitle_path))}]}
    info["automatic_captions"] = subs
    info["subtitles"] = {}
    for key in ("requested_subtitles", "_filename", "filepath", "format_id", "requested_formats"):
        info.pop(key, None)
    info.update(overrides)
    path = Path(out_dir) / f"hosted{n}.info.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(info))
    return str(path)
