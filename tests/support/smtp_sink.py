"""A real SMTP server on loopback for sealgate's tests: aiosmtpd, saving
every message it receives as a file in a directory.

Usage: smtp_sink.py PORT DIR [starttls|smtps CERT KEY]
With `starttls` it offers STARTTLS with CERT/KEY and refuses mail before
it; with `smtps` it speaks TLS from the first byte. Each message's file
then starts with "X-TLS: yes" when it came over TLS.
Prints "ready" on stdout once it listens. Each message is written to
DIR/<n>.eml (the raw message as received), first to a temporary name and
then renamed, so a reader never sees half a message.
"""

import asyncio
import itertools
import os
import ssl
import sys

from aiosmtpd.controller import Controller


class SaveToDir:
    def __init__(self, directory):
        self.directory = directory
        self.counter = itertools.count(1)

    async def handle_DATA(self, server, session, envelope):
        n = next(self.counter)
        tmp = os.path.join(self.directory, f".{n}.tmp")
        with open(tmp, "wb") as f:
            f.write(b"X-Envelope-To: " + ", ".join(envelope.rcpt_tos).encode() + b"\r\n")
            over_tls = session.ssl or server.transport.get_extra_info("ssl_object") is not None
            f.write(b"X-TLS: " + (b"yes" if over_tls else b"no") + b"\r\n")
            f.write(envelope.original_content or envelope.content)
        os.rename(tmp, os.path.join(self.directory, f"{n}.eml"))
        return "250 OK"


def main():
    port, directory = int(sys.argv[1]), sys.argv[2]
    options = {}
    if len(sys.argv) > 3:
        mode, cert, key = sys.argv[3], sys.argv[4], sys.argv[5]
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        if mode == "starttls":
            options = {"tls_context": context, "require_starttls": True}
        else:
            options = {"ssl_context": context}
    controller = Controller(SaveToDir(directory), hostname="127.0.0.1", port=port, **options)
    controller.start()
    print("ready", flush=True)
    try:
        # Runs until the test kills it (or its stdin closes).
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
