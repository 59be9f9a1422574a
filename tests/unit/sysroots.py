"""Fake sysroots: a whole machine described as a directory tree of real-looking files."""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

OLD = "6.1.0-47-cloud-amd64"
NEW = "6.1.0-56-cloud-amd64"
CMDLINE = (
    "BOOT_IMAGE=/boot/vmlinuz-6.1.0-47-cloud-amd64 "
    "root=UUID=0b5f3c5e-1111-4a4a-9c9c-123456789abc ro quiet"
)
ALL_CAPS = "000001ffffffffff"


def bzimage(version: str, *, size: int = 0x4000) -> bytes:
    """A minimal x86 bzImage: boot sector signature, "HdrS", protocol, kernel_version string."""
    data = bytearray(size)
    data[0x1FE:0x200] = b"\x55\xaa"
    data[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", data, 0x206, 0x020F)
    data[0x201] = 0x6A  # jump instruction's offset byte, as in real images
    pointer = 0x1000
    struct.pack_into("<H", data, 0x20E, pointer)
    text = f"{version} (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian".encode()
    data[pointer + 0x200 : pointer + 0x200 + len(text)] = text
    return bytes(data)


@dataclass
class Sysroot:
    root: Path

    def write(self, path: str, content: str | bytes = "", mode: int | None = None) -> Path:
        target = self.root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
        if mode is not None:
            os.chmod(target, mode)
        return target

    def link(self, path: str, target: str) -> None:
        link = self.root / path.lstrip("/")
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)

    def remove(self, path: str) -> None:
        (self.root / path.lstrip("/")).unlink()

    def kernel(
        self, version: str, *, initrd: str | None = "initrd.img-{v}", modules: bool = True
    ) -> None:
        self.write(f"/boot/vmlinuz-{version}", bzimage(version))
        if initrd:
            self.write(f"/boot/{initrd.format(v=version)}", b"070701" + b"\0" * 64)
        if modules:
            (self.root / "lib/modules" / version).mkdir(parents=True, exist_ok=True)

    def running(self, release: str, cmdline: str = CMDLINE) -> None:
        self.write("/proc/sys/kernel/osrelease", release + "\n")
        self.write("/proc/cmdline", cmdline + "\n")

    def set(self, path: str, value: str) -> None:
        self.write(path, value + "\n")


def cpuinfo(model: str, cpus: int = 2) -> str:
    """/proc/cpuinfo as x86 Linux writes it, one block per CPU."""
    return "".join(
        f"processor\t: {n}\nvendor_id\t: GenuineIntel\ncpu family\t: 6\n"
        f"model name\t: {model}\nflags\t\t: fpu sse2 ssse3 avx2 sha_ni\n\n"
        for n in range(cpus)
    )


#: QEMU's TCG under -cpu max (the test guests here).
TCG_CPU = "QEMU TCG CPU version 2.5+"


def debian_systemd(root: Path, *, links: bool = True) -> Sysroot:
    """A running Debian 12 machine with systemd, two kernels, the older one running."""
    sysroot = Sysroot(root)
    sysroot.kernel(OLD)
    sysroot.kernel(NEW)
    if links:
        sysroot.link("/vmlinuz", f"boot/vmlinuz-{NEW}")
        sysroot.link("/initrd.img", f"boot/initrd.img-{NEW}")
        sysroot.link("/vmlinuz.old", f"boot/vmlinuz-{OLD}")
    sysroot.running(OLD)
    sysroot.set("/sys/kernel/kexec_loaded", "0")
    sysroot.set("/sys/kernel/kexec_crash_loaded", "0")
    sysroot.set("/sys/kernel/kexec_crash_size", "0")
    sysroot.set("/proc/sys/kernel/kexec_load_disabled", "0")
    sysroot.set("/sys/kernel/security/lockdown", "[none] integrity confidentiality")
    sysroot.set("/proc/sys/kernel/arch", "x86_64")
    sysroot.write("/proc/cpuinfo", cpuinfo("Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz"))
    sysroot.set("/proc/sys/kernel/random/boot_id", "4a4e2f2e-0000-4000-8000-000000000001")
    sysroot.write("/proc/self/status", f"Name:\tfastreboot\nCapEff:\t{ALL_CAPS}\n")
    sysroot.set("/proc/1/comm", "systemd")
    (root / "run/systemd/system").mkdir(parents=True, exist_ok=True)
    sysroot.write("/usr/lib/systemd/libsystemd-shared-252.so", b"")
    return sysroot


def debian_sysv(root: Path) -> Sysroot:
    sysroot = debian_systemd(root)
    (root / "run/systemd/system").rmdir()
    (root / "usr/lib/systemd/libsystemd-shared-252.so").unlink()
    sysroot.set("/proc/1/comm", "init")
    sysroot.write("/etc/inittab", "id:2:initdefault:\n")
    sysroot.write("/etc/init.d/kexec", "#!/bin/sh\n", mode=0o755)
    sysroot.link("/etc/rc6.d/K06kexec", "../init.d/kexec")
    return sysroot
