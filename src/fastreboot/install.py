"""`fastreboot setup|enable|disable`: install the boot-record unit and the auto-kexec hooks."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from fastreboot import units
from fastreboot.sysinfo import InitSystem, read_system_info

TYPE_CHECKING = False  # True for mypy; typing is not imported at run time (start-up cost)
if TYPE_CHECKING:
    from fastreboot.effects import Effects


def _binary() -> str:
    return shutil.which("fastreboot") or "/usr/bin/fastreboot"


def _code_dir() -> str:
    return str(Path(__file__).resolve().parent)


def setup(effects: Effects) -> list[str]:
    """Install the unit (or init script) that completes downtime records in the next boot."""
    init = read_system_info(effects.root).init_system
    binary = _binary()
    if init is InitSystem.SYSV:
        effects.write_file(units.SYSV_RECORD_SCRIPT, units.sysv_record_script(binary), mode=0o755)
        effects.run(["update-rc.d", "fastreboot-record", "defaults"])
        return [units.SYSV_RECORD_SCRIPT]
    effects.write_file(units.RECORD_UNIT, units.record_unit(binary, _code_dir()))
    effects.run(["systemctl", "daemon-reload"])
    effects.run(["systemctl", "enable", "fastreboot-record.service"])
    return [units.RECORD_UNIT]


def enable(effects: Effects) -> list[str]:
    """From now on a plain `reboot` is a fast reboot into the planned kernel."""
    installed = setup(effects)
    init = read_system_info(effects.root).init_system
    binary = _binary()
    if init is InitSystem.SYSV:
        effects.write_file(units.SYSV_SCRIPT, units.sysv_auto_load_script(binary), mode=0o755)
        effects.run(["update-rc.d", "fastreboot-auto-load", "defaults"])
        return [*installed, units.SYSV_SCRIPT]
    effects.write_file(units.AUTO_LOAD_UNIT, units.auto_load_unit(binary, _code_dir()))
    effects.write_file(units.SHUTDOWN_HOOK, units.shutdown_hook(sys.executable), mode=0o755)
    effects.run(["systemctl", "daemon-reload"])
    # --now: it must be active in this boot already, or its ExecStop will not run.
    effects.run(["systemctl", "enable", "--now", "fastreboot-auto-load.service"])
    return [*installed, units.AUTO_LOAD_UNIT, units.SHUTDOWN_HOOK]


def disable(effects: Effects) -> list[str]:
    """A plain `reboot` goes through the firmware again. Records stay enabled."""
    init = read_system_info(effects.root).init_system
    if init is InitSystem.SYSV:
        if (effects.root / units.SYSV_SCRIPT.lstrip("/")).exists():
            effects.run(["update-rc.d", "-f", "fastreboot-auto-load", "remove"])
        effects.remove_file(units.SYSV_SCRIPT)
        return [units.SYSV_SCRIPT]
    if (effects.root / units.AUTO_LOAD_UNIT.lstrip("/")).exists():
        effects.run(["systemctl", "disable", "--now", "fastreboot-auto-load.service"])
    effects.remove_file(units.AUTO_LOAD_UNIT)
    effects.remove_file(units.SHUTDOWN_HOOK)
    effects.run(["systemctl", "daemon-reload"])
    return [units.AUTO_LOAD_UNIT, units.SHUTDOWN_HOOK]
