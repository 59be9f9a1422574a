"""GRUB's menu semantics (grub-core/normal/menu.c): which entry a ``default`` names.

``default`` is an index, a title or an id; ``>`` walks into submenus; a default that names
nothing falls back to entry 0. Fedora's GRUB (rhboot) matches ids and titles differently.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from fastreboot.boot.grub.parser import Node


@dataclass(frozen=True, slots=True)
class Item:
    """A menu entry or submenu as grub_normal_add_menu_entry records it."""

    title: str
    entry_id: str | None  # --id; GRUB matches the title where there is none
    args: tuple[str, ...]
    body: tuple[Node, ...]
    submenu: bool
    from_bls: bool = False  # made by blscfg
    version: str | None = None  # the BLS entry's version


def menuentry_eq(ident: str, spec: str, limit: int = -1, *, rhboot: bool = False) -> bool:
    """menu.c's menuentry_eq: ident equals spec up to its first ">" (">>" is a literal ">").
    rhboot's variant may stop at ``limit`` where spec has a blank."""
    i = j = 0
    while limit == -1 or i <= limit:
        s, c = spec[j : j + 1], ident[i : i + 1]
        if s == ">" and spec[j + 1 : j + 2] != ">":
            return not c and (j > 0 or not rhboot)
        if s == ">":
            j += 1
        if c != s:
            return rhboot and -1 < limit == i and not c and s.isspace() and i != 1
        if not c:
            return i > 0 or not rhboot
        i, j = i + 1, j + 1
    return False


def entry_number(menu: Sequence[Item], value: str | None, *, rhboot: bool) -> int | None:
    """menu.c's get_entry_number.  Upstream (Debian, Ubuntu…) takes a leading number ("1>2"
    is 1, so is "1abc"), else the first entry whose title or id matches.  Fedora/RHEL's
    GRUB (rhboot) tries every id, then every title, then a number that is the whole value."""
    if value is None:
        return None
    number, end = strtoul(value)
    if not rhboot:
        if number is not None:
            return number
        matches = (menuentry_eq(i.title, value) or menuentry_eq(item_id(i), value) for i in menu)
        return next((index for index, match in enumerate(matches) if match), None)
    word = len(re.split(r"\s", value, maxsplit=1)[0])
    for index, item in enumerate(menu):
        if menuentry_eq(item_id(item), value, word, rhboot=True):
            return index if word == len(value) else None
    for index, item in enumerate(menu):
        if menuentry_eq(item.title, value, rhboot=True):
            return index
    return number if end == len(value) else None


def item_id(item: Item) -> str:
    return item.entry_id if item.entry_id is not None else item.title


def path_rest(default: str | None) -> str | None:
    """What a submenu gets as its default: the text after the first ">" (not ">>")."""
    if default is None:
        return None
    i = 0
    while i < len(default):
        if default.startswith(">>", i):
            i += 2
        elif default[i] == ">":
            return default[i + 1 :] or None
        else:
            i += 1
    return None


def strtoul(value: str) -> tuple[int | None, int]:
    """grub_strtoul(value, &end, 0): (leading number or None, where it stopped).
    "0x" means hex, a leading "0" octal; blanks before the number are skipped."""
    i = len(value) - len(value.lstrip(" \t\n\r\f\v"))
    base = 10
    if value.startswith("0x", i):
        base, i = 16, i + 2
    elif value.startswith("0", i) and value[i + 1 : i + 2] in tuple("01234567"):
        base = 8
    start, digits = i, "0123456789abcdef"[:base]
    while i < len(value) and value[i].lower() in digits:
        i += 1
    return (int(value[start:i], base) if i > start else None), i


def strtosl(value: str) -> int:
    if value.startswith("-"):
        return -(strtoul(value[1:])[0] or 0)
    return strtoul(value)[0] or 0
