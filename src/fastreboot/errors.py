"""Typed errors. Only the CLI turns them into exit codes and one line on stderr."""

from __future__ import annotations

import errno
import os
import signal


class FastrebootError(Exception):
    """Base class: a message naming the cause, an optional hint saying what to do."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(FastrebootError):
    """Options that cannot work on this system (argparse reports the other usage errors)."""

    exit_code = 2


class CommandError(FastrebootError):
    """A command exited non-zero or could not be started."""

    exit_code = 1


class ConfigError(FastrebootError):
    """A configuration file is invalid, unsafe (shell code) or unreadable."""

    exit_code = 3


class BootConfigError(FastrebootError):
    """A bootloader configuration (grub.cfg, grubenv, BLS entry) cannot be parsed."""

    exit_code = 3


class SelectionError(FastrebootError):
    """No kernel could be chosen, or the chosen one does not exist."""

    exit_code = 4


class ImageError(FastrebootError):
    """A kernel or initrd image is missing, unreadable or corrupt."""

    exit_code = 4


class PreflightError(FastrebootError):
    """A preflight check failed with level error."""

    exit_code = 5


class CrashKernelNotLoaded(PreflightError):
    """`kdump test` without a loaded crash kernel: the crash would save nothing."""


class NoCrashDump(FastrebootError):
    """`kdump save` outside a capture boot: there is no /proc/vmcore."""

    exit_code = 1


class PermissionError_(FastrebootError):
    """Not allowed: not root, no CAP_SYS_BOOT, a --root other than / for a changing command."""

    exit_code = 6


class KexecError(FastrebootError):
    """The kernel refused to load or unload a kexec image."""

    exit_code = 7


class RebootError(FastrebootError):
    """The init system did not accept the reboot request."""

    exit_code = 8


class Cancelled(FastrebootError):
    """The user answered no at the confirmation prompt."""

    exit_code = 10


class KexecUnsupported(KexecError):
    """The running kernel lacks the requested kexec interface (ENOSYS)."""


class KexecRefused(KexecError):
    """The kernel refused the image on policy: a signature it does not trust, lockdown,
    no permission. The other load call must not be tried behind the administrator's back."""


class FileAccessError(FastrebootError):
    """A file could not be read or written (permissions, a race, an I/O error, a name too
    long): the message names the file and the cause."""

    exit_code = 1

    @classmethod
    def of(cls, error: OSError) -> FileAccessError:
        name = os.fsdecode(error.filename) if error.filename is not None else "a file"
        return cls(f"{name}: {error.strerror or os.strerror(error.errno or 0)}")


class OutputLost(FastrebootError):
    """Standard output or error can no longer be written (a closed pipe, a full disk,
    a terminal that hung up)."""

    def __init__(self, stream: str, error: OSError) -> None:
        cause = error.strerror or os.strerror(error.errno or 0)
        super().__init__(f"cannot write to {stream}: {cause}")
        self.broken_pipe = error.errno == errno.EPIPE
        # A closed pipe ends a program quietly, with the status a shell shows for SIGPIPE.
        self.exit_code = 128 + signal.SIGPIPE if self.broken_pipe else 1


class Interrupted(BaseException):
    """A signal (SIGHUP, SIGTERM, SIGINT) stopped the command. A BaseException, like
    KeyboardInterrupt: no ``except Exception`` may swallow it."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.name = signal.Signals(signum).name
        self.exit_code = 128 + signum  # as shells report a process killed by it
        super().__init__(self.name)
