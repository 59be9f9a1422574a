"""The commit point of a changing command, and what happens around it.

Before it (planning, the y/n question) a hang-up, SIGTERM or Ctrl-C cancels and nothing
has changed. At it (the answer yes, or ``--yes`` given up front) the command is logged to
the system log with who asked. After it the command finishes what it started whatever
happens to its terminal: a hang-up is ignored, output that can no longer be written is
dropped, and the outcome goes to the system log, where the administrator finds it later.
"""

from __future__ import annotations

import io
import os
import pwd
import signal
import sys
import threading
from collections.abc import Mapping
from types import FrameType
from typing import TextIO

from fastreboot.act.effects import Effects, Severity
from fastreboot.errors import Interrupted, OutputLost

_CANCELLING = (signal.SIGHUP, signal.SIGTERM)
_NO_LOGIN_UID = "4294967295"  # (uid_t)-1: no login session (a service, the boot)


class GuardedStream(io.TextIOBase):
    """stdout or stderr. Before the commit point a write that fails raises ``OutputLost``
    (the command stops, as any Unix tool would); after it the text is dropped, so that a
    terminal that went away cannot stop a reboot half-way."""

    def __init__(self, inner: TextIO, name: str) -> None:
        self.inner = inner
        self.name = name
        self.forgiving = False
        self.lost = False

    def write(self, text: str) -> int:
        if not self.lost:
            try:
                self.inner.write(text)
            except OSError as error:
                self._failed(error)
        return len(text)

    def flush(self) -> None:
        if not self.lost:
            try:
                self.inner.flush()
            except OSError as error:
                self._failed(error)

    def _failed(self, error: OSError) -> None:
        self.lost = True
        if not self.forgiving:
            raise OutputLost(self.name, error) from error

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self.inner.isatty()

    def fileno(self) -> int:
        return self.inner.fileno()


def requester(environ: Mapping[str, str], stdin: TextIO) -> str:
    """Who asked, as an administrator reads it later: uid, login uid, sudo, tty, SSH client."""
    uid = os.getuid()
    parts = [f"uid {uid} ({_user(uid)})"]
    try:
        with open("/proc/self/loginuid", encoding="ascii") as handle:
            login = handle.read().strip()
    except OSError:
        login = _NO_LOGIN_UID
    if login.isdigit() and login != _NO_LOGIN_UID and int(login) != uid:
        parts.append(f"login uid {login} ({_user(int(login))})")
    if environ.get("SUDO_USER"):
        parts.append(f"via sudo from {environ['SUDO_USER']}")
    try:
        parts.append(f"on {os.ttyname(stdin.fileno())}" if stdin.isatty() else "no terminal")
    except (OSError, ValueError, io.UnsupportedOperation):
        parts.append("no terminal")
    ssh = environ.get("SSH_CONNECTION", "").split()
    if len(ssh) >= 2:
        parts.append(f"SSH from {ssh[0]} port {ssh[1]}")
    return ", ".join(parts)


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return "unknown"


class Guard:
    """One per run of ``main``: installs the cancelling handlers, and restores everything
    it changed when the run ends (tests call ``main`` many times in one process)."""

    def __init__(self, command: str, stdin: TextIO) -> None:
        self.command = command  # "fastreboot reboot --yes", for the log
        self.stdin = stdin
        self.streams: list[GuardedStream] = []
        self.effects: Effects | None = None
        self.committed = False
        self.handed = False
        self._saved: dict[int, object] = {}
        self.stopping = False
        self._saved_streams: tuple[TextIO, TextIO] | None = None

    def install(self) -> None:
        out = GuardedStream(sys.stdout, "standard output")
        err = GuardedStream(sys.stderr, "standard error")
        self._saved_streams = (sys.stdout, sys.stderr)
        self.streams = [out, err]
        sys.stdout, sys.stderr = out, err
        if threading.current_thread() is threading.main_thread():
            for signum in (*_CANCELLING, signal.SIGINT):
                self._saved[signum] = signal.getsignal(signum)
            for signum in _CANCELLING:
                signal.signal(signum, self._interrupt)

    def _interrupt(self, signum: int, _frame: FrameType | None) -> None:
        """The first SIGHUP or SIGTERM stops the command; a repeat must not interrupt the
        cleanup it started (a hung-up terminal can deliver SIGHUP twice: to the session
        leader and to the foreground group)."""
        if self.stopping:
            return
        self.stopping = True
        raise Interrupted(signum)

    def restore(self) -> None:
        for signum, handler in self._saved.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        self._saved.clear()
        if self._saved_streams is not None:
            sys.stdout, sys.stderr = self._saved_streams
            self._saved_streams = None

    def attach(self, effects: Effects) -> None:
        """The machine this run acts on: from now on its outcome goes to the system log."""
        self.effects = effects

    def commit(self, effects: Effects) -> None:
        """The answer is yes: from here on, finish what was started."""
        self.attach(effects)
        self.committed = True
        for stream in self.streams:
            stream.forgiving = True
        if signal.SIGHUP in self._saved:
            signal.signal(signal.SIGHUP, signal.SIG_IGN)  # also for the commands it runs
        self.log(f"{self.command}: asked by {requester(os.environ, self.stdin)}")

    def handed_over(self) -> None:
        """The init system has the reboot; its shutdown SIGTERM ends this run quietly."""
        self.handed = True
        for signum in self._saved:
            signal.signal(signum, signal.SIG_IGN)

    def log(self, message: str, severity: Severity = Severity.NOTICE) -> None:
        if self.effects is not None:
            self.effects.log_event(message, severity=severity)
