"""Kernels installed in /boot, paired with their initrds by version, and Debian's /vmlinuz links."""

from __future__ import annotations

import functools

from fastreboot.boot.entry import BootEntry, Source
from fastreboot.boot.names import INITRD_PATTERNS, basename, kernel_version
from fastreboot.boot.versions import compare_versions
from fastreboot.sysroot import SysRoot


def find_initrd(
    root: SysRoot, version: str, bootdir: str = "/boot", patterns: tuple[str, ...] = INITRD_PATTERNS
) -> str | None:
    """The initrd belonging to ``version`` in ``bootdir``, by the first naming scheme found."""
    for pattern in patterns:
        path = f"{bootdir.rstrip('/')}/{pattern.format(v=version)}"
        if root.lexical(path).is_file():
            return path
    return None


def installed_kernels(root: SysRoot, bootdir: str = "/boot") -> list[BootEntry]:
    """Every kernel in ``bootdir``, newest first (dpkg version order)."""
    directory = root.lexical(bootdir)
    if not directory.is_dir():
        return []
    entries = []
    for path in directory.iterdir():
        version = kernel_version(path.name)
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


def newest_kernel(root: SysRoot) -> BootEntry | None:
    kernels = installed_kernels(root)
    return kernels[0] if kernels else None


def kernel_by_version(root: SysRoot, version: str) -> BootEntry | None:
    for entry in installed_kernels(root):
        if entry.version == version:
            return entry
    return None


def vmlinuz_link(root: SysRoot) -> BootEntry | None:
    """Debian's /vmlinuz and /initrd.img links (or /boot/vmlinuz with link_in_boot)."""
    for kernel_link, initrd_link in (
        ("/vmlinuz", "/initrd.img"),
        ("/boot/vmlinuz", "/boot/initrd.img"),
    ):
        if not root.lexical(kernel_link).is_symlink():
            continue
        kernel = root.resolve(kernel_link)
        if not root.lexical(kernel).is_file():
            continue
        initrd = root.resolve(initrd_link)
        version = kernel_version(basename(kernel))
        initrds: tuple[str, ...] = ()
        # A link that exists but dangles is kept: the initrd check reports it as an error.
        if root.lexical(initrd_link).is_symlink() or root.lexical(initrd).is_file():
            initrds = (initrd,)
        elif version:
            paired = find_initrd(root, version, kernel.rsplit("/", 1)[0] or "/")
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
