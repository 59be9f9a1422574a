"""The crash dumps saved under the dump directory, as `kdump status` lists them.

A dump is a directory holding `vmcore` and the crashed kernel's log as text (`dmesg.txt`;
Red Hat's `vmcore-dmesg.txt` is read too). A directory still named `*.incomplete` was not
finished: the save was cut off (`kdump save` renames it only once everything is on disk).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fastreboot.sysroot import SysRoot

DUMP_FILE = "vmcore"
LOG_FILE = "dmesg.txt"
LOG_FILES = (LOG_FILE, "vmcore-dmesg.txt")
INCOMPLETE = ".incomplete"
_STAMP = re.compile(r"^\[\s*\d+\.\d+\]\s*")
_VERSION = re.compile(r"Linux version (\S+)")
# The line that says why the kernel stopped, most telling first.
_PANIC_MARKERS = ("Kernel panic - not syncing", "sysrq: Trigger a crash", "BUG:", "Oops")


@dataclass(frozen=True, slots=True)
class SavedDump:
    directory: str
    time: float | None  # when the dump (else its log) was written: the file's mtime
    kernel: str | None  # the crashed kernel's release, from its log
    size: int  # bytes of the dump file
    panic: str | None
    complete: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "directory": self.directory,
            "time": self.time,
            "kernel": self.kernel,
            "size": self.size,
            "panic": self.panic,
            "complete": self.complete,
        }


def panic_line(log: str) -> str | None:
    lines = [_STAMP.sub("", line).strip() for line in log.splitlines()]
    for marker in _PANIC_MARKERS:
        for line in lines:
            if marker in line:
                return line
    return None


def _read_dump(root: SysRoot, directory: str) -> SavedDump | None:
    dump = root.stat(f"{directory}/{DUMP_FILE}")
    logs = [f"{directory}/{name}" for name in LOG_FILES if root.is_file(f"{directory}/{name}")]
    if dump is None and not logs:
        return None
    log = (root.read_text(logs[0]) or "") if logs else ""
    version = _VERSION.search(log)
    written = dump or (root.stat(logs[0]) if logs else None)
    return SavedDump(
        directory=directory,
        time=written.st_mtime if written is not None else None,
        kernel=version.group(1) if version else None,
        size=dump.st_size if dump is not None else 0,
        panic=panic_line(log),
        complete=dump is not None and not directory.endswith(INCOMPLETE),
    )


def saved_dumps(root: SysRoot, path: str) -> tuple[SavedDump, ...]:
    """The dumps under *path*, oldest first; incomplete ones are listed, marked."""
    found = []
    for directory in root.glob(f"{path.rstrip('/')}/*"):
        if root.is_dir(directory):
            dump = _read_dump(root, directory)
            if dump is not None:
                found.append(dump)
    return tuple(sorted(found, key=lambda d: (d.time or 0.0, d.directory)))
