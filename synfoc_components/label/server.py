"""The ``monailabel start_server`` command for the bundles, and a server run as a child process (for tests).

Offline flags (docs/install.md "MONAI Label"): ``--conf zoo_source github`` uses the linked bundles without asking
the Model Zoo, ``--conf sam2 false`` skips SAM2 (whose weights would be downloaded at start), ``--conf preload
false`` loads a network on the first request. The server is started as ``<venv>/bin/python -m monailabel.main``
(the ``monailabel`` script runs whatever ``python`` is first on ``PATH``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO

__all__ = ["OFFLINE", "server_command", "running_server"]

logger = logging.getLogger(__name__)

OFFLINE = {"zoo_source": "github", "sam2": "false", "preload": "false"}


def server_command(
    python: str | os.PathLike,
    app: str | os.PathLike,
    studies: str | os.PathLike,
    models: list[str],
    host: str = "127.0.0.1",
    port: int = 8000,
    conf: Mapping[str, str] | None = None,
) -> list[str]:
    """The command line that starts MONAI Label on ``app`` and ``studies`` serving ``models``.

    Args:
        python: the MONAI Label environment's interpreter.
        app: the app folder (``apps/monaibundle``).
        studies: the datastore folder (images, labels in ``labels/final``).
        models: model names (linked bundles, ``prostate_segmentation``).
        host: address to listen on; loopback by default.
        port: TCP port.
        conf: more ``--conf key value`` pairs (e.g. ``{"skip_trainers": "true"}``), after the offline ones.

    Raises:
        ValueError: no model given.
    """
    if not models:
        raise ValueError(f"no model to serve: link a bundle into {Path(app) / 'model'} first (setup --bundles ...)")
    cmd = [str(python), "-m", "monailabel.main", "start_server", "--app", str(app), "--studies", str(studies)]
    cmd += ["--host", host, "--port", str(port), "--conf", "models", ",".join(models)]
    for key, value in {**OFFLINE, **(conf or {})}.items():
        cmd += ["--conf", key, str(value)]
    return cmd


def _info(url: str) -> dict | None:
    """``GET <url>/info/`` as JSON, or None while the server does not answer."""
    try:
        with urllib.request.urlopen(f"{url}/info/", timeout=5) as response:
            return json.load(response)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def _stop(process: subprocess.Popen, grace: float = 10.0) -> None:
    """Stop the server's process group: SIGTERM, ``grace`` seconds for the server to exit, then SIGKILL to whatever
    is left of the group (e.g. a training subprocess)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):  # the group is gone already
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(grace)


@contextlib.contextmanager
def running_server(
    cmd: list[str], log: IO[str], url: str, timeout: float = 180.0, env: Mapping[str, str] | None = None
) -> Iterator[dict]:
    """Start ``cmd`` in a new process group, wait for ``GET /info/``, yield its answer, and stop the group after.

    The group (the server and its training and inference subprocesses) is stopped whatever happens in the block.

    Args:
        cmd: from :func:`server_command`.
        log: where the server's output goes (an open text file).
        url: the server's base URL, e.g. ``http://127.0.0.1:8000``.
        timeout: seconds to wait for the first answer.
        env: the server's environment (this process's by default).

    Raises:
        RuntimeError: the server exited, or did not answer within ``timeout`` seconds.
    """
    logger.info("starting MONAI Label: %s", " ".join(cmd))
    process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    try:
        deadline = time.monotonic() + timeout
        while (info := _info(url)) is None:
            if process.poll() is not None:
                raise RuntimeError(f"MONAI Label exited with status {process.returncode} before answering {url}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"MONAI Label did not answer {url}/info/ within {timeout:.0f} s")
            time.sleep(1.0)
        yield info
    finally:
        _stop(process)
