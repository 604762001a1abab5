"""The HTTP server of ``experimenter serve``: the progress page and the progress file.

``GET /`` is the page (``dlbs.web.page``), ``GET /progress.json`` the progress file as it is
(404 with a JSON ``error`` while it does not exist yet, 500 when it cannot be read, is not a
regular file, is over :data:`MAX_PROGRESS_BYTES` or is not a JSON object); anything else is
404. The file is replaced atomically by the runner (``os.replace``), so reading it whole is
always safe. The response carries ``X-Progress-Age``: seconds since the file was written, so
the page can count elapsed time on between the runner's updates.

The server stays within a fixed memory whatever it is given: the file is read without
blocking (a FIFO is refused, never waited on) and up to :data:`MAX_PROGRESS_BYTES` (a larger
file is an error, not loaded), one request parses it at a time, at most :data:`MAX_WORKERS`
requests are answered at once (the others get 503 at once, never a thread each), and a
connection is ended after :data:`REQUEST_TIMEOUT_S` seconds in all, even one that trickles its
request a byte at a time (:class:`Reaper`).
"""
from __future__ import annotations

import errno
import ipaddress
import json
import logging
import os
import socket
import socketserver
import stat
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from safeio import file_kind, read_capped

from dlbs.errors import DLBSError
from dlbs.web.page import CONTENT_SECURITY_POLICY, PAGE

log = logging.getLogger(__name__)

_PAGE_BYTES = PAGE.encode("utf-8")
_COMMON_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
                   "Referrer-Policy": "no-referrer"}
#: Largest progress file served: the runner's hold a few KiB (20 history entries).
MAX_PROGRESS_BYTES = 1 << 20
#: Requests answered at once; more get 503 at once (the page polls once a second).
MAX_WORKERS = 8
#: Seconds a connection may take to send its request and take the answer.
REQUEST_TIMEOUT_S = 10
_BUSY_BODY = json.dumps({"error": f"busy: {MAX_WORKERS} requests are being answered; "
                                  "try again in a second"}).encode("utf-8") + b"\n"
_BUSY = (b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\n"
         b"Retry-After: 1\r\nCache-Control: no-store\r\nConnection: close\r\n"
         b"Content-Length: " + str(len(_BUSY_BODY)).encode() + b"\r\n\r\n" + _BUSY_BODY)


def is_loopback(host: str) -> bool:
    """True when ``host`` is reachable only from this machine (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def load_progress(path: Path) -> tuple[int, bytes, float]:
    """``(200, the file's bytes, when it was written)``, or ``(404 or 500, why, 0)``: never
    blocking, never more than :data:`MAX_PROGRESS_BYTES` read."""
    try:
        info = os.stat(path)
        if stat.S_ISREG(info.st_mode) and info.st_size > MAX_PROGRESS_BYTES:
            return 500, _too_big(path, info.st_size), 0.0
        data = read_capped(path, MAX_PROGRESS_BYTES)
    except FileNotFoundError:
        return 404, f"waiting for the sweep to start: no progress file yet at {path}".encode(), 0.0
    except OSError as err:
        if err.errno == errno.EFBIG:  # grew past the limit after the stat
            return 500, _too_big(path, MAX_PROGRESS_BYTES + 1), 0.0
        return 500, f"cannot read the progress file {path}: {err.strerror or err}".encode(), 0.0
    try:
        valid = isinstance(json.loads(data), dict)
    except (ValueError, RecursionError):
        valid = False
    if not valid:
        return 500, f"{path} is not a progress file (not a JSON object)".encode(), 0.0
    return 200, data, info.st_mtime


def _too_big(path: Path, size: int) -> bytes:
    return (f"{path} is not a progress file: it holds {size:,} bytes, over the "
            f"{MAX_PROGRESS_BYTES:,} served ('experimenter run' writes a few KiB); it is not "
            "loaded").encode()


class Reaper:
    """Ends the connections that have taken more than ``limit`` seconds in all: a socket
    timeout bounds each read only, so a client sending a byte now and then would hold a worker
    forever. One thread for the whole server."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self._open: dict[socket.socket, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dlbs-serve-reaper", daemon=True)
        self._thread.start()

    def add(self, conn: socket.socket) -> None:
        """``conn`` is being answered from now on."""
        with self._lock:
            self._open[conn] = time.monotonic() + self.limit

    def remove(self, conn: socket.socket) -> None:
        """``conn`` was answered (or given up)."""
        with self._lock:
            self._open.pop(conn, None)

    def stop(self) -> None:
        """End the thread."""
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(min(1.0, self.limit / 4)):
            now = time.monotonic()
            with self._lock:
                late = [conn for conn, deadline in self._open.items() if deadline < now]
                for conn in late:
                    del self._open[conn]
            for conn in late:
                try:
                    conn.shutdown(socket.SHUT_RDWR)  # the worker's read returns at once
                except OSError:
                    pass


