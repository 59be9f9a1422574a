"""Direct system calls through ctypes: kexec_file_load, kexec_load (unload only), reboot.

Errors come back as KexecError/RebootError with a readable cause: the kernel's errno
values mean different things for kexec (EPERM under lockdown, EKEYREJECTED for a bad
signature), and an administrator should not have to know that.
"""

from __future__ import annotations

import ctypes
import errno
import os

from fastreboot.errors import KexecError, RebootError

# System call numbers by architecture (asm/unistd.h).
_SYS_KEXEC_FILE_LOAD = {"x86_64": 320, "aarch64": 294}
_SYS_KEXEC_LOAD = {"x86_64": 246, "aarch64": 104}

KEXEC_FILE_UNLOAD = 0x1
KEXEC_FILE_ON_CRASH = 0x2
KEXEC_FILE_NO_INITRAMFS = 0x4
KEXEC_ON_CRASH = 0x1
LINUX_REBOOT_CMD_KEXEC = 0x45584543


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _number(table: dict[str, int], name: str) -> int:
    machine = os.uname().machine
    if machine not in table:
        raise KexecError(
            f"{name} is not supported on {machine} by fastreboot", hint="use kexec-tools"
        )
    return table[machine]


def explain_kexec_errno(err: int, *, lockdown: str | None = None) -> str:
    """A sentence an administrator can act on, for an errno returned by kexec_*load."""
    if err == errno.EPERM:
        if lockdown and lockdown != "none":
            return (
                f"refused by kernel lockdown ({lockdown}): only kernels with a signature "
                "the running kernel trusts can be loaded, and kexec_load is disabled"
            )
        return (
            "operation not permitted: needs CAP_SYS_BOOT, and kexec must not be disabled "
            "(kernel.kexec_load_disabled=1) or restricted by kernel lockdown"
        )
    if err == errno.EKEYREJECTED:
        return "the kernel image's signature was rejected by the running kernel"
    if err == errno.ENOEXEC:
        return "the running kernel does not accept this image format (not a bootable kernel?)"
    if err == errno.EBUSY:
        return "another kexec operation is in progress"
    if err == errno.ENOSYS:
        return "the running kernel has no support for this kexec interface"
    if err == errno.EINVAL:
        return "the kernel rejected the arguments (corrupt image or command line too long?)"
    if err == errno.ENOMEM:
        return "not enough memory to load the image (or no crashkernel= reservation)"
    return os.strerror(err)


def kexec_file_load(
    kernel_fd: int, initrd_fd: int | None, cmdline: str, *, crash: bool = False
) -> None:
    flags = KEXEC_FILE_ON_CRASH if crash else 0
    if initrd_fd is None:
        flags |= KEXEC_FILE_NO_INITRAMFS
    data = cmdline.encode() + b"\0"
    result = _libc().syscall(
        _number(_SYS_KEXEC_FILE_LOAD, "kexec_file_load"),
        ctypes.c_int(kernel_fd),
        ctypes.c_int(-1 if initrd_fd is None else initrd_fd),
        ctypes.c_ulong(len(data)),
        ctypes.c_char_p(data),
        ctypes.c_ulong(flags),
    )
    if result != 0:
        raise OSError(ctypes.get_errno(), "kexec_file_load")


def kexec_unload(*, crash: bool = False) -> None:
    """Unload through kexec_file_load, which lockdown allows; kexec_load where it is missing."""
    flags = KEXEC_FILE_UNLOAD | (KEXEC_FILE_ON_CRASH if crash else 0)
    libc = _libc()
    result = libc.syscall(
        _number(_SYS_KEXEC_FILE_LOAD, "kexec_file_load"),
        ctypes.c_int(-1),
        ctypes.c_int(-1),
        ctypes.c_ulong(0),
        ctypes.c_char_p(None),
        ctypes.c_ulong(flags),
    )
    if result == 0:
        return
    err = ctypes.get_errno()
    if err == errno.ENOSYS:
        result = libc.syscall(
            _number(_SYS_KEXEC_LOAD, "kexec_load"),
            ctypes.c_ulong(0),
            ctypes.c_ulong(0),
            ctypes.c_void_p(None),
            ctypes.c_ulong(KEXEC_ON_CRASH if crash else 0),
        )
        if result == 0:
            return
        err = ctypes.get_errno()
    raise KexecError(f"cannot unload the kexec kernel: {explain_kexec_errno(err)}")


def reboot_into_loaded_kernel() -> None:
    """reboot(LINUX_REBOOT_CMD_KEXEC): jump now. Returns only on failure."""
    result = _libc().reboot(ctypes.c_int(LINUX_REBOOT_CMD_KEXEC))
    if result != 0:
        err = ctypes.get_errno()
        raise RebootError(f"reboot(LINUX_REBOOT_CMD_KEXEC) failed: {os.strerror(err)}")


def memfd_with(data_files: list[str]) -> int:
    """A sealed-in-memory file holding the concatenation of ``data_files`` (several initrds).

    The kernel accepts concatenated cpio archives, which is how GRUB passes several initrds.
    """
    fd = os.memfd_create("fastreboot-initrd", os.MFD_CLOEXEC)
    size = 0
    for path in data_files:
        if size % 4:  # GRUB aligns each image to 4 bytes; so must we, or cpio parsing stops
            size += os.write(fd, b"\0" * (4 - size % 4))
        with open(path, "rb") as source:
            while chunk := source.read(1 << 20):
                size += os.write(fd, chunk)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
