"""Downtime records: written just before the jump, completed in the next boot.

Each record is one small JSON file in /var/lib/fastreboot/records, written atomically
(a crash leaves the old or the new file, never half of one). Only the newest
``KEEP_RECORDS`` are kept, so the directory never grows without bound.
"""

from __future__ import annotations

import enum
import json
import struct
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from fastreboot.act.effects import Effects
from fastreboot.boot.grub import read_grubenv
from fastreboot.config.own import RebootKind
from fastreboot.plan import sysinfo
from fastreboot.plan.failed import FAILED_FILE, FailedKernel, identity, read_failed
from fastreboot.plan.plan import Plan
from fastreboot.sysroot import SysRoot

RECORD_DIR = "/var/lib/fastreboot/records"
KEEP_RECORDS = 50
# x86 boot protocol: boot_params.hdr.type_of_loader at 0x210; kexec writes 0xD in the high nibble.
_LOADER_TYPE_OFFSET = 0x210
_LOADER_KEXEC = 0xD


class RecordState(enum.StrEnum):
    PENDING = "pending"  # written before the jump; the next boot completes it
    OK = "ok"  # the planned kernel came up, the way the record's kind says
    MISMATCH = "mismatch"  # another kernel or command line came up, or another kind of reboot
    # the new kernel never came up: the firmware booted the old one through the way back
    FELL_BACK = "fell-back"


@dataclass(frozen=True, slots=True)
class Record:
    record_id: str
    state: RecordState
    requested_at: float  # wall clock, seconds since the epoch
    from_kernel: str | None
    from_boot_id: str | None
    to_kernel: str
    to_version: str | None
    cmdline: str
    reboot_method: str
    boot_id: str | None = None
    came_up_version: str | None = None
    came_up_cmdline: str | None = None
    via_kexec: bool | None = None
    downtime_s: float | None = None
    phases: dict[str, float] = field(default_factory=dict)
    slowest_start: list[str] = field(default_factory=list)
    slowest_stop: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    kind: RebootKind = RebootKind.KEXEC  # records written before kinds existed are kexec
    # A soft reboot keeps the boot id: systemd's soft-reboot counter (256 and later) and
    # the start of its userspace, read when the record was written, tell that it happened.
    soft_reboots_before: int | None = None
    userspace_before_s: float | None = None
    # The way back armed before the jump (GRUB's next_entry value) and its grubenv.
    fallback_entry: str | None = None
    grubenv: str | None = None
    to_kernel_id: list[int] | None = None  # the image's size and mtime (ns) when written

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Record:
        return cls(
            **{
                **data,
                "state": RecordState(str(data.get("state"))),
                "kind": RebootKind(str(data.get("kind", RebootKind.KEXEC))),
            }
        )


def write_pending(effects: Effects, plan: Plan, *, now: float | None = None) -> Record:
    """The record of the reboot the plan is about to start, of the plan's kind."""
    kind = plan.reboot_kind
    way_back = plan.fallback.way_back if plan.fallback and kind is RebootKind.KEXEC else None
    kernel_id = identity(effects.root, plan.kernel)
    counters = _soft_reboot_counters(effects) if kind is RebootKind.SOFT else {}
    now = time.time() if now is None else now
    boot_id = sysinfo.boot_id(effects.root)
    # An earlier record whose boot unit did not get to run (the next reboot came first):
    # this boot is the one it led to, so complete it now rather than leave it pending.
    earlier = pending_record(effects.root)
    if earlier is not None and earlier.from_boot_id != boot_id:
        _save(effects, complete(earlier, read_boot_facts(effects.root)))
    record = Record(
        record_id=time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f"-{(boot_id or 'x')[:8]}",
        state=RecordState.PENDING,
        requested_at=now,
        from_kernel=plan.running_release,
        from_boot_id=boot_id,
        to_kernel=plan.kernel
        if kind is not RebootKind.SOFT or (plan.sameness and plan.sameness.unchanged)
        else "(the running kernel)",
        # A soft reboot keeps the running kernel; what a cold boot starts is the
        # bootloader's business, which the record does not second-guess.
        to_version={RebootKind.SOFT: plan.running_release, RebootKind.COLD: None}.get(
            kind, plan.kernel_version
        ),
        cmdline=plan.cmdline,
        reboot_method={RebootKind.SOFT: "systemd", RebootKind.COLD: "firmware"}.get(
            kind, str(plan.reboot_method)
        ),
        kind=kind,
        soft_reboots_before=counters.get("soft_reboots"),
        userspace_before_s=counters.get("userspace_s"),
        fallback_entry=way_back.entry if way_back else None,
        grubenv=way_back.grubenv if way_back else None,
        to_kernel_id=list(kernel_id) if way_back and kernel_id else None,
    )
    _save(effects, record)
    _prune(effects)
    return record


