"""Paths and atomic file operations, on the local disk or on any filesystem Beam knows (gs://, s3://).

Every file of a run's output is written under a temporary name and renamed into place. This is the
one module outside curate.beam that imports from Apache Beam: its FileSystems registry (the storage
layer the runners use for gs:// and the like, imported lazily), never the pipeline model.
"""

from __future__ import annotations

import os
import shutil
import stat
import uuid

from curate.errors import EnvironmentFault


def _fs():
    from apache_beam.io.filesystems import FileSystems  # lazy: Beam is heavy

    return FileSystems


def is_local(path: str) -> bool:
    return "://" not in path or path.startswith("file://")


def _local(path: str) -> str:
    return path[len("file://") :] if path.startswith("file://") else path


def join(base: str, *parts: str) -> str:
    return os.path.join(base, *parts) if is_local(base) else _fs().join(base, *parts)


def exists(path: str) -> bool:
    return os.path.exists(_local(path)) if is_local(path) else _fs().exists(path)


def listdir(path: str) -> list:
    """Names directly under a folder, sorted; [] when it does not exist."""
    if is_local(path):
        try:
            return sorted(os.listdir(_local(path)))
        except FileNotFoundError:
            return []
    prefix = path.rstrip("/") + "/"
    found = _fs().match([prefix + "*"])[0].metadata_list
    return sorted({m.path[len(prefix) :].split("/", 1)[0] for m in found})


def size_and_mtime(path: str) -> tuple:
    """(bytes, seconds since the epoch of the last change) of a file."""
    if is_local(path):
        stat = os.stat(_local(path))
        return stat.st_size, stat.st_mtime
    found = _fs().match([path])[0].metadata_list
    if not found:
        raise FileNotFoundError(path)
    return found[0].size_in_bytes, found[0].last_updated_in_seconds


def open_read(path: str):
    if is_local(path):
        return open(_local(path), "rb")
    from apache_beam.io.filesystem import CompressionTypes  # heavy: Beam, only for remote paths

    return _fs().open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def read_bytes(path: str) -> bytes:
    with open_read(path) as f:
        return f.read()


class UnsafeFile(ValueError):
    """A file named by an input that must not be read as given: ``reason`` is "not_a_file" (a named
    pipe would block the reader forever, a device such as /dev/zero never ends) or "too_large"."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _check_regular(path: str, mode: int) -> None:
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "not a file")
        raise UnsafeFile("not_a_file", f"{path} is {kind}, not a regular file")


def check_regular(path: str) -> None:
    """UnsafeFile unless a local ``path`` (symlinks followed) is a regular file; OSError when it is
    missing. Remote paths are objects: nothing to check."""
    if is_local(path):
        _check_regular(path, os.stat(_local(path)).st_mode)


def open_regular(path: str):
    """``open_read`` for a file an input names: a local one is opened without blocking (opening a
    named pipe waits for a writer) and must be a regular file (UnsafeFile)."""
    if not is_local(path):
        return open_read(path)
    fd = os.open(_local(path), os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        _check_regular(path, os.fstat(fd).st_mode)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def read_regular(path: str, max_bytes: int) -> bytes:
    """The bytes of a file an input names, at most ``max_bytes`` of them (UnsafeFile "too_large"
    beyond, and for what is not a regular file: see open_regular)."""
    with open_regular(path) as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UnsafeFile("too_large", f"{path} is larger than {max_bytes / 2**20:g} MiB, the limit for it")
    return data


def _tmp_name(path: str) -> str:
    head, name = os.path.split(path) if is_local(path) else path.rsplit("/", 1)
    return f"{head}/.{name}.tmp-{uuid.uuid4().hex[:8]}"


def write_bytes_atomic(path: str, data: bytes) -> None:
    """Write `data` to `path` through a temporary name and a rename."""
    tmp = _tmp_name(path)
    if is_local(path):
        os.makedirs(os.path.dirname(_local(path)) or ".", exist_ok=True)
        with open(_local(tmp), "wb") as f:
            f.write(data)
        os.replace(_local(tmp), _local(path))
        return
    from apache_beam.io.filesystem import CompressionTypes  # heavy: Beam, only for remote paths

    with _fs().create(tmp, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        f.write(data)
    _fs().rename([tmp], [path])


def put_file_atomic(local_src: str, path: str) -> None:
    """Move a finished local file to `path` (a rename when both are on one local disk)."""
    tmp = _tmp_name(path)
    if is_local(path):
        os.makedirs(os.path.dirname(_local(path)) or ".", exist_ok=True)
        try:
            os.replace(local_src, _local(tmp))
        except OSError:  # another device
            shutil.copyfile(local_src, _local(tmp))
            os.remove(local_src)
        os.replace(_local(tmp), _local(path))
        return
    from apache_beam.io.filesystem import CompressionTypes  # heavy: Beam, only for remote paths

    with (
        open(local_src, "rb") as src,
        _fs().create(tmp, compression_type=CompressionTypes.UNCOMPRESSED) as dst,
    ):
        while chunk := src.read(1 << 22):
            dst.write(chunk)
    _fs().rename([tmp], [path])
    os.remove(local_src)


def remove_tree(path: str) -> None:
    """Delete a folder (or an object prefix) with everything under it; missing is fine."""
    if is_local(path):
        shutil.rmtree(_local(path), ignore_errors=True)
        return
    found = _fs().match([path.rstrip("/") + "/**"])[0].metadata_list
    if found:
        _fs().delete([m.path for m in found])


def remove_file(path: str) -> None:
    if is_local(path):
        try:
            os.remove(_local(path))
        except FileNotFoundError:
            pass
    elif _fs().exists(path):
        _fs().delete([path])


def ensure_free_space(path: str) -> None:
    """Raise curate.errors.EnvironmentFault when the local disk of `path` has less free space than
    the margin (CURATE_MIN_FREE_BYTES, default 512 MiB): better to stop cleanly than to have a tool
    fail half way through a file. Remote paths are not checked."""
    if not is_local(path):
        return

    margin = int(os.environ.get("CURATE_MIN_FREE_BYTES", 512 << 20))
    existing = os.path.abspath(_local(path))
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    free = shutil.disk_usage(existing).free
    if free < margin:
        raise EnvironmentFault(
            f"only {free / 2**20:.0f} MiB free on the disk of {path}, below the margin of "
            f"{margin / 2**20:.0f} MiB (CURATE_MIN_FREE_BYTES): free space, then rerun; nothing is lost"
        )
