"""The minimal aiosmtpd -> aiosmtplib forwarder that dlp-proxy is measured against.

One next-hop connection per message, as a developer would write it in twenty lines.
Usage: baseline_forwarder.py LISTEN_PORT NEXT_HOP_PORT  (both on 127.0.0.1; 0 = any free port).
Prints ``listening on 127.0.0.1:PORT`` once it accepts connections; stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import signal
import sys

import aiosmtplib
from aiosmtpd.smtp import SMTP


class Forward:
    def __init__(self, port: int) -> None:
        self.port = port

    async def handle_DATA(self, server: SMTP, session: object, envelope: object) -> str:
        try:
            await aiosmtplib.send(
                envelope.original_content,  # type: ignore[attr-defined]
                sender=envelope.mail_from,  # type: ignore[attr-defined]
                recipients=envelope.rcpt_tos,  # type: ignore[attr-defined]
                hostname="127.0.0.1",
                port=self.port,
                local_hostname="baseline.bench",
                start_tls=False,
            )
        except Exception as exc:
            return f"451 4.3.0 next hop failed: {type(exc).__name__}"
        return "250 2.0.0 OK"


async def main(listen_port: int, next_hop_port: int) -> None:
    handler = Forward(next_hop_port)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="baseline.bench", data_size_limit=50 << 20),
        "127.0.0.1",
        listen_port,
        backlog=512,
    )
    print(f"listening on 127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    server.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
