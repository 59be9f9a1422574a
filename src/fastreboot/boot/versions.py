"""Version ordering, each as the tool that decides it defines it: dpkg (the newest kernel
in /boot), rpm (GRUB's blscfg menu order) and the UAPI Version Format (systemd-boot).

All comparisons return <0, 0 or >0 like C's strcmp (only the sign is meaningful).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _is_digit(ch: str) -> bool:
    return ch != "" and ch in "0123456789"


def _digits_end(s: str, i: int) -> int:
    """Where the run of digits starting at s[i] ends (i itself when there is none)."""
    while i < len(s) and _is_digit(s[i]):
        i += 1
    return i


def _dpkg_order(ch: str) -> int:
    """dpkg's weight of one non-digit character ('' is the end of the string)."""
    if ch == "~":
        return -1
    if ch == "" or _is_digit(ch):
        return 0
    if ch.isascii() and ch.isalpha():
        return ord(ch)
    return ord(ch) + 256


def _numeric_cmp(x: str, y: str) -> int:
    """Compare digit strings by value, without int() limits on their length."""
    x, y = x.lstrip("0"), y.lstrip("0")
    return (len(x) > len(y)) - (len(x) < len(y)) or (x > y) - (x < y)


def _dpkg_verrevcmp(a: str, b: str) -> int:
    """dpkg's verrevcmp(): alternate non-digit runs (by weight) and digit runs (by value)."""
    i = j = 0
    while i < len(a) or j < len(b):
        while (i < len(a) and not _is_digit(a[i])) or (j < len(b) and not _is_digit(b[j])):
            diff = _dpkg_order(a[i : i + 1]) - _dpkg_order(b[j : j + 1])
            if diff:
                return diff
            i += 1
            j += 1
        end_a, end_b = _digits_end(a, i), _digits_end(b, j)
        diff = _numeric_cmp(a[i:end_a], b[j:end_b])
        if diff:
            return diff
        i, j = end_a, end_b
    return 0


def _split_evr(version: str) -> tuple[int, str, str]:
    """(epoch, version, revision) of "[epoch:]version[-revision]", as dpkg and rpm split it:
    a non-numeric prefix before ':' is not an epoch; the revision follows the last '-'."""
    epoch, colon, rest = version.partition(":")
    if not colon or not epoch.isdigit():
        epoch, rest = "0", version
    upstream, dash, revision = rest.rpartition("-")
    if not dash:
        upstream, revision = rest, ""
    return int(epoch), upstream, revision


def compare_versions(a: str, b: str) -> int:
    """Compare like `dpkg --compare-versions`: epoch, then upstream, then revision."""
    epoch_a, upstream_a, revision_a = _split_evr(a.strip())
    epoch_b, upstream_b, revision_b = _split_evr(b.strip())
    if epoch_a != epoch_b:
        return epoch_a - epoch_b
    return _dpkg_verrevcmp(upstream_a, upstream_b) or _dpkg_verrevcmp(revision_a, revision_b)


def _ascii_alnum(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def rpm_vercmp(a: str, b: str) -> int:
    """rpm's rpmvercmp() for one version or release string, including '~' and '^'.

    Returns -1, 0 or 1.
    """
    if a == b:
        return 0
    i = j = 0
    while i < len(a) or j < len(b):
        # Separators (anything but ASCII letters, digits, ~ and ^) only split segments.
        while i < len(a) and not _ascii_alnum(a[i]) and a[i] not in "~^":
            i += 1
        while j < len(b) and not _ascii_alnum(b[j]) and b[j] not in "~^":
            j += 1
        ca, cb = a[i : i + 1], b[j : j + 1]
        if "~" in (ca, cb):  # tilde sorts before everything, even the end
            if ca != "~":
                return 1
            if cb != "~":
                return -1
            i, j = i + 1, j + 1
            continue
        if "^" in (ca, cb):  # caret sorts after the end but before anything else
            if not ca:
                return -1
            if not cb:
                return 1
            if ca != "^":
                return 1
            if cb != "^":
                return -1
            i, j = i + 1, j + 1
            continue
        if not (ca and cb):
            break
        kind = str.isdigit if ca.isdigit() else str.isalpha
        end_a, end_b = i, j
        while end_a < len(a) and a[end_a].isascii() and kind(a[end_a]):
            end_a += 1
        while end_b < len(b) and b[end_b].isascii() and kind(b[end_b]):
            end_b += 1
        seg_a, seg_b = a[i:end_a], b[j:end_b]
        if not seg_b:  # numeric segments are newer than alphabetic ones
            return 1 if kind is str.isdigit else -1
        if kind is str.isdigit:
            diff = _numeric_cmp(seg_a, seg_b)
        else:
            diff = (seg_a > seg_b) - (seg_a < seg_b)
        if diff:
            return diff
        i, j = end_a, end_b
    if i >= len(a) and j >= len(b):
        return 0
    return -1 if i >= len(a) else 1


def uapi_compare(a: str | None, b: str | None) -> int:
    """-1, 0 or 1 as the UAPI Version Format Specification orders a and b.

    A port of systemd's strverscmp_improved(), which systemd-boot sorts with.
    """
    a, b = a or "", b or ""
    i = j = 0
    while True:
        while i < len(a) and not _is_version_char(a[i]):
            i += 1
        while j < len(b) and not _is_version_char(b[j]):
            j += 1
        ca, cb = _at(a, i), _at(b, j)
        if "~" in (ca, cb):  # pre-release: older
            if (ca == "~") != (cb == "~"):
                return -1 if ca == "~" else 1
            i, j = i + 1, j + 1
            ca, cb = _at(a, i), _at(b, j)
        if not ca or not cb:
            return _cmp(ca, cb)
        for sep in "-^.":  # each sorts lower than anything but itself
            if sep in (ca, cb):
                if (ca == sep) != (cb == sep):
                    return -1 if ca == sep else 1
                i, j = i + 1, j + 1
                ca, cb = _at(a, i), _at(b, j)
        if _is_digit(ca) or _is_digit(cb):
            ei, ej = _span(a, i, _is_digit), _span(b, j, _is_digit)
            if (ei > i) != (ej > j):  # numbers are newer than letters
                return 1 if ei > i else -1
            na, nb = a[i:ei].lstrip("0"), b[j:ej].lstrip("0")
            r = _cmp(len(na), len(nb)) or _cmp(na, nb)
        else:
            ei, ej = _span(a, i, _is_alpha), _span(b, j, _is_alpha)
            sa, sb = a[i:ei], b[j:ej]
            n = min(len(sa), len(sb))
            r = _cmp(sa[:n], sb[:n]) or _cmp(len(sa), len(sb))
        if r:
            return r
        i, j = ei, ej


def _is_version_char(c: str) -> bool:
    return c.isascii() and (c.isalnum() or c in "~-^.")


def _is_alpha(c: str) -> bool:
    return c.isascii() and c.isalpha()


def _at(s: str, i: int) -> str:
    return s[i] if i < len(s) else ""


def _span(s: str, i: int, test: Callable[[str], bool]) -> int:
    while i < len(s) and test(s[i]):
        i += 1
    return i


def _cmp(a: Any, b: Any) -> int:
    return int(a > b) - int(a < b)
