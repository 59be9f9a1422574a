"""`fastreboot setup|enable|disable`: install the boot-record unit and the auto-kexec hooks.

Installed from the Debian package, the units, hook and init scripts are the package's
files (`units.packaged`): these commands then only enable and disable them, and never
write or remove a file the package owns.
"""

from __future__ import annotations

import sys
from pathlib import Path

from fastreboot.act import units
from fastreboot.act.effects import Effects
from fastreboot.act.reboot import unload
from fastreboot.errors import UsageError
from fastreboot.plan import staged
from fastreboot.plan.sysinfo import InitSystem, read_system_info


def _binary(effects: Effects) -> str:
    return effects.which("fastreboot") or "/usr/bin/fastreboot"


def _code_dir() -> str:
    """fastreboot's own package directory: the units wait for the file system it is on."""
    return str(Path(__file__).resolve().parents[1])


def setup(effects: Effects) -> list[str]:
    """Install the unit (or init script) that completes downtime records in the next boot."""
    init = read_system_info(effects.root).init_system
    binary = _binary(effects)
    packaged = units.packaged(effects.root)
    if init is InitSystem.SYSV:
        if not packaged:
            script = units.sysv_record_script(binary)
            effects.write_file(units.SYSV_RECORD_SCRIPT, script, mode=0o755)
        effects.run(["update-rc.d", "fastreboot-record", "defaults"])
        return [units.SYSV_RECORD_SCRIPT]
    if not packaged:
        effects.write_file(units.RECORD_UNIT, units.record_unit(binary, _code_dir()))
    effects.run(["systemctl", "daemon-reload"])
    effects.run(["systemctl", "enable", units.RECORD_NAME])
    return [_unit_path(effects, units.RECORD_UNIT, packaged)]


def _unit_path(effects: Effects, run_time_path: str, packaged: bool) -> str:
    """Where the unit in use is: the package's copy, or the one written at run time."""
    if not packaged:
        return run_time_path
    name = run_time_path.rsplit("/", 1)[1]
    for unit_dir in units.PACKAGE_UNIT_DIRS:
        if effects.root.exists(f"{unit_dir}/{name}"):
            return f"{unit_dir}/{name}"
    return run_time_path


PRELOAD_UNITS = (units.PRELOAD_PATH_NAME, units.PRELOAD_NAME)


def enable(effects: Effects, *, preload: bool = False) -> list[str]:
    """From now on a plain `reboot` is a fast reboot into the planned kernel. With *preload*
    the kernel is kept loaded from boot on; without, a preload enabled before is removed."""
    installed = setup(effects)
    init = read_system_info(effects.root).init_system
    binary = _binary(effects)
    packaged = units.packaged(effects.root)
    if init is InitSystem.SYSV:
        if preload:
            raise UsageError(
                "--preload needs systemd (its path unit reloads when a kernel is installed)",
                hint="run `fastreboot enable` without --preload",
            )
        if not packaged:
            script = units.sysv_auto_load_script(binary)
            effects.write_file(units.SYSV_SCRIPT, script, mode=0o755)
        effects.run(["update-rc.d", "fastreboot-auto-load", "defaults"])
        return [*installed, units.SYSV_SCRIPT]
    if not preload:
        _remove_preload(effects)
    if not packaged:
        effects.write_file(units.AUTO_LOAD_UNIT, units.auto_load_unit(binary, _code_dir()))
        effects.write_file(units.SHUTDOWN_HOOK, units.shutdown_hook(sys.executable), mode=0o755)
        if preload:
            effects.write_file(units.PRELOAD_UNIT, units.preload_unit(binary, _code_dir()))
            effects.write_file(units.PRELOAD_PATH_UNIT, units.preload_path_unit())
    effects.run(["systemctl", "daemon-reload"])
    # --now: it must be active in this boot already, or its ExecStop will not run.
    effects.run(["systemctl", "enable", "--now", units.AUTO_LOAD_NAME])
    installed += [_unit_path(effects, units.AUTO_LOAD_UNIT, packaged), units.SHUTDOWN_HOOK]
    if not preload:
        return installed
    effects.run(["systemctl", "enable", *PRELOAD_UNITS])
    effects.run(["systemctl", "start", units.PRELOAD_PATH_NAME])
    # Load now, in the background: the next reboot may come before the next boot.
    effects.run(["systemctl", "start", "--no-block", units.PRELOAD_NAME])
    return [
        *installed,
        _unit_path(effects, units.PRELOAD_UNIT, packaged),
        _unit_path(effects, units.PRELOAD_PATH_UNIT, packaged),
    ]


