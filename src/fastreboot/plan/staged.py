"""The kernel fastreboot loaded in this boot, so that a reboot need not load it again.

The kernel cannot be asked which image is loaded. So after a successful load fastreboot
writes ``/run/fastreboot/loaded.json``: kernel, initrds, command line, method, boot id and
the identity (device, inode, size, mtime, ctime) of each file. A later plan that asks for
the same kernel, initrds and command line, in the same boot, with the files unchanged and a
kernel still loaded, reuses it. That moves the load out of the downtime window:
``fastreboot load`` ahead of time, ``fastreboot reboot`` in the window.

What this cannot see: another tool (``kexec -l``) loading a different kernel afterwards.
``fastreboot unload`` and ``cold`` forget the state, and ``--reload`` ignores it.

``origin`` tells an automatic load (``LoadOrigin.PRELOAD``: fastreboot-preload.service, or
the auto-load unit during a reboot) from one an administrator asked for
(``LoadOrigin.COMMAND``: ``fastreboot load`` or ``reboot``). Only an automatic load may be
replaced automatically: a kernel loaded on purpose stays what it is.
"""

from __future__ import annotations

import enum
import json
import os
import time
from dataclasses import dataclass
from typing import Any

from fastreboot.config.own import LoadMethod
from fastreboot.plan import sysinfo
from fastreboot.sysroot import SysRoot

STATE_FILE = "/run/fastreboot/loaded.json"


class LoadOrigin(enum.StrEnum):
    COMMAND = "command"  # fastreboot load or reboot: somebody chose this kernel
    PRELOAD = "preload"  # automatic: the preload units, or the auto-load unit in a reboot


@dataclass(frozen=True, slots=True)
class Loaded:
    kernel: str
    initrds: tuple[str, ...]
    cmdline: str
    method: LoadMethod
    boot_id: str | None
    loaded_at: float  # wall clock, seconds since the epoch
    identities: tuple[tuple[int, ...] | None, ...]  # kernel, then each initrd
    origin: LoadOrigin = LoadOrigin.COMMAND

    def to_json(self) -> dict[str, Any]:
        return {
            "kernel": self.kernel,
            "initrds": list(self.initrds),
            "cmdline": self.cmdline,
            "method": str(self.method),
            "boot_id": self.boot_id,
            "loaded_at": self.loaded_at,
            "identities": [list(i) if i is not None else None for i in self.identities],
            "origin": str(self.origin),
        }

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.loaded_at))
        who = "fastreboot-preload" if self.origin is LoadOrigin.PRELOAD else "fastreboot"
        return f"loaded by {who} at {when} with {self.method}"


def _identity(root: SysRoot, path: str) -> tuple[int, ...] | None:
    try:
        st = os.stat(root.host(path))
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def describe_load(
    root: SysRoot,
    kernel: str,
    initrds: tuple[str, ...],
    cmdline: str,
    method: LoadMethod,
    *,
    origin: LoadOrigin = LoadOrigin.COMMAND,
) -> Loaded:
    """What was just loaded, to be written to STATE_FILE."""
    return Loaded(
        kernel=kernel,
        initrds=initrds,
        cmdline=cmdline,
        method=method,
        boot_id=sysinfo.boot_id(root),
        loaded_at=time.time(),
        identities=tuple(_identity(root, path) for path in (kernel, *initrds)),
        origin=origin,
    )


def to_text(loaded: Loaded) -> str:
    return json.dumps(loaded.to_json(), indent=1) + "\n"


def read(root: SysRoot) -> Loaded | None:
    text = root.read_text(STATE_FILE)
    if text is None:
        return None
    try:
        data = json.loads(text)
        return Loaded(
            kernel=str(data["kernel"]),
            initrds=tuple(str(i) for i in data["initrds"]),
            cmdline=str(data["cmdline"]),
            method=LoadMethod(data["method"]),
            boot_id=data["boot_id"],
            loaded_at=float(data["loaded_at"]),
            identities=tuple(tuple(i) if i is not None else None for i in data["identities"]),
            origin=LoadOrigin.PRELOAD if data.get("origin") == "preload" else LoadOrigin.COMMAND,
        )
    except (ValueError, KeyError, TypeError):  # LoadMethod's ValueError too
        return None  # unreadable state means "not known": load again


def _of_this_boot(root: SysRoot) -> Loaded | None:
    """The state file, when it was written in this boot (a file from before a kexec is not)."""
    loaded = read(root)
    if loaded is None or loaded.boot_id is None or loaded.boot_id != sysinfo.boot_id(root):
        return None
    return loaded


def reusable(
    root: SysRoot,
    kernel: str,
    initrds: tuple[str, ...],
    cmdline: str,
    *,
    method: LoadMethod | None = None,
) -> Loaded | None:
    """The loaded kernel when it is exactly this one, loaded by fastreboot in this boot.
    Only for a system with a kernel loaded (/sys/kernel/kexec_loaded is 1)."""
    loaded = _of_this_boot(root)
    if loaded is None:
        return None
    if (loaded.kernel, loaded.initrds, loaded.cmdline) != (kernel, initrds, cmdline):
        return None
    if method is not None and loaded.method != method:
        return None
    current = tuple(_identity(root, path) for path in (kernel, *initrds))
    if None in current or current != loaded.identities:
        return None
    return loaded


def preloaded(root: SysRoot) -> Loaded | None:
    """The loaded kernel when fastreboot loaded it automatically in this boot (it may be
    stale: the caller plans again). None for a kernel someone asked for, or an unknown one."""
    if root.read_first_line("/sys/kernel/kexec_loaded") != "1":
        return None
    loaded = _of_this_boot(root)
    return loaded if loaded is not None and loaded.origin is LoadOrigin.PRELOAD else None
