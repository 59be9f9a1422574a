"""One function per command. Reading commands never build Effects; changing ones do."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from fastreboot.act import install, records
from fastreboot.act import reboot as acting
from fastreboot.act.effects import Effects, HostEffects
from fastreboot.act.initsystem import automatic_load_refused, reboot_in_progress
from fastreboot.act.kdump import crash_on_purpose, finish, refuse_unless_loaded, save_or_fail
from fastreboot.act.status import record_unit_installed, system_status
from fastreboot.boot.choice import boot_candidates
from fastreboot.cli import output
from fastreboot.cli.guard import Guard
from fastreboot.cli.prompt import COLD_PROMPT, FAST_PROMPT, KDUMP_TEST_PROMPT, SOFT_PROMPT, confirm
from fastreboot.config.kdumpconf import read_dump_settings
from fastreboot.config.own import LoadMethod, RebootKind, RebootMethod, Target
from fastreboot.errors import FastrebootError
from fastreboot.plan import staged
from fastreboot.plan.dumps import saved_dumps
from fastreboot.plan.kdump import KdumpPlan, make_kdump_plan
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
    effects_factory: EffectsFactory | None  # tests: a recording fake
    guard: Guard

    def effects(self) -> Effects:
        """The machine to act on; only changing commands call this."""
        if self.effects_factory is not None:
            effects = self.effects_factory(self.root)
        else:
            effects = HostEffects(self.root)
        self.guard.attach(effects)
        return effects

    def commit(self) -> Effects:
        """The commit point of a command that asks nothing: act from here on."""
        effects = self.effects()
        self.guard.commit(effects)
        return effects

    def done(self, message: str) -> None:
        """The outcome: on stderr, and in the system log once committed."""
        print(message, file=sys.stderr)
        if self.guard.committed:
            self.guard.log(f"{self.guard.command}: {message}")


def _options(args: argparse.Namespace, root: SysRoot) -> Options:
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
        no_fallback=bool(getattr(args, "no_fallback", False)),
        retry_failed=bool(getattr(args, "retry_failed", False)),
        next_boot_clears=record_unit_installed(root, read_system_info(root)),
    )


def _show(args: argparse.Namespace, document: object, text: Callable[[TextIO], None]) -> None:
    """The result on stdout: the JSON document with --json, else the text."""
    if args.json:
        output.print_json(document)
    else:
        text(sys.stdout)


def cmd_plan(args: argparse.Namespace, ctx: Context) -> int:
    plan = make_plan(ctx.root, _options(args, ctx.root))
    _show(args, plan.to_json(), lambda out: output.format_plan(plan, out))
    return 0


def cmd_check(args: argparse.Namespace, ctx: Context) -> int:
    plan = make_plan(ctx.root, _options(args, ctx.root))
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
    ctx.guard.commit(effects)
    try:
        # A load is for a kexec whatever reboot_kind says: every kexec check applies.
        plan = make_plan(
            ctx.root, dataclasses.replace(_options(args, ctx.root), kind=RebootKind.KEXEC)
        )
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
    if args.on_reboot:
        # The shutdown is under way: the way back is armed now, right before the jump. A
        # failure must not stop a reboot the init system is already doing.
        try:
            acting.arm_way_back(effects, plan)
        except FastrebootError as error:
            print(f"no way back to the running kernel: {error.message}", file=sys.stderr)
            plan = dataclasses.replace(plan, fallback=None)
    if args.record:
        records.write_pending(effects, plan)
    if plan.already_loaded:
        done = f"already {plan.already_loaded.describe()}"
    else:
        done = f"loaded with {used}"
    ctx.done(f"{plan.kernel} {done}; a reboot through the init system will now kexec")
    return 0


def cmd_reboot(args: argparse.Namespace, ctx: Context) -> int:
    # --yes is the answer given up front: the commit point is now, so a terminal that
    # goes away while the plan is printed does not stop the reboot that was asked for.
    effects = ctx.commit() if args.yes and not args.dry_run else None
    plan = make_plan(ctx.root, _options(args, ctx.root))
    _show(args, plan.to_json(), lambda out: output.format_plan(plan, out))
    sys.stdout.flush()
    if args.dry_run:
        return 5 if plan.errors else 0
    acting.refuse_on_errors(plan.errors)
    if effects is None:
        effects = ctx.effects()
    if plan.reboot_kind is not RebootKind.KEXEC:
        return _other_kind(args, ctx, plan, effects)
    if plan.already_loaded is None:
        # The disk reads the image while the plan is read and the question answered.
        effects.prefetch([plan.kernel, *plan.initrds])
    if not args.yes:
        confirm(FAST_PROMPT, ctx.stdin)
        ctx.guard.commit(effects)
    ctx.guard.log(f"plan: {output.plan_summary(plan)}")
    acting.fast_reboot(plan, effects, handed_over=ctx.guard.handed_over)
    ctx.done(f"fast reboot into Linux {plan.kernel_version or plan.kernel} started")
    return 0


def _other_kind(args: argparse.Namespace, ctx: Context, plan: Plan, effects: Effects) -> int:
    """`reboot --kind soft|cold`: the same question, then no kexec load."""
    soft = plan.reboot_kind is RebootKind.SOFT
    if not args.yes:
        confirm(SOFT_PROMPT if soft else COLD_PROMPT, ctx.stdin)
        ctx.guard.commit(effects)
    ctx.guard.log(f"plan: {plan.reboot_kind} reboot; {output.plan_summary(plan)}")
    if soft:
        acting.soft_reboot(plan, effects, handed_over=ctx.guard.handed_over)
        ctx.done("soft reboot started: userspace restarts, the kernel stays")
        return 0
    method = _cold_method(read_system_info(ctx.root))
    for step in acting.cold_reboot(effects, method, record=plan, handed_over=ctx.guard.handed_over):
        ctx.done(step)
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
    effects = ctx.commit()
    for step in acting.cold_reboot(effects, method, handed_over=ctx.guard.handed_over):
        ctx.done(step)
    return 0


def cmd_unload(args: argparse.Namespace, ctx: Context) -> int:
    acting.unload(ctx.commit())
    ctx.done("unloaded: a plain reboot goes through the firmware again")
    return 0


def cmd_status(args: argparse.Namespace, ctx: Context) -> int:
    report = system_status(ctx.root)
    _show(args, report.to_json(), lambda out: output.format_status(report, out))
    return 0


def cmd_kdump(args: argparse.Namespace, ctx: Context) -> int:
    action = args.action
    if action == "unload":
        acting.unload(ctx.commit(), crash=True)
        ctx.done("crash kernel unloaded")
        return 0
    if action == "save":
        return _kdump_save(ctx)
    if action == "test":
        return _kdump_test(args, ctx)
    if action == "disable":
        return _installed(ctx, "kdump disable", install.kdump_disable(ctx.commit()))
    plan = make_kdump_plan(ctx.root)
    if action == "status":
        loaded = read_system_info(ctx.root).kexec_crash_loaded
        dumps = saved_dumps(ctx.root, plan.dump.path)
        if args.json:
            output.print_json(
                {**plan.to_json(), "loaded": loaded, "dumps": [d.to_json() for d in dumps]}
            )
        else:
            output.format_kdump(plan, sys.stdout)
            print(f"  loaded:   {'yes' if loaded else 'no'}")
            output.format_dumps(plan.dump.path, dumps, sys.stdout)
        return 0
    acting.refuse_on_errors(plan.errors)
    effects = ctx.commit()
    if action == "enable":
        installed = install.kdump_enable(effects)
        plan = make_kdump_plan(ctx.root)  # its command line now names the save unit
        acting.refuse_on_errors(plan.errors)
    _load_crash_kernel(effects, plan)
    if action == "enable":
        _installed(ctx, "kdump enable", installed)
    ctx.done(f"crash kernel {plan.kernel} loaded")
    return 0


def _load_crash_kernel(effects: Effects, plan: KdumpPlan) -> None:
    acting.load_kernel(
        effects,
        plan.kernel,
        (plan.initrd,) if plan.initrd else (),
        plan.cmdline,
        plan.load_method,
        crash=True,
        extra_args=plan.extra_kexec_args,
    )


def _kdump_save(ctx: Context) -> int:
    """In the capture boot: save the dump, then the final_action (failure_action)."""
    settings = read_dump_settings(ctx.root)
    method = _cold_method(read_system_info(ctx.root))
    effects = ctx.commit()
    directory = save_or_fail(effects, settings, method, when=time.time())
    # Said before the final_action: the shutdown it starts may stop this command.
    ctx.done(f"dump saved in {directory}; {settings.final_action} next")
    finish(effects, settings, method)
    return 0


def _kdump_test(args: argparse.Namespace, ctx: Context) -> int:
    refuse_unless_loaded(ctx.root)
    print(
        "kdump test crashes this machine on purpose (sysrq c): the crash kernel saves a dump,"
        " then the machine reboots",
        file=sys.stderr,
    )
    if not args.yes:
        confirm(KDUMP_TEST_PROMPT, ctx.stdin)
    effects = ctx.commit()
    ctx.guard.log("kdump test: crashing the kernel on purpose (sysrq c)")
    crash_on_purpose(effects)
    return 0


def cmd_setup(args: argparse.Namespace, ctx: Context) -> int:
    return _installed(ctx, args.command, install.setup(ctx.commit()))


def cmd_enable(args: argparse.Namespace, ctx: Context) -> int:
    return _installed(ctx, args.command, install.enable(ctx.commit(), preload=args.preload))


def cmd_disable(args: argparse.Namespace, ctx: Context) -> int:
    return _installed(ctx, args.command, install.disable(ctx.commit()))


def _installed(ctx: Context, command: str, paths: list[str]) -> int:
    for path in paths:
        ctx.done(f"{command}: {path}")
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
        records.after_fallback(effects, completed)
        print(output.format_record(completed))
    return 0
