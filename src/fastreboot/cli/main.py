"""Entry point: parse the command line, run the command, map errors to exit codes.

Only this module turns an error into an exit code and one line on stderr; tracebacks only
with --debug. A changing command that got past its commit point also leaves its outcome
in the system log (``cli/guard.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shlex
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from fastreboot.act.effects import Severity
from fastreboot.cli.commands import Context, EffectsFactory
from fastreboot.cli.guard import Guard
from fastreboot.cli.table import build_parser
from fastreboot.errors import Cancelled, FastrebootError, FileAccessError, Interrupted, OutputLost
from fastreboot.sysroot import SysRoot

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


class _StderrHandler(logging.Handler):
    """fastreboot's log (`+ cmd` lines under --debug) on this run's stderr, whatever
    stream sys.stderr is now (the guard replaces it)."""

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(OSError, OutputLost):  # never worth stopping a command
            sys.stderr.write(self.format(record) + "\n")


def _log_to_stderr(debug: bool) -> None:
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("fastreboot")
    logger.handlers = [handler]
    logger.setLevel(logging.DEBUG if debug else logging.WARNING)


def _say(line: str) -> None:
    """The one line on stderr; a stderr that is gone loses it, nothing more. Control
    characters that came from the system's files are shown escaped: one line stays one."""
    line = "".join(c if c.isprintable() else repr(c)[1:-1] for c in line)
    try:
        print(line, file=sys.stderr)
        sys.stderr.flush()
    except (OSError, OutputLost):
        pass


def _to_devnull(stream: TextIO | None) -> None:
    """Point a dead stream's descriptor at /dev/null, so that the interpreter's last flush
    at exit neither prints a traceback nor turns the exit status into 120 (the Python
    documentation's recipe for a closed pipe; a hung-up terminal is the same case)."""
    try:
        fd = stream.fileno() if stream else -1
    except (OSError, ValueError):
        return
    if fd >= 0:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)


def _quiet_stdout() -> None:
    _to_devnull(sys.__stdout__)


def _settle_streams() -> None:
    """Flush what this run wrote; a stream that can no longer take it goes to /dev/null."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            _to_devnull(stream)


def main(
    argv: Sequence[str] | None = None,
    *,
    effects_factory: EffectsFactory | None = None,
    stdin: TextIO | None = None,
) -> int:
    """Entry point. Tests pass ``effects_factory`` (a recording fake) and ``stdin``."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(arguments)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    _log_to_stderr(args.debug)
    stdin = stdin or sys.stdin
    guard = Guard(shlex.join(["fastreboot", *arguments]), stdin)
    guard.install()
    try:
        return _run(args, Context(SysRoot(args.root or Path("/")), stdin, effects_factory, guard))
    finally:
        guard.restore()
        for stream in guard.streams:
            if stream.lost:  # a write already failed: nothing more can reach it
                _to_devnull(stream.inner)
        _settle_streams()


def _run(args: argparse.Namespace, ctx: Context) -> int:
    guard = ctx.guard
    debug = bool(args.debug)
    try:
        result: int = args.run(args, ctx)
        sys.stdout.flush()
        return result
    except OutputLost as lost:
        if lost.broken_pipe:
            _quiet_stdout()
        else:
            _say(f"fastreboot: {lost.message}")
        guard.log(f"{guard.command}: stopped: {lost.message}", Severity.ERROR)
        return lost.exit_code
    except (FastrebootError, OSError) as raised:
        error = raised if isinstance(raised, FastrebootError) else FileAccessError.of(raised)
        if debug:
            traceback.print_exc()
        hint = f" (hint: {error.hint})" if error.hint else ""
        _say(f"fastreboot: {error.message}{hint}")
        severity = Severity.NOTICE if isinstance(error, Cancelled) else Severity.ERROR
        guard.log(f"{guard.command}: {error.message}", severity)
        return error.exit_code
    except (KeyboardInterrupt, Interrupted) as stop:
        name, code = (
            (stop.name, stop.exit_code) if isinstance(stop, Interrupted) else
            ("SIGINT", EXIT_INTERRUPTED)
        )
        if guard.committed:
            what = f"stopped by {name} before the reboot; nothing this command loaded stays loaded"
        else:
            what = f"cancelled by {name}: nothing was changed"
        _say(f"fastreboot: {what}")
        guard.log(f"{guard.command}: {what}", Severity.WARNING)
        return code
