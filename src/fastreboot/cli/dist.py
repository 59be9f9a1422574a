"""The files the Debian package ships that are generated from this code, so they cannot
disagree with it: fastreboot(8) and fastreboot.toml(5) from the argument parser and the
configuration keys, bash completion from the parser, the commented /etc/fastreboot.toml,
and the units and init scripts (act/units.py).

    python3 -m fastreboot.cli.dist --write DIR    (debian/rules: DIR is the package tree)
"""

from __future__ import annotations

import argparse
import re
import shlex
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fastreboot import __version__, errors
from fastreboot.act import units
from fastreboot.act.initsystem import COLD_MARKER, NO_KEXEC_FILE
from fastreboot.act.records import RECORD_DIR
from fastreboot.cli.table import SELECTION_OPTIONS, build_parser
from fastreboot.config.debian import DEBIAN_KEXEC, DEBIAN_KEXEC_D
from fastreboot.config.kdumpconf import KDUMP_CONF, KDUMP_TOOLS
from fastreboot.config.own import CONFIG_KEYS, OWN_CONFIG
from fastreboot.config.redhat import KDUMP_SYSCONFIG
from fastreboot.plan.staged import STATE_FILE

MAN8 = "/usr/share/man/man8/fastreboot.8"
MAN5 = "/usr/share/man/man5/fastreboot.toml.5"
COMPLETION = "/usr/share/bash-completion/completions/fastreboot"
_SELECTION_FLAGS = frozenset(flag for option in SELECTION_OPTIONS for flag in option.flags)


@dataclass(frozen=True, slots=True)
class Opt:
    """One visible option or positional argument of a parser, as --help shows it."""

    flags: tuple[str, ...]  # empty for a positional argument
    metavar: str | None  # None: takes no value
    choices: tuple[str, ...]
    help: str


@dataclass(frozen=True, slots=True)
class Cmd:
    name: str
    help: str
    options: tuple[Opt, ...]
    selection: bool  # takes the kernel selection options


def _opt(action: argparse.Action) -> Opt | None:
    if action.help == argparse.SUPPRESS:
        return None
    choices = tuple(str(c) for c in action.choices) if action.choices else ()
    if action.nargs == 0:
        metavar = None
    elif action.metavar is not None:
        metavar = str(action.metavar)
    elif choices:
        metavar = "{" + ",".join(choices) + "}"
    else:
        metavar = action.dest.upper()
    return Opt(tuple(action.option_strings), metavar, choices, action.help or "")


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:  # type: ignore[type-arg]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise LookupError("the parser has no commands")


def global_options(parser: argparse.ArgumentParser) -> tuple[Opt, ...]:
    found = (_opt(a) for a in parser._actions if a.option_strings)
    return tuple(o for o in found if o is not None)


def commands(parser: argparse.ArgumentParser) -> tuple[Cmd, ...]:
    """Every command with its own options (not the global ones it also accepts)."""
    globals_ = {flag for opt in global_options(parser) for flag in opt.flags}
    sub = _subparsers(parser)
    helps = {choice.dest: choice.help or "" for choice in sub._choices_actions}
    found = []
    for name, command in sub.choices.items():
        options = []
        for action in command._actions:
            opt = _opt(action)
            if opt is None or set(opt.flags) & globals_:
                continue
            options.append(opt)
        selection = any(set(o.flags) & _SELECTION_FLAGS for o in options)
        found.append(Cmd(name, helps.get(name, ""), tuple(options), selection))
    return tuple(found)


# --- roff -----------------------------------------------------------------------------------


