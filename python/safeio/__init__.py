"""File access in folders that someone else may share: both programs use it.

Responsibility: open files so that what a user named is what gets touched, and nothing waits
forever or reads without a limit. It imports only the standard library (no torch, no dlbs),
so the benchmark can use it inside a bare container and ``dlbs`` on the launch host.

Writing (logs, ``.part`` files, launch scripts, locks, progress files, plans, reports, charts,
CSV/JSON, data set markers, traces):

- the last component of a path is never followed when it is a symbolic link (``O_NOFOLLOW``):
  a link planted in a shared folder is refused, and the file it points at is never touched;
- a file that is not a regular file (a FIFO, a device, a socket, a directory) is refused
  before anything is written or truncated, and opening never blocks (``O_NONBLOCK``);
- a regular file with other hard links is refused too (a planted hard link reaches outside
  the folder as a symbolic link does);
- whole files are written to a fresh, unguessable name in the same folder (``mkstemp``: it
  never opens an existing name) and renamed over the target, so a reader never sees half.

Reading (configs, plans, progress files, energy counters, ``/sys`` and ``/proc`` files, tool
output): :func:`read_capped` opens without blocking, refuses what is not a regular file and
reads at most a stated number of bytes. Inputs read as streams (images, LMDB data files) are
opened with :func:`open_input`, which refuses the same way; their reader bounds what it reads.

Errors are :class:`UnsafeFileError`, an ``OSError`` whose ``strerror`` says what the path is
and what to do, so callers that report ``OSError`` in one line already say it well.
"""
from __future__ import annotations

import errno
import io
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any, BinaryIO

__all__ = ["UnsafeFileError", "append_whole", "atomic_write", "atomic_write_bytes",
           "atomic_write_text", "check_writable_target", "file_kind", "open_for_read", "open_for_update",
           "open_for_write", "open_input", "read_capped", "read_capped_unpacked", "read_head",
           "read_text_capped"]

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISLNK, "a symbolic link"))


class UnsafeFileError(OSError):
    """A path that is refused: a symbolic link, not a regular file, too large, shared by
    hard links. ``str(err)`` is one line naming the path; ``err.strerror`` the reason alone."""

    def __init__(self, code: int, reason: str, path: str | os.PathLike[str]) -> None:
        super().__init__(code, reason, os.fspath(path))

    def __str__(self) -> str:
        return f"'{self.filename}' {self.strerror}"


def file_kind(mode: int) -> str:
    """What a file is, in words ("a FIFO", "a directory", ...; "a regular file")."""
    for test, words in _KINDS:
        if test(mode):
            return words
    return "a regular file" if stat.S_ISREG(mode) else "not a regular file"


def _symlink_error(path: str | os.PathLike[str]) -> UnsafeFileError:
    return UnsafeFileError(errno.ELOOP, "is a symbolic link: refusing to follow it (someone "
                           "may have planted it); remove it or use a folder only you can "
                           "write to", path)


def _kind_error(path: str | os.PathLike[str], mode: int, role: str) -> UnsafeFileError:
    code = errno.EISDIR if stat.S_ISDIR(mode) else errno.EINVAL
    return UnsafeFileError(code, f"is {file_kind(mode)}, not a regular file: refusing to "
                           f"{role} it; remove it or name a regular file", path)


def _check_regular(fd: int, path: str | os.PathLike[str], role: str) -> os.stat_result:
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise _kind_error(path, info.st_mode, role)
    return info


def _hard_link_error(path: str | os.PathLike[str], links: int, role: str) -> UnsafeFileError:
    return UnsafeFileError(errno.EMLINK, f"has {links} hard links: refusing to {role} through "
                           "it (it may be a file outside this folder); remove it", path)


