"""Reading a configuration file of the target: its text, and who could have changed it."""

from __future__ import annotations

import os
import stat

from fastreboot.errors import ConfigError
from fastreboot.sysroot import SysRoot


def read_config_text(root: SysRoot, target: str) -> str | None:
    """The file's text, or None when it does not exist."""
    try:
        data = root.host(target).read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"{target}: cannot read: {exc.strerror}") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{target}:{line}: not valid UTF-8") from exc


def permission_problem(name: str, mode: int, uid: int) -> str | None:
    """Why a config file with this mode and owner could be changed by non-root, or None."""
    problems = []
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        problems.append(f"writable by group or others (mode {stat.S_IMODE(mode):04o})")
    if uid != 0:
        problems.append(f"owned by uid {uid}, not root")
    if not problems:
        return None
    return f"{name} is {' and '.join(problems)}: whoever can change it chooses what boots"


def permission_warnings(root: SysRoot, targets: list[str]) -> tuple[str, ...]:
    """Warnings for the target files that someone other than root could change."""
    found = []
    for target in targets:
        st = os.stat(root.host(target))
        found.append(permission_problem(target, st.st_mode, st.st_uid))
    return tuple(w for w in found if w)
