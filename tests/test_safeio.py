"""``safeio``: writes never follow a planted link or block on a FIFO; reads are capped."""
from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest
from safeio import (
    UnsafeFileError,
    atomic_write_text,
    open_for_write,
    open_input,
    open_text,
    read_capped,
    read_text_capped,
)


@pytest.fixture()
def outside(tmp_path: Path) -> Path:
    target = tmp_path / "outside.txt"
    target.write_text("precious\n")
    return target


@pytest.fixture()
def shared(tmp_path: Path) -> Path:
    folder = tmp_path / "shared"
    folder.mkdir()
    return folder


def _writers() -> list:
    return [
        pytest.param(lambda p: os.close(open_for_write(p)), id="open_for_write"),
        pytest.param(lambda p: os.close(open_for_write(p, append=True)), id="append"),
        pytest.param(lambda p: open_text(p).close(), id="open_text"),
        pytest.param(lambda p: atomic_write_text(p, "new\n"), id="atomic_write"),
    ]


@pytest.mark.parametrize("write", _writers())
def test_a_planted_symlink_is_refused_and_its_target_untouched(write, shared: Path,
                                                              outside: Path) -> None:
    link = shared / "x.log"
    link.symlink_to(outside)
    with pytest.raises(UnsafeFileError, match="symbolic link") as err:
        write(link)
    assert str(link) in str(err.value) and "\n" not in str(err.value)
    assert outside.read_text() == "precious\n"
    assert link.is_symlink()


@pytest.mark.parametrize("write", _writers())
def test_a_dangling_symlink_creates_nothing_outside(write, shared: Path, tmp_path: Path) -> None:
    link = shared / "x.sh"
    link.symlink_to(tmp_path / "created-outside")
    with pytest.raises(UnsafeFileError):
        write(link)
    assert not (tmp_path / "created-outside").exists()


@pytest.mark.parametrize("write", _writers())
def test_a_planted_hard_link_is_refused(write, shared: Path, outside: Path) -> None:
    os.link(outside, shared / "x.part")
    with pytest.raises(UnsafeFileError, match="hard links"):
        write(shared / "x.part")
    assert outside.read_text() == "precious\n"


@pytest.mark.parametrize("write", _writers())
def test_a_fifo_is_refused_without_blocking(write, shared: Path) -> None:
    fifo = shared / "x.log"
    os.mkfifo(fifo)
    done = threading.Event()

    def attempt() -> None:
        with pytest.raises(UnsafeFileError, match="a FIFO"):
            write(fifo)
        done.set()

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert done.is_set(), "writing to a FIFO blocked"


@pytest.mark.parametrize("write", _writers())
def test_a_directory_says_so(write, shared: Path) -> None:
    (shared / ".dlbs-run.lock").mkdir()
    with pytest.raises(UnsafeFileError, match="is a directory"):
        write(shared / ".dlbs-run.lock")


def test_open_for_write_truncates_or_appends_a_regular_file(shared: Path) -> None:
    path = shared / "log"
    path.write_text("old\n")
    fd = open_for_write(path, append=True)
    os.write(fd, b"more\n")
    os.close(fd)
    assert path.read_text() == "old\nmore\n"
    fd = open_for_write(path)
    os.write(fd, b"new\n")
    os.close(fd)
    assert path.read_text() == "new\n"


def test_an_atomic_write_that_fails_leaves_the_old_file_and_no_temporary(shared: Path) -> None:
    path = shared / "report.csv"
    path.write_text("good\n")
    from safeio import atomic_write
    with pytest.raises(RuntimeError), atomic_write(path) as stream:
        stream.write("half")
        raise RuntimeError("interrupted")
    assert path.read_text() == "good\n"
    assert sorted(p.name for p in shared.iterdir()) == ["report.csv"]


def test_read_capped_reads_a_small_regular_file(shared: Path) -> None:
    (shared / "c.json").write_text("{}")
    assert read_text_capped(shared / "c.json", 10) == "{}"