def check_writable_target(path: str | os.PathLike[str]) -> None:
    """Refuse ``path`` if it exists and is anything but a plain regular file of one link
    (the check :func:`atomic_write` makes before it renames over ``path``)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode):
        raise _symlink_error(path)
    if not stat.S_ISREG(info.st_mode):
        raise _kind_error(path, info.st_mode, "write")
    if info.st_nlink > 1:
        raise _hard_link_error(path, info.st_nlink, "write")


def open_for_write(path: str | os.PathLike[str], *, append: bool = False,
                   mode: int = 0o644, create: bool = True) -> int:
    """Open ``path`` for writing without following a symbolic link and without blocking;
    return the descriptor (blocking again, close-on-exec). ``append`` keeps what is there,
    else the file is truncated, but only once it is known to be a regular file of one link.
    ``create=False``: a file that must already exist (a log being appended to) is never made
    anew, so a folder swapped for a link meanwhile gets no new file (``FileNotFoundError``)."""
    flags = os.O_WRONLY | (os.O_CREAT if create else 0) | (os.O_APPEND if append else 0)
    fd = _open_checked(path, flags, mode, "write")
    if not append:
        try:
            os.ftruncate(fd, 0)
        except BaseException:
            os.close(fd)
            raise
    return fd


def append_whole(path: str | os.PathLike[str], text: str, *, create: bool = True) -> None:
    """Append ``text`` (UTF-8) to ``path`` (opened as :func:`open_for_write` does) whole or not
    at all: when a write fails (a disk that fills, ``ENOSPC``), what this call wrote is cut off
    again, so the file ends where it ended before, never in the middle of a line, and the
    ``OSError`` is raised. (Cut only while the file still ends with this call's bytes: what
    another process appended meanwhile is never removed.)"""
    fd = open_for_write(path, append=True, create=create)
    try:
        start = os.lseek(fd, 0, os.SEEK_END)
        data = memoryview(text.encode("utf-8"))
        written = 0
        try:
            while written < len(data):
                written += os.write(fd, data[written:])
        except OSError:
            if os.fstat(fd).st_size == start + written:
                os.ftruncate(fd, start)
            raise
    finally:
        os.close(fd)


def open_for_update(path: str | os.PathLike[str], *, mode: int = 0o644) -> int:
    """:func:`open_for_write` for reading and writing, never truncating (a lock file that
    holds its holder's pid: it is read before anything is written)."""
    return _open_checked(path, os.O_RDWR | os.O_CREAT, mode, "write")


def open_for_read(path: str | os.PathLike[str]) -> int:
    """Open a file this program wrote (a log, a job record) for reading, never following a
    symbolic link at ``path`` and never blocking: what was planted there is refused, not read.
    (Files a user names as inputs may be links: read those with :func:`read_capped` or
    :func:`open_input`.)"""
    return _open_checked(path, os.O_RDONLY, 0, "read", one_link=False)


def open_input(path: str | os.PathLike[str]) -> BinaryIO:
    """Open a file a user names as an input (an image, an LMDB data file) for reading, as a
    binary stream: a symbolic link is followed (inputs may be links), but anything other than a
    regular file (a FIFO, a socket, a device, a directory) is refused with a sentence naming
    the path, unopened, and checked again once open without blocking (it may have been
    swapped). The stream blocks again once the file is known to be regular."""
    fd, info = _open_to_read(path)
    try:
        if info.st_size == 0:  # a file with data never waits: only a pseudo-file can (size 0)
            _check_readable_now(fd, path)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def _check_readable_now(fd: int, path: str | os.PathLike[str]) -> None:
    """Refuse a "regular" file whose first read would wait (``/proc/kmsg``: the kernel calls it
    regular, of size 0, and a blocking read of it waits for the next kernel message): one byte
    is read without blocking, then the offset is put back."""
    try:
        os.read(fd, 1)
        os.lseek(fd, 0, os.SEEK_SET)
    except BlockingIOError:
        raise _would_block_error(path) from None


def _would_block_error(path: str | os.PathLike[str]) -> UnsafeFileError:
    return UnsafeFileError(errno.EAGAIN, "is a file whose reads wait for data (a kernel "
                           "pseudo-file such as /proc/kmsg), not a regular file's contents: "
                           "refusing to read it; name a regular file", path)


def _open_checked(path: str | os.PathLike[str], flags: int, mode: int, role: str,
                  one_link: bool = True) -> int:
    """``os.open`` with ``O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC``; then refuse anything but a
    regular file (of one link, with ``one_link``). The descriptor is returned blocking again."""
    flags |= os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, mode)
    except OSError as err:
        raise _explain_open_error(err, path, role) from None
    try:
        info = _check_regular(fd, path, role)
        if one_link and info.st_nlink > 1:
            raise _hard_link_error(path, info.st_nlink, role)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _explain_open_error(err: OSError, path: str | os.PathLike[str],
                        role: str = "write") -> OSError:
    """``O_NOFOLLOW`` says ELOOP for a link; a FIFO without a reader says ENXIO; a directory
    EISDIR: turn each into a sentence naming the path. Other errors pass unchanged."""
    try:
        info = os.lstat(path)
    except OSError:
        return err
    if err.errno == errno.ELOOP and stat.S_ISLNK(info.st_mode):
        return _symlink_error(path)
    if err.errno in (errno.ENXIO, errno.EISDIR, errno.EOPNOTSUPP, errno.ENODEV):
        return _kind_error(path, info.st_mode, role)
    return err


def open_text(path: str | os.PathLike[str], *, append: bool = False,
              encoding: str = "utf-8", create: bool = True) -> IO[str]:
    """:func:`open_for_write` as a text stream."""
    fd = open_for_write(path, append=append, create=create)
    return os.fdopen(fd, "a" if append else "w", encoding=encoding, newline="")


