"""Command line: parse options, build the plan, print it, act through Effects.

Data goes to stdout, diagnostics to stderr. Only this module maps errors to exit codes.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from fastreboot import __version__, log
from fastreboot.errors import Cancelled, FastrebootError

TYPE_CHECKING = False  # True for mypy; typing is not imported at run time (start-up cost)
if TYPE_CHECKING:
    from typing import Any, TextIO

    EffectsFactory = Callable[[Path], Any]

EXIT_OK = 0
EXIT_USAGE = 2
FAST_PROMPT = "Do you want to perform a fast reboot (without hardware reboot)? [y/N] "
RELOAD_HELP = "load again even if fastreboot already loaded this kernel in this boot"
COLD_PROMPT = "Do you want to perform a cold reboot (through the firmware)? [y/N] "


def _global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    # SUPPRESS lets the same option appear before or after the command name.
    default = None if top else argparse.SUPPRESS
    parser.add_argument(
        "--root",
        type=Path,
        default=default,
        metavar="DIR",
        help="read the system under DIR (default /)",
    )
    parser.add_argument(
        "--json", action="store_true", default=default, help="machine-readable output"
    )
    parser.add_argument(
        "--debug", action="store_true", default=default, help="log commands, show tracebacks"
    )
    parser.add_argument("-y", "--yes", action="store_true", default=default, help="do not ask")


def _selection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kernel", metavar="PATH|VERSION", help="boot this kernel")
    parser.add_argument("--initrd", metavar="PATH", help="use this initrd")
    parser.add_argument("--append", metavar="ARGS", help="add to the kernel command line")
    parser.add_argument("--command-line", metavar="ARGS", help="replace the kernel command line")
    parser.add_argument(
        "--target",
        choices=["default", "newest", "running"],
        help="default: what the bootloader would boot",
    )
    parser.add_argument(
        "--load-method",
        choices=["kexec_file_load", "kexec_load"],
        help="force one system call (default: kexec_load via kexec-tools where allowed)",
    )


# Every command: its help text, and whether it takes the kernel selection options.
_COMMANDS: dict[str, tuple[str, bool]] = {
    "plan": ("show what a fast reboot would do, changing nothing", True),
    "kernels": ("list every boot candidate", False),
    "check": ("run the preflight checks; exit 0 when nothing blocks", True),
    "load": ("load the planned kernel without rebooting", True),
    "reboot": ("fast reboot: load the kernel, then reboot through the init system", True),
    "cold": ("a real firmware reboot, even when a kexec kernel is loaded", False),
    "unload": ("unload the loaded kexec kernel", False),
    "status": ("loaded kernels, lockdown, init system, what reboot would do now", False),
    "setup": ("install the unit that completes downtime records in the next boot", False),
    "enable": ("make a plain `reboot` a fast reboot (installs hooks)", False),
    "disable": ("make a plain `reboot` go through the firmware again", False),
    "record-boot": ("complete this boot's downtime record (run by fastreboot-record)", False),
    "kdump": ("crash kernel from /etc/sysconfig/kdump", False),
}


def _command_options(name: str, parser: argparse.ArgumentParser) -> None:
    """Options of single commands, beyond the global and the selection ones."""
    if name in ("load", "reboot"):
        parser.add_argument("--reload", action="store_true", help=RELOAD_HELP)
    if name == "load":
        parser.add_argument("--record", action="store_true", help=argparse.SUPPRESS)
        parser.add_argument("--on-reboot", action="store_true", help=argparse.SUPPRESS)
        parser.add_argument("--preload", action="store_true", help=argparse.SUPPRESS)
    elif name == "reboot":
        parser.add_argument("--dry-run", action="store_true", help="stop after showing the plan")
        parser.add_argument(
            "-f",
            "--force",
            action="store_true",
            help="skip the init system: sync, then jump (like reboot -f)",
        )
    elif name == "enable":
        parser.add_argument(
            "--preload",
            action="store_true",
            help="also keep the planned kernel loaded from boot on (systemd): a reboot then"
            " need not load it; holds the kernel and initrd in memory",
        )
    elif name == "kdump":
        parser.add_argument("action", choices=["load", "unload", "status"])


def _terminal_columns() -> int:
    """What shutil.get_terminal_size().columns says: $COLUMNS, the terminal's width, or 80."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns > 0:
        return columns
    stdout = sys.__stdout__
    try:
        return (os.get_terminal_size(stdout.fileno()).columns if stdout else 0) or 80
    except (ValueError, OSError):
        return 80


def _formatter(prog: str) -> argparse.HelpFormatter:
    # argparse makes a formatter in every add_argument() (to check the action); given no
    # width, it imports shutil (and bz2, lzma...) for the terminal's, which costs more
    # start-up time than all the parsing.
    return argparse.HelpFormatter(prog, width=_terminal_columns() - 2)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser, with the sub-parser of ``command`` only, or of every command when None."""
    parser = argparse.ArgumentParser(
        prog="fastreboot",
        description="Reboot through kexec: services stop cleanly, the firmware phase is skipped.",
        formatter_class=_formatter,
    )
    parser.add_argument("--version", action="version", version=f"fastreboot {__version__}")
    _global_options(parser, top=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (help_text, select) in _COMMANDS.items():
        if command is not None and name != command:
            continue
        sub = commands.add_parser(
            name, help=help_text, description=help_text, formatter_class=_formatter
        )
        _global_options(sub, top=False)
        if select:
            _selection_options(sub)
        _command_options(name, sub)
    return parser


_TOP_FLAGS = frozenset({"--json", "--debug", "-y", "--yes"})


def _command_name(argv: Sequence[str]) -> str | None:
    """The command argparse will find in ``argv``, when that is certain: the first word after
    global options spelled out in full. None for anything else (no command, an unknown one,
    -h, --version, abbreviated options): then every sub-parser is needed."""
    words = iter(argv)
    for word in words:
        if word == "--root":
            next(words, None)  # its value, whatever it looks like
        elif not (word.startswith("--root=") or word in _TOP_FLAGS):
            return word if word in _COMMANDS else None
    return None


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    # argparse's add_argument() is slow (it formats every action to check it): build only
    # the sub-parser of the command given, unless help or an error must list them all.
    args = build_parser(_command_name(argv)).parse_args(argv)
    args.root = args.root or Path("/")
    return args


def _confirm(prompt: str, stdin: TextIO) -> None:
    sys.stderr.write(prompt)
    sys.stderr.flush()
    answer = stdin.readline()
    if answer.strip().lower() not in ("y", "yes"):
        raise Cancelled("cancelled: nothing was loaded and nothing was rebooted")


def main(
    argv: Sequence[str] | None = None,
    *,
    effects_factory: EffectsFactory | None = None,
    stdin: TextIO | None = None,
) -> int:
    """Entry point. Tests pass ``effects_factory`` (a recording fake) and ``stdin``."""
    try:
        args = parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exit_:
        return int(exit_.code or 0)
    log.enabled = bool(args.debug)
    try:
        from fastreboot import commands

        return commands.dispatch(args, effects_factory=effects_factory, stdin=stdin or sys.stdin)
    except FastrebootError as error:
        if args.debug:
            import traceback  # only here: it pulls in linecache, tokenize and textwrap

            traceback.print_exc()
        hint = f" (hint: {error.hint})" if error.hint else ""
        print(f"fastreboot: {error.message}{hint}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("fastreboot: interrupted", file=sys.stderr)
        return 130


def print_json(data: object) -> None:
    import json  # only for --json output

    json.dump(data, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")
