"""Boot Loader Specification type #1 entries, chosen as systemd-boot would.

Spec: https://uapi-group.org/specifications/specs/boot_loader_specification/
Entries live in ``loader/entries/*.conf`` on $BOOT (XBOOTLDR or /boot) and on the ESP;
paths inside an entry are relative to the partition the entry lives on.  GRUB's ``blscfg``
(Fedora, RHEL) reads the same files with its own rules: see ``read_entry_files``.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import re
from dataclasses import dataclass
from typing import Any

from fastreboot.boot.entry import BootEntry, Source
from fastreboot.boot.locate import bls_entries_dirs
from fastreboot.boot.versions import uapi_compare
from fastreboot.sysroot import SysRoot

# systemd-boot reads loader.conf from the ESP only.
_ESP_MOUNTS = ("/efi", "/boot/efi", "/boot")
# Boot counting suffix of an entry file name: "+LEFT" or "+LEFT-DONE".
_TRIES = re.compile(r"\+(\d+)(?:-\d+)?$")
# The spec's architecture names (EFI vocabulary) for Python's machine names.
_EFI_ARCH = {
    "x86_64": "x64",
    "amd64": "x64",
    "i386": "ia32",
    "i686": "ia32",
    "aarch64": "aa64",
    "arm64": "aa64",
    "armv7l": "arm",
    "riscv64": "riscv64",
    "loongarch64": "loongarch64",
}


@dataclass(frozen=True, slots=True)
class BlsEntryFile:
    """One ``*.conf`` file as read, before any selection."""

    path: str  # target path of the file
    entry_id: str  # file name without ".conf"
    fields: tuple[tuple[str, str], ...]  # (key, value) in file order

    def first(self, key: str) -> str | None:
        return next((value for k, value in self.fields if k == key), None)

    def all(self, key: str) -> tuple[str, ...]:
        return tuple(value for k, value in self.fields if k == key)


@dataclass(frozen=True, slots=True)
class BlsSelection:
    """The entry systemd-boot would boot, its menu, and the files read."""

    default: BootEntry | None  # source=Source.BLS
    entries: tuple[BootEntry, ...]  # in the spec's menu order
    config_files: tuple[str, ...]


def read_entry_files(
    root: SysRoot, entries_dir: str, *, grub_rules: bool = False
) -> tuple[BlsEntryFile, ...]:
    """Every ``*.conf`` in ``entries_dir`` (a target path), sorted by file name.

    ``grub_rules`` parses like GRUB's blscfg: a line without a value, even an empty one,
    ends the file there, and values keep trailing blanks.
    """
    directory = root.host(entries_dir)
    if not directory.is_dir():
        return ()
    files = []
    for conf in sorted(directory.glob("*.conf")):
        if conf.name.startswith(".") or not conf.is_file():
            continue
        text = conf.read_text(encoding="utf-8", errors="replace")
        fields = _grub_fields(text) if grub_rules else _spec_fields(text)
        path = f"{entries_dir.rstrip('/')}/{conf.name}"
        files.append(BlsEntryFile(path, conf.name.removesuffix(".conf"), fields))
    return tuple(files)


def bls_selection(root: SysRoot, *, saved_entry: str | None = None) -> BlsSelection | None:
    """The entries systemd-boot would list and the one it would boot; None without entries dirs.

    The default is ``saved_entry`` (an entry id) when it names an entry, else the first entry
    whose id matches the ``default`` glob of loader.conf, else the first entry in menu order.
    loader.conf values starting with "@" (@saved) and the EFI variables that override
    loader.conf (LoaderEntryDefault, LoaderEntryOneShot) are not supported.
    """
    dirs = bls_entries_dirs(root)
    if not dirs:
        return None
    files = [f for d in dirs for f in read_entry_files(root, d)]
    visible = [f for f in files if f.first("linux") and _arch_matches(f.first("architecture"))]
    ordered = sorted(visible, key=functools.cmp_to_key(_menu_order))
    entries = tuple(_boot_entry(root, f) for f in ordered)
    config_files = [f.path for f in files]

    default = next((e for e in entries if saved_entry and e.entry_id == saved_entry), None)
    loader_conf = _loader_conf(root)
    if loader_conf is not None:
        config_files.insert(0, loader_conf[0])
        pattern = loader_conf[1]
        if default is None and pattern and not pattern.startswith("@"):
            default = next((e for e in entries if _id_matches(pattern, e.entry_id)), None)
    if default is None and entries:
        default = entries[0]
    return BlsSelection(default, entries, tuple(config_files))


def _spec_fields(text: str) -> tuple[tuple[str, str], ...]:
    fields = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition(" ") if " " in line else line.partition("\t")
        if value.strip():
            fields.append((key.strip(), value.strip()))
    return tuple(fields)


def _grub_fields(text: str) -> tuple[tuple[str, str], ...]:
    fields = []
    for raw in text.split("\n"):
        line = raw.lstrip(" \t")
        if line.startswith("#"):
            continue
        cut = line.find(" ") if " " in line else line.find("\t")
        if cut < 0 or cut + 1 == len(line):
            break
        fields.append((line[:cut], line[cut + 1 :].lstrip(" \t")))
    return tuple(fields)


def _loader_conf(root: SysRoot) -> tuple[str, str | None] | None:
    """(target path, default value) of the ESP's loader.conf."""
    for mount in _ESP_MOUNTS:
        path = f"{mount}/loader/loader.conf"
        text = root.read_text(path)
        if text is not None:
            return path, dict(_spec_fields(text)).get("default")
    return None


