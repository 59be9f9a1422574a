"""Shared by the tests of loading, staging and preloading: a machine with kexec-tools, the
state file, what `systemctl list-jobs` prints during a reboot or a kexec."""

from __future__ import annotations

import os
from pathlib import Path

from tests.unit.fakes import RecordingEffects
from tests.unit.sysroots import NEW, TCG_CPU, Sysroot, cpuinfo, debian_systemd

WITH_KEXEC = ("systemctl", "kexec", "grub-editenv")
STATE = "run/fastreboot/loaded.json"
REBOOT_JOBS = "123 reboot.target start waiting\n124 systemd-reboot.service start waiting\n"
KEXEC_JOBS = "200 kexec.target start waiting\n201 systemd-kexec.service start waiting\n"


def debian_with_kexec_tools(root: Path) -> Path:
    debian_systemd(root).write("/usr/sbin/kexec", "#!/bin/sh\n", mode=0o755)
    return root


def loads(fake: RecordingEffects) -> list[str]:
    """Every load of a kexec kernel, through either system call."""
    return [
        name
        for name in fake.names()
        if name.startswith("run kexec -l") or name == "kexec_file_load"
    ]


def kexec_tools_loads(fake: RecordingEffects) -> list[str]:
    return [name for name in fake.names() if name.startswith("run kexec -l")]


def on_emulated_cpu(root: Path) -> Path:
    """The machine runs on QEMU's TCG (fastreboot preferred kexec_load there until QEMU 10)."""
    Sysroot(root).write("/proc/cpuinfo", cpuinfo(TCG_CPU))
    return root


def touch_kernel(machine: Path) -> None:
    """The new kernel's file changes (e.g. the package manager replaced it)."""
    kernel = machine / f"boot/vmlinuz-{NEW}"
    os.utime(kernel, ns=(0, kernel.stat().st_mtime_ns + 1_000_000_000))
