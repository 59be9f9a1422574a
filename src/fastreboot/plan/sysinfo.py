"""Facts about the running system, read from /proc and /sys under the root.

Everything is read through the root so that tests can describe a whole machine as a
directory. ``None`` means "not known" (e.g. --root points at an image that is not running).
"""

from __future__ import annotations

import enum
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fastreboot.sysroot import SysRoot

CAP_SYS_BOOT = 22


class InitSystem(enum.StrEnum):
    SYSTEMD = "systemd"
    SYSV = "sysv"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class SystemInfo:
    """The running system as read under the root; None where it is not known."""

    running_release: str | None
    proc_cmdline: str | None
    kexec_supported: bool | None  # /sys/kernel/kexec_loaded exists
    kexec_loaded: bool | None
    kexec_crash_loaded: bool | None
    crash_size: int | None  # bytes reserved by crashkernel=
    kexec_load_disabled: bool | None
    lockdown: str | None  # "none", "integrity", "confidentiality"
    cap_sys_boot: bool | None
    init_system: InitSystem
    systemd_version: int | None
    efi: bool
    machine: str | None  # "x86_64", "aarch64"
    # An IMA policy rule for kexec kernels (measure or appraise): only kexec_file_load is
    # seen by IMA. None: no readable policy.
    ima_kexec_rule: bool | None = None


def _flag(root: SysRoot, path: str) -> bool | None:
    value = root.read_first_line(path)
    if value is None or not value.isdigit():
        return None
    return value != "0"


def lockdown(root: SysRoot) -> str | None:
    """The kernel's lockdown mode: "none", "integrity" or "confidentiality"; None: unknown."""
    text = root.read_first_line("/sys/kernel/security/lockdown")
    if text is None:
        return None
    match = re.search(r"\[(\w+)\]", text)
    return match.group(1) if match else None


def _cap_sys_boot(root: SysRoot) -> bool | None:
    text = root.read_text("/proc/self/status")
    if text is None:
        return None
    match = re.search(r"^CapEff:\s*([0-9a-fA-F]+)$", text, re.MULTILINE)
    if not match:
        return None
    return bool(int(match.group(1), 16) >> CAP_SYS_BOOT & 1)


def _ima_kexec_rule(root: SysRoot) -> bool | None:
    for path in ("/sys/kernel/security/integrity/ima/policy", "/sys/kernel/security/ima/policy"):
        text = root.read_text(path)
        if text is not None:
            return "KEXEC_KERNEL_CHECK" in text
    return None


def boot_id(root: SysRoot) -> str | None:
    """This boot's random id: it changes on every boot, a kexec included."""
    return root.read_first_line("/proc/sys/kernel/random/boot_id")


def systemd_version(root: SysRoot) -> int | None:
    """systemd's version from its shared library's file name (libsystemd-shared-252.so),
    in /usr/lib/systemd or, from Debian 13 on, the multiarch /usr/lib/<triplet>/systemd."""
    for directory in _systemd_libdirs(root):
        if not directory.is_dir():
            continue
        for entry in directory.iterdir():
            match = re.fullmatch(r"libsystemd-shared-(\d+)(?:[.-].*)?\.so", entry.name)
            if match:
                return int(match.group(1))
    return None


def _systemd_libdirs(root: SysRoot) -> Iterator[Path]:
    # The multiarch directory (Debian 13) last: its glob lists all of /usr/lib.
    for libdir in ("/usr/lib/systemd", "/lib/systemd", "/usr/lib64/systemd"):
        yield root.host(libdir)
    yield from root.path.glob("usr/lib/*-linux-*/systemd")


SYSTEM_BUS_SOCKET = "/run/dbus/system_bus_socket"


def system_bus_live(root: SysRoot) -> bool:
    """Whether the D-Bus system bus answers (a connect, nothing sent). systemctl reaches
    logind only through it; without it `systemctl reboot` goes straight to PID 1."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        try:
            sock.connect(str(root.host(SYSTEM_BUS_SOCKET)))
        except OSError:
            return False
    return True


def detect_init_system(root: SysRoot) -> InitSystem:
    # /run/systemd/system exists exactly when systemd is PID 1 (sd_booted()).
    if root.is_dir("/run/systemd/system"):
        return InitSystem.SYSTEMD
    comm = root.read_first_line("/proc/1/comm")
    if comm == "systemd":
        return InitSystem.SYSTEMD
    if comm == "init":
        return InitSystem.SYSV
    init = root.resolve("/sbin/init")
    if init.endswith("/systemd"):
        return InitSystem.SYSTEMD
    if root.exists(init) and root.exists("/etc/inittab"):
        return InitSystem.SYSV
    return InitSystem.UNKNOWN


def read_system_info(root: SysRoot) -> SystemInfo:
    crash_size = root.read_first_line("/sys/kernel/kexec_crash_size")
    return SystemInfo(
        running_release=root.read_first_line("/proc/sys/kernel/osrelease"),
        proc_cmdline=root.read_first_line("/proc/cmdline"),
        kexec_supported=root.exists("/sys/kernel/kexec_loaded")
        if root.is_dir("/sys/kernel")
        else None,
        kexec_loaded=_flag(root, "/sys/kernel/kexec_loaded"),
        kexec_crash_loaded=_flag(root, "/sys/kernel/kexec_crash_loaded"),
        crash_size=int(crash_size) if crash_size and crash_size.isdigit() else None,
        kexec_load_disabled=_flag(root, "/proc/sys/kernel/kexec_load_disabled"),
        lockdown=lockdown(root),
        cap_sys_boot=_cap_sys_boot(root),
        init_system=detect_init_system(root),
        systemd_version=systemd_version(root),
        efi=root.is_dir("/sys/firmware/efi"),
        machine=root.read_first_line("/proc/sys/kernel/arch"),
        ima_kexec_rule=_ima_kexec_rule(root),
    )
