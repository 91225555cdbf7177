"""A private Postfix instance for tests: loopback ports only, its own directories, no port 25."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "postfix"
POSTFIX = "/usr/sbin/postfix"
POSTQUEUE = "/usr/sbin/postqueue"

# The addresses deploy/postfix/*.cf are written with; each test instance gets its own ports.
DOCUMENTED_FILTER = "[127.0.0.1]:10025"
DOCUMENTED_REINJECTION = "127.0.0.1:10026"

T = TypeVar("T")


def unavailable() -> str | None:
    """Why a private Postfix cannot run here, or None when it can."""
    if not Path(POSTFIX).exists():
        return "Postfix is not installed: run scripts/test-deps as root"
    if os.geteuid() != 0:
        return "a private Postfix instance must be started as root (CI runs as root)"
    return None


def deployed_snippets(*, filter_port: int, reinjection_port: int) -> tuple[str, str]:
    """deploy/postfix/main.cf and master.cf as shipped, moved to this test's ports."""
    main = (DEPLOY / "main.cf").read_text()
    master = (DEPLOY / "master.cf").read_text()
    assert main.count(DOCUMENTED_FILTER) == 1, "deploy/postfix/main.cf: content_filter moved?"
    assert master.count(DOCUMENTED_REINJECTION) == 1, "deploy/postfix/master.cf: listener moved?"
    return (
        main.replace(DOCUMENTED_FILTER, f"[127.0.0.1]:{filter_port}"),
        master.replace(DOCUMENTED_REINJECTION, f"127.0.0.1:{reinjection_port}"),
    )


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports: all held at once while chosen, so none comes twice."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


@dataclass(frozen=True)
class Ports:
    submission: int  # Postfix's own listener, where tests send
    filter: int  # dlp-proxy
    reinjection: int  # Postfix's listener for mail coming back from dlp-proxy
    sink: int  # the recording sink standing in for every final destination


# The daemons a relay-only Postfix needs, none chrooted (Debian's master.cf chroots most).
BASE_SERVICES = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class PostfixError(AssertionError):
    """Postfix did not do what the test waited for; the message carries its log."""