def test_read_capped_refuses_a_file_over_the_limit(shared: Path) -> None:
    (shared / "big").write_bytes(b"x" * 101)
    with pytest.raises(UnsafeFileError, match="more than 100 bytes"):
        read_capped(shared / "big", 100)
    assert read_capped(shared / "big", 101) == b"x" * 101


@pytest.mark.parametrize("special,words", [
    ("/dev/zero", "a character device"),
    ("fifo", "a FIFO"),
    ("dir", "a directory"),
    ("sock", "a socket"),
])
def test_read_capped_refuses_what_is_not_a_regular_file_at_once(special: str, words: str,
                                                               shared: Path) -> None:
    path = Path(special) if special.startswith("/") else shared / special
    held = None
    if special == "fifo":
        os.mkfifo(path)
    elif special == "dir":
        path.mkdir()
    elif special == "sock":
        held = socket.socket(socket.AF_UNIX)
        held.bind(str(path))
    try:
        with pytest.raises(OSError, match=words):
            read_capped(path, 1 << 20)
    finally:
        if held is not None:
            held.close()


def test_read_capped_reads_proc_files_whose_size_is_unknown() -> None:
    assert b"MemTotal" in read_capped("/proc/meminfo", 1 << 20)


@pytest.mark.parametrize("special,words", [
    ("/dev/zero", "is a character device, not a regular file"),
    ("fifo", "is a FIFO, not a regular file"),
    ("dir", "is a directory, not a regular file"),
    ("link-to-fifo", "is a FIFO, not a regular file"),
])
def test_open_input_refuses_what_is_not_a_regular_file_without_blocking(
        special: str, words: str, shared: Path) -> None:
    path = Path(special) if special.startswith("/") else shared / special
    if special == "fifo":
        os.mkfifo(path)
    elif special == "dir":
        path.mkdir()
    elif special == "link-to-fifo":
        os.mkfifo(shared / "pipe")
        path.symlink_to(shared / "pipe")
    box: dict[str, BaseException] = {}

    def attempt() -> None:
        try:
            open_input(path).close()
        except OSError as err:
            box["err"] = err

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(60)  # a hang guard, not a measure
    if thread.is_alive():
        if special != "dir" and not special.startswith("/"):
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail(f"open_input blocked on {path}")
    err = box.get("err")
    assert isinstance(err, UnsafeFileError), err
    assert str(err).startswith(f"'{path}' {words}")
    assert "\n" not in str(err)


def test_open_input_follows_a_link_to_a_regular_file(shared: Path, outside: Path) -> None:
    (shared / "image.jpg").symlink_to(outside)
    with open_input(shared / "image.jpg") as stream:
        assert stream.read() == b"precious\n"
        assert not stream.closed and os.get_blocking(stream.fileno())


def _reads_would_block(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every read of a non-blocking descriptor answers EAGAIN, as /proc/kmsg's does (the kernel
    calls it a regular file of size 0); a blocking read would wait for the next message."""
    real_read = os.read

    def read(fd: int, n: int) -> bytes:
        if not os.get_blocking(fd):
            raise BlockingIOError(11, "Resource temporarily unavailable")
        raise AssertionError("a blocking read of a file whose reads wait")  # the old hang
        return real_read(fd, n)

    monkeypatch.setattr(os, "read", read)


@pytest.mark.parametrize("reader", [lambda p: read_capped(p, 1 << 20),
                                    lambda p: read_text_capped(p, 1 << 20),
                                    open_input], ids=["read_capped", "read_text", "open_input"])
def test_a_regular_file_whose_reads_would_wait_is_refused_in_one_line(
        reader, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kmsg = tmp_path / "kmsg"
    kmsg.write_bytes(b"")
    _reads_would_block(monkeypatch)
    with pytest.raises(UnsafeFileError, match="reads wait for data .*name a regular file"):
        reader(kmsg)


def test_a_regular_file_reads_whole_through_the_non_blocking_descriptor(tmp_path: Path) -> None:
    data = tmp_path / "data.bin"
    data.write_bytes(b"x" * 3_000_000)
    assert read_capped(data, 4_000_000) == b"x" * 3_000_000
    with open_input(data) as stream:
        assert stream.read() == b"x" * 3_000_000
