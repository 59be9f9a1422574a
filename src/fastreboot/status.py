"""Boot candidates and the status report: read-only views of the system."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TextIO

from fastreboot import bootscan, sysroot
from fastreboot.bls import bls_selection
from fastreboot.config import read_debian_kexec, read_own_config
from fastreboot.grub import grub_selection
from fastreboot.initsystem import COLD_MARKER, NO_KEXEC_FILE
from fastreboot.plan import bootloader_choice
from fastreboot.sysinfo import InitSystem, SystemInfo, read_system_info, system_bus_live
from fastreboot.values import dataclass

AUTO_KEXEC_UNIT = "/etc/systemd/system/fastreboot-auto-load.service"
# From this version on `systemctl reboot` kexecs a loaded kernel (when logind is reachable).
SYSTEMD_AUTO_KEXEC_VERSION = 254


@dataclass(frozen=True)
class Candidate:
    kernel: str
    version: str | None
    initrds: tuple[str, ...]
    source: str
    title: str
    default: bool
    running: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "kernel": self.kernel,
            "version": self.version,
            "initrds": list(self.initrds),
            "source": self.source,
            "title": self.title,
            "default": self.default,
            "running": self.running,
        }


def boot_candidates(root: Path) -> list[Candidate]:
    """GRUB entries, BLS entries and the /boot scan, marking the default and the running kernel."""
    running = read_system_info(root).running_release
    default = bootloader_choice(root).entry
    grub = grub_selection(root)
    bls = bls_selection(root)
    entries = [
        *(grub.entries if grub else ()),
        *(bls.entries if bls and not (grub and grub.via.startswith("blscfg")) else ()),
        *bootscan.installed_kernels(root),
    ]
    link = bootscan.vmlinuz_link(root)
    if link:
        entries.append(link)
    rows = []
    for entry in entries:
        rows.append(
            Candidate(
                kernel=entry.kernel,
                version=entry.version,
                initrds=entry.initrds,
                source=str(entry.source),
                title=entry.title,
                default=default is not None and entry == default,
                running=entry.version is not None and entry.version == running,
            )
        )
    return rows


def crash_loaded(root: Path) -> bool | None:
    return read_system_info(root).kexec_crash_loaded


def what_reboot_does(root: Path, info: SystemInfo) -> str:
    """What a plain `reboot` would do right now, honestly."""
    cold = sysroot.exists(root, COLD_MARKER)
    if info.init_system is InitSystem.SYSTEMD:
        auto_unit = sysroot.exists(root, AUTO_KEXEC_UNIT)
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
        hook = any((root / "etc/rc6.d").glob("K*kexec"))
        if hook and info.kexec_loaded:
            return "kexec into the loaded kernel (Debian's /etc/init.d/kexec in runlevel 6)"
        if hook and debian and debian.load_kexec and not sysroot.exists(root, NO_KEXEC_FILE):
            return "kexec: Debian's kexec-load loads a kernel in runlevel 6 (LOAD_KEXEC=true)"
        return "firmware reboot"
    return "unknown (init system not recognised)"


def record_unit_installed(root: Path, info: SystemInfo) -> bool | None:
    """Whether anything completes the downtime records in the next boot (`setup`)."""
    from fastreboot import units

    if info.init_system is InitSystem.SYSTEMD:
        return sysroot.exists(root, units.RECORD_UNIT)
    if info.init_system is InitSystem.SYSV:
        return sysroot.exists(root, units.SYSV_RECORD_SCRIPT)
    return None


def system_status(root: Path) -> dict[str, Any]:
    info = read_system_info(root)
    own = read_own_config(root)
    from fastreboot import records

    return {
        "version": 1,
        "running_kernel": info.running_release,
        "kexec_loaded": info.kexec_loaded,
        "crash_kernel_loaded": info.kexec_crash_loaded,
        "crash_kernel_reserved_bytes": info.crash_size,
        "lockdown": info.lockdown,
        "kexec_load_disabled": info.kexec_load_disabled,
        "init_system": str(info.init_system),
        "systemd_version": info.systemd_version,
        "auto_kexec": own.auto_kexec,
        "reboot_would": what_reboot_does(root, info),
        "records": [r.to_json() for r in records.current_view(root)[-5:]],
        "record_unit_installed": record_unit_installed(root, info),
    }


def _yes_no(value: object) -> str:
    return "unknown" if value is None else ("yes" if value else "no")


def format_status(report: dict[str, Any], out: TextIO) -> None:
    print(f"running kernel:      {report['running_kernel'] or 'unknown'}", file=out)
    print(f"kexec kernel loaded: {_yes_no(report['kexec_loaded'])}", file=out)
    crash = report["crash_kernel_reserved_bytes"]
    reserved = f", {crash // (1 << 20)} MiB reserved" if crash else ", none reserved"
    print(f"crash kernel loaded: {_yes_no(report['crash_kernel_loaded'])}{reserved}", file=out)
    print(f"lockdown:            {report['lockdown'] or 'unknown'}", file=out)
    print(f"kexec_load_disabled: {_yes_no(report['kexec_load_disabled'])}", file=out)
    version = f" {report['systemd_version']}" if report["systemd_version"] else ""
    print(f"init system:         {report['init_system']}{version}", file=out)
    print(f"reboot would:        {report['reboot_would']}", file=out)
    if report["records"]:
        print("last fast reboots:", file=out)
        from fastreboot.records import format_record

        for record in report["records"]:
            print(f"  {format_record(record)}", file=out)
        if report["record_unit_installed"] is False:
            print(
                "  nothing completes these records after a reboot, so they get no downtime"
                " figure: `fastreboot setup` installs fastreboot-record",
                file=out,
            )
