"""File-name rules for kernels and initrds, as distributions name them in /boot."""

from __future__ import annotations

import re

# vmlinuz-V (most), vmlinux-V (ELF), bzImage-V / zImage-V, Image-V (arm64), kernel-V.
_KERNEL_NAME = re.compile(r"(?:vmlinuz|vmlinux|bzImage|zImage|Image|kernel)-(?P<version>.+)")
# Backups, signatures, package-manager leftovers, rescue and kdump kernels: not to boot.
_NOT_A_KERNEL = re.compile(
    r"(\.(old|bak|orig|sig|asc|hmac|sha\w*|rpmsave|rpmnew|dpkg-\w+)|~|rescue.*|kdump)$"
)
# Initrd names by distribution, most specific first: Debian/Ubuntu, Red Hat/SUSE, Arch-like.
INITRD_PATTERNS = ("initrd.img-{v}", "initramfs-{v}.img", "initrd-{v}.img", "initrd-{v}")
# Red Hat's mkdumprd image, then Debian's kdump-tools one; else the ordinary initrd serves.
KDUMP_INITRD_PATTERNS = ("initramfs-{v}kdump.img", "initrd.img-{v}-kdump")
_INITRD_NAME = re.compile(r"(?:initrd\.img-|initramfs-|initrd-)(?P<version>.+?)(?:\.img)?")
_MICROCODE = ("intel-ucode", "amd-ucode")


def kernel_version(name: str) -> str | None:
    """The version part of a kernel file's name ("6.1.0-47-amd64", or Arch's "linux").

    None for names that are not a bootable kernel's (backups, rescue and kdump kernels).
    """
    match = _KERNEL_NAME.fullmatch(name)
    if match is None or _NOT_A_KERNEL.search(name):
        return None
    return match.group("version")


def kernel_release(name: str) -> str | None:
    """The kernel release a file's name claims (as ``uname -r`` prints it), or None.

    A release starts with a digit: Arch's "vmlinuz-linux" names a package, not a release.
    """
    version = kernel_version(name)
    return version if version and version[0].isdigit() else None


def initrd_version(name: str) -> str | None:
    """The kernel version an initrd's name pairs it with; None for microcode and kdump ones."""
    match = _INITRD_NAME.fullmatch(name)
    if match is None or name.startswith(_MICROCODE):
        return None
    version = match.group("version")
    return None if version.endswith("kdump") else version


def basename(path: str) -> str:
    return path.rsplit("/", 1)[-1]
