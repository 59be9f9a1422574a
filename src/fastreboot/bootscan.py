"""Kernels installed in /boot, paired with their initrds by version, and Debian's /vmlinuz links."""

from __future__ import annotations

import functools
import re
from pathlib import Path

from fastreboot import sysroot
from fastreboot.model import BootEntry, Source
from fastreboot.versions import compare_versions

_KERNEL_NAME = re.compile(r"^(?:vmlinuz|vmlinux|bzImage|Image|kernel)-(?P<version>.+)$")
# Naming schemes seen in the wild, most specific first: Debian/Ubuntu, Red Hat/SUSE, Arch-like.
_INITRD_PATTERNS = ("initrd.img-{v}", "initramfs-{v}.img", "initrd-{v}.img", "initrd-{v}")
_NOT_A_KERNEL = re.compile(r"(\.(old|bak|dpkg-\w+|sig|hmac|sha\w*)|rescue.*|kdump)$")


def _kernel_version(name: str) -> str | None:
    match = _KERNEL_NAME.match(name)
    if not match or _NOT_A_KERNEL.search(name):
        return None
    return match.group("version")


def find_initrd(root: Path, version: str, bootdir: str = "/boot") -> str | None:
    """The initrd belonging to ``version`` in ``bootdir``, by any known naming scheme."""
    for pattern in _INITRD_PATTERNS:
        path = f"{bootdir.rstrip('/')}/{pattern.format(v=version)}"
        if sysroot.host_path(root, path).is_file():
            return path
    return None


def installed_kernels(root: Path, bootdir: str = "/boot") -> list[BootEntry]:
    """Every kernel in ``bootdir``, newest first (dpkg version order)."""
    directory = sysroot.host_path(root, bootdir)
    if not directory.is_dir():
        return []
    entries = []
    for path in directory.iterdir():
        version = _kernel_version(path.name)
        if version is None or path.is_symlink() or not path.is_file():
            continue
        initrd = find_initrd(root, version, bootdir)
        entries.append(
            BootEntry(
                kernel=f"{bootdir.rstrip('/')}/{path.name}",
                initrds=(initrd,) if initrd else (),
                cmdline=None,
                source=Source.NEWEST,
                title=f"Linux {version}",
                version=version,
            )
        )

    def newest_first(a: BootEntry, b: BootEntry) -> int:
        return compare_versions(b.version or "", a.version or "") or (a.kernel > b.kernel) - (
            a.kernel < b.kernel
        )

    return sorted(entries, key=functools.cmp_to_key(newest_first))


def newest_kernel(root: Path) -> BootEntry | None:
    kernels = installed_kernels(root)
    return kernels[0] if kernels else None


def kernel_by_version(root: Path, version: str) -> BootEntry | None:
    for entry in installed_kernels(root):
        if entry.version == version:
            return entry
    return None


def vmlinuz_link(root: Path) -> BootEntry | None:
    """Debian's /vmlinuz and /initrd.img links (or /boot/vmlinuz with link_in_boot)."""
    for kernel_link, initrd_link in (
        ("/vmlinuz", "/initrd.img"),
        ("/boot/vmlinuz", "/boot/initrd.img"),
    ):
        if not sysroot.host_path(root, kernel_link).is_symlink():
            continue
        kernel = sysroot.resolve(root, kernel_link)
        if not sysroot.host_path(root, kernel).is_file():
            continue
        initrd = sysroot.resolve(root, initrd_link)
        version = _kernel_version(Path(kernel).name)
        initrds: tuple[str, ...] = ()
        # A link that exists but dangles is kept: the initrd check reports it as an error.
        if (
            sysroot.host_path(root, initrd_link).is_symlink()
            or sysroot.host_path(root, initrd).is_file()
        ):
            initrds = (initrd,)
        elif version:
            paired = find_initrd(root, version, str(Path(kernel).parent))
            initrds = (paired,) if paired else ()
        return BootEntry(
            kernel=kernel,
            initrds=initrds,
            cmdline=None,
            source=Source.VMLINUZ_LINK,
            title=f"{kernel_link} -> {kernel}",
            version=version,
        )
    return None


def version_from_path(path: str) -> str | None:
    return _kernel_version(Path(path).name)
