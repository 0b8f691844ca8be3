"""Commands on the host: ``ip`` / ``tc`` batches, namespaces, and the checks that the host can emulate at all."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Sequence

SYSCTLS = (
    "net.ipv4.ip_forward=1",
    "net.ipv4.conf.all.rp_filter=0",  # policy-routed paths may be asymmetric
    "net.ipv4.conf.default.rp_filter=0",
    "net.ipv6.conf.all.disable_ipv6=1",  # no router solicitations or MLD reports on the emulated links
    "net.ipv6.conf.default.disable_ipv6=1",
)


class HostError(RuntimeError):
    """The host cannot run the emulation (not root, no ``ip``/``tc``, a missing kernel feature) or a command
    failed; the message says which and why."""


def check_host() -> None:
    """HostError unless this process is root and ``ip`` and ``tc`` are installed."""
    if os.geteuid() != 0:
        raise HostError("emulation needs root (network namespaces, veth links and tc shaping)")
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            raise HostError(f"'{tool}' not found: install iproute2 (apt-get install -y iproute2)")


def run(command: Sequence[str], *, stdin: str | None = None, check: bool = True) -> str:
    """Run ``command``; HostError with its error output when it fails and ``check`` is set."""
    done = subprocess.run(list(command), input=stdin, capture_output=True, text=True)
    if check and done.returncode != 0:
        shown = " ".join(command)
        raise HostError(f"'{shown}' failed: {(done.stderr or done.stdout).strip()}")
    return done.stdout


def batch(tool: str, namespace: str | None, lines: Sequence[str]) -> None:
    """Run ``lines`` as one ``ip``/``tc`` batch, inside ``namespace`` (None: the host's namespace)."""
    if lines:
        where = ["-n", namespace] if namespace else []
        run([tool, *where, "-batch", "-"], stdin="\n".join(lines) + "\n")


def in_namespace(namespace: str, command: Sequence[str]) -> list[str]:
    """``command`` run inside ``namespace``."""
    return ["ip", "netns", "exec", namespace, *command]


def configure_namespace(namespace: str) -> None:
    """IPv4 forwarding on, reverse-path filtering and IPv6 off, loopback up."""
    run(in_namespace(namespace, ["sysctl", "-qw", *SYSCTLS]))
    batch("ip", namespace, ["link set lo up"])


def existing_namespaces() -> set[str]:
    """Names of the host's named network namespaces."""
    return {line.split()[0] for line in run(["ip", "netns", "list"], check=False).splitlines() if line.strip()}


def delete_namespace(namespace: str) -> None:
    """Kill every process inside ``namespace``, then delete it (its veth ends and qdiscs go with it)."""
    for pid in run(["ip", "netns", "pids", namespace], check=False).split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass
    run(["ip", "netns", "del", namespace], check=False)
