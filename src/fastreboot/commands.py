"""One function per command. Reading commands never build Effects; changing ones do."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from fastreboot.checks import Check, Level
from fastreboot.cli import COLD_PROMPT, FAST_PROMPT, _confirm, print_json
from fastreboot.config import LoadMethod, RebootMethod, Target
from fastreboot.errors import FastrebootError
from fastreboot.plan import Options, Plan, make_plan

TYPE_CHECKING = False  # True for mypy; typing is not imported at run time (start-up cost)
if TYPE_CHECKING:
    from typing import TextIO

    from fastreboot.cli import EffectsFactory
    from fastreboot.effects import Effects
    from fastreboot.kdump import KdumpPlan

# Modules that only changing commands need (effects, actions, kdump, status) are imported
# where they are used: `fastreboot plan` stays fast to start.

_REBOOT_VIA = {
    RebootMethod.SYSTEMD: "systemd (systemctl kexec)",
    RebootMethod.SYSV: "sysvinit (runlevel 6, then Debian's kexec hook)",
    RebootMethod.DIRECT: "direct (sync, then reboot(KEXEC); services are NOT stopped)",
}


def _options(args: argparse.Namespace) -> Options:
    return Options(
        kernel=args.kernel,
        initrd=args.initrd,
        append=args.append,
        command_line=args.command_line,
        target=Target(args.target) if args.target else None,
        force=bool(getattr(args, "force", False)),
        load_method=LoadMethod(args.load_method) if args.load_method else None,
        reload=bool(getattr(args, "reload", False)),
    )


def _effects(args: argparse.Namespace, factory: EffectsFactory | None) -> Effects:
    from fastreboot.effects import HostEffects

    effects: Effects = factory(args.root) if factory else HostEffects(args.root)
    return effects


def _print_checks(checks: tuple[Check, ...], out: TextIO) -> None:
    for check in checks:
        hint = f" (hint: {check.hint})" if check.hint and check.level is not Level.OK else ""
        print(f"  {check.level.value:<8} {check.name:<20} {check.message}{hint}", file=out)


def format_plan(plan: Plan, out: TextIO) -> None:
    print("fastreboot plan", file=out)
    print(f"  kernel:   {plan.kernel} (Linux {plan.kernel_version or 'unknown'})", file=out)
    for initrd in plan.initrds or ("none",):
        print(f"  initrd:   {initrd}", file=out)
    print(f"  cmdline:  {plan.cmdline}", file=out)
    print(f"  source:   {plan.source}" + (f" — {plan.title}" if plan.title else ""), file=out)
    print(f"  running:  {plan.running_release or 'unknown'}", file=out)
    if plan.already_loaded:
        print(
            f"  load:     already {plan.already_loaded.describe()}; not loaded again"
            " (--reload loads it again)",
            file=out,
        )
    else:
        print(f"  load:     {plan.load_method} ({plan.load_why})", file=out)
    print(f"  reboot:   {_REBOOT_VIA[plan.reboot_method]}", file=out)
    if plan.consumed_next_entry:
        print(
            f"  grub:     one-shot next_entry={plan.consumed_next_entry!r} will be cleared",
            file=out,
        )
    for note in plan.notes:
        print(f"  note:     {note}", file=out)
    if plan.config_files:
        print(f"  config:   {', '.join(plan.config_files)}", file=out)
    print("checks:", file=out)
    _print_checks(plan.checks, out)


def cmd_plan(args: argparse.Namespace) -> int:
    plan = make_plan(args.root, _options(args))
    if args.json:
        print_json(plan.to_json())
    else:
        format_plan(plan, sys.stdout)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    plan = make_plan(args.root, _options(args))
    if args.json:
        print_json({"checks": [c.to_json() for c in plan.checks], "ok": not plan.errors})
    else:
        _print_checks(plan.checks, sys.stdout)
    return 5 if plan.errors else 0


def cmd_kernels(args: argparse.Namespace) -> int:
    from fastreboot import status

    rows = status.boot_candidates(args.root)
    if args.json:
        print_json([row.to_json() for row in rows])
        return 0
    for row in rows:
        flags = ("D" if row.default else "-") + ("R" if row.running else "-")
        initrd = row.initrds[-1] if row.initrds else "-"
        print(
            f"{flags} {row.source:<12} {row.version or '?':<28} {row.kernel}  {initrd}  {row.title}"
        )
    print("(D = bootloader default, R = running kernel)", file=sys.stderr)
    return 0


def cmd_load(args: argparse.Namespace, factory: EffectsFactory | None, stdin: TextIO) -> int:
    from fastreboot import actions, staged
    from fastreboot.initsystem import automatic_load_refused, reboot_in_progress

    on_reboot = bool(getattr(args, "on_reboot", False))
    preload = bool(getattr(args, "preload", False))
    effects = _effects(args, factory)
    if on_reboot:
        # From fastreboot-auto-load.service's ExecStop: act only on a reboot (or a kexec
        # into fastreboot's own preload), never on a cold one, and keep a kernel somebody
        # chose.
        if not reboot_in_progress(effects):
            return 0
    elif preload:
        refused = automatic_load_refused(args.root)
        if refused:
            print(f"not preloading: {refused}", file=sys.stderr)
            return 0

    automatic = on_reboot or preload
    try:
        plan = make_plan(args.root, _options(args))
        actions.refuse_on_errors(plan.errors)
        used = actions.load(plan, effects, origin=staged.PRELOAD if automatic else staged.COMMAND)
    except FastrebootError:
        if automatic and staged.preloaded(args.root):
            # An automatic load that can no longer be planned is stale (its kernel removed,
            # the configuration broken): a reboot must not jump into it.
            actions.unload(effects)
            print("unloaded the preloaded kernel: it no longer matches a plan", file=sys.stderr)
        raise
    if getattr(args, "record", False):
        from fastreboot import records

        records.write_pending(effects, plan)
    if plan.already_loaded:
        done = f"already {plan.already_loaded.describe()}"
    else:
        done = f"loaded with {used}"
    print(
        f"{plan.kernel} {done}; a reboot through the init system will now kexec",
        file=sys.stderr,
    )
    return 0


def cmd_reboot(args: argparse.Namespace, factory: EffectsFactory | None, stdin: TextIO) -> int:
    from fastreboot import actions

    plan = make_plan(args.root, _options(args))
    if args.json:
        print_json(plan.to_json())
    else:
        format_plan(plan, sys.stdout)
    sys.stdout.flush()
    if args.dry_run:
        return 5 if plan.errors else 0
    actions.refuse_on_errors(plan.errors)
    effects = _effects(args, factory)
    if plan.already_loaded is None:
        # The disk reads the image while the plan is read and the question answered.
        effects.prefetch([plan.kernel, *plan.initrds])
    if not args.yes:
        _confirm(FAST_PROMPT, stdin)
    actions.fast_reboot(plan, effects)
    print(f"fast reboot into Linux {plan.kernel_version or plan.kernel} started", file=sys.stderr)
    return 0


def cmd_cold(args: argparse.Namespace, factory: EffectsFactory | None, stdin: TextIO) -> int:
    from fastreboot import actions
    from fastreboot.sysinfo import InitSystem, read_system_info

    info = read_system_info(args.root)
    method = {InitSystem.SYSTEMD: RebootMethod.SYSTEMD, InitSystem.SYSV: RebootMethod.SYSV}.get(
        info.init_system, RebootMethod.DIRECT
    )
    print(f"cold reboot through the firmware via {method}", file=sys.stderr)
    if not args.yes:
        _confirm(COLD_PROMPT, stdin)
    effects = _effects(args, factory)
    for step in actions.cold_reboot(effects, method):
        print(step, file=sys.stderr)
    return 0


def cmd_unload(args: argparse.Namespace, factory: EffectsFactory | None, stdin: TextIO) -> int:
    from fastreboot import actions

    actions.unload(_effects(args, factory))
    print("unloaded: a plain reboot goes through the firmware again", file=sys.stderr)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from fastreboot import status

    report = status.system_status(args.root)
    if args.json:
        print_json(report)
    else:
        status.format_status(report, sys.stdout)
    return 0


def _format_kdump(plan: KdumpPlan, out: TextIO) -> None:
    print("fastreboot kdump plan", file=out)
    print(f"  kernel:   {plan.kernel} (Linux {plan.kernel_version or 'unknown'})", file=out)
    print(f"  initrd:   {plan.initrd or 'none'}", file=out)
    print(f"  cmdline:  {plan.cmdline}", file=out)
    print(
        f"  load:     {plan.load_method}"
        + (
            f" via kexec-tools with {' '.join(plan.extra_kexec_args)}"
            if plan.extra_kexec_args
            else ""
        ),
        file=out,
    )
    print("checks:", file=out)
    _print_checks(plan.checks, out)


def cmd_kdump(args: argparse.Namespace, factory: EffectsFactory | None, stdin: TextIO) -> int:
    from fastreboot import actions, status
    from fastreboot.kdump import make_kdump_plan

    if args.action == "unload":
        actions.unload(_effects(args, factory), crash=True)
        print("crash kernel unloaded", file=sys.stderr)
        return 0
    plan = make_kdump_plan(args.root)
    if args.action == "status":
        data = {**plan.to_json(), "loaded": status.crash_loaded(args.root)}
        if args.json:
            print_json(data)
        else:
            _format_kdump(plan, sys.stdout)
            print(f"  loaded:   {'yes' if data['loaded'] else 'no'}")
        return 0
    actions.refuse_on_errors(plan.errors)
    effects = _effects(args, factory)
    actions.load_kernel(
        effects,
        plan.kernel,
        (plan.initrd,) if plan.initrd else (),
        plan.cmdline,
        plan.load_method,
        crash=True,
        extra_args=plan.extra_kexec_args,
    )
    print(f"crash kernel {plan.kernel} loaded", file=sys.stderr)
    return 0


def cmd_install(args: argparse.Namespace, factory: EffectsFactory | None, stdin: TextIO) -> int:
    from fastreboot import install

    effects = _effects(args, factory)
    if args.command == "enable":
        done = install.enable(effects, preload=bool(args.preload))
    else:
        done = {"setup": install.setup, "disable": install.disable}[args.command](effects)
    for path in done:
        print(f"{args.command}: {path}", file=sys.stderr)
    return 0


def cmd_record_boot(args: argparse.Namespace, factory: EffectsFactory | None, stdin: TextIO) -> int:
    """Complete the pending downtime record with what this boot knows about itself."""
    from fastreboot import records

    pending = records.pending_record(args.root)
    if pending is None:
        return 0
    effects = _effects(args, factory)
    facts = records.read_boot_facts(
        args.root,
        **records.systemd_boot_times(effects),
        **records.journal_shutdown_facts(effects, pending),
        end_of_boot=True,
    )
    completed = records.complete(pending, facts)
    if completed is not pending:
        records.save_completed(effects, completed)
        print(records.format_record(completed.to_json()))
    return 0


_READING: dict[str, Callable[[argparse.Namespace], int]] = {
    "plan": cmd_plan,
    "check": cmd_check,
    "kernels": cmd_kernels,
    "status": cmd_status,
}
_CHANGING: dict[str, Callable[[argparse.Namespace, EffectsFactory | None, TextIO], int]] = {
    "load": cmd_load,
    "reboot": cmd_reboot,
    "cold": cmd_cold,
    "unload": cmd_unload,
    "kdump": cmd_kdump,
    "setup": cmd_install,
    "enable": cmd_install,
    "disable": cmd_install,
    "record-boot": cmd_record_boot,
}


def dispatch(
    args: argparse.Namespace, *, effects_factory: EffectsFactory | None, stdin: TextIO
) -> int:
    for name in ("kernel", "initrd", "append", "command_line", "target", "load_method"):
        if not hasattr(args, name):
            setattr(args, name, None)
    if args.command in _READING:
        return _READING[args.command](args)
    return _CHANGING[args.command](args, effects_factory, stdin)
