"""What GRUB would boot: grub.cfg run by a small interpreter, its menu read as GRUB reads it.

The modules, in the order GRUB uses them: grubenv (the environment block), lexer and parser
(GRUB script), interpreter (running the script and the menu entries' bodies), menu (which
entry ``default`` names).
"""

from __future__ import annotations

from dataclasses import dataclass

from fastreboot.boot.entry import BootEntry
from fastreboot.boot.grub.grubenv import read_grubenv
from fastreboot.boot.grub.interpreter import Grub
from fastreboot.boot.locate import find_grub_cfg
from fastreboot.sysroot import SysRoot

__all__ = ["GrubSelection", "grub_selection", "read_grubenv"]


@dataclass(frozen=True, slots=True)
class GrubSelection:
    """What GRUB would boot and every kernel entry of its menu."""

    default: BootEntry | None  # what GRUB would boot (source=Source.GRUB), None if no entry
    entries: tuple[BootEntry, ...]  # every kernel entry in menu order, "Submenu>Entry" titles
    via: str  # how: "default=0", "saved_entry", "next_entry", "fallback-to-0", "blscfg:…"
    next_entry: str | None  # the one-shot value that was consumed, if any
    config_files: tuple[str, ...]  # target paths read (grub.cfg, grubenv, BLS entries)


def grub_selection(root: SysRoot, cfg: str | None = None) -> GrubSelection | None:
    """Run grub.cfg (``cfg`` if already found) like GRUB at boot; None when there is none."""
    cfg = cfg or find_grub_cfg(root)
    if cfg is None:
        return None
    grub = Grub(root)
    ctx = grub.run_config(cfg)
    entries = tuple(grub.kernel_entries(ctx))
    default_entry, fell_back, from_bls = grub.default_entry(ctx)
    origin = ctx.origin.get("default")
    value = ctx.vars.get("default")
    via = origin or ("first-entry" if value is None else f"default={value}")
    if fell_back:
        via = "fallback-to-0"
    if from_bls:
        via = f"blscfg:{via}"
    next_entry = grub.grubenv.get("next_entry") if origin == "next_entry" else None
    return GrubSelection(default_entry, entries, via, next_entry, tuple(grub.files))
