"""Two dlp-proxy replicas behind one name, as docker-compose.yml runs them, with a real Postfix.

docker-compose.yml gives both replicas the network alias ``dlp-proxy`` and Postfix the content
filter ``dlpfilter:[dlp-proxy]:10025``: Docker's DNS answers that name with one address per
replica. Here the name has two loopback addresses in an /etc/hosts that only this test's
Postfix sees (a private mount namespace), and two real ``dlp-proxy serve`` processes listen on
them, on the same port.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiosmtplib
import pytest

from tests.conftest import Sink
from tests.postfix import Ports, Postfix, free_ports, unavailable
from tests.test_postfix import ProxyProcess

REPO = Path(__file__).resolve().parent.parent
NAME = "dlp-proxy"  # the alias both replicas share in docker-compose.yml
REPLICA_A = "127.0.0.2"
REPLICA_B = "127.0.0.3"
SENDER = "sales@example.jp"
CUSTOMER = "customer@example.com"
PRIVATE_MOUNTS = ["unshare", "--mount", "--propagation", "private"]


def namespace_unavailable() -> str | None:
    """Why this test cannot give Postfix its own /etc/hosts, or None when it can."""
    if shutil.which("unshare") is None:
        return "unshare (util-linux) is not installed"
    probe = subprocess.run(
        [*PRIVATE_MOUNTS, "mount", "--bind", "/etc/hosts", "/etc/hosts"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if probe.returncode != 0:
        return f"cannot bind-mount /etc/hosts in a private mount namespace: {probe.stderr.strip()}"
    return None


REASON = unavailable() or namespace_unavailable()
pytestmark = pytest.mark.skipif(REASON is not None, reason=str(REASON))


class ReplicatedPostfix(Postfix):
    """The test rig's Postfix with the shipped content_filter aimed at a name, not an address."""

    def main_cf(self) -> str:
        text = super().main_cf()
        documented = f"content_filter = dlpfilter:[127.0.0.1]:{self.ports.filter}"
        assert text.count(documented) == 1, "the rig's content_filter line moved"
        return text.replace(documented, f"content_filter = dlpfilter:[{NAME}]:{self.ports.filter}")


def replica(host: str, *, port: int, next_hop: int, data_dir: Path) -> ProxyProcess:
    proxy = ProxyProcess(
        port=port, next_hop=next_hop, policy_dir=REPO / "policies", data_dir=data_dir
    )
    proxy.args[proxy.args.index("--listen") + 1] = f"{host}:{port}"
    return proxy


@pytest.fixture
def hosts_file(tmp_path: Path) -> Path:
    path = tmp_path / "hosts"
    path.write_text(Path("/etc/hosts").read_text() + f"\n{REPLICA_A} {NAME}\n{REPLICA_B} {NAME}\n")
    path.chmod(0o644)
    tmp_path.chmod(0o755)  # Postfix's daemons read it as the postfix user
    return path


@pytest.fixture
async def cleanup() -> AsyncIterator[list[ProxyProcess | Postfix]]:
    running: list[ProxyProcess | Postfix] = []
    yield running
    for part in reversed(running):
        if isinstance(part, Postfix):
            print(part.report("Postfix at teardown"))  # shown only when the test failed
            await part.stop()
        else:
            print("--- dlp-proxy log:\n" + part.log())
            part.kill()
            for run in part.runs:
                await run.exit_status()


async def send(postfix: Postfix, count: int, tag: str) -> None:
    for number in range(count):
        raw = f"From: {SENDER}\r\nTo: {CUSTOMER}\r\nSubject: {tag} {number}\r\n\r\nHello.\r\n"
        async with aiosmtplib.SMTP(
            hostname="127.0.0.1", port=postfix.ports.submission, start_tls=False
        ) as client:
            refused, _ = await client.sendmail(SENDER, [CUSTOMER], raw.encode())
        assert refused == {}


def passed(proxy: ProxyProcess) -> int:
    """Messages this replica accepted and passed on (its JSON line per message says 250)."""
    return sum(1 for line in proxy.messages() if str(line.get("reply")) == "250")


async def test_postfix_spreads_mail_over_both_replicas_and_skips_one_that_fails(
    tmp_path: Path,
    sink: Sink,
    hosts_file: Path,
    cleanup: list[ProxyProcess | Postfix],
) -> None:
    submission, filter_port, reinjection = free_ports(3)
    # Postfix's commands, so its master and every daemon, see the test's /etc/hosts.
    launcher = [*PRIVATE_MOUNTS, "sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"']
    launcher.append(str(hosts_file))
    postfix = ReplicatedPostfix(
        Ports(submission, filter_port, reinjection, sink=sink.port),
        domain="example.jp",
        launcher=launcher,
    )
    a = replica(REPLICA_A, port=filter_port, next_hop=reinjection, data_dir=tmp_path / "a")
    b = replica(REPLICA_B, port=filter_port, next_hop=reinjection, data_dir=tmp_path / "b")
    cleanup.extend([postfix, a, b])
    await a.start()
    await b.start()
    await postfix.start()

    async def delivered(count: int) -> None:
        async def arrived() -> bool:
            return len(sink.messages) >= count

        await postfix.wait_for(arrived, what=f"{count} message(s) at the sink", within=60)
        await postfix.wait_for_empty_queue()

    # Both up: each delivery shuffles the two addresses (smtp_randomize_addresses), so both
    # replicas get mail; each message passes exactly one of them.
    await send(postfix, 20, "both")
    await delivered(20)
    assert passed(a) > 0 and passed(b) > 0, (passed(a), passed(b))
    assert passed(a) + passed(b) == 20

    # B stops (a crashed container, a restart): connection refused there, Postfix delivers
    # through A in the same attempt; nothing is deferred.
    await b.stop()
    before = passed(a)
    await send(postfix, 5, "b stopped")
    await delivered(25)
    assert passed(a) - before == 5

    # B is back but cannot reach its next hop, so it answers 451 4.4.1 at MAIL: a temporary
    # failure of that replica, which Postfix answers by trying A at once; nothing deferred.
    dead_port = free_ports(1)[0]
    b_broken = replica(REPLICA_B, port=filter_port, next_hop=dead_port, data_dir=tmp_path / "b")
    cleanup.append(b_broken)
    await b_broken.start()
    before = passed(a)
    await send(postfix, 16, "b failing")
    await delivered(41)
    assert passed(a) - before == 16
    said_451 = re.findall(rf"host {NAME}\[{re.escape(REPLICA_B)}\] said: 451 ", postfix.log())
    assert said_451, "replica B was never tried: the failover above proved nothing"
    assert "status=deferred" not in postfix.log()
