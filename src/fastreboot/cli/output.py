"""What the commands print: plans, checks, kernels, status and records, and JSON documents.

Data goes to stdout, diagnostics to stderr; the commands pass the stream.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from fastreboot.act.records import Record, RecordState
from fastreboot.act.status import StatusReport
from fastreboot.boot.choice import Candidate
from fastreboot.config.own import RebootKind, RebootMethod
from fastreboot.plan.checks import Check, Level
from fastreboot.plan.dumps import SavedDump
from fastreboot.plan.fallback import Fallback, WayBackKind
from fastreboot.plan.kdump import KdumpPlan
from fastreboot.plan.plan import Plan


def print_json(data: object, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    json.dump(data, out, indent=2, sort_keys=False)
    out.write("\n")


_REBOOT_VIA = {
    RebootMethod.SYSTEMD: "systemd (systemctl kexec)",
    RebootMethod.SYSV: "sysvinit (runlevel 6, then Debian's kexec hook)",
    RebootMethod.DIRECT: "direct (sync, then reboot(KEXEC); services are NOT stopped)",
}


def print_checks(checks: Sequence[Check], out: TextIO) -> None:
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
    if plan.reboot_kind is not RebootKind.KEXEC:
        pass  # nothing is loaded for a soft or cold reboot
    elif plan.already_loaded:
        print(
            f"  load:     already {plan.already_loaded.describe()}; not loaded again"
            " (--reload loads it again)",
            file=out,
        )
    else:
        print(f"  load:     {plan.load_method} ({plan.load_why})", file=out)
    print(f"  kind:     {plan.reboot_kind} ({plan.reboot_kind_why})", file=out)
    if plan.reboot_kind is RebootKind.KEXEC:
        print(f"  reboot:   {_REBOOT_VIA[plan.reboot_method]}", file=out)
    elif plan.reboot_kind is RebootKind.SOFT:
        print("  reboot:   systemctl soft-reboot (userspace only; the kernel stays)", file=out)
    if plan.consumed_next_entry:
        print(
            f"  grub:     one-shot next_entry={plan.consumed_next_entry!r} will be cleared",
            file=out,
        )
    if plan.fallback is not None:
        format_fallback(plan.fallback, out)
    for note in plan.notes:
        print(f"  note:     {note}", file=out)
    if plan.config_files:
        print(f"  config:   {', '.join(plan.config_files)}", file=out)
    print("checks:", file=out)
    print_checks(plan.checks, out)


def format_fallback(fallback: Fallback, out: TextIO) -> None:
    """The three items of the way back, one line each."""
    if not fallback.enabled:
        print(f"  fallback: off ({fallback.why_off})", file=out)
        return
    way_back = fallback.way_back
    if way_back is None:
        print(f"  way back: none ({fallback.no_way_back})", file=out)
    elif way_back.kind is WayBackKind.GRUB_NEXT_ENTRY:
        print(f"  way back: GRUB next_entry={way_back.entry!r} in {way_back.grubenv}", file=out)
    else:
        print(f"  way back: LoaderEntryOneShot={way_back.entry!r}", file=out)
    if fallback.watchdog is None:
        print("  watchdog: none (a hang is not caught)", file=out)
    else:
        print(
            f"  watchdog: {fallback.watchdog} found, not armed (Linux stops it on kexec):"
            " a hang is not caught",
            file=out,
        )
    if fallback.panic_timeout is not None:
        print(f"  panic:    panic={fallback.panic_timeout} added to the command line", file=out)
    elif fallback.panic_on_cmdline is not None:
        print(f"  panic:    {fallback.panic_on_cmdline} (from the command line)", file=out)
    else:
        print("  panic:    not added (no way back: a reset would boot the same kernel)", file=out)


def plan_summary(plan: Plan) -> str:
    """The plan's essentials in one line, for the system log."""
    initrds = ", ".join(plan.initrds) or "none"
    return (
        f"Linux {plan.kernel_version or 'unknown'} from {plan.kernel}, initrd {initrds}, "
        f"command line {plan.cmdline!r}, via {plan.reboot_method}, "
        f"running {plan.running_release or 'unknown'}"
    )


