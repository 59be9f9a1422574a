"""Every change fastreboot makes to a machine goes through an ``Effects`` object.

The CLI builds ``HostEffects`` only for commands that change the system and only for
root ``/``. Tests hand the CLI a recording fake instead, so no test can reach a real
kexec or reboot. As a second lock, HostEffects refuses to exist while
FASTREBOOT_FORBID_HOST_EFFECTS is set (the test suite sets it for its whole process tree).
"""

from __future__ import annotations

import enum
import errno
import os
import shutil
import subprocess
import syslog
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

from fastreboot.act import syscalls
from fastreboot.act.run import run
from fastreboot.errors import (
    FastrebootError,
    KexecError,
    KexecRefused,
    KexecUnsupported,
    PermissionError_,
)
from fastreboot.plan.sysinfo import lockdown
from fastreboot.sysroot import SysRoot

FORBID_ENV = "FASTREBOOT_FORBID_HOST_EFFECTS"
SBIN_DIRS = ("/usr/sbin", "/sbin")
#: kexec_file_load's answers that are a policy decision, not an inability: lockdown, no
#: permission, a signature missing or not trusted.
POLICY_ERRNOS = frozenset(
    (errno.EPERM, errno.EACCES, errno.EKEYREJECTED, errno.ENOKEY, errno.EBADMSG)
)


class Severity(enum.StrEnum):
    """How a line in the system log (the journal, or syslog on sysvinit) is ranked."""

    NOTICE = "notice"
    WARNING = "warning"
    ERROR = "error"


_SYSLOG_PRIORITY = {
    Severity.NOTICE: syslog.LOG_NOTICE,
    Severity.WARNING: syslog.LOG_WARNING,
    Severity.ERROR: syslog.LOG_ERR,
}


@runtime_checkable
class Effects(Protocol):
    """What fastreboot may do to a machine. Paths are target paths under ``root``."""

    root: SysRoot

    def kexec_file_load(
        self, kernel: str, initrds: Sequence[str], cmdline: str, *, crash: bool
    ) -> None: ...

    def kexec_unload(self, *, crash: bool) -> None: ...

    def which(self, command: str) -> str | None: ...

    def run(
        self, argv: Sequence[str], *, env: Mapping[str, str] | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]: ...

    def sync(self) -> None: ...

    def jump(self) -> None:
        """reboot(LINUX_REBOOT_CMD_KEXEC): returns only on failure."""

    def write_file(self, path: str, text: str, *, mode: int = 0o644) -> None: ...

    def remove_file(self, path: str) -> None: ...

    def prefetch(self, paths: Sequence[str]) -> None:
        """Start reading files into the page cache; a hint, never an error."""

    def log_event(self, message: str, *, severity: Severity) -> None:
        """One line in the system log, so that an administrator can find out later what
        happened; never an error (no log daemon means the line is lost)."""

    def make_dir(self, path: str) -> None:
        """Create the directory and its parents (mode 0700: a dump holds all of memory)."""

    def publish_dir(self, temporary: str, final: str) -> None:
        """Make the files in *temporary* durable, then rename it to *final*: a crash in
        between leaves the temporary name, never a complete-looking *final*."""

    def trigger_crash(self) -> None:
        """Crash the kernel on purpose (sysrq c): returns only if it did not happen."""


class HostEffects:
    """The real machine. Only ever built for root ``/``."""

    def __init__(self, root: SysRoot) -> None:
        if os.environ.get(FORBID_ENV):
            raise FastrebootError(
                f"refusing to act on this machine: {FORBID_ENV} is set (test suite)"
            )
        if not root.is_host:
            raise PermissionError_(
                f"--root {root.path}: commands that change the system only act on the running"
                " system",
                hint="use --root only with plan, kernels, check and status",
            )
        if os.geteuid() != 0:
            raise PermissionError_("this command must be run as root", hint="use sudo")
        self.root = SysRoot(Path("/"))

    def kexec_file_load(
        self, kernel: str, initrds: Sequence[str], cmdline: str, *, crash: bool
    ) -> None:
        kernel_fd = os.open(kernel, os.O_RDONLY | os.O_CLOEXEC)
        initrd_fd: int | None = None
        try:
            if len(initrds) == 1:
                initrd_fd = os.open(initrds[0], os.O_RDONLY | os.O_CLOEXEC)
            elif initrds:
                initrd_fd = syscalls.memfd_with(list(initrds))
            syscalls.kexec_file_load(kernel_fd, initrd_fd, cmdline, crash=crash)
        except OSError as error:
            kind = KexecError
            if error.errno == errno.ENOSYS:
                kind = KexecUnsupported
            elif error.errno in POLICY_ERRNOS:
                kind = KexecRefused
            raise kind(
                f"kexec_file_load of {kernel} failed: "
                + syscalls.explain_kexec_errno(error.errno or 0, lockdown=lockdown(self.root))
            ) from error
        finally:
            os.close(kernel_fd)
            if initrd_fd is not None:
                os.close(initrd_fd)

    def kexec_unload(self, *, crash: bool) -> None:
        syscalls.kexec_unload(crash=crash)

    def which(self, command: str) -> str | None:
        """The command's path on PATH, then in the sbin directories (sudo may drop them)."""
        # An empty PATH entry would mean the working directory: never for root.
        dirs = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d]
        return shutil.which(command, path=os.pathsep.join([*dirs, *SBIN_DIRS]))

    def run(
        self, argv: Sequence[str], *, env: Mapping[str, str] | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return run(argv, env=env, check=check)

    def sync(self) -> None:
        os.sync()

    def jump(self) -> None:
        syscalls.reboot_into_loaded_kernel()

    def write_file(self, path: str, text: str, *, mode: int = 0o644) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.tmp")
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, target)  # atomic: a crash leaves the old or the new file

    def remove_file(self, path: str) -> None:
        Path(path).unlink(missing_ok=True)

    def prefetch(self, paths: Sequence[str]) -> None:
        # WILLNEED submits the reads and returns: the disk works while the administrator
        # reads the plan. A file that cannot be opened is the load's error to report.
        for path in paths:
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
            except OSError:
                pass
            finally:
                os.close(fd)

    def log_event(self, message: str, *, severity: Severity) -> None:
        # /dev/log: the journal on systemd, the syslog daemon on sysvinit (`-t fastreboot`).
        syslog.openlog("fastreboot", syslog.LOG_PID, syslog.LOG_DAEMON)
        syslog.syslog(_SYSLOG_PRIORITY[severity], message)

    def make_dir(self, path: str) -> None:
        Path(path).mkdir(mode=0o700, parents=True, exist_ok=True)

    def publish_dir(self, temporary: str, final: str) -> None:
        source = Path(temporary)
        for entry in source.iterdir():
            with open(entry, "rb") as handle:
                os.fsync(handle.fileno())
        _fsync_dir(source)
        os.rename(source, final)  # fails rather than replace an existing dump
        _fsync_dir(Path(final).parent)

    def trigger_crash(self) -> None:
        # The kernel's own trigger, whatever kernel.sysrq allows on the keyboard.
        with open("/proc/sysrq-trigger", "w", encoding="ascii") as handle:
            handle.write("c")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