class ProgressHandler(BaseHTTPRequestHandler):
    """Answers ``GET /`` and ``GET /progress.json``; everything else is 404."""

    server: ProgressServer
    #: A connection that sends nothing is dropped (it would hold a worker).
    timeout = REQUEST_TIMEOUT_S

    def version_string(self) -> str:
        """The ``Server`` header: no Python version."""
        return "dlbs-progress"

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/":
            self._send(200, _PAGE_BYTES, "text/html; charset=utf-8",
                       {"Content-Security-Policy": CONTENT_SECURITY_POLICY})
        elif path == "/progress.json":
            self._progress()
        else:
            self._json(404, {"error": f"no such page: {path} (the page is /, its data "
                                      f"/progress.json)"})

    def _progress(self) -> None:
        path = self.server.progress_file
        with self.server.read_lock:  # one parse at a time: memory does not grow with requests
            code, data, written = load_progress(path)
        if code != 200:
            self._json(code, {"error": data.decode("utf-8"), "progress_file": str(path)})
            return
        age = max(0.0, time.time() - written)
        self._send(200, data, "application/json", {"X-Progress-Age": f"{age:.3f}"})

    def _json(self, code: int, body: dict[str, Any]) -> None:
        self._send(code, (json.dumps(body) + "\n").encode("utf-8"), "application/json")

    def _send(self, code: int, data: bytes, content_type: str,
              headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in {**_COMMON_HEADERS, **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Requests are logged at debug level only: the page polls every second."""
        log.debug("%s %s", self.address_string(), format % args)


class ProgressServer(ThreadingHTTPServer):
    """A threading HTTP server that knows the progress file it serves."""

    daemon_threads = True

    def __init__(self, progress_file: Path, host: str = "127.0.0.1", port: int = 8000) -> None:
        self.progress_file = progress_file
        self.read_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(MAX_WORKERS)
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.reaper = Reaper(REQUEST_TIMEOUT_S)  # first: a failed bind calls server_close
        super().__init__((host.strip("[]"), port), ProgressHandler)

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse DNS lookup of the host (slow without network)."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    @property
    def url(self) -> str:
        """``http://HOST:PORT/`` with the port actually bound (``--port 0`` picks one)."""
        host, port = self.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://[{name}]:{port}/" if ":" in name else f"http://{name}:{port}/"

    def process_request(self, request: Any, client_address: Any) -> None:
        """Answer in a worker thread when one of :data:`MAX_WORKERS` is free, else 503 now."""
        if not self._slots.acquire(blocking=False):
            self._refuse_busy(request)
            return
        try:
            super().process_request(request, client_address)
        except RuntimeError:  # "can't start new thread": no worker will free the slot
            self._slots.release()
            raise
        # Anything else (a Ctrl-C while the worker starts) leaves the slot to the worker,
        # which frees it when done: freeing it here too raised "Semaphore released too many
        # times" in place of the KeyboardInterrupt, and the server did not stop.

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        """The worker: answer (within the reaper's time), then free its slot."""
        self.reaper.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.reaper.remove(request)
            self._slots.release()

    def server_close(self) -> None:
        """Close the socket, wait for the workers (the reaper ends slow ones), end the
        reaper."""
        super().server_close()
        self.reaper.stop()

    def _refuse_busy(self, request: socket.socket) -> None:
        """503 without reading the request (what has arrived is drained, so closing does not
        reset the connection before the client reads the answer) and without waiting."""
        try:
            request.setblocking(False)
            try:
                request.recv(65536)
            except BlockingIOError:
                pass
            request.sendall(_BUSY)
        except OSError:
            pass
        finally:
            self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A browser that goes away mid-answer is not an error worth a traceback."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            log.debug("client %s went away", client_address)
            return
        super().handle_error(request, client_address)


def make_server(progress_file: str | os.PathLike[str], host: str = "127.0.0.1",
                port: int = 8000) -> ProgressServer:
    """Bind a server for ``progress_file`` (made absolute now); a ``DLBSError`` if it cannot."""
    path = Path(progress_file).absolute()
    try:
        mode = os.stat(path).st_mode
    except OSError:
        mode = stat.S_IFREG  # not there yet (the page waits), or said on each request
    if stat.S_ISDIR(mode):
        raise DLBSError(f"--progress-file {progress_file} is a folder; give the file that "
                        f"'experimenter run --progress-file' writes")
    if not stat.S_ISREG(mode):
        raise DLBSError(f"--progress-file {progress_file} is {file_kind(mode)}, not a regular "
                        "file; give the file that 'experimenter run --progress-file' writes")
    try:
        return ProgressServer(path, host, port)
    except OSError as err:
        hint = " (choose another --port, or 0 for any free one)" \
            if err.errno == errno.EADDRINUSE else ""
        raise DLBSError(f"cannot serve on {host}:{port}: {err.strerror or err}{hint}") from None
