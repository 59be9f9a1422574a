"""What a cold boot would start (GRUB, else BLS, else /vmlinuz, else the newest kernel), and
every boot candidate the machine has."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastreboot.boot import scan
from fastreboot.boot.bls import BlsSelection, bls_selection
from fastreboot.boot.entry import BootEntry
from fastreboot.boot.grub import GrubSelection, grub_selection
from fastreboot.boot.locate import bls_entries_dirs
from fastreboot.sysroot import SysRoot


@dataclass(frozen=True, slots=True)
class BootloaderChoice:
    """The entry a cold boot would start, how it was found, and the files read for it."""

    entry: BootEntry | None
    via: str
    config_files: tuple[str, ...]
    entries: tuple[BootEntry, ...]
    next_entry: str | None = None
    grubenv: str | None = None


def bootloader_choice(root: SysRoot, grub: GrubSelection | None = None) -> BootloaderChoice:
    """What a cold boot would start. ``grub``: grub.cfg as already run by the caller.

    BLS entries are read only when GRUB chose nothing (a grub.cfg that runs blscfg reads
    them itself); Debian's KERNEL_IMAGE needs neither, so the planner may not call this.
    """
    grub = grub or grub_selection(root)
    if grub is not None and grub.default is not None:
        grubenv = next((f for f in grub.config_files if f.endswith("grubenv")), None)
        return BootloaderChoice(
            grub.default,
            f"grub ({grub.via})",
            grub.config_files,
            grub.entries,
            grub.next_entry,
            grubenv,
        )
    bls = bls_selection(root)
    if bls is not None and bls.default is not None:
        return BootloaderChoice(bls.default, "boot loader spec", bls.config_files, bls.entries)
    link = scan.vmlinuz_link(root)
    if link is not None:
        return BootloaderChoice(link, "/vmlinuz link", (), ())
    return BootloaderChoice(scan.newest_kernel(root), "newest installed kernel", (), ())


@dataclass(frozen=True, slots=True)
class Candidate:
    """One line of `fastreboot kernels`."""

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


def boot_candidates(root: SysRoot, running: str | None) -> list[Candidate]:
    """GRUB entries, BLS entries and the /boot scan, marking the bootloader's default and
    the ``running`` release."""
    grub = grub_selection(root)
    default = bootloader_choice(root, grub).entry
    bls: BlsSelection | None = None
    if bls_entries_dirs(root) and not (grub and grub.via.startswith("blscfg")):
        bls = bls_selection(root)
    entries = [
        *(grub.entries if grub else ()),
        *(bls.entries if bls else ()),
        *scan.installed_kernels(root),
    ]
    link = scan.vmlinuz_link(root)
    if link:
        entries.append(link)
    return [
        Candidate(
            kernel=entry.kernel,
            version=entry.version,
            initrds=entry.initrds,
            source=str(entry.source),
            title=entry.title,
            default=default is not None and entry == default,
            running=entry.version is not None and entry.version == running,
        )
        for entry in entries
    ]
