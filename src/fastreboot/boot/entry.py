"""A boot entry: one bootable kernel as a bootloader or /boot describes it."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Source(enum.StrEnum):
    """Where the chosen kernel came from (the plan's "source" field)."""

    GRUB = "grub"
    BLS = "bls"
    DEBIAN_CONFIG = "debian-config"
    REDHAT_CONFIG = "redhat-config"
    VMLINUZ_LINK = "vmlinuz-link"
    NEWEST = "newest"
    RUNNING = "running"
    EXPLICIT = "explicit"


@dataclass(frozen=True, slots=True)
class BootEntry:
    """One bootable kernel.

    Paths are absolute as seen on the target system (never prefixed with --root).
    ``cmdline`` is None when the source does not say (then /proc/cmdline is used).
    ``initrds`` keeps the bootloader's order (e.g. microcode first, then the initramfs).
    """

    kernel: str
    initrds: tuple[str, ...]
    cmdline: str | None
    source: Source
    title: str = ""
    version: str | None = None
    entry_id: str | None = None
    # GRUB: the entry's path of ids (titles where there is none), "submenu>entry", as
    # grub-reboot and grub-set-default take it
    menu_path: str | None = None