def format_kernels(rows: Sequence[Candidate], out: TextIO) -> None:
    for row in rows:
        flags = ("D" if row.default else "-") + ("R" if row.running else "-")
        initrd = row.initrds[-1] if row.initrds else "-"
        version = row.version or "?"
        line = f"{flags} {row.source:<12} {version:<28} {row.kernel}  {initrd}  {row.title}"
        print(line, file=out)


def format_kdump(plan: KdumpPlan, out: TextIO) -> None:
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
    print_checks(plan.checks, out)


def format_dumps(path: str, dumps: tuple[SavedDump, ...], out: TextIO) -> None:
    if not dumps:
        print(f"saved dumps: none in {path}", file=out)
        return
    print(f"saved dumps in {path}:", file=out)
    for dump in dumps:
        when = (
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(dump.time))
            if dump.time is not None
            else "unknown time"
        )
        state = "" if dump.complete else " INCOMPLETE (the save was cut off)"
        print(
            f"  {when}  Linux {dump.kernel or 'unknown'}  {dump.size / (1 << 20):.1f} MiB"
            f"  {dump.directory}{state}",
            file=out,
        )
        print(f"    {dump.panic or 'no panic line in the saved log'}", file=out)


def format_record(record: Record) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.requested_at))
    target = record.came_up_version or record.to_version or record.to_kernel
    if record.downtime_s is not None:
        down = f"{record.downtime_s:.1f} s down"
    elif record.state is RecordState.PENDING:
        down = "not completed"
    else:  # checked by `status` or by the next reboot before the record unit completed it
        down = "downtime not known (fastreboot-record had not completed the record)"
    line = f"{when}  {record.kind:<5} {record.from_kernel} -> {target}  {record.state}  {down}"
    if record.problems:
        line += "  (" + "; ".join(record.problems) + ")"
    return line


def _yes_no(value: object) -> str:
    return "unknown" if value is None else ("yes" if value else "no")


def format_status(report: StatusReport, out: TextIO) -> None:
    fell_back = report.fell_back
    if fell_back is not None:
        print(
            f"FELL BACK: the fast reboot into {fell_back.to_version or fell_back.to_kernel}"
            f" never came up; the firmware booted {fell_back.came_up_version} again"
            f" (record {fell_back.record_id})",
            file=out,
        )
    print(f"running kernel:      {report.running_kernel or 'unknown'}", file=out)
    print(f"kexec kernel loaded: {_yes_no(report.kexec_loaded)}", file=out)
    crash = report.crash_kernel_reserved_bytes
    reserved = f", {crash // (1 << 20)} MiB reserved" if crash else ", none reserved"
    print(f"crash kernel loaded: {_yes_no(report.crash_kernel_loaded)}{reserved}", file=out)
    print(f"lockdown:            {report.lockdown or 'unknown'}", file=out)
    print(f"kexec_load_disabled: {_yes_no(report.kexec_load_disabled)}", file=out)
    version = f" {report.systemd_version}" if report.systemd_version else ""
    print(f"init system:         {report.init_system}{version}", file=out)
    print(f"reboot would:        {report.reboot_would}", file=out)
    fallback = (
        "possible" if report.fallback_possible else f"not possible: {report.fallback_why_not}"
    )
    print(f"fallback:            {fallback}", file=out)
    if report.failed_kernel is not None:
        print(
            f"failed kernel:       {report.failed_kernel.kernel} is refused until it changes"
            " or --retry-failed",
            file=out,
        )
    if report.records:
        print("last fast reboots (kind kexec, soft or cold):", file=out)
        for record in report.records:
            print(f"  {format_record(record)}", file=out)
        if report.record_unit_installed is False:
            print(
                "  nothing completes these records after a reboot, so they get no downtime"
                " figure: `fastreboot setup` installs fastreboot-record",
                file=out,
            )
