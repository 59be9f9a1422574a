"""The way back when the new kernel never comes up: a one-shot bootloader entry for the
running kernel, a watchdog for hangs, and panic=N so that a panic resets the machine.

A kexec skips the bootloader, so its one-shot and boot counting cannot protect the new
kernel; the firmware reset that a watchdog or a panic causes must find the old kernel set
up as the next boot. Pure: reads the target and decides; changes nothing.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from fastreboot.boot.choice import BootloaderChoice, bootloader_choice
from fastreboot.boot.entry import BootEntry
from fastreboot.config.own import OwnConfig
from fastreboot.plan import checks
from fastreboot.plan.checks import Check
from fastreboot.plan.cmdline import cmdline_has, split_cmdline
from fastreboot.sysroot import SysRoot

DEFAULT_WATCHDOG_TIMEOUT = 120
DEFAULT_PANIC_TIMEOUT = 10
WATCHDOG_DEVICE = "/dev/watchdog"


class WayBackKind(enum.StrEnum):
    """How the next firmware boot is pointed at the running kernel."""

    GRUB_NEXT_ENTRY = "grub-next-entry"  # grubenv's next_entry, as grub-reboot sets it
    LOADER_ENTRY_ONESHOT = "loader-entry-oneshot"  # systemd-boot's EFI variable


@dataclass(frozen=True, slots=True)
class WayBack:
    """The bootloader entry of the running kernel and how to make it the next boot."""

    kind: WayBackKind
    entry: str  # GRUB's menu path or the BLS entry id
    title: str
    grubenv: str | None = None  # target path, for GRUB

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": str(self.kind),
            "entry": self.entry,
            "title": self.title,
            "grubenv": self.grubenv,
        }


@dataclass(frozen=True, slots=True)
class Fallback:
    """What the fast reboot arranges so that a failed new kernel ends in the old one."""

    enabled: bool
    why_off: str | None  # why it is off (--no-fallback, the toml), None when on
    way_back: WayBack | None
    no_way_back: str | None  # why there is none
    watchdog: str | None  # the device to arm; None when there is none
    watchdog_timeout: int
    panic_timeout: int | None  # panic=N that the plan appends; None: not appended
    panic_on_cmdline: str | None  # the command line's own panic= word, kept

    @property
    def possible(self) -> bool:
        return self.enabled and self.way_back is not None

    def checks(self) -> tuple[Check, ...]:
        if not self.enabled:
            return ()
        found = []
        if self.way_back is not None:
            via = (
                f"GRUB's one-shot next_entry={self.way_back.entry!r}"
                if self.way_back.kind is WayBackKind.GRUB_NEXT_ENTRY
                else f"systemd-boot's LoaderEntryOneShot={self.way_back.entry!r}"
            )
            found.append(
                checks.ok("fallback-way-back", f"a firmware reset boots the running kernel ({via})")
            )
        else:
            found.append(
                checks.warning(
                    "fallback-way-back",
                    f"no way back: {self.no_way_back}; a firmware reset boots the bootloader's"
                    " default",
                    "a kernel that fails needs someone at the console",
                )
            )
        if self.watchdog is not None:
            found.append(
                checks.warning(
                    "fallback-watchdog",
                    f"{self.watchdog} is not armed across the jump: Linux stops a running"
                    " watchdog on kexec (its reboot notifier), and drivers such as i6300esb"
                    " stop it again when they load; a new kernel that hangs is not caught,"
                    " only panics",
                    "a hang needs a power cycle (a BMC, or the hypervisor)",
                )
            )
        else:
            found.append(
                checks.warning(
                    "fallback-watchdog",
                    "no watchdog device: a new kernel that hangs is not caught, only panics",
                    "load a watchdog driver (e.g. softdog is not enough across kexec; a"
                    " hardware one is)",
                )
            )
        if self.panic_timeout is not None:
            found.append(
                checks.ok("fallback-panic", f"panic={self.panic_timeout} resets after a panic")
            )
        elif self.panic_on_cmdline is not None:
            found.append(
                checks.ok("fallback-panic", f"the command line's {self.panic_on_cmdline} is kept")
            )
        return tuple(found)

    def to_json(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "why_off": self.why_off,
            "possible": self.possible,
            "way_back": self.way_back.to_json() if self.way_back else None,
            "no_way_back": self.no_way_back,
            "watchdog": self.watchdog,
            "watchdog_armed": False,  # see the fallback-watchdog check
            "watchdog_timeout": self.watchdog_timeout,
            "panic_timeout": self.panic_timeout,
            "panic_on_cmdline": self.panic_on_cmdline,
        }


def _is_recovery(entry: BootEntry) -> bool:
    words = split_cmdline(entry.cmdline or "")
    return "recovery mode" in entry.title or "single" in words or "emergency" in words


def running_entry(entries: tuple[BootEntry, ...], release: str) -> BootEntry | None:
    """The bootloader entry that boots the running release, a recovery entry only if none
    other does. An id that names the release comes first: Debian's "simple" entry boots
    whichever kernel is newest when grub.cfg is next generated."""
    matching = [e for e in entries if e.version == release]
    normal = [e for e in matching if not _is_recovery(e)]
    ranked = sorted(normal or matching, key=lambda e: release not in (e.menu_path or ""))
    return next(iter(ranked), None)


def find_way_back(
    root: SysRoot, release: str | None, choice: BootloaderChoice | None
) -> tuple[WayBack | None, str | None]:
    """(the way back, None) or (None, why there is none)."""
    if release is None:
        return None, "the running kernel's version is unknown"
    if choice is None or not choice.via.startswith(("grub", "boot loader spec")):
        choice = bootloader_choice(root)
    if choice.via.startswith("grub"):
        if choice.grubenv is None:
            return None, "GRUB has no grubenv for a one-shot entry (grub-editenv … create)"
        entry = running_entry(choice.entries, release)
        if entry is None or entry.menu_path is None:
            return None, f"GRUB's menu has no entry for the running kernel {release}"
        return WayBack(
            WayBackKind.GRUB_NEXT_ENTRY, entry.menu_path, entry.title, choice.grubenv
        ), None
    if choice.via == "boot loader spec":
        entry = running_entry(choice.entries, release)
        if entry is None or entry.entry_id is None:
            return None, f"no boot loader entry for the running kernel {release}"
        return WayBack(WayBackKind.LOADER_ENTRY_ONESHOT, entry.entry_id, entry.title), None
    return None, "no bootloader with one-shot entries (GRUB, systemd-boot) found"


def has_watchdog(root: SysRoot) -> bool:
    return root.exists(WATCHDOG_DEVICE) or root.is_dir("/sys/class/watchdog/watchdog0")


def plan_fallback(
    root: SysRoot,
    own: OwnConfig,
    *,
    release: str | None,
    choice: BootloaderChoice | None,
    cmdline: str,
    off_by_option: bool,
    next_boot_clears: bool | None = None,
) -> Fallback:
    """Decide the fallback for a kexec into ``cmdline``. panic=N is appended only when
    there is a way back: without one a panic reset would boot the same kernel again."""
    watchdog_timeout = own.watchdog_timeout or DEFAULT_WATCHDOG_TIMEOUT
    why_off = (
        "--no-fallback"
        if off_by_option
        else "fallback = false in /etc/fastreboot.toml"
        if own.fallback is False
        else None
    )
    panic_word = next((w for w in split_cmdline(cmdline) if w.startswith("panic=")), None)
    if why_off is not None:
        return Fallback(False, why_off, None, None, None, watchdog_timeout, None, panic_word)
    way_back, no_way_back = find_way_back(root, release, choice)
    if way_back is not None and way_back.kind is WayBackKind.LOADER_ENTRY_ONESHOT:
        # Not armed before the jump yet: promising it (and adding panic=) would send a
        # panic's reset to systemd-boot's default, the failing kernel.
        no_way_back = (
            f"systemd-boot's LoaderEntryOneShot={way_back.entry!r} is not set by fastreboot"
            " yet"
        )
        way_back = None
    if way_back is not None and next_boot_clears is False:
        # A one-shot entry nobody clears after a good boot would send the next firmware
        # reboot to the old kernel instead of the bootloader's default.
        way_back, no_way_back = (
            None,
            (
                "nothing clears the one-shot entry after a good boot (`fastreboot setup`"
                " installs fastreboot-record)"
            ),
        )
    panic_timeout = None
    if way_back is not None and not cmdline_has(split_cmdline(cmdline), "panic"):
        panic_timeout = own.panic_timeout or DEFAULT_PANIC_TIMEOUT
    return Fallback(
        True,
        None,
        way_back,
        no_way_back,
        WATCHDOG_DEVICE if has_watchdog(root) else None,
        watchdog_timeout,
        panic_timeout,
        panic_word,
    )
