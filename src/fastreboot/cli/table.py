"""The command line in one table: every command, its help, its options, its function."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastreboot import __version__
from fastreboot.cli import commands
from fastreboot.cli.commands import Context
from fastreboot.config.own import LoadMethod, RebootKind, Target


@dataclass(frozen=True, slots=True)
class Option:
    flags: tuple[str, ...]
    help: str  # argparse.SUPPRESS hides an option meant for fastreboot's own units
    flag: bool = False  # takes no value (store_true)
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    type: Callable[[str], Any] | None = None

    def add_to(self, parser: argparse.ArgumentParser, *, default: object = None) -> None:
        if self.flag:
            parser.add_argument(*self.flags, action="store_true", default=default, help=self.help)
            return
        parser.add_argument(
            *self.flags,
            metavar=self.metavar,
            choices=self.choices,
            type=self.type or str,
            default=default,
            help=self.help,
        )


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    help: str
    run: Callable[[argparse.Namespace, Context], int]
    selection: bool = False  # takes the kernel selection options
    options: tuple[Option, ...] = field(default=())


#: Accepted before or after the command's name.
GLOBAL_OPTIONS = (
    Option(("--root",), "read the system under DIR (default /)", metavar="DIR", type=Path),
    Option(("--json",), "machine-readable output", flag=True),
    Option(("--debug",), "log commands, show tracebacks", flag=True),
    Option(("-y", "--yes"), "do not ask", flag=True),
)

SELECTION_OPTIONS = (
    Option(("--kernel",), "boot this kernel", metavar="PATH|VERSION"),
    Option(("--initrd",), "use this initrd", metavar="PATH"),
    Option(("--append",), "add to the kernel command line", metavar="ARGS"),
    Option(("--command-line",), "replace the kernel command line", metavar="ARGS"),
    Option(
        ("--target",),
        "default: what the bootloader would boot",
        choices=tuple(Target),
    ),
    Option(
        ("--load-method",),
        "force one system call (default: kexec_file_load, then kexec_load through"
        " kexec-tools if the kernel cannot take the image that way)",
        choices=(LoadMethod.FILE, LoadMethod.LEGACY),
    ),
    Option(
        ("--no-fallback",),
        "no way back to the running kernel if the new one fails (no one-shot entry,"
        " watchdog or panic=)",
        flag=True,
    ),
    Option(
        ("--retry-failed",),
        "try again a kernel whose last fast reboot fell back to the old kernel",
        flag=True,
    ),
)

_RELOAD = Option(
    ("--reload",),
    "load again even if fastreboot already loaded this kernel in this boot",
    flag=True,
)

_KIND = Option(
    ("--kind",),
    "kexec (default): a new kernel; soft: userspace only (systemctl soft-reboot, systemd"
    " >= 254); auto: soft when the kernel stays, else kexec; cold: through the firmware",
    choices=tuple(RebootKind),
)

COMMANDS = (
    Command(
        "plan",
        "show what a fast reboot would do, changing nothing",
        commands.cmd_plan,
        True,
        (_KIND,),
    ),
    Command("kernels", "list every boot candidate", commands.cmd_kernels),
    Command(
        "check",
        "run the preflight checks; exit 0 when nothing blocks",
        commands.cmd_check,
        True,
        (_KIND,),
    ),
    Command(
        "load",
        "load the planned kernel without rebooting",
        commands.cmd_load,
        True,
        (
            _RELOAD,
            Option(("--record",), argparse.SUPPRESS, flag=True),
            Option(("--on-reboot",), argparse.SUPPRESS, flag=True),
            Option(("--preload",), argparse.SUPPRESS, flag=True),
        ),
    ),
    Command(
        "reboot",
        "fast reboot: load the kernel, then reboot through the init system",
        commands.cmd_reboot,
        True,
        (
            _RELOAD,
            _KIND,
            Option(("--dry-run",), "stop after showing the plan", flag=True),
            Option(
                ("-f", "--force"),
                "skip the init system: sync, then jump (like reboot -f)",
                flag=True,
            ),
        ),
    ),
    Command(
        "cold", "a real firmware reboot, even when a kexec kernel is loaded", commands.cmd_cold
    ),
    Command("unload", "unload the loaded kexec kernel", commands.cmd_unload),
    Command(
        "status",
        "loaded kernels, lockdown, init system, what reboot would do now",
        commands.cmd_status,
    ),
    Command(
        "setup",
        "install the unit that completes downtime records in the next boot",
        commands.cmd_setup,
    ),
    Command(
        "enable",
        "make a plain `reboot` a fast reboot (installs hooks)",
        commands.cmd_enable,
        options=(
            Option(
                ("--preload",),
                "also keep the planned kernel loaded from boot on (systemd): a reboot then"
                " need not load it; holds the kernel and initrd in memory",
                flag=True,
            ),
        ),
    ),
    Command("disable", "make a plain `reboot` go through the firmware again", commands.cmd_disable),
    Command(
        "record-boot",
        "complete this boot's downtime record (run by fastreboot-record)",
        commands.cmd_record_boot,
    ),
    Command(
        "kdump",
        "crash kernel (kdump) from /etc/sysconfig/kdump or /etc/default/kdump-tools",
        commands.cmd_kdump,
        options=(
            Option(
                ("action",),
                "load|unload the crash kernel; enable|disable loading it at boot and saving"
                " the dump; status (and saved dumps); test: crash on purpose (asks first);"
                " save: run by the capture boot",
                choices=("load", "unload", "status", "enable", "disable", "test", "save"),
            ),
        ),
    ),
)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: every command with its options."""
    parser = argparse.ArgumentParser(
        prog="fastreboot",
        description="Reboot through kexec: services stop cleanly, the firmware phase is skipped.",
    )
    parser.add_argument("--version", action="version", version=f"fastreboot {__version__}")
    for option in GLOBAL_OPTIONS:
        option.add_to(parser)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        sub = subparsers.add_parser(command.name, help=command.help, description=command.help)
        # SUPPRESS: a global option given after the command does not reset the one before.
        for option in GLOBAL_OPTIONS:
            option.add_to(sub, default=argparse.SUPPRESS)
        for option in (*(SELECTION_OPTIONS if command.selection else ()), *command.options):
            option.add_to(sub)
        sub.set_defaults(run=command.run)
    return parser
