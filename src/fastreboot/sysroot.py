"""The target system's root directory: the one way every reader reaches one of its files.

Paths of the target are absolute as seen on the target (``/boot/vmlinuz``), never prefixed
with the host directory. Symlinks are followed *inside* the root: an absolute link target
such as ``/boot/vmlinuz-6.1.0-47-amd64`` means ``root/boot/…``, never the host's /boot.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from dataclasses import dataclass
from pathlib import Path

_MAX_LINKS = 40  # as the kernel's MAXSYMLINKS
_ABSENT = frozenset((errno.ENOENT, errno.ENOTDIR, errno.ENAMETOOLONG, errno.ELOOP))


@dataclass(frozen=True, slots=True)
class SysRoot:
    """A target system whose ``/`` is the host directory ``path``."""

    path: Path

    @property
    def is_host(self) -> bool:
        """Whether this is the running system's own root (the only one fastreboot changes)."""
        return self.path.resolve() == Path("/")

    def lexical(self, target: str) -> Path:
        """The host path of ``target`` as written, links not followed (to test for a link)."""
        return self.path / target.lstrip("/")

    def resolve(self, target: str) -> str:
        """``target`` with every symlink resolved within the root; a normalised target path."""
        parts = [p for p in posixpath.normpath("/" + target.lstrip("/")).split("/") if p]
        resolved: list[str] = []
        links = 0
        while parts:
            name = parts.pop(0)
            if name == "..":
                if resolved:
                    resolved.pop()
                continue
            candidate = self.lexical("/".join([*resolved, name]))
            try:
                link = os.readlink(candidate)
            except OSError:  # not a link, or missing: the walk goes on as written
                resolved.append(name)
                continue
            links += 1
            if links > _MAX_LINKS:
                return "/" + "/".join([*resolved, name, *parts])
            if link.startswith("/"):
                resolved = []
            parts = [p for p in link.split("/") if p and p != "."] + parts
        return "/" + "/".join(resolved)

    def host(self, target: str) -> Path:
        """The host path of ``target``, links resolved inside the root."""
        return self.lexical(self.resolve(target))

    def target_of(self, host_path: Path) -> str:
        """The target path of a host path below the root."""
        return "/" + host_path.relative_to(self.path).as_posix()

    def read_text(self, target: str) -> str | None:
        """The file's text, or None when it does not exist or cannot be read."""
        try:
            return self.host(target).read_text(encoding="utf-8", errors="replace")
        except (OSError, ValueError):  # ValueError: a NUL byte in the path
            return None

    def read_first_line(self, target: str) -> str | None:
        text = self.read_text(target)
        if text is None:
            return None
        return text.strip().split("\n", 1)[0].strip()

    def stat(self, target: str) -> os.stat_result | None:
        """The file's status, links followed inside the root; None when there is no such
        file (also for a name too long to exist, or a loop of links). Other errors (EIO,
        EACCES) are raised: an unreadable file is not a missing one."""
        try:
            return os.stat(self.host(target))
        except OSError as error:
            if error.errno in _ABSENT:
                return None
            raise
        except ValueError:  # a NUL byte in the name
            return None

    def exists(self, target: str) -> bool:
        return self.stat(target) is not None

    def is_file(self, target: str) -> bool:
        st = self.stat(target)
        return st is not None and stat.S_ISREG(st.st_mode)

    def is_dir(self, target: str) -> bool:
        st = self.stat(target)
        return st is not None and stat.S_ISDIR(st.st_mode)

    def glob(self, pattern: str) -> list[str]:
        """Target paths matching ``pattern`` (relative to /), sorted; links are not resolved."""
        return sorted(self.target_of(p) for p in self.path.glob(pattern.lstrip("/")))
