"""Child processes with a time limit, stopped with all of their own children (standard library only)."""

from __future__ import annotations

import logging
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

__all__ = ["run_limited", "stop"]

logger = logging.getLogger("bench.processes")


def run_limited(
    cmd: list[str], timeout: float, cwd: str | Path | None = None, env: dict[str, str] | None = None,
    stdout: IO[str] | None = None, group: bool = True,
) -> dict[str, Any]:  # fmt: skip
    """Run ``cmd``; after ``timeout`` seconds stop it.

    With ``group`` it leads a process group of its own, and stopping it stops the group: its loader workers and the
    commands it runs in turn. Without, it stays in our group (so that whoever stops us stops it too) and only the
    process itself is stopped (PyTorch's loader workers exit when their parent has gone).

    Args:
        cmd: the command line.
        timeout: seconds (at least 1).
        cwd: working folder.
        env: environment (default: ours).
        stdout: where its output and errors go (default: our own stdout).
        group: run it in a process group of its own.

    Returns:
        ``status`` (``ok``, ``failed`` or ``timed_out``), ``rc``, ``start`` and ``end`` (epoch seconds), ``wall_s``.
    """
    logger.info("running (limit %.0f s): %s", timeout, shlex.join(cmd))
    sys.stdout.flush()
    start = time.time()
    process = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=stdout, stderr=subprocess.STDOUT if stdout else None,
                               start_new_session=group)  # fmt: skip
    try:
        rc = process.wait(timeout=max(1.0, timeout))
        status = "ok" if rc == 0 else "failed"
    except subprocess.TimeoutExpired:
        stop(process, group)
        rc, status = process.returncode, "timed_out"
    end = time.time()
    return {"status": status, "rc": rc, "start": start, "end": end, "wall_s": end - start}


def stop(process: subprocess.Popen, group: bool, grace: float = 10.0) -> None:
    """SIGTERM ``process`` (with ``group``: the process group it leads), SIGKILL after ``grace`` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, None)):
        try:
            if group:
                os.killpg(process.pid, sig)
            else:
                process.send_signal(sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
