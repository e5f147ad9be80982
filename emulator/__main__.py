"""Run the emulator as a process: python -m emulator --port 8765 --token TOKEN."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

from .zendesk import ZendeskEmulator


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    token = parser.add_mutually_exclusive_group(required=True)
    token.add_argument("--token", help="API token clients must send (visible in ps)")
    token.add_argument("--token-file", help="file holding the API token (kept out of ps)")
    parser.add_argument("--email", default=None, help="agent email; also the admin user")
    parser.add_argument("--state-file", default=None, help="JSON state, loaded and kept saved")
    parser.add_argument("--rate-limit", type=int, default=700, help="account requests/minute")
    parser.add_argument("--export-budget", type=int, default=10, help="export requests/minute")
    return parser.parse_args(argv)


def _read_token(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read().strip()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    emulator = ZendeskEmulator(
        port=args.port,
        token=args.token or _read_token(args.token_file),
        email=args.email,
        host=args.host,
        state_file=args.state_file,
        rate_limit_per_minute=args.rate_limit,
        export_budget_per_minute=args.export_budget,
    ).start()
    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    # One line, flushed: scripts wait for it before pointing clients here.
    print(f"emulator listening on {emulator.url}", flush=True)
    stopped.wait()
    emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
