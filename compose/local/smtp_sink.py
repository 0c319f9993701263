#!/usr/bin/python3
"""A local SMTP sink: accepts every message on 127.0.0.1 and stores it as a
file, so that the local stack can send mail without a relay and the tests
can read what was sent (invitations, password resets).

    smtp_sink.py --port 2525 --dir .run/mail

Each message becomes <dir>/<ns>-<n>.eml (written to a temporary name, then
renamed, so a reader never sees half a message), with the envelope's
recipients in an X-Sink-Rcpt header first. Runs until SIGTERM/SIGINT.
"""
import argparse
import asyncio
import itertools
import os
import pathlib
import signal
import time

from aiosmtpd.controller import Controller


class Store:
    def __init__(self, folder):
        self.folder = folder
        self.counter = itertools.count(1)

    async def handle_DATA(self, server, session, envelope):
        name = f"{time.time_ns()}-{next(self.counter)}.eml"
        head = "".join(f"X-Sink-Rcpt: {r}\r\n" for r in envelope.rcpt_tos)
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode()
        tmp = self.folder / f".{name}.tmp"
        tmp.write_bytes(head.encode() + data)
        os.replace(tmp, self.folder / name)
        return "250 stored"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1",
                    help="address to listen on (0.0.0.0 in a container)")
    ap.add_argument("--port", type=int, default=2525)
    ap.add_argument("--dir", required=True)
    args = ap.parse_args()
    folder = pathlib.Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    controller = Controller(Store(folder), hostname=args.host,
                            port=args.port, ready_timeout=10)
    controller.start()
    stop = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.append(1))
    print(f"smtp sink: {args.host}:{args.port} -> {folder}", flush=True)
    while not stop:
        time.sleep(0.2)
    controller.stop()


if __name__ == "__main__":
    main()
