"""Entry point: parse the command line, run the command, map errors to exit codes.

Only this module turns a FastrebootError into an exit code and one line on stderr;
tracebacks only with --debug.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from fastreboot.cli.commands import Context, EffectsFactory
from fastreboot.cli.table import build_parser
from fastreboot.errors import FastrebootError
from fastreboot.sysroot import SysRoot

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


def _log_to_stderr(debug: bool) -> None:
    """fastreboot's log (`+ cmd` lines under --debug) goes to this run's stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("fastreboot")
    logger.handlers = [handler]
    logger.setLevel(logging.DEBUG if debug else logging.WARNING)


def main(
    argv: Sequence[str] | None = None,
    *,
    effects_factory: EffectsFactory | None = None,
    stdin: TextIO | None = None,
) -> int:
    """Entry point. Tests pass ``effects_factory`` (a recording fake) and ``stdin``."""
    try:
        args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exit_:
        return int(exit_.code or 0)
    _log_to_stderr(args.debug)
    ctx = Context(SysRoot(args.root or Path("/")), stdin or sys.stdin, effects_factory)
    try:
        result: int = args.run(args, ctx)
        return result
    except FastrebootError as error:
        if args.debug:
            traceback.print_exc()
        hint = f" (hint: {error.hint})" if error.hint else ""
        print(f"fastreboot: {error.message}{hint}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("fastreboot: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
