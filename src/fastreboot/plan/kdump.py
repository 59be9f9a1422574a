"""The crash kernel's plan (kdump), from Red Hat's /etc/sysconfig/kdump."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastreboot.boot.names import INITRD_PATTERNS, KDUMP_INITRD_PATTERNS
from fastreboot.boot.scan import find_initrd
from fastreboot.config.own import LoadMethod
from fastreboot.config.redhat import KdumpConfig, read_kdump_config
from fastreboot.errors import ConfigError, SelectionError
from fastreboot.plan import checks
from fastreboot.plan.checks import Check, Level
from fastreboot.plan.cmdline import build_cmdline
from fastreboot.plan.sysinfo import read_system_info
from fastreboot.sysroot import SysRoot

# What kdumpctl always removes from the crash kernel's command line: the reservation itself
# would make the capture kernel try to reserve memory again.
ALWAYS_REMOVE = ("crashkernel",)
_FILE_SYSCALL = ("-s", "--kexec-file-syscall")
_LEGACY_SYSCALL = ("-c", "--kexec-syscall")
_AUTO_SYSCALL = ("-a", "--kexec-syscall-auto")


@dataclass(frozen=True, slots=True)
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


def kdump_initrd(root: SysRoot, bootdir: str, version: str) -> str | None:
    """Red Hat builds a separate initramfs-VERSIONkdump.img with mkdumprd; else the normal one."""
    return find_initrd(root, version, bootdir, (*KDUMP_INITRD_PATTERNS, *INITRD_PATTERNS))


def make_kdump_plan(root: SysRoot) -> KdumpPlan:
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
    if not root.exists(kernel):
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
