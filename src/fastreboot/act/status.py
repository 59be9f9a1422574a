"""The status report: what is loaded, what a plain `reboot` would do now, the last records.

Read-only: it reads the state the acting layer leaves (records, units, markers) and the
running system's facts; it changes nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from fastreboot.act import records, units
from fastreboot.act.initsystem import COLD_MARKER, NO_KEXEC_FILE
from fastreboot.act.records import Record, RecordState
from fastreboot.config.debian import read_debian_kexec
from fastreboot.config.own import read_own_config
from fastreboot.errors import FastrebootError
from fastreboot.plan.failed import FailedKernel, read_failed
from fastreboot.plan.fallback import find_way_back
from fastreboot.plan.sysinfo import InitSystem, SystemInfo, read_system_info, system_bus_live
from fastreboot.sysroot import SysRoot

STATUS_FORMAT_VERSION = 1
# From this version on `systemctl reboot` kexecs a loaded kernel (when logind is reachable).
SYSTEMD_AUTO_KEXEC_VERSION = 254
SHOWN_RECORDS = 5


@dataclass(frozen=True, slots=True)
class StatusReport:
    running_kernel: str | None
    kexec_loaded: bool | None
    crash_kernel_loaded: bool | None
    crash_kernel_reserved_bytes: int | None
    lockdown: str | None
    kexec_load_disabled: bool | None
    init_system: InitSystem
    systemd_version: int | None
    auto_kexec: bool | None
    reboot_would: str
    records: tuple[Record, ...]
    record_unit_installed: bool | None
    fallback_possible: bool = False
    fallback_why_not: str | None = None
    failed_kernel: FailedKernel | None = None

    @property
    def fell_back(self) -> Record | None:
        """The newest record, when its fast reboot fell back to the old kernel."""
        last = self.records[-1] if self.records else None
        return last if last is not None and last.state is RecordState.FELL_BACK else None

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATUS_FORMAT_VERSION,
            "running_kernel": self.running_kernel,
            "kexec_loaded": self.kexec_loaded,
            "crash_kernel_loaded": self.crash_kernel_loaded,
            "crash_kernel_reserved_bytes": self.crash_kernel_reserved_bytes,
            "lockdown": self.lockdown,
            "kexec_load_disabled": self.kexec_load_disabled,
            "init_system": str(self.init_system),
            "systemd_version": self.systemd_version,
            "auto_kexec": self.auto_kexec,
            "reboot_would": self.reboot_would,
            "records": [record.to_json() for record in self.records],
            "record_unit_installed": self.record_unit_installed,
            "fell_back": self.fell_back is not None,
            "fallback_possible": self.fallback_possible,
            "fallback_why_not": self.fallback_why_not,
            "failed_kernel": asdict(self.failed_kernel) if self.failed_kernel else None,
        }


def fallback_status(root: SysRoot, info: SystemInfo) -> tuple[bool, str | None]:
    """Whether a fast reboot could arrange a way back to the running kernel, and why not."""
    if read_own_config(root).fallback is False:
        return False, "fallback = false in /etc/fastreboot.toml"
    if record_unit_installed(root, info) is False:
        return False, "nothing clears the one-shot entry after a good boot: `fastreboot setup`"
    release = info.running_release
    try:
        way_back, why_not = find_way_back(root, release, None)
    except FastrebootError as error:
        return False, error.message
    return way_back is not None, why_not


def system_status(root: SysRoot) -> StatusReport:
    info = read_system_info(root)
    possible, why_not = fallback_status(root, info)
    return StatusReport(
        running_kernel=info.running_release,
        kexec_loaded=info.kexec_loaded,
        crash_kernel_loaded=info.kexec_crash_loaded,
        crash_kernel_reserved_bytes=info.crash_size,
        lockdown=info.lockdown,
        kexec_load_disabled=info.kexec_load_disabled,
        init_system=info.init_system,
        systemd_version=info.systemd_version,
        auto_kexec=read_own_config(root).auto_kexec,
        reboot_would=what_reboot_does(root, info),
        records=tuple(records.current_view(root)[-SHOWN_RECORDS:]),
        record_unit_installed=record_unit_installed(root, info),
        fallback_possible=possible,
        fallback_why_not=why_not,
        failed_kernel=read_failed(root),
    )


def what_reboot_does(root: SysRoot, info: SystemInfo) -> str:
    """What a plain `reboot` would do right now, honestly."""
    cold = root.exists(COLD_MARKER)
    if info.init_system is InitSystem.SYSTEMD:
        # Written at run time only while enabled; the package's copy is there always.
        auto_unit = units.enabled(root, units.AUTO_LOAD_NAME) or (
            not units.packaged(root) and root.exists(units.AUTO_LOAD_UNIT)
        )
        if info.kexec_loaded and not cold:
            if auto_unit:
                return "kexec into the loaded kernel (fastreboot auto-kexec hook)"
            version = info.systemd_version
            if version is None:
                return (
                    "kexec into the loaded kernel on `systemctl kexec`; whether `reboot` kexecs"
                    " depends on the systemd version, which could not be read"
                )
            if version >= SYSTEMD_AUTO_KEXEC_VERSION:
                # Seen on systemd 257 (tests/vm, trixie): the automatic kexec is a flag that
                # systemctl passes to logind; without the system bus systemctl asks PID 1
                # for reboot.target itself, and both commands reset through the firmware.
                if system_bus_live(root):
                    return (
                        f"kexec into the loaded kernel (systemd {version} kexecs a loaded kernel"
                        " on `reboot` and `systemctl reboot`, through logind)"
                    )
                return (
                    f"firmware reboot: systemd {version} kexecs a loaded kernel on reboot only"
                    " through logind, and the system bus is not running (`systemctl kexec`"
                    " would kexec)"
                )
            # Seen on systemd 252, with and without the system bus: `reboot` starts
            # kexec.target when a kernel is loaded, `systemctl reboot` starts reboot.target
            # (tests/vm, scenario 10).
            return (
                "kexec into the loaded kernel on `reboot`; `systemctl reboot` goes through the"
                " firmware (this systemd kexecs a loaded kernel only through `reboot`)"
            )
        if auto_unit and not cold:
            return "fast reboot: fastreboot loads the planned kernel when reboot starts"
        return "firmware reboot"
    if info.init_system is InitSystem.SYSV:
        debian = read_debian_kexec(root)
        hook = bool(root.glob("etc/rc6.d/K*kexec"))
        if hook and info.kexec_loaded:
            return "kexec into the loaded kernel (Debian's /etc/init.d/kexec in runlevel 6)"
        if hook and debian and debian.load_kexec and not root.exists(NO_KEXEC_FILE):
            return "kexec: Debian's kexec-load loads a kernel in runlevel 6 (LOAD_KEXEC=true)"
        return "firmware reboot"
    return "unknown (init system not recognised)"


def record_unit_installed(root: SysRoot, info: SystemInfo) -> bool | None:
    """Whether anything completes the downtime records in the next boot (`setup`)."""
    if units.packaged(root):
        # The package ships the unit and the init script; `setup` enables them.
        if info.init_system is InitSystem.SYSTEMD:
            return units.enabled(root, units.RECORD_NAME)
        if info.init_system is InitSystem.SYSV:
            return bool(root.glob("etc/rc[2-5].d/S*fastreboot-record"))
        return None
    if info.init_system is InitSystem.SYSTEMD:
        return root.exists(units.RECORD_UNIT)
    if info.init_system is InitSystem.SYSV:
        return root.exists(units.SYSV_RECORD_SCRIPT)
    return None
