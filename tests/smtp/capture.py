#!/usr/bin/env python3
"""A real SMTP server for tests: accepts every message and writes it to a folder as JSON.

Usage: python3 tests/smtp/capture.py --dir DIR [--host 127.0.0.1] [--port 0]

Binds HOST:PORT (port 0 picks a free one), prints exactly "listening on PORT" once it accepts
connections, then writes each message it receives to DIR/NNNN.json (0001, 0002, ...):

    {"mail_from": ..., "rcpt_tos": [...], "subject": ..., "to": ..., "data": full message text}

Each file is written to DIR/NNNN.json.tmp first and then renamed, so a reader never sees a
partial file. AUTH is offered without TLS and any credentials are accepted. Runs until killed;
SIGTERM and SIGINT stop it cleanly with exit status 0.

Needs aiosmtpd (pip install aiosmtpd).
"""

import argparse
import asyncio
import email
import email.policy
import json
import logging
import os
import re
import signal
import sys

from aiosmtpd.smtp import SMTP, AuthResult


class Capture:
    """aiosmtpd handler that stores each message as numbered JSON in a folder."""

    def __init__(self, directory):
        self.directory = directory
        taken = [int(m.group(1)) for f in os.listdir(directory) if (m := re.fullmatch(r"(\d{4,})\.json", f))]
        self.next = max(taken, default=0) + 1

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        message = email.message_from_bytes(raw, policy=email.policy.default)
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "subject": header(message, "Subject"),
            "to": header(message, "To"),
            "data": raw.decode("utf-8", "replace"),
        }
        number = self.next
        self.next += 1
        path = os.path.join(self.directory, f"{number:04d}.json")
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(record, f, ensure_ascii=False, indent=2)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return "250 Message accepted for delivery"


def header(message, name):
    """A header's decoded value (RFC 2047 words decoded), or None when absent."""
    value = message.get(name)
    return None if value is None else str(value)


def accept_any(server, session, envelope, mechanism, auth_data):
    return AuthResult(success=True)


async def serve(directory, host, port):
    loop = asyncio.get_running_loop()
    handler = Capture(directory)

    def factory():
        return SMTP(
            handler,
            hostname="capture.test",
            enable_SMTPUTF8=True,
            authenticator=accept_any,
            auth_required=False,
            auth_require_tls=False,
        )

    server = await loop.create_server(factory, host=host, port=port)
    bound = server.sockets[0].getsockname()[1]
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"listening on {bound}", flush=True)
    await stop.wait()
    server.close()
    await server.wait_closed()


def main():
    parser = argparse.ArgumentParser(description="SMTP server that captures messages as JSON files.")
    parser.add_argument("--dir", required=True, help="folder for the captured messages (created if missing)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one (default)")
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    # aiosmtpd warns about its own deprecated internals on every AUTH; not the client's fault.
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    asyncio.run(serve(args.dir, args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
