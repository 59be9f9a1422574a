"""Version ordering as dpkg and rpm define it, to pick the newest kernel like the distro does.

All comparisons return <0, 0 or >0 like C's strcmp (only the sign is meaningful).
"""

from __future__ import annotations

import functools


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


def rpm_evr_compare(a: str, b: str) -> int:
    """Compare two [epoch:]version[-release] strings as rpm orders packages."""
    epoch_a, version_a, release_a = _split_evr(a)
    epoch_b, version_b, release_b = _split_evr(b)
    if epoch_a != epoch_b:
        return 1 if epoch_a > epoch_b else -1
    return rpm_vercmp(version_a, version_b) or rpm_vercmp(release_a, release_b)


# Keys for sorted()/max(): sorted(names, key=version_sort_key) orders oldest first.
version_sort_key = functools.cmp_to_key(compare_versions)
rpm_sort_key = functools.cmp_to_key(rpm_evr_compare)
