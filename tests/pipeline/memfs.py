"""An in-memory Beam filesystem, scheme ``memfs://``, standing in for gs:// in tests: files live in
this process's memory only, so code that reaches them with open() or os.path fails as it would on a
Dataflow worker with a GCS output. Registered by importing this module (Beam finds FileSystem
subclasses by their scheme); works with the in-process DirectRunner."""

from __future__ import annotations

import io
import threading
import time

from apache_beam.io.filesystem import BeamIOError, CompressionTypes, FileMetadata, FileSystem

SCHEME = "memfs"


class _Writer(io.BytesIO):
    def __init__(self, store: MemoryFileSystem, path: str):
        super().__init__()
        self._store, self._path = store, path

    def close(self):
        if not self.closed:
            with MemoryFileSystem.lock:
                MemoryFileSystem.files[self._path] = (self.getvalue(), time.time())
        super().close()


class MemoryFileSystem(FileSystem):
    files: dict = {}  # path -> (bytes, mtime), shared by every instance (Beam makes one per call)
    lock = threading.Lock()

    @classmethod
    def scheme(cls):
        return SCHEME

    @classmethod
    def clear(cls):
        with cls.lock:
            cls.files.clear()

    def join(self, basepath, *paths):
        return "/".join([basepath.rstrip("/")] + [p.strip("/") for p in paths])

    def split(self, path):
        head, _, tail = path.rstrip("/").rpartition("/")
        return head, tail

    def mkdirs(self, path):
        pass  # object store: folders are prefixes

    def has_dirs(self):
        return False

    def _list(self, dir_or_prefix):
        with self.lock:
            found = [(p, len(d), t) for p, (d, t) in self.files.items() if p.startswith(dir_or_prefix)]
        for path, size, mtime in found:
            yield FileMetadata(path, size, mtime)

    def _check_uncompressed(self, compression_type):
        if compression_type not in (CompressionTypes.UNCOMPRESSED, CompressionTypes.AUTO):
            raise ValueError(f"memfs supports no compression ({compression_type})")

    def create(self, path, mime_type="application/octet-stream", compression_type=CompressionTypes.AUTO):
        self._check_uncompressed(compression_type)
        return _Writer(self, path)

    def open(self, path, mime_type="application/octet-stream", compression_type=CompressionTypes.AUTO):
        self._check_uncompressed(compression_type)
        with self.lock:
            if path not in self.files:
                raise BeamIOError(f"{path} does not exist", {path: FileNotFoundError(path)})
            return io.BytesIO(self.files[path][0])

    def copy(self, source_file_names, destination_file_names):
        with self.lock:
            for src, dst in zip(source_file_names, destination_file_names):
                self.files[dst] = self.files[src]

    def rename(self, source_file_names, destination_file_names):
        with self.lock:
            missing = {s: FileNotFoundError(s) for s in source_file_names if s not in self.files}
            if missing:
                raise BeamIOError("rename of missing files", missing)
            for src, dst in zip(source_file_names, destination_file_names):
                self.files[dst] = self.files.pop(src)

    def exists(self, path):
        with self.lock:
            return path in self.files

    def size(self, path):
        return len(self._get(path)[0])

    def last_updated(self, path):
        return self._get(path)[1]

    def checksum(self, path):
        return str(hash(self._get(path)[0]))

    def metadata(self, path):
        data, mtime = self._get(path)
        return FileMetadata(path, len(data), mtime)

    def delete(self, paths):
        with self.lock:
            missing = {p: FileNotFoundError(p) for p in paths if p not in self.files}
            if missing:
                raise BeamIOError("delete of missing files", missing)
            for path in paths:
                del self.files[path]

    def _get(self, path):
        with self.lock:
            if path not in self.files:
                raise BeamIOError(f"{path} does not exist", {path: FileNotFoundError(path)})
            return self.files[path]