def _id_matches(pattern: str, entry_id: str | None) -> bool:
    # systemd-boot matches case-insensitively against the file name with ".conf";
    # older versions and the entry id as used elsewhere have no suffix: accept both.
    pattern, name = pattern.lower(), (entry_id or "").lower()
    return fnmatch.fnmatchcase(name + ".conf", pattern) or fnmatch.fnmatchcase(name, pattern)


def _menu_order(a: BlsEntryFile, b: BlsEntryFile) -> int:
    """The spec's "Sorting" rules: bad entries last, sort-key, machine-id, version, name."""
    r = _cmp(_is_bad(a), _is_bad(b))
    key_a, key_b = a.first("sort-key") or None, b.first("sort-key") or None
    r = r or _cmp(key_a is None, key_b is None)
    if not r and key_a and key_b:
        r = (
            _cmp(key_a, key_b)
            or _cmp(a.first("machine-id") or "", b.first("machine-id") or "")
            or -uapi_compare(a.first("version"), b.first("version"))
        )
    return r or -uapi_compare(_entry_id(a), _entry_id(b))


def _boot_entry(root: SysRoot, entry: BlsEntryFile) -> BootEntry:
    partition = entry.path.rsplit("/loader/entries/", 1)[0]
    return BootEntry(
        kernel=resolve_path(root, partition, entry.first("linux") or ""),
        initrds=tuple(resolve_path(root, partition, p) for p in _split_all(entry, "initrd")),
        cmdline=" ".join(entry.all("options")),
        source=Source.BLS,
        title=entry.first("title") or _entry_id(entry),
        version=entry.first("version"),
        entry_id=_entry_id(entry),
    )


def resolve_path(root: SysRoot, partition: str, path: str) -> str:
    """Target path of ``path`` from an entry on ``partition``.

    When $BOOT is only a directory on the root file system, entries name paths from "/"
    (kernel-install writes "/boot/<token>/<version>/linux" then): accept what exists.
    """
    relative = path.strip().lstrip("/")
    on_partition = f"{partition.rstrip('/')}/{relative}"
    if not root.exists(on_partition) and relative and root.exists(relative):
        return "/" + relative
    return on_partition


def _split_all(entry: BlsEntryFile, key: str) -> list[str]:
    # Several images may share one line (GRUB and systemd-boot both accept it).
    return [path for value in entry.all(key) for path in value.split()]


def _entry_id(entry: BlsEntryFile) -> str:
    return _TRIES.sub("", entry.entry_id)


def _is_bad(entry: BlsEntryFile) -> bool:
    match = _TRIES.search(entry.entry_id)
    return match is not None and int(match.group(1)) == 0


def _arch_matches(architecture: str | None) -> bool:
    if not architecture:
        return True
    machine = os.uname().machine.lower()
    local = _EFI_ARCH.get(machine, machine)
    return architecture.strip().lower() == local


def _cmp(a: Any, b: Any) -> int:
    return int(a > b) - int(a < b)