def _remove_preload(effects: Effects) -> list[str]:
    """Remove the preload units and unload what they loaded (a kernel somebody asked for
    stays). Returns the files removed, or the package's units disabled."""
    packaged = units.packaged(effects.root)
    if packaged:
        if not units.enabled(effects.root, units.PRELOAD_PATH_NAME):
            return []
    elif not effects.root.exists(units.PRELOAD_UNIT):
        return []
    effects.run(["systemctl", "disable", "--now", *PRELOAD_UNITS], check=False)
    if not packaged:
        effects.remove_file(units.PRELOAD_UNIT)
        effects.remove_file(units.PRELOAD_PATH_UNIT)
    if staged.preloaded(effects.root) is not None:
        # A loaded kernel turns `reboot` into a kexec (and `systemctl reboot` from 254 on,
        # through logind).
        unload(effects)
    return [
        _unit_path(effects, units.PRELOAD_UNIT, packaged),
        _unit_path(effects, units.PRELOAD_PATH_UNIT, packaged),
    ]


def disable(effects: Effects) -> list[str]:
    """A plain `reboot` goes through the firmware again. Records stay enabled."""
    init = read_system_info(effects.root).init_system
    packaged = units.packaged(effects.root)
    if init is InitSystem.SYSV:
        if effects.root.exists(units.SYSV_SCRIPT):
            # -f: remove the runlevel links although the script stays (the package's own)
            effects.run(["update-rc.d", "-f", "fastreboot-auto-load", "remove"])
        if not packaged:
            effects.remove_file(units.SYSV_SCRIPT)
        return [units.SYSV_SCRIPT]
    removed = _remove_preload(effects)
    if packaged or effects.root.exists(units.AUTO_LOAD_UNIT):
        effects.run(["systemctl", "disable", "--now", units.AUTO_LOAD_NAME])
    if not packaged:
        effects.remove_file(units.AUTO_LOAD_UNIT)
        effects.remove_file(units.SHUTDOWN_HOOK)
    effects.run(["systemctl", "daemon-reload"])
    return [*removed, _unit_path(effects, units.AUTO_LOAD_UNIT, packaged), units.SHUTDOWN_HOOK]


KDUMP_UNITS = (units.KDUMP_LOAD_NAME, units.KDUMP_SAVE_NAME)


def kdump_enable(effects: Effects) -> list[str]:
    """Load the crash kernel in every boot from now on, and save the dump in the capture
    boot. The caller loads it for this boot."""
    init = read_system_info(effects.root).init_system
    binary = _binary(effects)
    packaged = units.packaged(effects.root)
    if init is InitSystem.SYSV:
        if not packaged:
            script = units.sysv_kdump_script(binary)
            effects.write_file(units.SYSV_KDUMP_SCRIPT, script, mode=0o755)
        effects.run(["update-rc.d", "fastreboot-kdump", "defaults"])
        return [units.SYSV_KDUMP_SCRIPT]
    if not packaged:
        effects.write_file(units.KDUMP_LOAD_UNIT, units.kdump_load_unit(binary, _code_dir()))
        effects.write_file(units.KDUMP_SAVE_UNIT, units.kdump_save_unit(binary, _code_dir()))
    effects.run(["systemctl", "daemon-reload"])
    effects.run(["systemctl", "enable", *KDUMP_UNITS])
    return [
        _unit_path(effects, units.KDUMP_LOAD_UNIT, packaged),
        _unit_path(effects, units.KDUMP_SAVE_UNIT, packaged),
    ]


def kdump_disable(effects: Effects) -> list[str]:
    """No crash kernel at boot any more; the one loaded now is unloaded."""
    init = read_system_info(effects.root).init_system
    packaged = units.packaged(effects.root)
    if init is InitSystem.SYSV:
        if effects.root.exists(units.SYSV_KDUMP_SCRIPT):
            effects.run(["update-rc.d", "-f", "fastreboot-kdump", "remove"])
        if not packaged:
            effects.remove_file(units.SYSV_KDUMP_SCRIPT)
        removed = [units.SYSV_KDUMP_SCRIPT]
    else:
        if packaged or effects.root.exists(units.KDUMP_LOAD_UNIT):
            effects.run(["systemctl", "disable", *KDUMP_UNITS], check=False)
        if not packaged:
            effects.remove_file(units.KDUMP_LOAD_UNIT)
            effects.remove_file(units.KDUMP_SAVE_UNIT)
        effects.run(["systemctl", "daemon-reload"])
        removed = [
            _unit_path(effects, units.KDUMP_LOAD_UNIT, packaged),
            _unit_path(effects, units.KDUMP_SAVE_UNIT, packaged),
        ]
    unload(effects, crash=True)
    return removed
