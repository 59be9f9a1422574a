"""Kernel command line rules: split, join and rewrite the line a kexec'd kernel gets.

Words follow the kernel's own parser (lib/cmdline.c next_arg()): blanks separate
words except inside double quotes, so ``foo="a b"`` is one word. Words after a
lone ``--`` belong to init; they are kept as they are and appended words go
before them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

# The bootloader adds these itself; passing them on would duplicate them.
_BOOTLOADER_KEYS = frozenset({"BOOT_IMAGE", "initrd"})
_BLANKS = " \t\n\r\v\f"


def split_cmdline(line: str) -> list[str]:
    """Words of a command line; double-quoted parts (even unterminated) stay in one word."""
    words: list[str] = []
    current: list[str] = []
    in_quote = False
    for ch in line:
        if ch in _BLANKS and not in_quote:
            if current:
                words.append("".join(current))
                current = []
            continue
        if ch == '"':
            in_quote = not in_quote
        current.append(ch)
    if current:
        words.append("".join(current))
    return words


def join_cmdline(words: Iterable[str]) -> str:
    return " ".join(words)


def cmdline_key(word: str) -> str:
    """The parameter name: text before the first '=', or the whole word; quotes dropped."""
    return word.partition("=")[0].strip('"')


def _matches(word: str, pattern: str) -> bool:
    """A pattern with '=' matches that exact word; without, every word with that key."""
    return word == pattern if "=" in pattern else cmdline_key(word) == pattern


def cmdline_has(words: Iterable[str], key: str) -> bool:
    """Whether a word has this key (or, for "key=value", is exactly that word)."""
    return any(_matches(word, key) for word in words)


def _split_init(words: list[str]) -> tuple[list[str], list[str]]:
    """Kernel words, and init's words from a lone "--" on (that "--" included)."""
    cut = words.index("--") if "--" in words else len(words)
    return words[:cut], words[cut:]


def build_cmdline(
    base: str, *, strip: Sequence[str] = (), remove: Sequence[str] = (), append: str = ""
) -> str:
    """The command line for the next kernel.

    Drops BOOT_IMAGE= and initrd= words, then words matched by ``strip`` or
    ``remove`` (by key, as KDUMP_COMMANDLINE_REMOVE does; a "key=value" entry
    drops only that exact word), then adds the words of ``append``: an appended
    key=value replaces every word with that key, an identical word is not repeated.
    """
    kernel, init = _split_init(split_cmdline(base))
    dropped = [*_BOOTLOADER_KEYS, *strip, *remove]
    kernel = [w for w in kernel if not any(_matches(w, pattern) for pattern in dropped)]
    added, added_init = _split_init(split_cmdline(append))
    if added_init:
        init = [*(init or ["--"]), *added_init[1:]]
    replaced = {cmdline_key(w) for w in added if "=" in w}
    kernel = [w for w in kernel if cmdline_key(w) not in replaced]
    for word in added:
        if word not in kernel:
            kernel.append(word)
    return join_cmdline([*kernel, *init])