def _show_manager(effects: Effects) -> dict[str, str]:
    """The manager's boot timestamps and soft-reboot counter (an unknown property prints
    nothing, so systemd before 256 simply has no counter)."""
    shown = effects.run(
        [
            "systemctl",
            "show",
            "--property=InitRDTimestampMonotonic",
            "--property=UserspaceTimestampMonotonic",
            "--property=SoftRebootsCount",
        ],
        check=False,
    )
    return dict(line.split("=", 1) for line in shown.stdout.splitlines() if "=" in line)


def _counters(values: dict[str, str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if (count := values.get("SoftRebootsCount", "")).isdigit():
        found["soft_reboots"] = int(count)
    if (stamp := values.get("UserspaceTimestampMonotonic", "")).isdigit() and int(stamp) > 0:
        found["userspace_s"] = int(stamp) / 1e6
    return found


def _soft_reboot_counters(effects: Effects) -> dict[str, Any]:
    return _counters(_show_manager(effects))


def _save(effects: Effects, record: Record) -> None:
    effects.write_file(
        f"{RECORD_DIR}/{record.record_id}.json", json.dumps(record.to_json(), indent=1) + "\n"
    )


def discard(effects: Effects, record: Record) -> None:
    """Remove a pending record whose reboot was refused before anything stopped."""
    effects.remove_file(f"{RECORD_DIR}/{record.record_id}.json")


def _prune(effects: Effects) -> None:
    for old in _record_files(effects.root)[:-KEEP_RECORDS]:
        effects.remove_file(f"{RECORD_DIR}/{old.name}")


def _record_files(root: SysRoot) -> list[Path]:
    directory = root.host(RECORD_DIR)
    return sorted(directory.glob("*.json")) if directory.is_dir() else []


def read_records(root: SysRoot) -> list[Record]:
    records = []
    for path in _record_files(root):
        try:
            records.append(Record.from_json(json.loads(path.read_text())))
        except (OSError, ValueError, TypeError):
            continue  # a foreign or damaged file is skipped, never fatal
    return records


def booted_via_kexec(root: SysRoot) -> bool | None:
    """x86 only: the boot protocol says which loader started this kernel."""
    try:
        data = root.host("/sys/kernel/boot_params/data").read_bytes()
    except OSError:
        return None
    if len(data) <= _LOADER_TYPE_OFFSET:
        return None
    (loader,) = struct.unpack_from("B", data, _LOADER_TYPE_OFFSET)
    return bool(loader >> 4 == _LOADER_KEXEC)


@dataclass(frozen=True, slots=True)
class BootFacts:
    """What the new boot knows about itself, gathered by the caller."""

    boot_id: str | None
    release: str | None
    cmdline: str | None
    via_kexec: bool | None
    wall_now: float
    uptime: float
    kernel_s: float | None  # kernel (+initrd) time until userspace started, if known
    # Uptime when the services were up (the default target reached), if known. Without it
    # there is no downtime figure: a reading taken later (`fastreboot status` an hour
    # into the boot, or the next reboot) would count all that time as downtime.
    up_s: float | None = None
    slowest_start: tuple[str, ...] = ()
    shutdown_s: float | None = None  # first stop job -> last journal line of the old boot
    slowest_stop: tuple[str, ...] = ()
    soft_reboots: int | None = None  # systemd's SoftRebootsCount (256 and later)
    userspace_s: float | None = None  # uptime when this userspace (PID 1) started


def read_boot_facts(
    root: SysRoot,
    *,
    kernel_s: float | None = None,
    up_s: float | None = None,
    slowest_start: tuple[str, ...] = (),
    shutdown_s: float | None = None,
    slowest_stop: tuple[str, ...] = (),
    soft_reboots: int | None = None,
    userspace_s: float | None = None,
    end_of_boot: bool = False,
) -> BootFacts:
    """*end_of_boot*: the caller is the record unit, which runs once the services are up;
    if systemd did not say when that was, now is the best known moment."""
    line = root.read_first_line("/proc/uptime")
    uptime = float(line.split()[0]) if line else 0.0
    if up_s is None and end_of_boot and uptime > 0:
        up_s = uptime
    return BootFacts(
        boot_id=sysinfo.boot_id(root),
        release=root.read_first_line("/proc/sys/kernel/osrelease"),
        cmdline=root.read_first_line("/proc/cmdline"),
        via_kexec=booted_via_kexec(root),
        wall_now=time.time(),
        uptime=uptime,
        kernel_s=kernel_s,
        up_s=up_s,
        slowest_start=slowest_start,
        shutdown_s=shutdown_s,
        slowest_stop=slowest_stop,
        soft_reboots=soft_reboots,
        userspace_s=userspace_s,
    )


def soft_reboot_happened(record: Record, facts: BootFacts) -> bool | None:
    """Whether systemd soft-rebooted since the record was written: its counter grew, or
    (before 256) a later userspace started in this boot. None: cannot tell."""
    if record.soft_reboots_before is not None and facts.soft_reboots is not None:
        return facts.soft_reboots > record.soft_reboots_before
    if record.userspace_before_s is not None and facts.userspace_s is not None:
        return facts.userspace_s > record.userspace_before_s
    return None


def complete(record: Record, facts: BootFacts) -> Record:
    """Compare the boot that came up with the one that was planned. Pure."""
    if record.state is not RecordState.PENDING:
        return record
    if record.kind is RebootKind.SOFT:
        return _complete_soft(record, facts)
    if facts.boot_id == record.from_boot_id:
        return record
    done = _complete_boot(record, facts)
    if (
        record.kind is RebootKind.KEXEC
        and record.fallback_entry is not None
        and facts.via_kexec is not True
        and facts.release is not None
        and facts.release == record.from_kernel
        and facts.release != record.to_version
    ):
        # The firmware booted the way back: the new kernel panicked or hung.
        return replace(done, state=RecordState.FELL_BACK)
    return done


def _complete_soft(record: Record, facts: BootFacts) -> Record:
    if facts.boot_id != record.from_boot_id:
        # The kernel booted again: a kexec or the firmware, not the soft reboot asked for.
        done = _complete_boot(record, facts)
        how = "kexec" if facts.via_kexec else "the firmware" if facts.via_kexec is False else "?"
        problem = f"a soft reboot was asked for, but the kernel booted again (through {how})"
        return replace(done, state=RecordState.MISMATCH, problems=[problem, *done.problems])
    if not soft_reboot_happened(record, facts):
        return record
    problems = []
    if record.to_version and facts.release != record.to_version:
        problems.append(f"expected Linux {record.to_version}, came up with {facts.release}")
    # Monotonic seconds in this boot -> wall clock: one clock, no RTC between the ends.
    booted_at = facts.wall_now - facts.uptime
    phases: dict[str, float] = {}
    downtime = None
    start = facts.userspace_s
    if start is not None and start <= facts.uptime:
        phases["shutdown_s"] = round(max(0.0, booted_at + start - record.requested_at), 2)
        up = facts.up_s
        if up is not None and start <= up <= facts.uptime:
            phases["userspace_s"] = round(up - start, 2)
            downtime = round(max(0.0, booted_at + up - record.requested_at), 2)
    return replace(
        record,
        state=RecordState.MISMATCH if problems else RecordState.OK,
        boot_id=facts.boot_id,
        came_up_version=facts.release,
        came_up_cmdline=facts.cmdline,
        via_kexec=False,
        downtime_s=downtime,
        phases=phases,
        slowest_start=list(facts.slowest_start),
        slowest_stop=list(facts.slowest_stop),
        problems=problems,
    )


def _complete_boot(record: Record, facts: BootFacts) -> Record:
    """A kernel booted since the record: kexec's (or, for a cold record, the firmware's)."""
    problems = []
    if record.to_version and facts.release != record.to_version:
        problems.append(f"expected Linux {record.to_version}, came up with {facts.release}")
    cold = record.kind is RebootKind.COLD
    if not cold and facts.cmdline is not None and facts.cmdline.split() != record.cmdline.split():
        problems.append("the command line differs from the planned one")
    if facts.via_kexec is False and not cold:
        problems.append(
            "this boot did not come from kexec: the machine rebooted through the firmware"
        )
    if facts.via_kexec and cold:
        problems.append("a firmware reboot was asked for, but this boot came from kexec")
    kernel_start = facts.wall_now - facts.uptime
    down_to_kernel = max(0.0, kernel_start - record.requested_at)
    up = facts.up_s if facts.up_s is not None and 0 < facts.up_s <= facts.uptime else None
    if facts.shutdown_s is not None and facts.shutdown_s <= down_to_kernel:
        phases = {
            "shutdown_s": round(facts.shutdown_s, 2),
            "handover_s": round(down_to_kernel - facts.shutdown_s, 2),
        }
    else:
        phases = {"shutdown_and_handover_s": round(down_to_kernel, 2)}
    if facts.kernel_s is not None:
        phases["kernel_s"] = round(facts.kernel_s, 2)
        if up is not None:
            phases["userspace_s"] = round(max(0.0, up - facts.kernel_s), 2)
    elif up is not None:
        phases["kernel_and_userspace_s"] = round(up, 2)
    return replace(
        record,
        state=RecordState.MISMATCH if problems else RecordState.OK,
        boot_id=facts.boot_id,
        came_up_version=facts.release,
        came_up_cmdline=facts.cmdline,
        via_kexec=facts.via_kexec,
        downtime_s=round(down_to_kernel + up, 2) if up is not None else None,
        phases=phases,
        slowest_start=list(facts.slowest_start),
        slowest_stop=list(facts.slowest_stop),
        problems=problems,
    )


def after_fallback(effects: Effects, record: Record) -> None:
    """The new boot is up: clear the one-shot way back if it is still the one this record
    set (after a kexec GRUB never ran to clear it), remember a kernel that fell back, and
    forget it once it came up (a --retry-failed that worked)."""
    if record.fallback_entry is not None and record.grubenv is not None:
        env = read_grubenv(effects.root.host(record.grubenv))
        if env.get("next_entry") == record.fallback_entry:
            editor = effects.which("grub-editenv") or effects.which("grub2-editenv")
            effects.run([editor or "grub-editenv", record.grubenv, "unset", "next_entry"])
    if record.state is RecordState.FELL_BACK and record.to_kernel_id is not None:
        size, mtime_ns = record.to_kernel_id
        failed = FailedKernel(
            record.to_kernel,
            size,
            mtime_ns,
            record.record_id,
            record.requested_at,
            record.from_kernel,
        )
        effects.write_file(FAILED_FILE, failed.to_text())
    elif record.state is RecordState.OK and record.to_kernel_id is not None:
        known = read_failed(effects.root)
        if known is not None and (known.kernel, [known.size, known.mtime_ns]) == (
            record.to_kernel,
            list(record.to_kernel_id),
        ):
            effects.remove_file(FAILED_FILE)


def pending_record(root: SysRoot) -> Record | None:
    pending = [r for r in read_records(root) if r.state is RecordState.PENDING]
    return pending[-1] if pending else None


def save_completed(effects: Effects, record: Record) -> None:
    _save(effects, record)


def systemd_boot_times(effects: Effects) -> dict[str, Any]:
    """Kernel time and the slowest units to start, from systemd; empty where it cannot say."""
    if not effects.root.is_dir("/run/systemd/system"):
        return {}
    values = _show_manager(effects)
    result: dict[str, Any] = _counters(values)
    stamps = [
        int(v)
        for k in ("InitRDTimestampMonotonic", "UserspaceTimestampMonotonic")
        if (v := values.get(k, "0")).isdigit() and int(v) > 0
    ]
    if stamps:
        result["kernel_s"] = min(stamps) / 1e6
    # When the services were up: the default target's activation (systemd-analyze's
    # "reached after"). The manager's FinishTimestamp is no use here: this unit is part of
    # the boot transaction, so the boot is not finished while it runs.
    target = effects.run(
        ["systemctl", "show", "--property=ActiveEnterTimestampMonotonic", "--value",
         "default.target"],
        check=False,
    )
    if (value := target.stdout.strip()).isdigit() and int(value) > 0:
        result["up_s"] = int(value) / 1e6
    blame = effects.run(["systemd-analyze", "blame", "--no-pager"], check=False)
    if blame.returncode == 0:
        result["slowest_start"] = tuple(line.strip() for line in blame.stdout.splitlines()[:3])
    return result


def current_view(root: SysRoot) -> list[Record]:
    """The records, with a pending one completed in memory if this is already the next boot
    (the boot unit persists it; `fastreboot status` must not wait for that unit). Kernel,
    command line and kexec are checked; the downtime is left to the unit, which alone
    knows when the services were up."""
    found = read_records(root)
    if found and found[-1].state is RecordState.PENDING:
        found[-1] = complete(found[-1], read_boot_facts(root))
    return found


def shutdown_from_journal(lines: list[str]) -> dict[str, Any]:
    """Shutdown duration and the slowest units to stop, from `journalctl -b -1 -o json`
    lines of the previous boot (stop jobs log once when they begin and once with a
    JOB_RESULT when done). Pure, so it can be tested on captured journal output."""
    begun: dict[str, int] = {}
    took: dict[str, int] = {}
    first_stop: int | None = None
    last_seen = 0
    for line in lines:
        try:
            entry = json.loads(line)
            stamp = int(entry["__REALTIME_TIMESTAMP"])
        except (ValueError, KeyError, TypeError):
            continue
        last_seen = max(last_seen, stamp)
        unit = entry.get("UNIT")
        if entry.get("JOB_TYPE") != "stop" or not isinstance(unit, str):
            continue
        if "JOB_RESULT" in entry:
            if unit in begun:
                took[unit] = stamp - begun[unit]
        else:
            begun.setdefault(unit, stamp)
            first_stop = stamp if first_stop is None else min(first_stop, stamp)
    if first_stop is None:
        return {}
    slowest = sorted(took.items(), key=lambda item: -item[1])[:3]
    return {
        "shutdown_s": (last_seen - first_stop) / 1e6,
        "slowest_stop": tuple(f"{unit} {micro / 1e6:.2f}s" for unit, micro in slowest),
    }


def journal_shutdown_facts(effects: Effects, record: Record) -> dict[str, Any]:
    """Read the stop jobs of the boot the record was written in, from the request on;
    empty when the journal is not persistent. Only that window and those fields: the whole
    journal of a server up for months would otherwise be read and parsed at every boot."""
    if not effects.root.is_dir("/var/log/journal"):
        return {}
    # journalctl takes a boot id as 32 hex digits; 252's refuses /proc's dashed form.
    boot = record.from_boot_id.replace("-", "") if record.from_boot_id else "-1"
    shown = effects.run(
        [
            "journalctl",
            f"--boot={boot}",
            f"--since=@{int(record.requested_at)}",
            "--output=json",
            "--output-fields=UNIT,JOB_TYPE,JOB_RESULT",
            "--no-pager",
        ],
        check=False,
    )
    return shutdown_from_journal(shown.stdout.splitlines()) if shown.returncode == 0 else {}
