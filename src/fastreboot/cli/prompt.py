"""The confirmation prompts: on stderr, answered on stdin; anything but yes is no."""

from __future__ import annotations

import sys
from typing import TextIO

from fastreboot.errors import Cancelled

FAST_PROMPT = "Do you want to perform a fast reboot (without hardware reboot)? [y/N] "
SOFT_PROMPT = "Do you want to perform a soft reboot (userspace only, the kernel stays)? [y/N] "
COLD_PROMPT = "Do you want to perform a cold reboot (through the firmware)? [y/N] "
KDUMP_TEST_PROMPT = "Do you want to crash this machine now to test kdump? [y/N] "


def confirm(prompt: str, stdin: TextIO) -> None:
    sys.stderr.write(prompt)
    sys.stderr.flush()
    try:
        answer = stdin.readline()
    except OSError as error:  # EIO: the terminal hung up while the question was asked
        raise Cancelled(
            "cancelled: the terminal went away before an answer; nothing was loaded and "
            "nothing was rebooted"
        ) from error
    if answer.strip().lower() not in ("y", "yes"):
        raise Cancelled("cancelled: nothing was loaded and nothing was rebooted")
