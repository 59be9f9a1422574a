"""The capture boot's save (`kdump save`) and the crash on purpose (`kdump test`).

The save writes into ``<path>/<stamp>.incomplete/``: first the crashed kernel's log
(`makedumpfile --dump-dmesg`: small, and the most useful part if the rest fails), then
the dump with the core collector. Only when both are on disk (fsync) is the directory
renamed to ``<path>/<stamp>``: a crash or power loss during the save leaves a directory
that says it is incomplete, never one that looks like a whole dump.
"""

from __future__ import annotations

import time

from fastreboot.act.effects import Effects, Severity
from fastreboot.act.initsystem import request_power_action
from fastreboot.config.kdumpconf import DumpSettings
from fastreboot.config.own import RebootMethod
from fastreboot.errors import CommandError, CrashKernelNotLoaded, FastrebootError, NoCrashDump
from fastreboot.plan.dumps import DUMP_FILE, INCOMPLETE, LOG_FILE
from fastreboot.plan.sysinfo import read_system_info
from fastreboot.sysroot import SysRoot

VMCORE = "/proc/vmcore"


def dump_stamp(when: float) -> str:
    """The new dump directory's name: the time of the save, UTC, sortable."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime(when))


def save_dump(effects: Effects, settings: DumpSettings, *, when: float) -> str:
    """Save /proc/vmcore under settings.path; returns the dump's directory."""
    if not effects.root.exists(VMCORE):
        raise NoCrashDump(
            f"no {VMCORE}: this is not a capture boot after a crash, there is nothing to save",
            hint="`fastreboot kdump save` runs in the crash kernel (fastreboot-kdump-save)",
        )
    final = f"{settings.path.rstrip('/')}/{dump_stamp(when)}"
    partial = final + INCOMPLETE
    effects.make_dir(partial)
    effects.run(["makedumpfile", "--dump-dmesg", VMCORE, f"{partial}/{LOG_FILE}"])
    effects.run([*settings.collector, VMCORE, f"{partial}/{DUMP_FILE}"])
    effects.publish_dir(partial, final)
    return final


def save_or_fail(
    effects: Effects, settings: DumpSettings, method: RebootMethod, *, when: float
) -> str:
    """Save; on a failed save the failure_action is asked for, then the error raised."""
    try:
        directory = save_dump(effects, settings, when=when)
    except (FastrebootError, OSError) as error:
        cause = error.message if isinstance(error, FastrebootError) else str(error)
        effects.log_event(
            f"kdump save failed: {cause}; {settings.failure_action}", severity=Severity.ERROR
        )
        if not isinstance(error, NoCrashDump):
            effects.sync()
            request_power_action(effects, method, settings.failure_action)
        raise
    effects.log_event(f"kdump: dump saved in {directory}", severity=Severity.NOTICE)
    return directory


def finish(effects: Effects, settings: DumpSettings, method: RebootMethod) -> None:
    """The final_action after a saved dump (default: reboot through the firmware)."""
    effects.sync()
    request_power_action(effects, method, settings.final_action)


def refuse_unless_loaded(root: SysRoot) -> None:
    if not read_system_info(root).kexec_crash_loaded:
        raise CrashKernelNotLoaded(
            "no crash kernel is loaded (/sys/kernel/kexec_crash_loaded is not 1): a crash now"
            " would save no dump",
            hint="run `fastreboot kdump enable` (or `kdump load`); `fastreboot kdump status`"
            " says what is missing",
        )


def crash_on_purpose(effects: Effects) -> None:
    """sysrq c: the kernel panics and the loaded crash kernel starts."""
    refuse_unless_loaded(effects.root)
    effects.sync()  # what the administrator wrote before the test survives it
    effects.trigger_crash()
    raise CommandError("sysrq c returned: the kernel did not crash")