@contextmanager
def atomic_write(path: str | os.PathLike[str], *, binary: bool = False,
                 encoding: str = "utf-8", mode: int = 0o644) -> Iterator[IO[Any]]:
    """Yield a stream on a fresh temporary file beside ``path``; on success it is flushed,
    synced and renamed over ``path``; on any failure it is removed. A reader never sees half a
    file, a good file is never replaced by a broken one, and a link planted at ``path`` (or
    anything but a regular file) is refused before anything is written."""
    target = os.fspath(path)
    check_writable_target(target)
    folder, name = os.path.split(os.path.abspath(target))
    import tempfile  # here: its import (random, weakref: 4 ms) is for writers only

    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    try:
        os.fchmod(fd, mode & ~_umask())
        with (os.fdopen(fd, "wb") if binary
              else os.fdopen(fd, "w", encoding=encoding, newline="")) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        check_writable_target(target)  # planted while we wrote: still refused
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str, *, mode: int = 0o644) -> None:
    """Write ``text`` (UTF-8) to ``path`` whole or not at all (see :func:`atomic_write`)."""
    with atomic_write(path, mode=mode) as stream:
        stream.write(text)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` whole or not at all (see :func:`atomic_write`)."""
    with atomic_write(path, binary=True, mode=mode) as stream:
        stream.write(data)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _open_to_read(path: str | os.PathLike[str]) -> tuple[int, os.stat_result]:
    """A descriptor (non-blocking) on the regular file ``path`` and its ``fstat``. Anything
    else is refused before it is opened (opening some devices acts: a watchdog starts, a tape
    rewinds), and checked again once open, without blocking (it may have been swapped)."""
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        raise _kind_error(path, mode, "read")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError as err:
        if err.errno == errno.ENXIO:  # a socket
            try:
                mode = os.stat(path).st_mode
            except OSError:
                raise err from None
            raise _kind_error(path, mode, "read") from None
        raise
    try:
        info = _check_regular(fd, path, "read")
    except BaseException:
        os.close(fd)
        raise
    # The descriptor stays non-blocking (a regular file's reads never wait anyway): a kernel
    # pseudo-file that passes as regular and would wait (/proc/kmsg) is refused at its read.
    return fd, info


def _read_fd(fd: int, limit: int, path: str | os.PathLike[str]) -> bytes:
    """Up to ``limit + 1`` bytes of ``fd`` (one more than asked tells that there is more)."""
    data = bytearray()
    while len(data) <= limit:
        try:
            chunk = os.read(fd, min(1 << 20, limit + 1 - len(data)))
        except BlockingIOError:
            raise _would_block_error(path) from None
        if not chunk:
            break
        data += chunk
    return bytes(data)


def read_head(path: str | os.PathLike[str], limit: int) -> tuple[bytes, bool]:
    """Read the first ``limit`` bytes of the regular file ``path``, never blocking, and say
    whether there was more (``(data, cut)``): a FIFO, a socket, a device (``/dev/zero``) or a
    directory is refused at once, unopened. For readers that keep a cut head and say so (tool
    output, ``/proc/cpuinfo`` of a huge machine); :func:`read_capped` refuses instead."""
    fd, _ = _open_to_read(path)
    try:
        data = _read_fd(fd, limit, path)
    finally:
        os.close(fd)
    return data[:limit], len(data) > limit


def read_capped(path: str | os.PathLike[str], limit: int) -> bytes:
    """Read at most ``limit`` bytes of the regular file ``path``, never blocking: a FIFO, a
    socket, a device (``/dev/zero``) or a directory is refused at once, unopened, and a file
    over ``limit`` bytes is refused (``EFBIG``) rather than read whole or cut silently: from its
    size, unread, when it says one (``/proc`` and ``/sys`` files, whose size is not known
    before they are read, are read up to the limit)."""
    fd, info = _open_to_read(path)
    try:
        data = b"" if info.st_size > limit else _read_fd(fd, limit, path)
    finally:
        os.close(fd)
    if info.st_size > limit or len(data) > limit:
        raise UnsafeFileError(errno.EFBIG, f"holds more than {limit:,} bytes, the most read "
                              "from such a file: refusing to read it", path)
    return data


def read_text_capped(path: str | os.PathLike[str], limit: int, *,
                     encoding: str = "utf-8", errors: str = "strict") -> str:
    """:func:`read_capped`, decoded."""
    return read_capped(path, limit).decode(encoding, errors)


def read_capped_unpacked(path: str | os.PathLike[str], limit: int) -> bytes:
    """:func:`read_capped`, then, for a name ending ``.gz``, decompressed: at most ``limit``
    bytes read and at most ``limit`` bytes decompressed (a gzip bomb is refused with
    ``EFBIG``; a damaged stream is an ``OSError`` saying so)."""
    data = read_capped(path, limit)
    if not os.fspath(path).endswith(".gz"):
        return data
    import gzip  # here: only a '.gz' input needs it
    import zlib

    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as packed:
            data = packed.read(limit + 1)
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise OSError(f"damaged gzip file ({err})") from None
    if len(data) > limit:
        raise UnsafeFileError(errno.EFBIG, f"decompresses to more than {limit:,} bytes, the "
                              "most read from such a file: refusing to read it", path)
    return data
