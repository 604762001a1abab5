"""``experimenter serve``: a live web page of a sweep's progress (DLBS had a small web server).

The page reads the file that ``experimenter run --progress-file F`` keeps current and shows
done/failed/skipped/left, the running experiment, elapsed and estimated time and the recent
history, refreshed every second. It binds to 127.0.0.1 unless ``--host`` says otherwise.
Ctrl-C stops it with exit code 0 (stopping the server is how it is meant to end).
"""
from __future__ import annotations

import argparse
import sys

HELP = "serve a live web page of a sweep's progress, from the file of 'run --progress-file'"
EXAMPLE = "experimenter serve --progress-file progress.json --port 8000"


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port (0 to 65535; 0: any free one)")
    return port


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The progress file, the port and the address to listen on."""
    parser.add_argument("--progress-file", "--progress_file", dest="progress_file",
                        required=True, metavar="FILE",
                        help="the file 'experimenter run --progress-file FILE' writes (it may "
                             "not exist yet: the page waits for the sweep to start)")
    parser.add_argument("--port", type=_port, default=8000,
                        help="TCP port (default 8000; 0: any free port, printed on stderr)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this machine only; "
                             "0.0.0.0 makes the page visible to the network)")


def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C; exit 0."""
    from dlbs.web.server import is_loopback, make_server
    server = make_server(args.progress_file, args.host, args.port)
    try:
        if not is_loopback(args.host):
            print(f"warning: --host {args.host}: the progress page (model names, log paths) is "
                  f"visible to the network, without authentication", file=sys.stderr)
        print(f"serving {server.url} (Ctrl-C to stop)", file=sys.stderr, flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    finally:
        server.server_close()
    return 0
