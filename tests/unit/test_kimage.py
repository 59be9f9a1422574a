"""Kernel images built byte by byte after the documented headers, and a real one if present."""

from __future__ import annotations

import gzip
import platform
import struct
from pathlib import Path

import pytest

from fastreboot.boot.kimage import ImageKind, KernelImage, read_kernel_image
from fastreboot.boot.names import kernel_release
from fastreboot.errors import ImageError

DEBIAN_X86 = (
    "6.1.0-47-cloud-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC"
    " Debian 6.1.158-1 (2025-11-09)"
)
DEBIAN_ARM64 = (
    "6.1.0-47-arm64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14+deb12u1)"
    " 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP Debian 6.1.158-1 (2025-11-09)"
)


def bzimage(version: str | None, *, protocol: int = 0x020F, setup_sects: int = 27) -> bytes:
    """A bzImage head (Documentation/arch/x86/boot.rst) with the version in the setup code."""
    image = bytearray((setup_sects + 1) * 512 + 4096)
    image[0:2] = b"MZ"  # EFI-stub kernels are PE files too; the boot sector must win
    image[0x1F1] = setup_sects
    struct.pack_into("<I", image, 0x1F4, 4096 // 16)  # syssize: the protected-mode part
    image[0x1FE:0x200] = b"\x55\xaa"
    image[0x200:0x202] = b"\xeb\x66"
    image[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", image, 0x206, protocol)
    if version is not None:
        offset = 0x3000  # where x86 setup code keeps it: below 0x200 * setup_sects
        image[offset + 0x200 : offset + 0x200 + len(version) + 1] = version.encode() + b"\0"
        struct.pack_into("<H", image, 0x20E, offset)
    return bytes(image)


def image_header(magic_at_0x38: bytes) -> bytearray:
    """A 64-byte arm64/RISC-V Image header (Documentation/arch/*/booting.rst)."""
    header = bytearray(64)
    struct.pack_into("<Q", header, 8, 0)  # text_offset
    struct.pack_into("<Q", header, 16, 0x2000000)  # image_size
    header[0x38:0x3C] = magic_at_0x38
    return header


def arm64_image(banner: str | None, *, at: int = 0x10000, size: int = 0x20000) -> bytes:
    image = image_header(b"ARM\x64") + bytes(size - 64)
    if banner is not None:
        text = b"Linux version " + banner.encode() + b"\n\0"
        image[at : at + len(text)] = text
    return bytes(image[: max(size, at + 200)])


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_bzimage_version_and_protocol(tmp_path: Path) -> None:
    image = read_kernel_image(write(tmp_path, "vmlinuz", bzimage(DEBIAN_X86)))
    assert image == KernelImage(
        ImageKind.BZIMAGE, version="6.1.0-47-cloud-amd64", raw_version=DEBIAN_X86, protocol="2.15"
    )


def test_bzimage_without_version_pointer(tmp_path: Path) -> None:
    image = read_kernel_image(write(tmp_path, "vmlinuz", bzimage(None, protocol=0x020C)))
    assert image == KernelImage(ImageKind.BZIMAGE, protocol="2.12")


def test_bzimage_pointer_past_the_end_gives_no_version(tmp_path: Path) -> None:
    data = bytearray(bzimage(None))
    struct.pack_into("<H", data, 0x20E, 0xFF00)
    image = read_kernel_image(write(tmp_path, "vmlinuz", bytes(data)))
    assert image.kind is ImageKind.BZIMAGE and image.version is None


def test_truncated_bzimage(tmp_path: Path) -> None:
    path = write(tmp_path, "vmlinuz", bzimage(DEBIAN_X86)[:-1])
    with pytest.raises(ImageError, match=r"truncated bzImage: 18431 bytes, its header says 18432"):
        read_kernel_image(path)


def test_arm64_image_version_from_banner(tmp_path: Path) -> None:
    image = read_kernel_image(write(tmp_path, "Image", arm64_image(DEBIAN_ARM64)))
    assert image == KernelImage(ImageKind.ARM64, "6.1.0-47-arm64", DEBIAN_ARM64)


def test_arm64_banner_across_a_read_boundary(tmp_path: Path) -> None:
    data = arm64_image(DEBIAN_ARM64, at=(1 << 20) - 20, size=(1 << 20) + 4096)
    image = read_kernel_image(write(tmp_path, "Image", data))
    assert image.version == "6.1.0-47-arm64"


def test_arm64_image_without_banner(tmp_path: Path) -> None:
    image = read_kernel_image(write(tmp_path, "Image", arm64_image(None)))
    assert image == KernelImage(ImageKind.ARM64)


def test_gzipped_arm64_image_as_debian_installs_it(tmp_path: Path) -> None:
    data = gzip.compress(arm64_image(DEBIAN_ARM64, at=0x30000, size=0x40000))
    image = read_kernel_image(write(tmp_path, "vmlinuz-6.1.0-47-arm64", data))
    assert image == KernelImage(ImageKind.ARM64, "6.1.0-47-arm64", DEBIAN_ARM64, compression="gzip")


def test_riscv_image(tmp_path: Path) -> None:
    header = image_header(b"RSC\x05")
    header[0x30:0x38] = b"RISCV\0\0\0"
    banner = b"Linux version 6.6.0-riscv64 (builder) #1 SMP\n"
    image = read_kernel_image(write(tmp_path, "Image", bytes(header) + bytes(100) + banner))
    assert image.kind is ImageKind.RISCV64 and image.version == "6.6.0-riscv64"


def test_efi_zboot_has_no_readable_version(tmp_path: Path) -> None:
    # zboot-header.S: "MZ", "zimg", payload offset and size, reserved, compression type.
    head = bytearray(0x1000)
    head[0:4] = b"MZ\0\0"
    head[4:8] = b"zimg"
    struct.pack_into("<II", head, 8, 0x1000, 0x800000)
    head[0x18:0x1D] = b"zstd\0"
    image = read_kernel_image(write(tmp_path, "vmlinuz", bytes(head)))
    assert image == KernelImage(ImageKind.EFI_ZBOOT, compression="zstd")


def test_elf_vmlinux(tmp_path: Path) -> None:
    data = b"\x7fELF\x02\x01\x01" + bytes(500) + b"Linux version " + DEBIAN_X86.encode() + b"\n\0"
    image = read_kernel_image(write(tmp_path, "vmlinux-6.1.0-47-cloud-amd64", data))
    assert image == KernelImage(ImageKind.ELF, "6.1.0-47-cloud-amd64", DEBIAN_X86)


@pytest.mark.parametrize(
    ("data", "compression"),
    [(b"MZ\x90\0" + bytes(200), None), (b"\xfd7zXZ\0" + bytes(200), "xz")],
)
def test_pe_and_compressed_data_are_unknown(tmp_path: Path, data: bytes, compression: str) -> None:
    image = read_kernel_image(write(tmp_path, "kernel.efi", data))
    assert image == KernelImage(ImageKind.UNKNOWN, compression=compression)


@pytest.mark.parametrize(
    ("data", "found"),
    [
        (b"", "the file is empty"),
        (b"\x55\xaa" * 10, "only 20 bytes"),
        (bytes(4096), "only zero bytes"),
        (b"#!/bin/sh\necho not a kernel\n" * 10, "found text"),
        (b"070701" + bytes(200), "cpio archive"),
        (gzip.compress(b"070701" + bytes(200)), "gzip-compressed cpio archive"),
        (b"\x7fELF\x02\x01\x01" + bytes(500), "ELF file without a Linux version banner"),
        (b"\x89PNG\r\n\x1a\n" + bytes(200), "unrecognised data starting 89 50 4e 47"),
    ],
)
def test_not_a_kernel_says_what_was_found(tmp_path: Path, data: bytes, found: str) -> None:
    path = write(tmp_path, "vmlinuz", data)
    with pytest.raises(ImageError, match=f"^{path}: not a kernel image: .*{found}"):
        read_kernel_image(path)


def test_missing_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="no such file"):
        read_kernel_image(tmp_path / "vmlinuz")
    with pytest.raises(ImageError, match="is a directory"):
        read_kernel_image(tmp_path)


def _host_kernels() -> list[Path]:
    return sorted(p for p in Path("/boot").glob("vmlinuz-*") if kernel_release(p.name))


@pytest.mark.skipif(not _host_kernels(), reason="no /boot/vmlinuz-* on this host")
def test_real_kernel_on_this_host() -> None:
    readable = [p for p in _host_kernels() if p.stat().st_mode & 0o004]
    if not readable:
        pytest.skip("/boot/vmlinuz-* is not readable by this user")
    path = readable[-1]
    image = read_kernel_image(path)
    assert image.kind is not ImageKind.UNKNOWN
    if platform.machine() == "x86_64":
        assert image.kind is ImageKind.BZIMAGE
        assert image.protocol is not None
        assert tuple(map(int, image.protocol.split("."))) >= (2, 10)
    if image.version is not None:
        assert image.version == kernel_release(path.name)
