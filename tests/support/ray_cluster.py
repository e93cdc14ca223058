"""A one-node Ray cluster on 127.0.0.1 for a command: ``python -m tests.support.ray_cluster TEMP_DIR COMMAND...``.

Starts the head as lab 12's checks do (``checks.lab12.ray_harness.start_head``: fixed ports, the agents' port files
written ahead), then runs COMMAND with ``{address}`` in its arguments replaced by the head's address, and exits with
its code. Run it only through :func:`command` (``workbook.checkkit.ray_sandbox``): inside its own network namespace
Ray can bind nothing but loopback, and as process 1 of its own PID namespace it takes every Ray process with it
when it ends, however it ends.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence

from checks.lab12.ray_harness import GCS_PORT, start_head
from workbook.checkkit import ray_sandbox

ADDRESS = f"127.0.0.1:{GCS_PORT}"


def command(temp_dir: str, argv: Sequence[str]) -> list[str]:
    """``argv`` run beside a one-node Ray, inside the namespaces (``{address}`` in it: the head's address)."""
    return ray_sandbox.isolated_command([sys.executable, "-m", "tests.support.ray_cluster", temp_dir, *argv])


def main(temp_dir: str, argv: list[str]) -> int:
    start_head(temp_dir)
    print(f"a one-node Ray cluster is up at {ADDRESS}", flush=True)
    return subprocess.run([arg.replace("{address}", ADDRESS) for arg in argv]).returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], sys.argv[2:]))
