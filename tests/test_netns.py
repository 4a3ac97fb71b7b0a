"""Replicas on hosts of their own (network namespaces); one host's link is cut under load.

Needs root and iproute2 (`ip netns`, veth): skipped, saying which, where they are missing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.chrono_server.helpers import REPO_ROOT, ServiceProcess, hermetic_env

REPLICAS = 3
PORT = 50051


def ip(*args: str) -> None:
    """Run an `ip` command; fail the test with its stderr if it fails."""
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10, check=False)
    assert result.returncode == 0, f"ip {' '.join(args)}: {result.stderr}"


def netns_unavailable() -> str | None:
    """Why this machine cannot run the test, or None if it can."""
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    if shutil.which("ip") is None:
        return "needs iproute2 (the `ip` command): apt-get install iproute2"
    probe = f"chrono-probe-{os.getpid()}"
    result = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if result.returncode != 0:
        return f"`ip netns add` is not permitted here: {result.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], check=False)
    return None


@dataclass(frozen=True)
class Network:
    """A client host and replica hosts, each a namespace linked to the client by a veth."""

    client: str
    replicas: list[str]

    def address(self, index: int) -> str:
        """Replica ``index``'s address, as the client reaches it."""
        return f"10.213.{index + 1}.2"

    def link(self, index: int) -> str:
        """The replica end of replica ``index``'s link."""
        return f"rv{index}x{os.getpid() % 100000}"


@pytest.fixture
def network() -> Iterator[Network]:
    """Namespaces for a client and three replicas, always removed afterwards."""
    if reason := netns_unavailable():
        pytest.skip(reason)
    tag = f"chrono-{os.getpid()}"
    net = Network(client=f"{tag}-c", replicas=[f"{tag}-r{i}" for i in range(REPLICAS)])
    try:
        ip("netns", "add", net.client)
        ip("-n", net.client, "link", "set", "lo", "up")
        for index, namespace in enumerate(net.replicas):
            ip("netns", "add", namespace)
            client_end = f"cv{index}x{os.getpid() % 100000}"
            ip("link", "add", client_end, "type", "veth", "peer", "name", net.link(index))
            ip("link", "set", client_end, "netns", net.client)
            ip("link", "set", net.link(index), "netns", namespace)
            ip("-n", net.client, "addr", "add", f"10.213.{index + 1}.1/24", "dev", client_end)
            ip("-n", net.client, "link", "set", client_end, "up")
            ip("-n", namespace, "addr", "add", f"{net.address(index)}/24", "dev", net.link(index))
            ip("-n", namespace, "link", "set", net.link(index), "up")
            ip("-n", namespace, "link", "set", "lo", "up")
        yield net
    finally:
        for namespace in [net.client, *net.replicas]:
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, check=False)


def test_cut_link_costs_no_call(network: Network) -> None:
    """With one replica's link cut mid-load, every call still succeeds within its deadline."""
    replicas = []
    try:
        for index, namespace in enumerate(network.replicas):
            args = ["-m", "time_service", "--host", network.address(index), "--port", str(PORT)]
            # The load's client pings every second to find a dead link fast; allow it.
            args += ["--keepalive-min-interval", "0.5"]
            replicas.append(ServiceProcess(args, prefix=["ip", "netns", "exec", namespace]))
        for process in replicas:
            process.wait_for_line(rf"listening on 10\.213\.\d\.2:{PORT} ")
        target = ",".join(f"{network.address(i)}:{PORT}" for i in range(REPLICAS))
        load_command = [sys.executable, "-m", "tests.netns_load", target, "8", "4"]
        load = subprocess.Popen(
            ["ip", "netns", "exec", network.client, *load_command],
            cwd=REPO_ROOT,
            env=hermetic_env(),
            stdout=subprocess.PIPE,
            text=True,
        )
        assert load.stdout is not None
        lines = []
        for line in load.stdout:
            lines.append(line)
            # Mid-load: once 300 calls have succeeded, pull replica 0's cable.
            if line == "ok 300\n":
                ip("-n", network.replicas[0], "link", "set", network.link(0), "down")
        assert load.wait(30) == 0
        assert "ok 300\n" in lines, f"the load never reached 300 calls: {lines[-1:]}"
        summary = json.loads(lines[-1])
        for process in replicas:
            process.process.send_signal(signal.SIGTERM)
            assert process.finish() == 0
    finally:
        for process in replicas:
            process.kill()
    outcomes = summary["outcomes"]
    assert set(outcomes) == {"OK"}, outcomes
    assert summary["slowest"] < 5.0, summary
    served = [
        sum(1 for line in process.lines if re.search(r"GetTime OK ", line)) for process in replicas
    ]
    # Every replica served before the cut; the two that stayed reachable served after it.
    assert all(count > 0 for count in served), served
    print(f"calls {outcomes['OK']}, slowest {summary['slowest']:.2f} s, per replica {served}")