class Postfix:
    """One private instance under a temporary directory: start, inspect the queue, flush, stop."""

    def __init__(
        self,
        ports: Ports,
        *,
        domain: str,
        reinjection_overrides: Sequence[str] = (),
        main_overrides: Sequence[str] = (),
        launcher: Sequence[str] = (),
    ) -> None:
        # Not under pytest's tmp_path: that is mode 0700 and the postfix user must reach it.
        self.root = Path(tempfile.mkdtemp(prefix="dlp-postfix-"))
        self.root.chmod(0o755)
        self.ports = ports
        self.domain = domain
        self.config_dir = self.root / "etc"
        self.queue_dir = self.root / "queue"
        self.data_dir = self.root / "data"
        self.maillog = self.root / "maillog"
        self._reinjection_overrides = tuple(reinjection_overrides)
        # "name = value" lines for main.cf: each replaces our line for that name, if any.
        self._main_overrides = tuple(main_overrides)
        # A command line every Postfix command runs under (e.g. another /etc/hosts).
        self._launcher = tuple(launcher)
        self._master_pid: int | None = None

    # -- configuration -------------------------------------------------------------------

    def main_cf(self) -> str:
        deployed, _ = deployed_snippets(
            filter_port=self.ports.filter, reinjection_port=self.ports.reinjection
        )
        instance = f"""\
# A private test instance (tests/postfix.py): its own directories, loopback only.
compatibility_level = 3.6
config_directory = {self.config_dir}
queue_directory = {self.queue_dir}
data_directory = {self.data_dir}
mail_owner = postfix
setgid_group = postdrop
maillog_file = {self.maillog}
maillog_file_prefixes = {self.root}
myhostname = mta.{self.domain}
mydomain = {self.domain}
myorigin = $mydomain
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
# Nothing is delivered here: every destination, bounces to the sender included, is the sink.
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
relayhost = [127.0.0.1]:{self.ports.sink}
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
smtp_tls_security_level = none
smtpd_tls_security_level = none
# Deferred mail is retried only when a test says so (postqueue -f), never on a timer.
queue_run_delay = 3600s
minimal_backoff_time = 3600s
maximal_backoff_time = 7200s
delay_warning_time = 0
"""
        for line in self._main_overrides:
            name = line.split("=", 1)[0].strip()
            ours = re.compile(rf"^{re.escape(name)} =.*$", re.MULTILINE)
            instance = ours.sub(line, instance) if ours.search(instance) else instance + line + "\n"
        return instance + "\n" + deployed

    def master_cf(self) -> str:
        _, deployed = deployed_snippets(
            filter_port=self.ports.filter, reinjection_port=self.ports.reinjection
        )
        submission = (
            "# Where the tests send, as users' mail clients and servers would.\n"
            f"127.0.0.1:{self.ports.submission} inet n - n - - smtpd\n"
        )
        extra = "".join(f"    -o {option}\n" for option in self._reinjection_overrides)
        return submission + BASE_SERVICES + "\n" + deployed + extra

    def write_config(self) -> None:
        self.config_dir.mkdir()
        self.queue_dir.mkdir()  # root's; `postfix check` makes the postfix-owned queues inside
        for name, text in (("main.cf", self.main_cf()), ("master.cf", self.master_cf())):
            path = self.config_dir / name
            path.write_text(text)
            # Postfix re-reads a file changed within the last second until it "cools down"
            # (300 ms naps, two seconds in all for each fresh main.cf); ours are complete.
            past = time.time() - 10
            os.utime(path, (past, past))

    # -- life ----------------------------------------------------------------------------

    async def start(self, *, within: float = 30) -> None:
        self.write_config()
        await self.command(POSTFIX, "check")
        await self.command(POSTFIX, "start")
        pid_file = self.queue_dir / "pid" / "master.pid"
        self._master_pid = int(pid_file.read_text().split()[0])
        await self._wait_for_greeting(within)
        warnings = [line for line in self.log().splitlines() if " warning: " in line]
        if warnings:
            raise PostfixError(self.report("Postfix warned about its configuration"))

    async def _wait_for_greeting(self, within: float) -> None:
        async def greets() -> bool:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.ports.submission)
            except OSError:
                return False
            try:
                return (await asyncio.wait_for(reader.readline(), 5)).startswith(b"220 ")
            finally:
                writer.close()

        await self.wait_for(greets, what="Postfix's listener to greet", within=within)

    async def stop(self, *, within: float = 20) -> None:
        """Stop the master and the daemons it started, then remove the directory.

        What `postfix stop` does (SIGTERM to the master), without its one-second sleeps.
        """
        try:
            pid = self._master_pid
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
                if not await self._gone(pid, within):
                    os.kill(pid, signal.SIGKILL)
                    await self._gone(pid, 5)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    @staticmethod
    async def _gone(pid: int, within: float) -> bool:
        """Wait for the process to end; a zombie counts (the master is not our child to reap)."""
        loop = asyncio.get_running_loop()
        until = loop.time() + within
        stat = Path(f"/proc/{pid}/stat")
        while loop.time() < until:
            try:
                state = stat.read_text().rpartition(")")[2].split()[0]  # noqa: ASYNC240 (procfs)
            except (FileNotFoundError, ProcessLookupError, IndexError):
                return True
            if state in ("Z", "X"):
                return True
            await asyncio.sleep(0.05)
        return False

    # -- commands and the queue ----------------------------------------------------------

    async def command(self, program: str, *args: str, within: float = 30) -> str:
        """Run a Postfix command on this instance; a failure raises with its output and log."""
        process = await asyncio.create_subprocess_exec(
            *self._launcher,
            program,
            "-c",
            str(self.config_dir),
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            output, _ = await asyncio.wait_for(process.communicate(), within)
        except TimeoutError:
            process.kill()
            await process.wait()
            problem = f"{program} {' '.join(args)} ran over {within:g}s"
            raise PostfixError(self.report(problem)) from None
        text = output.decode(errors="replace")
        if process.returncode != 0:
            raise PostfixError(
                self.report(f"{program} {' '.join(args)} exited {process.returncode}:\n{text}")
            )
        return text

    async def queue(self) -> list[dict[str, Any]]:
        """Every message in Postfix's queue (postqueue -j): queue_name, recipients, reasons."""
        output = await self.command(POSTQUEUE, "-j")
        return [json.loads(line) for line in output.splitlines() if line.strip()]

    async def flush(self) -> None:
        """Retry deferred mail now, dead destinations included (postqueue -f)."""
        await self.command(POSTQUEUE, "-f")

    async def wait_for(
        self, check: Callable[[], Awaitable[T]], *, what: str, within: float = 30
    ) -> T:
        """Poll ``check`` until it gives something true; if it never does, fail with the log."""
        loop = asyncio.get_running_loop()
        until = loop.time() + within
        while True:
            result = await check()
            if result:
                return result
            if loop.time() >= until:
                raise PostfixError(self.report(f"waited {within:g}s for {what}"))
            await asyncio.sleep(0.1)

    async def wait_for_empty_queue(self, within: float = 30) -> None:
        async def empty() -> bool:
            return not await self.queue()

        await self.wait_for(empty, what="Postfix's queue to be empty", within=within)

    async def wait_for_deferred(
        self, *, count: int = 1, within: float = 30
    ) -> list[dict[str, Any]]:
        """Wait until ``count`` messages sit in the deferred queue, each with a reason."""

        async def deferred() -> list[dict[str, Any]]:
            entries = [
                entry
                for entry in await self.queue()
                if entry["queue_name"] == "deferred"
                and all(r.get("delay_reason") for r in entry["recipients"])
            ]
            return entries if len(entries) >= count else []

        return await self.wait_for(
            deferred, what=f"{count} message(s) deferred with a reason", within=within
        )

    def log(self) -> str:
        try:
            return self.maillog.read_text(errors="replace")
        except FileNotFoundError:
            return "(no maillog yet)"

    def report(self, problem: str) -> str:
        tail = "\n".join(self.log().splitlines()[-60:])
        return f"{problem}\n--- Postfix maillog ({self.maillog}), last lines:\n{tail}"
