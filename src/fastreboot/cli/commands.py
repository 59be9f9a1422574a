"""One function per command. Reading commands never build Effects; changing ones do."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from fastreboot.act import install, records
from fastreboot.act import reboot as acting
from fastreboot.act.effects import Effects, HostEffects
from fastreboot.act.initsystem import automatic_load_refused, reboot_in_progress
from fastreboot.act.status import system_status
from fastreboot.boot.choice import boot_candidates
from fastreboot.cli import output
from fastreboot.cli.prompt import COLD_PROMPT, FAST_PROMPT, SOFT_PROMPT, confirm
from fastreboot.config.own import LoadMethod, RebootKind, RebootMethod, Target
from fastreboot.errors import FastrebootError
from fastreboot.plan import staged
from fastreboot.plan.kdump import make_kdump_plan
from fastreboot.plan.plan import Options, Plan, make_plan
from fastreboot.plan.staged import LoadOrigin
from fastreboot.plan.sysinfo import InitSystem, SystemInfo, read_system_info
from fastreboot.sysroot import SysRoot

EffectsFactory = Callable[[SysRoot], Effects]


@dataclass(frozen=True, slots=True)
class Context:
    """What every command gets besides its arguments."""

    root: SysRoot
    stdin: TextIO
    effects_factory: EffectsFactory | None = None  # tests: a recording fake

    def effects(self) -> Effects:
        """The machine to act on; only changing commands call this."""
        if self.effects_factory is not None:
            return self.effects_factory(self.root)
        return HostEffects(self.root)


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
        kind=RebootKind(args.kind) if getattr(args, "kind", None) else None,
    )


def _show(args: argparse.Namespace, document: object, text: Callable[[TextIO], None]) -> None:
    """The result on stdout: the JSON document with --json, else the text."""
    if args.json:
        output.print_json(document)
    else:
        text(sys.stdout)


def cmd_plan(args: argparse.Namespace, ctx: Context) -> int:
    plan = make_plan(ctx.root, _options(args))
    _show(args, plan.to_json(), lambda out: output.format_plan(plan, out))
    return 0


def cmd_check(args: argparse.Namespace, ctx: Context) -> int:
    plan = make_plan(ctx.root, _options(args))
    if args.json:
        output.print_json({"checks": [c.to_json() for c in plan.checks], "ok": not plan.errors})
    else:
        output.print_checks(plan.checks, sys.stdout)
    return 5 if plan.errors else 0


def cmd_kernels(args: argparse.Namespace, ctx: Context) -> int:
    rows = boot_candidates(ctx.root, read_system_info(ctx.root).running_release)
    if args.json:
        output.print_json([row.to_json() for row in rows])
        return 0
    output.format_kernels(rows, sys.stdout)
    print("(D = bootloader default, R = running kernel)", file=sys.stderr)
    return 0


def cmd_load(args: argparse.Namespace, ctx: Context) -> int:
    effects = ctx.effects()
    if args.on_reboot:
        # From fastreboot-auto-load.service's ExecStop: act only on a reboot (or a kexec
        # into fastreboot's own preload), never on a cold one, and keep a kernel somebody
        # chose.
        if not reboot_in_progress(effects):
            return 0
    elif args.preload:
        refused = automatic_load_refused(ctx.root)
        if refused:
            print(f"not preloading: {refused}", file=sys.stderr)
            return 0

    automatic = args.on_reboot or args.preload
    try:
        # A load is for a kexec whatever reboot_kind says: every kexec check applies.
        plan = make_plan(ctx.root, dataclasses.replace(_options(args), kind=RebootKind.KEXEC))
        acting.refuse_on_errors(plan.errors)
        origin = LoadOrigin.PRELOAD if automatic else LoadOrigin.COMMAND
        used = acting.load(plan, effects, origin=origin)
    except FastrebootError:
        if automatic and staged.preloaded(ctx.root):
            # An automatic load that can no longer be planned is stale (its kernel removed,
            # the configuration broken): a reboot must not jump into it.
            acting.unload(effects)
            print("unloaded the preloaded kernel: it no longer matches a plan", file=sys.stderr)
        raise
    if args.record:
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


def cmd_reboot(args: argparse.Namespace, ctx: Context) -> int:
    plan = make_plan(ctx.root, _options(args))
    _show(args, plan.to_json(), lambda out: output.format_plan(plan, out))
    sys.stdout.flush()
    if args.dry_run:
        return 5 if plan.errors else 0
    acting.refuse_on_errors(plan.errors)
    effects = ctx.effects()
    if plan.reboot_kind is not RebootKind.KEXEC:
        return _other_kind(args, ctx, plan, effects)
    if plan.already_loaded is None:
        # The disk reads the image while the plan is read and the question answered.
        effects.prefetch([plan.kernel, *plan.initrds])
    if not args.yes:
        confirm(FAST_PROMPT, ctx.stdin)
    acting.fast_reboot(plan, effects)
    print(f"fast reboot into Linux {plan.kernel_version or plan.kernel} started", file=sys.stderr)
    return 0


def _other_kind(args: argparse.Namespace, ctx: Context, plan: Plan, effects: Effects) -> int:
    """`reboot --kind soft|cold`: the same question, then no kexec load."""
    soft = plan.reboot_kind is RebootKind.SOFT
    if not args.yes:
        confirm(SOFT_PROMPT if soft else COLD_PROMPT, ctx.stdin)
    if soft:
        acting.soft_reboot(plan, effects)
        print("soft reboot started: userspace restarts, the kernel stays", file=sys.stderr)
        return 0
    method = _cold_method(read_system_info(ctx.root))
    for step in acting.cold_reboot(effects, method, record=plan):
        print(step, file=sys.stderr)
    return 0


def _cold_method(info: SystemInfo) -> RebootMethod:
    return {InitSystem.SYSTEMD: RebootMethod.SYSTEMD, InitSystem.SYSV: RebootMethod.SYSV}.get(
        info.init_system, RebootMethod.DIRECT
    )


def cmd_cold(args: argparse.Namespace, ctx: Context) -> int:
    method = _cold_method(read_system_info(ctx.root))
    print(f"cold reboot through the firmware via {method}", file=sys.stderr)
    if not args.yes:
        confirm(COLD_PROMPT, ctx.stdin)
    effects = ctx.effects()
    for step in acting.cold_reboot(effects, method):
        print(step, file=sys.stderr)
    return 0


def cmd_unload(args: argparse.Namespace, ctx: Context) -> int:
    acting.unload(ctx.effects())
    print("unloaded: a plain reboot goes through the firmware again", file=sys.stderr)
    return 0


def cmd_status(args: argparse.Namespace, ctx: Context) -> int:
    report = system_status(ctx.root)
    _show(args, report.to_json(), lambda out: output.format_status(report, out))
    return 0


def cmd_kdump(args: argparse.Namespace, ctx: Context) -> int:
    if args.action == "unload":
        acting.unload(ctx.effects(), crash=True)
        print("crash kernel unloaded", file=sys.stderr)
        return 0
    plan = make_kdump_plan(ctx.root)
    if args.action == "status":
        loaded = read_system_info(ctx.root).kexec_crash_loaded
        if args.json:
            output.print_json({**plan.to_json(), "loaded": loaded})
        else:
            output.format_kdump(plan, sys.stdout)
            print(f"  loaded:   {'yes' if loaded else 'no'}")
        return 0
    acting.refuse_on_errors(plan.errors)
    effects = ctx.effects()
    acting.load_kernel(
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


def cmd_setup(args: argparse.Namespace, ctx: Context) -> int:
    return _installed(args.command, install.setup(ctx.effects()))


def cmd_enable(args: argparse.Namespace, ctx: Context) -> int:
    return _installed(args.command, install.enable(ctx.effects(), preload=args.preload))


def cmd_disable(args: argparse.Namespace, ctx: Context) -> int:
    return _installed(args.command, install.disable(ctx.effects()))


def _installed(command: str, paths: list[str]) -> int:
    for path in paths:
        print(f"{command}: {path}", file=sys.stderr)
    return 0


def cmd_record_boot(args: argparse.Namespace, ctx: Context) -> int:
    """Complete the pending downtime record with what this boot knows about itself."""
    pending = records.pending_record(ctx.root)
    if pending is None:
        return 0
    effects = ctx.effects()
    facts = records.read_boot_facts(
        ctx.root,
        **records.systemd_boot_times(effects),
        **records.journal_shutdown_facts(effects, pending),
        end_of_boot=True,
    )
    completed = records.complete(pending, facts)
    if completed is not pending:
        records.save_completed(effects, completed)
        print(output.format_record(completed))
    return 0
