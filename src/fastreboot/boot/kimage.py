"""Identify a kernel image and read its release from the file itself, never running it.

Layouts: x86 bzImage (Documentation/arch/x86/boot.rst), arm64 and RISC-V Image
headers (Documentation/arch/{arm64,riscv}/booting.rst), EFI zboot
(drivers/firmware/efi/libstub/zboot-header.S), ELF vmlinux, and gzip-compressed
Image files as Debian and Ubuntu install them on arm64.
"""

from __future__ import annotations

import enum
import itertools
import os
import re
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from fastreboot.errors import ImageError

# bzImage's kernel_version pointer is 16 bits (+0x200): its string lies in this head.
_HEAD_SIZE = 0x10200 + 0x200
_CHUNK = 1 << 20
# Caps bytes read and decompressed when scanning for the banner (gzip bombs).
_SCAN_LIMIT = 256 << 20
# init/version.c's linux_banner: "Linux version <release> (<builder>) ...\n".
_BANNER = re.compile(rb"Linux version (\d[^\x00\n]{0,400})")
_BANNER_OVERLAP = 512

_COMPRESSED_MAGIC = {
    b"\x1f\x8b": "gzip",
    b"\xfd7zXZ\x00": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
    b"BZh": "bzip2",
    b"\x02\x21\x4c\x18": "lz4",
    b"\x89LZO": "lzo",
    b"\x5d\x00\x00": "lzma",
}
_CPIO_MAGIC = (b"070701", b"070702", b"070707")


class ImageKind(enum.StrEnum):
    BZIMAGE = "bzImage"
    ARM64 = "arm64-image"
    RISCV64 = "riscv-image"
    EFI_ZBOOT = "efi-zboot"
    ELF = "elf"
    UNKNOWN = "unknown"  # an EFI executable or compressed data that cannot be told apart


@dataclass(frozen=True, slots=True)
class KernelImage:
    """What a kernel file says about itself.

    ``version`` is the release (first word of the version string, as ``uname -r``
    prints it), ``raw_version`` the whole string, ``protocol`` the x86 boot
    protocol ("2.15"), ``compression`` the format the image is wrapped in.
    """

    kind: ImageKind
    version: str | None = None
    raw_version: str | None = None
    protocol: str | None = None
    compression: str | None = None


def _identify(head: bytes) -> ImageKind | None:
    if head[0x1FE:0x200] == b"\x55\xaa" and head[0x202:0x206] == b"HdrS":
        return ImageKind.BZIMAGE
    if head[:2] == b"MZ" and head[4:8] == b"zimg":
        return ImageKind.EFI_ZBOOT
    if head[0x38:0x3C] == b"ARM\x64":
        return ImageKind.ARM64
    if head[0x38:0x3C] == b"RSC\x05":
        return ImageKind.RISCV64
    if head[:4] == b"\x7fELF":
        return ImageKind.ELF
    return None


def _release(raw: str | None) -> str | None:
    return raw.split()[0] if raw and raw.split() else None


def _c_string(data: bytes, start: int) -> str | None:
    end = data.find(b"\0", start)
    if start >= len(data) or end < 0:
        return None
    return data[start:end].decode("ascii", "replace").strip() or None


def _bzimage(path: Path, head: bytes, size: int) -> KernelImage:
    protocol = struct.unpack_from("<H", head, 0x206)[0]
    if protocol >= 0x0204:  # syssize is 32 bits wide from 2.04 on
        setup_sects = head[0x1F1] or 4
        expected = (setup_sects + 1) * 512 + struct.unpack_from("<I", head, 0x1F4)[0] * 16
        if size < expected:
            raise ImageError(f"{path}: truncated bzImage: {size} bytes, its header says {expected}")
    pointer = struct.unpack_from("<H", head, 0x20E)[0] if len(head) >= 0x210 else 0
    raw = _c_string(head, pointer + 0x200) if pointer else None
    return KernelImage(
        ImageKind.BZIMAGE,
        version=_release(raw),
        raw_version=raw,
        protocol=f"{protocol >> 8}.{protocol & 0xFF:02d}",
    )


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    total = 0
    while total < _SCAN_LIMIT and (chunk := stream.read(_CHUNK)):
        total += len(chunk)
        yield chunk


