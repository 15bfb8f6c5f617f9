#!/usr/bin/env python3
"""A real SMTP server on loopback that keeps every mail as a file (.eml),
for the local stack and tests. Recipients containing "fail" are refused with
a 550, so delivery retries and the dead-letter queue can be exercised."""
import argparse
import asyncio
import pathlib
import time
import uuid

from aiosmtpd.controller import Controller


class FileHandler:
    def __init__(self, folder: pathlib.Path):
        self.folder = folder

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if "fail" in address.lower():
            return "550 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.eml"
        header = f"X-Envelope-From: {envelope.mail_from}\r\nX-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n"
        tmp = self.folder / (name + ".tmp")
        tmp.write_bytes(header.encode() + envelope.original_content)
        tmp.rename(self.folder / name)  # readers never see half a mail
        return "250 Message accepted"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", default="127.0.0.1:2525")
    parser.add_argument("--dir", required=True)
    args = parser.parse_args()
    host, port = args.listen.rsplit(":", 1)
    folder = pathlib.Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    controller = Controller(FileHandler(folder), hostname=host, port=int(port))
    controller.start()
    print(f"smtp catcher on {host}:{port}, writing to {folder}", flush=True)
    try:
        asyncio.get_event_loop().run_forever()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