def _roff(text: str) -> str:
    """Plain text as roff: backslashes and hyphens escaped, `code` in bold."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    text = re.sub(r"`([^`]+)`", r"\\fB\1\\fR", text)
    return "\n".join("\\&" + line if line[:1] in ".'" else line for line in text.split("\n"))


def _synopsis(opt: Opt) -> str:
    flags = ", ".join(f"\\fB{_roff(flag)}\\fR" for flag in opt.flags)
    if opt.metavar is None:
        return flags
    value = f"\\fI{_roff(opt.metavar)}\\fR"
    return f"{flags} {value}" if flags else value


def _option_items(options: tuple[Opt, ...]) -> Iterator[str]:
    for opt in options:
        yield ".TP"
        yield _synopsis(opt)
        yield _roff(opt.help)


def _exit_codes() -> dict[int, list[str]]:
    codes: dict[int, list[str]] = {0: ["success (for \\fBcheck\\fR: nothing blocks)"]}
    pending = [errors.FastrebootError]
    while pending:
        kind = pending.pop(0)
        pending.extend(kind.__subclasses__())
        doc = " ".join((kind.__doc__ or "").split("\n\n")[0].split()).rstrip(".")
        said = codes.setdefault(kind.exit_code, [])
        if doc and kind is not errors.FastrebootError and _roff(doc) not in said:
            said.append(_roff(doc[:1].lower() + doc[1:]))
    codes[1].insert(0, "an unexpected failure (\\fB\\-\\-debug\\fR shows the traceback)")
    return dict(sorted(codes.items()))


def man_page(parser: argparse.ArgumentParser | None = None) -> str:
    """fastreboot(8), from the parser that --help prints."""
    parser = parser or build_parser()
    cmds = commands(parser)
    selection: tuple[Opt, ...] = ()
    for cmd in cmds:
        if cmd.selection:
            selection = tuple(o for o in cmd.options if set(o.flags) & _SELECTION_FLAGS)
            break
    lines = [
        f'.TH FASTREBOOT 8 "" "fastreboot {__version__}" "System Administration"',
        ".SH NAME",
        "fastreboot \\- reboot Linux through kexec, skipping the firmware",
        ".SH SYNOPSIS",
        ".B fastreboot",
        "[\\fIglobal options\\fR] \\fICOMMAND\\fR [\\fIoptions\\fR]",
        ".SH DESCRIPTION",
        _roff(parser.description or ""),
        ".PP",
        _roff(
            "It picks the kernel, initrd and command line the way the boot loader would,"
            " shows the plan, runs preflight checks and asks before it acts. It loads the"
            " kernel while the system still runs, so a refused load leaves the machine"
            " untouched, then reboots through the init system."
        ),
        ".PP",
        _roff(
            "Precedence for every setting: command line, then /etc/fastreboot.toml, then the"
            " distribution's kexec configuration, then the defaults."
        ),
        ".SH GLOBAL OPTIONS",
        _roff("Accepted before or after the command."),
        *_option_items(global_options(parser)),
        ".SH COMMANDS",
    ]
    for cmd in cmds:
        own = tuple(o for o in cmd.options if not set(o.flags) & _SELECTION_FLAGS)
        usage = " ".join(f"[{_synopsis(o)}]" if o.flags else _synopsis(o) for o in own)
        lines += [".SS", f"\\fBfastreboot {cmd.name}\\fR {usage}".rstrip(), _roff(cmd.help)]
        if cmd.selection:
            lines += [".PP", "Takes the kernel selection options (see below)."]
        lines += list(_option_items(own))
    lines += [".SH KERNEL SELECTION OPTIONS", *_option_items(selection)]
    lines += [".SH EXIT STATUS"]
    for code, meanings in _exit_codes().items():
        lines += [".TP", f"\\fB{code}\\fR", "; ".join(meanings)]
    files = (
        (OWN_CONFIG, "fastreboot's own settings, see fastreboot.toml(5)"),
        (DEBIAN_KEXEC, "Debian's kexec settings (read as data, never run)"),
        (DEBIAN_KEXEC_D, "more of Debian's kexec settings"),
        (KDUMP_SYSCONFIG, "the crash kernel settings for `fastreboot kdump`"),
        (KDUMP_TOOLS, "Debian's kdump-tools settings, read when there is no /etc/sysconfig/kdump"),
        (KDUMP_CONF, "where and how the capture boot saves a dump (path, core_collector, ...)"),
        ("/var/crash", "saved dumps, one directory each (vmcore, dmesg.txt)"),
        (RECORD_DIR, "downtime records (removed when the package is purged)"),
        (STATE_FILE, "what `fastreboot load` loaded in this boot"),
        (COLD_MARKER, "written by `fastreboot cold`: this boot's reboot goes through the firmware"),
        (NO_KEXEC_FILE, "Debian's one-shot marker for a firmware reboot, honoured too"),
        (
            f"{units.PACKAGE_UNIT_DIRS[0]}/fastreboot-*",
            "the units that `fastreboot setup`, `enable` and `kdump enable` enable",
        ),
    )
    lines.append(".SH FILES")
    for path, what in files:
        lines += [".TP", f"\\fI{_roff(path)}\\fR", _roff(what)]
    lines += [
        ".SH EXAMPLES",
        ".nf",
        "fastreboot plan",
        "fastreboot load            # ahead of the maintenance window",
        "fastreboot reboot \\-\\-yes",
        "fastreboot enable          # a plain reboot becomes a fast reboot",
        ".fi",
        ".SH SEE ALSO",
        "\\fBfastreboot.toml\\fR(5), \\fBkexec\\fR(8), \\fBsystemctl\\fR(1), \\fBreboot\\fR(8)",
    ]
    return "\n".join(lines) + "\n"


def toml_man_page() -> str:
    """fastreboot.toml(5), from the keys the configuration reader accepts."""
    lines = [
        f'.TH FASTREBOOT.TOML 5 "" "fastreboot {__version__}" "File Formats"',
        ".SH NAME",
        "fastreboot.toml \\- settings of fastreboot(8)",
        ".SH SYNOPSIS",
        f"\\fI{OWN_CONFIG}\\fR",
        ".SH DESCRIPTION",
        _roff(
            "An optional TOML file. Every key is optional; an unknown key, a wrong type or"
            " a value outside its set is an error naming the file and line. Options on the"
            " command line override the file, and the file overrides the distribution's"
            " kexec configuration. The file should be writable by root only."
        ),
        ".SH KEYS",
    ]
    for key in CONFIG_KEYS:
        lines += [".TP", f"\\fB{key.name}\\fR = {_roff(key.value)}", _roff(key.meaning)]
    lines += [
        ".SH EXAMPLE",
        ".nf",
        *(
            _roff(line)
            for line in ('target = "newest"', 'strip_cmdline = ["quiet"]', 'append = "panic=10"')
        ),
        ".fi",
        ".SH SEE ALSO",
        "\\fBfastreboot\\fR(8)",
    ]
    return "\n".join(lines) + "\n"


def conffile() -> str:
    """/etc/fastreboot.toml as the package ships it: every key, commented out."""
    lines = [
        "# fastreboot's settings (fastreboot.toml(5)). Every key is optional: the values",
        "# below are the defaults. Options on the command line override this file, and",
        "# this file overrides /etc/default/kexec.",
    ]
    for key in CONFIG_KEYS:
        lines.append("")
        lines += textwrap.wrap(key.meaning, 86, initial_indent="# ", subsequent_indent="# ")
        lines.append(f"#{key.name} = {key.value}")
    return "\n".join(lines) + "\n"


# --- bash completion ------------------------------------------------------------------------


def _value_words(opt: Opt) -> str:
    """The compgen arguments that complete an option's value."""
    if opt.choices:
        return f"-W {shlex.quote(' '.join(opt.choices))}"
    if opt.metavar == "DIR":
        return "-d"
    if opt.metavar and "PATH" in opt.metavar:
        return "-f"
    return ""  # free text: nothing to offer


