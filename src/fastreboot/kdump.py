"""The crash kernel (kdump) as Red Hat's /etc/sysconfig/kdump describes it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastreboot import bootscan, checks, sysroot
from fastreboot.checks import Check, Level
from fastreboot.cmdline import build_cmdline
from fastreboot.config import LoadMethod, permission_warnings, read_config_text
from fastreboot.errors import ConfigError, SelectionError
from fastreboot.shellvars import parse_shell_vars
from fastreboot.sysinfo import read_system_info
from fastreboot.values import dataclass

# What kdumpctl always removes from the crash kernel's command line: the reservation itself
# would make the capture kernel try to reserve memory again.
ALWAYS_REMOVE = ("crashkernel",)
_FILE_SYSCALL = ("-s", "--kexec-file-syscall")
_LEGACY_SYSCALL = ("-c", "--kexec-syscall")
_AUTO_SYSCALL = ("-a", "--kexec-syscall-auto")
KDUMP_SYSCONFIG = "/etc/sysconfig/kdump"


# Here rather than in config.py with the other readers: only kdump needs it, and every
# plan imports config.py (every class it creates costs start-up time).
@dataclass(frozen=True)
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


def read_kdump_config(root: Path) -> KdumpConfig | None:
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


@dataclass(frozen=True)
class KdumpPlan:
    kernel: str
    kernel_version: str | None
    initrd: str | None
    cmdline: str
    load_method: LoadMethod
    extra_kexec_args: tuple[str, ...]
    mkdumprd_args: str
    checks: tuple[Check, ...]
    config_files: tuple[str, ...]

    @property
    def errors(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.level is Level.ERROR)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "kernel": self.kernel,
            "kernel_version": self.kernel_version,
            "initrd": self.initrd,
            "cmdline": self.cmdline,
            "load_method": str(self.load_method),
            "kexec_args": list(self.extra_kexec_args),
            "mkdumprd_args": self.mkdumprd_args,
            "checks": [c.to_json() for c in self.checks],
            "config_files": list(self.config_files),
        }


def split_kexec_args(args: tuple[str, ...]) -> tuple[LoadMethod, tuple[str, ...]]:
    """KEXEC_ARGS picks the syscall (-s/-c/-a); any other option needs kexec-tools itself."""
    method = LoadMethod.FILE
    rest = []
    for arg in args:
        if arg in _FILE_SYSCALL or arg in _AUTO_SYSCALL:
            method = LoadMethod.FILE
        elif arg in _LEGACY_SYSCALL:
            method = LoadMethod.LEGACY
        else:
            rest.append(arg)
    return method, tuple(rest)


def kdump_initrd(root: Path, bootdir: str, version: str) -> str | None:
    """Red Hat builds a separate initramfs-VERSIONkdump.img with mkdumprd; else the normal one."""
    for name in (f"initramfs-{version}kdump.img", f"initrd.img-{version}-kdump"):
        path = f"{bootdir.rstrip('/')}/{name}"
        if sysroot.host_path(root, path).is_file():
            return path
    return bootscan.find_initrd(root, version, bootdir)


def make_kdump_plan(root: Path) -> KdumpPlan:
    config: KdumpConfig | None = read_kdump_config(root)
    if config is None:
        raise ConfigError(
            "no /etc/sysconfig/kdump: the crash kernel is configured through Red Hat's kdump file",
            hint="create /etc/sysconfig/kdump (KDUMP_COMMANDLINE_APPEND, KEXEC_ARGS, …)",
        )
    info = read_system_info(root)
    version = config.kernel_version or info.running_release
    if not version:
        raise SelectionError("KDUMP_KERNELVER is empty and the running kernel's version is unknown")
    kernel = f"{config.bootdir.rstrip('/')}/{config.img}-{version}{config.img_ext}"
    if not sysroot.host_path(root, kernel).exists():
        raise SelectionError(
            f"crash kernel {kernel} does not exist",
            hint="set KDUMP_KERNELVER to an installed kernel in /etc/sysconfig/kdump",
        )
    initrd = kdump_initrd(root, config.bootdir, version)
    base = config.commandline if config.commandline is not None else (info.proc_cmdline or "")
    cmdline = build_cmdline(
        base, remove=(*ALWAYS_REMOVE, *config.commandline_remove), append=config.commandline_append
    )
    method, extra = split_kexec_args(config.kexec_args)
    kernel_check, image_version = checks.check_kernel(root, kernel)
    found = [
        kernel_check,
        *checks.check_initrds(root, (initrd,) if initrd else (), image_version or version),
        checks.check_cmdline(cmdline),
        checks.check_crash_reserved(info),
        *(
            c
            for c in checks.check_system(info, method, need_init=False)
            if c.name != "already-loaded"
        ),
        *(checks.warning("config-permissions", w) for w in config.warnings),
    ]
    return KdumpPlan(
        kernel=kernel,
        kernel_version=image_version or version,
        initrd=initrd,
        cmdline=cmdline,
        load_method=method,
        extra_kexec_args=extra,
        mkdumprd_args=config.mkdumprd_args,
        checks=tuple(found),
        config_files=config.files,
    )
