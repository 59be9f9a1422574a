"""File-name rules for kernels and initrds."""

from __future__ import annotations

import pytest

from fastreboot.boot.names import initrd_version, kernel_release, kernel_version


@pytest.mark.parametrize(
    ("name", "version"),
    [
        ("vmlinuz-6.1.0-47-cloud-amd64", "6.1.0-47-cloud-amd64"),
        ("vmlinux-6.1.0-47-amd64", "6.1.0-47-amd64"),
        ("Image-6.6.0-rc3", "6.6.0-rc3"),
        ("kernel-5.15.0-gentoo", "5.15.0-gentoo"),
        ("vmlinuz-5.14.0-427.13.1.el9_4.x86_64", "5.14.0-427.13.1.el9_4.x86_64"),
        ("vmlinuz", None),
        ("vmlinuz.old", None),
        ("initrd.img-6.1.0-47-amd64", None),
        ("config-6.1.0-47-amd64", None),
        ("vmlinuz-0-rescue-3f2a1b0c9d8e4f7a", None),
        ("vmlinuz-6.1.0-47-amd64.old", None),
        ("vmlinuz-6.1.0-47-amd64.dpkg-bak", None),
        ("vmlinuz-6.1.0-47-amd64.sig", None),
        ("myvmlinuz-6.1.0", None),
        ("kernel-genkernel-x86_64-5.15.0", None),
    ],
)
def test_kernel_release_from_the_file_name(name: str, version: str | None) -> None:
    assert kernel_release(name) == version


@pytest.mark.parametrize(
    ("name", "version"),
    [
        ("vmlinuz-linux", "linux"),  # Arch: paired with initramfs-linux.img, not a release
        ("vmlinuz-6.1.0-47-amd64", "6.1.0-47-amd64"),
        ("vmlinuz-0-rescue-3f2a1b0c9d8e4f7a", None),
        ("vmlinuz-6.1.0-47-amd64.dpkg-bak", None),
        ("vmlinuz-5.14.0-427.el9.x86_64kdump", None),
    ],
)
def test_kernel_version_names_what_pairs_the_initrd(name: str, version: str | None) -> None:
    assert kernel_version(name) == version
    assert kernel_release(name) == (version if version and version[0].isdigit() else None)


@pytest.mark.parametrize(
    ("name", "version"),
    [
        ("initrd.img-6.1.0-47-amd64", "6.1.0-47-amd64"),
        ("initramfs-5.14.0-427.el9.x86_64.img", "5.14.0-427.el9.x86_64"),
        ("initramfs-5.14.0-427.el9.x86_64kdump.img", None),
        ("initrd-6.9.1-arch1-1", "6.9.1-arch1-1"),
        ("intel-ucode.img", None),
        ("amd-ucode-20240101.img", None),
        ("vmlinuz-6.1.0-47-amd64", None),
    ],
)
def test_initrd_version(name: str, version: str | None) -> None:
    assert initrd_version(name) == version