def bash_completion(parser: argparse.ArgumentParser | None = None) -> str:
    parser = parser or build_parser()
    cmds = commands(parser)
    globals_ = global_options(parser)
    valued: dict[str, str] = {}
    for opt in (*globals_, *(o for c in cmds for o in c.options)):
        for flag in opt.flags:
            if opt.metavar is not None:
                valued[flag] = _value_words(opt)
    global_flags = " ".join(f for o in globals_ for f in o.flags)
    value_cases = "".join(
        f'        {flag}) COMPREPLY=($(compgen {words} -- "$cur")); return ;;\n'
        if words
        else f"        {flag}) return ;;\n"
        for flag, words in sorted(valued.items())
    )
    command_cases = ""
    for cmd in cmds:
        flags = " ".join(f for o in cmd.options for f in o.flags)
        positional = " ".join(c for o in cmd.options if not o.flags for c in o.choices)
        command_cases += (
            f"        {cmd.name}) opts={shlex.quote(flags)}; args={shlex.quote(positional)} ;;\n"
        )
    return f"""# bash completion for fastreboot(8), generated from its argument parser
# shellcheck shell=bash
_fastreboot() {{
    local cur=${{COMP_WORDS[COMP_CWORD]}} prev="" cmd="" opts="" args="" i
    (( COMP_CWORD > 0 )) && prev=${{COMP_WORDS[COMP_CWORD-1]}}
    COMPREPLY=()
    case $prev in
{value_cases}    esac
    for (( i = 1; i < COMP_CWORD; i++ )); do
        case ${{COMP_WORDS[i]}} in
            {"|".join(sorted(valued))}) (( i++ )) ;;
            -*) ;;
            *) cmd=${{COMP_WORDS[i]}}; break ;;
        esac
    done
    local global_opts={shlex.quote(global_flags)}
    if [[ -z $cmd ]]; then
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "$global_opts" -- "$cur"))
        else
            COMPREPLY=($(compgen -W {shlex.quote(" ".join(c.name for c in cmds))} -- "$cur"))
        fi
        return
    fi
    case $cmd in
{command_cases}    esac
    if [[ $cur == -* || -z $args ]]; then
        COMPREPLY=($(compgen -W "$opts $global_opts" -- "$cur"))
    else
        COMPREPLY=($(compgen -W "$args" -- "$cur"))
    fi
}}
complete -F _fastreboot fastreboot
"""


def package_files() -> dict[str, tuple[str, int]]:
    """Every generated file of the package: path -> (text, mode)."""
    return {
        **units.package_files(),
        OWN_CONFIG: (conffile(), 0o644),
        MAN8: (man_page(), 0o644),
        MAN5: (toml_man_page(), 0o644),
        COMPLETION: (bash_completion(), 0o644),
    }


def write(dest: Path) -> list[Path]:
    written = []
    for path, (text, mode) in package_files().items():
        target = dest / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        target.chmod(mode)
        written.append(target)
    return written


if __name__ == "__main__":
    cli = argparse.ArgumentParser(description="write the Debian package's generated files")
    cli.add_argument("--write", metavar="DIR", type=Path, required=True)
    for path in write(cli.parse_args().write):
        print(path)
