"""The one place that starts subprocesses: argv lists only, never a shell."""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
from collections.abc import Mapping, Sequence

from fastreboot.errors import CommandError

log = logging.getLogger(__name__)


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float | None = 120,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` with LANG=C.UTF-8 (so messages can be matched), capturing its output."""
    full_env = {**os.environ, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", **(env or {})}
    log.debug("+ %s", shlex.join(argv))
    try:
        result = subprocess.run(
            list(argv), env=full_env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError as error:
        raise CommandError(f"{argv[0]}: command not found", hint="is it installed?") from error
    except subprocess.TimeoutExpired as error:
        raise CommandError(f"{shlex.join(argv)}: timed out after {timeout} s") from error
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise CommandError(
            f"{shlex.join(argv)} failed with exit code {result.returncode}"
            + (f": {detail[-1]}" if detail else "")
        )
    return result
