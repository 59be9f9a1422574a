"""Where the bootloaders' configuration is: GRUB's grub.cfg, the BLS entry directories.

Found without importing their parsers (grub.py, bls.py: big modules and regexes that cost
start-up time), which a plan imports only when there is something for them to read.
"""

from __future__ import annotations

import re
from pathlib import Path

from fastreboot import sysroot

# Mount points that may hold loader/entries: $BOOT first, then the ESP.
BLS_PARTITIONS = ("/boot", "/efi", "/boot/efi")


def find_grub_cfg(root: Path) -> Path | None:
    """The grub.cfg GRUB reads first: on EFI the ESP's (often a stub that ``configfile``s
    /boot/grub/grub.cfg; Fedora before 34 keeps the real one there), else /boot's."""
    native = [root / "boot/grub/grub.cfg", root / "boot/grub2/grub.cfg"]
    esp = _esp_configs(root)
    candidates = esp + native if (root / "sys/firmware/efi").exists() else native + esp
    return next((path for path in candidates if _is_file(root, path)), None)


def bls_entries_dirs(root: Path) -> list[str]:
    """The target paths of the loader/entries directories, each directory once."""
    seen: set[Path] = set()
    dirs = []
    for partition in BLS_PARTITIONS:
        path = f"{partition}/loader/entries"
        directory = sysroot.host_path(root, sysroot.resolve(root, path))
        if directory.is_dir() and directory.resolve() not in seen:
            seen.add(directory.resolve())
            dirs.append(path)
    return dirs


def os_release(root: Path) -> dict[str, str]:
    for name in ("/etc/os-release", "/usr/lib/os-release"):
        text = sysroot.read_text(root, name)
        if text is not None:
            return dict(re.findall(r"^([A-Z_]+)=[\"']?(.*?)[\"']?$", text, re.M))
    return {}


def _esp_configs(root: Path) -> list[Path]:
    """ESP grub.cfg files, the distribution's own EFI directory first, EFI/BOOT last."""
    found = {*root.glob("boot/efi/EFI/*/grub.cfg"), *root.glob("efi/EFI/*/grub.cfg")}
    if not found:
        return []
    os_id = os_release(root).get("ID", "").lower()
    os_id = {"rhel": "redhat"}.get(os_id, os_id)
    return sorted(
        found,
        key=lambda p: (p.parent.name.upper() == "BOOT", p.parent.name.lower() != os_id, str(p)),
    )


def _is_file(root: Path, path: Path) -> bool:
    """Whether ``path`` (a host path under root) is a file, links resolved inside root."""
    target = "/" + path.relative_to(root).as_posix()
    return sysroot.host_path(root, sysroot.resolve(root, target)).is_file()
