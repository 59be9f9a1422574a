"""Reading files of a target system that lives under a root directory.

Symlinks are followed *inside* the root: an absolute link target such as
``/boot/vmlinuz-6.1.0-47-amd64`` means ``root/boot/…``, never the host's /boot.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path

_MAX_LINKS = 40  # as the kernel's MAXSYMLINKS


def host_path(root: Path, target_path: str) -> Path:
    """The host path of ``target_path`` (absolute on the target), without following links."""
    return root / target_path.lstrip("/")


def resolve(root: Path, target_path: str) -> str:
    """Resolve symlinks in ``target_path`` within ``root``; returns a normalised target path."""
    parts = [p for p in posixpath.normpath("/" + target_path.lstrip("/")).split("/") if p]
    resolved: list[str] = []
    links = 0
    while parts:
        name = parts.pop(0)
        if name == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = host_path(root, "/".join([*resolved, name]))
        if candidate.is_symlink():
            links += 1
            if links > _MAX_LINKS:
                return "/" + "/".join([*resolved, name, *parts])
            link = os.readlink(candidate)
            if link.startswith("/"):
                resolved = []
            parts = [p for p in link.split("/") if p and p != "."] + parts
            continue
        resolved.append(name)
    return "/" + "/".join(resolved)


def read_text(root: Path, target_path: str) -> str | None:
    """The file's text, or None when it does not exist or cannot be read."""
    try:
        return host_path(root, resolve(root, target_path)).read_text(
            encoding="utf-8", errors="replace"
        )
    except OSError:
        return None


def read_first_line(root: Path, target_path: str) -> str | None:
    text = read_text(root, target_path)
    if text is None:
        return None
    return text.strip().split("\n", 1)[0].strip()


def exists(root: Path, target_path: str) -> bool:
    return host_path(root, resolve(root, target_path)).exists()