def _gunzip(stream: BinaryIO) -> Iterator[bytes]:
    """Decompressed chunks of a gzip stream, _SCAN_LIMIT bytes at most; stops at bad data."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    total = 0
    for compressed in _chunks(stream):
        pending = compressed
        while pending and total < _SCAN_LIMIT and not inflater.eof:
            try:
                out = inflater.decompress(pending, _CHUNK)
            except zlib.error:
                return
            pending = inflater.unconsumed_tail
            total += len(out)
            yield out
        if inflater.eof or total >= _SCAN_LIMIT:
            return


def _banner(chunks: Iterable[bytes]) -> str | None:
    """The version string after "Linux version " in an uncompressed image, or None."""
    data = b""
    for chunk in chunks:
        data = data[-_BANNER_OVERLAP:] + chunk
        found = _BANNER.search(data)
        if found and found.end() < len(data):  # else the string may go on in the next chunk
            return found.group(1).decode("ascii", "replace").strip()
    found = _BANNER.search(data)
    return found.group(1).decode("ascii", "replace").strip() if found else None


def _gzipped(stream: BinaryIO) -> KernelImage | None:
    """The arm64/RISC-V Image in a gzip stream, or None for a gzipped cpio (an initramfs)."""
    chunks = _gunzip(stream)
    inner = b""
    while len(inner) < 0x40 and (chunk := next(chunks, None)) is not None:
        inner += chunk
    kind = _identify(inner)
    if kind in (ImageKind.ARM64, ImageKind.RISCV64):
        raw = _banner(itertools.chain([inner], chunks))
        return KernelImage(kind, _release(raw), raw, compression="gzip")
    if inner.startswith(_CPIO_MAGIC):
        return None
    return KernelImage(ImageKind.UNKNOWN, compression="gzip")


def _describe(head: bytes) -> str:
    """What a file that is not a kernel image holds, for the error message."""
    if not head:
        return "the file is empty"
    if head.startswith(_CPIO_MAGIC):
        return "found a cpio archive (an initramfs?)"
    if head.startswith(b"\x1f\x8b"):
        return "found a gzip-compressed cpio archive (an initramfs?)"
    if head.startswith(b"\x7fELF"):
        return "found an ELF file without a Linux version banner"
    if len(head) < 0x40:
        return f"only {len(head)} bytes, too short for any kernel header"
    if not head.strip(b"\0"):
        return "found only zero bytes"
    if head[:512].isascii() and b"\0" not in head[:512]:
        return "found text"
    return f"found unrecognised data starting {head[:8].hex(' ')}"


def _read(path: Path, stream: BinaryIO) -> KernelImage | None:
    head = stream.read(_HEAD_SIZE)
    kind = _identify(head)
    compression = next((n for m, n in _COMPRESSED_MAGIC.items() if head.startswith(m)), None)
    if kind is ImageKind.BZIMAGE:
        return _bzimage(path, head, os.fstat(stream.fileno()).st_size)
    if kind is ImageKind.EFI_ZBOOT:  # the payload is compressed: no version without unpacking
        return KernelImage(kind, compression=_c_string(head, 0x18))
    if kind is not None:
        stream.seek(0)
        raw = _banner(_chunks(stream))
        if kind is ImageKind.ELF and raw is None:
            raise ImageError(f"{path}: not a kernel image: {_describe(head)}")
        return KernelImage(kind, version=_release(raw), raw_version=raw)
    if compression == "gzip":
        stream.seek(0)
        return _gzipped(stream)
    if compression is not None or head[:2] == b"MZ":
        return KernelImage(ImageKind.UNKNOWN, compression=compression)
    raise ImageError(f"{path}: not a kernel image: {_describe(head)}")


def read_kernel_image(path: Path) -> KernelImage:
    """Identify the kernel image at ``path`` from its headers.

    Raises ImageError when the file is missing, unreadable or not a kernel image.
    EFI executables and compressed data that might hold one (a UKI, an xz stream)
    come back as ImageKind.UNKNOWN.
    """
    try:
        with path.open("rb") as stream:
            image = _read(path, stream)
            if image is None:
                stream.seek(0)
                raise ImageError(f"{path}: not a kernel image: {_describe(stream.read(64))}")
            return image
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{path}: is a directory, not a kernel image") from None
    except OSError as exc:
        raise ImageError(f"{path}: cannot read: {exc.strerror}") from exc
