"""The HTTP server of ``experimenter serve``: the progress page and the progress file.

``GET /`` is the page (``dlbs.web.page``), ``GET /progress.json`` the progress file as it is
(404 with a JSON ``error`` while it does not exist yet, 500 when it cannot be read or is not a
JSON object); anything else is 404. The file is replaced atomically by the runner
(``os.replace``), so reading it whole is always safe. The response carries
``X-Progress-Age``: seconds since the file was written, so the page can count elapsed time
on between the runner's updates.
"""
from __future__ import annotations

import errno
import ipaddress
import json
import logging
import os
import socket
import socketserver
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dlbs.errors import DLBSError
from dlbs.web.page import CONTENT_SECURITY_POLICY, PAGE

log = logging.getLogger(__name__)

_PAGE_BYTES = PAGE.encode("utf-8")
_COMMON_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
                   "Referrer-Policy": "no-referrer"}


def is_loopback(host: str) -> bool:
    """True when ``host`` is reachable only from this machine (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class ProgressHandler(BaseHTTPRequestHandler):
    """Answers ``GET /`` and ``GET /progress.json``; everything else is 404."""

    server: ProgressServer
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
        try:
            with open(path, "rb") as stream:  # fstat of the open file: the same version
                written = os.fstat(stream.fileno()).st_mtime
                data = stream.read()
        except FileNotFoundError:
            self._json(404, {"error": f"waiting for the sweep to start: no progress file yet "
                                      f"at {path}", "progress_file": str(path)})
            return
        except OSError as err:
            self._json(500, {"error": f"cannot read the progress file {path}: "
                                      f"{err.strerror or err}", "progress_file": str(path)})
            return
        try:
            valid = isinstance(json.loads(data), dict)
        except ValueError:
            valid = False
        if not valid:
            self._json(500, {"error": f"{path} is not a progress file (not a JSON object)",
                             "progress_file": str(path)})
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
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
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
    if path.is_dir():
        raise DLBSError(f"--progress-file {progress_file} is a folder; give the file that "
                        f"'experimenter run --progress-file' writes")
    try:
        return ProgressServer(path, host, port)
    except OSError as err:
        hint = " (choose another --port, or 0 for any free one)" \
            if err.errno == errno.EADDRINUSE else ""
        raise DLBSError(f"cannot serve on {host}:{port}: {err.strerror or err}{hint}") from None
