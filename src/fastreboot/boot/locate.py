"""Where the bootloaders' configuration is: GRUB's grub.cfg, the BLS entry directories."""

from __future__ import annotations

import re

from fastreboot.sysroot import SysRoot

# Mount points that may hold loader/entries: $BOOT first, then the ESP.
BLS_PARTITIONS = ("/boot", "/efi", "/boot/efi")


def find_grub_cfg(root: SysRoot) -> str | None:
    """The grub.cfg GRUB reads first (a target path): on EFI the ESP's (often a stub that
    ``configfile``s /boot/grub/grub.cfg; Fedora before 34 keeps the real one there), else
    /boot's."""
    native = ["/boot/grub/grub.cfg", "/boot/grub2/grub.cfg"]
    esp = _esp_configs(root)
    candidates = esp + native if root.lexical("/sys/firmware/efi").exists() else native + esp
    return next((path for path in candidates if root.is_file(path)), None)


def bls_entries_dirs(root: SysRoot) -> list[str]:
    """The target paths of the loader/entries directories, each directory once."""
    seen: set[str] = set()
    dirs = []
    for partition in BLS_PARTITIONS:
        path = f"{partition}/loader/entries"
        resolved = root.resolve(path)
        if root.lexical(resolved).is_dir() and resolved not in seen:
            seen.add(resolved)
            dirs.append(path)
    return dirs


def os_release(root: SysRoot) -> dict[str, str]:
    for name in ("/etc/os-release", "/usr/lib/os-release"):
        text = root.read_text(name)
        if text is not None:
            return dict(re.findall(r"^([A-Z_]+)=[\"']?(.*?)[\"']?$", text, re.M))
    return {}


def _esp_configs(root: SysRoot) -> list[str]:
    """ESP grub.cfg files, the distribution's own EFI directory first, EFI/BOOT last."""
    found = {*root.glob("boot/efi/EFI/*/grub.cfg"), *root.glob("efi/EFI/*/grub.cfg")}
    if not found:
        return []
    os_id = os_release(root).get("ID", "").lower()
    os_id = {"rhel": "redhat"}.get(os_id, os_id)

    def order(path: str) -> tuple[bool, bool, str]:
        vendor = path.rsplit("/", 2)[-2]
        return vendor.upper() == "BOOT", vendor.lower() != os_id, path

    return sorted(found, key=order)
