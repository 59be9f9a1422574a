"""Red Hat's kdump configuration, /etc/sysconfig/kdump (kexec-tools / kdump-utils), as data."""

from __future__ import annotations

from dataclasses import dataclass

from fastreboot.config.files import permission_warnings, read_config_text
from fastreboot.config.shellvars import parse_shell_vars
from fastreboot.sysroot import SysRoot

KDUMP_SYSCONFIG = "/etc/sysconfig/kdump"


@dataclass(frozen=True, slots=True)
class KdumpConfig:
    """Red Hat's /etc/sysconfig/kdump (kexec-tools / kdump-utils).

    ``kernel_version`` None means the running kernel; ``commandline`` None means
    /proc/cmdline. Lists are split on blanks, as kdumpctl expands them unquoted.
    """

    kernel_version: str | None
    commandline: str | None
    commandline_append: str
    commandline_remove: tuple[str, ...]
    kexec_args: tuple[str, ...]
    bootdir: str
    img: str
    img_ext: str
    mkdumprd_args: str
    files: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    kernel_path: str | None = None  # Debian's KDUMP_KERNEL: a path, not a version
    initrd_path: str | None = None


def read_kdump_config(root: SysRoot) -> KdumpConfig | None:
    """/etc/sysconfig/kdump, or None when it does not exist."""
    text = read_config_text(root, KDUMP_SYSCONFIG)
    if text is None:
        return None
    values = {k: v.value for k, v in parse_shell_vars(text, KDUMP_SYSCONFIG).items()}
    return KdumpConfig(
        kernel_version=values.get("KDUMP_KERNELVER") or None,
        commandline=values.get("KDUMP_COMMANDLINE") or None,
        commandline_append=values.get("KDUMP_COMMANDLINE_APPEND", ""),
        commandline_remove=tuple(values.get("KDUMP_COMMANDLINE_REMOVE", "").split()),
        kexec_args=tuple(values.get("KEXEC_ARGS", "").split()),
        bootdir=values.get("KDUMP_BOOTDIR") or "/boot",
        img=values.get("KDUMP_IMG") or "vmlinuz",
        img_ext=values.get("KDUMP_IMG_EXT", ""),
        mkdumprd_args=values.get("MKDUMPRD_ARGS", ""),
        files=(KDUMP_SYSCONFIG,),
        warnings=permission_warnings(root, [KDUMP_SYSCONFIG]),
    )
