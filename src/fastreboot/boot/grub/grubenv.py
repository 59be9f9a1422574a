"""GRUB's environment block (grubenv, lib/envblk.c): saved_entry, next_entry and friends."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from fastreboot.errors import BootConfigError

ENVBLK_SIGNATURE = "# GRUB Environment Block\n"


def _envblk_lines(data: str) -> Iterator[tuple[str, str]]:
    """name=value lines; backslash escapes the next character; "#" lines are padding."""
    pos = 0
    while pos < len(data):
        if data[pos] == "#":
            pos = _line_end(data, pos) + 1
            continue
        eq = data.find("=", pos)
        if eq < 0:
            return  # broken block: GRUB stops here too
        end = _line_end(data, eq + 1)
        if end >= len(data):
            return
        yield data[pos:eq], re.sub(r"\\(.)", r"\1", data[eq + 1 : end], flags=re.S)
        pos = end + 1


def _line_end(data: str, pos: int) -> int:
    while pos < len(data) and data[pos] != "\n":
        pos += 2 if data[pos] == "\\" else 1
    return pos


def read_grubenv(path: Path) -> dict[str, str]:
    """Variables of a GRUB environment block; BootConfigError if it is not one."""
    data = path.read_bytes().decode("utf-8", errors="replace")
    if not data.startswith(ENVBLK_SIGNATURE):
        raise BootConfigError(f"{path}:1: not a GRUB environment block")
    return dict(_envblk_lines(data[len(ENVBLK_SIGNATURE) :]))
