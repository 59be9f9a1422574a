"""Version ordering against dpkg and rpm's own results."""

from __future__ import annotations

import functools

import pytest

from fastreboot.boot.versions import compare_versions, rpm_vercmp

version_sort_key = functools.cmp_to_key(compare_versions)
rpm_sort_key = functools.cmp_to_key(rpm_vercmp)

# (a, relation, b) as `dpkg --compare-versions a lt|eq|gt b` (dpkg 1.21.22, Debian 12) answers.
DPKG_VECTORS = [
    ("1.0", "lt", "1.0-1"),
    ("1.0", "eq", "1.0-0"),
    ("1:0.9", "gt", "1.0"),
    ("0:1.0", "eq", "1.0"),
    ("1.0~rc1", "lt", "1.0"),
    ("1.0~~", "lt", "1.0~"),
    ("1.0~", "lt", "1.0"),
    ("1.0~rc1", "gt", "1.0~~"),
    ("1.0+b1", "gt", "1.0"),
    ("1.0a", "lt", "1.0+b1"),
    ("1.0", "lt", "1.0a"),
    ("1.0.1", "gt", "1.0a"),
    ("1.00", "eq", "1.0"),
    ("1.002", "eq", "1.2"),
    ("1.0-1ubuntu1", "gt", "1.0-1"),
    ("6.1.0-9-cloud-amd64", "lt", "6.1.0-10-amd64"),
    ("6.1.0-10-amd64", "lt", "6.1.0-10-cloud-amd64"),
    ("6.1.0-47-cloud-amd64", "gt", "6.1.0-47-amd64"),
    ("6.1.0-rc7-amd64", "gt", "6.1.0-9-cloud-amd64"),
    ("6.12.9+bpo-amd64", "gt", "6.1.0-47-amd64"),
    ("5.10.0-0.deb10.16-amd64", "lt", "5.10.0-28-amd64"),
    ("4.19.0-27-amd64", "lt", "5.10.0-28-amd64"),
    ("2.0.25-3", "lt", "2.0.25-3+deb12u3"),
    ("2.0.25-3+b1", "lt", "2.0.25-3+deb12u3"),
    ("1.2.3-a~b", "lt", "1.2.3-a"),
    ("1.2.3-a+b", "lt", "1.2.3-a.b"),
    ("10", "gt", "9"),
    ("a", "gt", "A"),
    ("1.0.", "gt", "1.0"),
    ("1:1.0", "lt", "2:0.1"),
    ("1.0-10", "gt", "1.0-9"),
    ("3.10-1", "gt", "3.9-1"),
    ("1.0-1~bpo1", "lt", "1.0-1"),
    ("1.0-1+deb12u1", "gt", "1.0-1"),
    ("0.0", "gt", "0"),
    ("1.0-a", "gt", "1.0-A"),
    ("1.0-.", "gt", "1.0-+"),
    ("1.0-a", "lt", "1.0-."),
    ("1.0", "lt", "1.0.0"),
    ("1:2.0.25-3+deb12u3", "gt", "2.0.26"),
    ("6.1.0-47-amd64", "eq", "6.1.0-47-amd64"),
    ("1.0~rc1-1", "lt", "1.0-0~"),
    ("0.9+really1.0", "lt", "1.0~"),
    ("99999999999999999999999", "lt", "100000000000000000000000"),
]


@pytest.mark.parametrize(("a", "relation", "b"), DPKG_VECTORS)
def test_compare_versions_agrees_with_dpkg(a: str, relation: str, b: str) -> None:
    sign = {"lt": -1, "eq": 0, "gt": 1}[relation]
    assert (compare_versions(a, b) > 0) - (compare_versions(a, b) < 0) == sign
    assert (compare_versions(b, a) > 0) - (compare_versions(b, a) < 0) == -sign


def test_debian_kernel_releases_sort_like_dpkg() -> None:
    releases = [
        "6.1.0-47-cloud-amd64",
        "5.10.0-28-amd64",
        "6.1.0-9-amd64",
        "6.1.0-10-amd64",
        "6.12.9+bpo-amd64",
        "6.1.0-rc7-amd64",
        "6.1.0-47-amd64",
        "4.19.0-27-amd64",
        "6.1.0-0.deb11.17-amd64",
        "6.1.0-10-cloud-amd64",
    ]
    # The order dpkg gives; note that dpkg puts "-rc7" after "-47" (letters beat digits).
    assert sorted(releases, key=version_sort_key) == [
        "4.19.0-27-amd64",
        "5.10.0-28-amd64",
        "6.1.0-0.deb11.17-amd64",
        "6.1.0-9-amd64",
        "6.1.0-10-amd64",
        "6.1.0-10-cloud-amd64",
        "6.1.0-47-amd64",
        "6.1.0-47-cloud-amd64",
        "6.1.0-rc7-amd64",
        "6.12.9+bpo-amd64",
    ]
    assert max(releases, key=version_sort_key) == "6.12.9+bpo-amd64"


# (a, b, rpmvercmp(a, b)) from rpm's test suite (tests/rpmvercmp.at), caret cases included.
RPM_VECTORS = [
    ("1.0", "1.0", 0),
    ("1.0", "2.0", -1),
    ("2.0.1", "2.0", 1),
    ("2.0.1a", "2.0.1", 1),
    ("5.5p1", "5.5p10", -1),
    ("10xyz", "10.1xyz", -1),
    ("xyz10.1", "xyz10", 1),
    ("xyz.4", "8", -1),
    ("2", "xyz.4", 1),
    ("6.0.rc1", "6.0", 1),
    ("10b2", "10a1", 1),
    ("1.0a", "1.0aa", -1),
    ("10.0001", "10.1", 0),
    ("10.0001", "10.0039", -1),
    ("4.999.9", "5.0", -1),
    ("20101122", "20101121", 1),
    ("2.0", "2_0", 0),
    ("a+", "a_", 0),
    ("_+", "_", 0),
    ("+", "_", 0),
    ("1.0~rc1", "1.0", -1),
    ("1.0~rc1", "1.0~rc2", -1),
    ("1.0~rc1~git123", "1.0~rc1", -1),
    ("1.0^", "1.0", 1),
    ("1.0^git1", "1.0^git2", -1),
    ("1.0^git1", "1.01", -1),
    ("1.0^20160101", "1.0.1", -1),
    ("1.0^20160102", "1.0^20160101^git1", 1),
    ("1.0~rc1^git1", "1.0~rc1", 1),
    ("1.0^git1~pre", "1.0^git1", -1),
]


@pytest.mark.parametrize(("a", "b", "expected"), RPM_VECTORS)
def test_rpm_vercmp_agrees_with_rpm(a: str, b: str, expected: int) -> None:
    assert rpm_vercmp(a, b) == expected
    assert rpm_vercmp(b, a) == -expected


def test_rhel_kernel_releases_sort_like_rpm() -> None:
    releases = [
        "5.14.0-427.13.1.el9_4.x86_64",
        "5.14.0-70.13.1.el9_0.x86_64",
        "5.14.0-503.11.1.el9_5.x86_64",
        "5.14.0-427.el9.x86_64",
    ]
    assert sorted(releases, key=rpm_sort_key) == [
        "5.14.0-70.13.1.el9_0.x86_64",
        "5.14.0-427.el9.x86_64",
        "5.14.0-427.13.1.el9_4.x86_64",
        "5.14.0-503.11.1.el9_5.x86_64",
    ]
