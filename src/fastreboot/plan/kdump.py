"""The crash kernel's plan (kdump), from Red Hat's /etc/sysconfig/kdump or Debian's
/etc/default/kdump-tools, and where its capture boot saves the dump (/etc/kdump.conf).

The crash kernel boots the ordinary initramfs and root file system, as Debian's kdump-tools
does: on systemd its command line names fastreboot's save unit (``systemd.unit=``), so the
capture boot starts only what that unit needs; on sysvinit the init script saves when
/proc/vmcore exists.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from fastreboot.boot.names import INITRD_PATTERNS, KDUMP_INITRD_PATTERNS
from fastreboot.boot.scan import find_initrd
from fastreboot.config.kdumpconf import DumpSettings, read_dump_settings, read_kdump_tools_config
from fastreboot.config.own import LoadMethod
from fastreboot.config.redhat import KdumpConfig, read_kdump_config
from fastreboot.errors import ConfigError, SelectionError
from fastreboot.plan import checks
from fastreboot.plan.checks import Check, Level
from fastreboot.plan.cmdline import build_cmdline
from fastreboot.plan.sysinfo import InitSystem, SystemInfo, read_system_info
from fastreboot.sysroot import SysRoot

# What kdumpctl always removes from the crash kernel's command line: the reservation itself
# would make the capture kernel try to reserve memory again.
# systemd.unit: the capture boot's unit is fastreboot's own (below), whatever booted before.
ALWAYS_REMOVE = ("crashkernel", "systemd.unit")
SAVE_UNIT = "fastreboot-kdump-save.service"
# The init script's name: systemd then runs this unit instead of a unit made from the script.
LOAD_UNIT = "fastreboot-kdump.service"
SYSV_KDUMP_SCRIPT = "/etc/init.d/fastreboot-kdump"
#: Where the save unit may be: written by `kdump enable`, or the Debian package's.
UNIT_DIRS = ("/etc/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system")
MAKEDUMPFILE_DIRS = ("/usr/sbin", "/usr/bin", "/sbin", "/bin")
MIB = 1 << 20
# Room the crash kernel needs besides its files: the initramfs unpacked, the kernel's own
# allocations, udev and makedumpfile's page bitmaps.
CRASH_RUN_ROOM = 64 * MIB
# A filtered (-d 31), compressed dump is a few percent of memory; an eighth leaves margin.
DUMP_ROOM_FRACTION = 8
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
    dump: DumpSettings = field(default_factory=DumpSettings)

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
            "dump": {
                "path": self.dump.path,
                "core_collector": list(self.dump.collector),
                "final_action": str(self.dump.final_action),
                "failure_action": str(self.dump.failure_action),
            },
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


def save_unit_installed(root: SysRoot) -> bool:
    return any(root.exists(f"{unit_dir}/{SAVE_UNIT}") for unit_dir in UNIT_DIRS)


def capture_append(root: SysRoot, info: SystemInfo) -> str:
    """What makes the capture boot save the dump: on systemd, only the save unit starts."""
    if info.init_system is InitSystem.SYSTEMD and save_unit_installed(root):
        return f"systemd.unit={SAVE_UNIT}"
    return ""


def check_capture(root: SysRoot, info: SystemInfo) -> Check:
    if info.init_system is InitSystem.SYSTEMD:
        installed = save_unit_installed(root)
    else:
        installed = root.exists(SYSV_KDUMP_SCRIPT)
    if installed:
        return checks.ok("kdump-save", "the capture boot saves the dump")
    return checks.warning(
        "kdump-save",
        "nothing saves the dump after a crash: the capture boot would start the whole system",
        "run `fastreboot kdump enable`",
    )


def _size(root: SysRoot, path: str | None) -> int:
    st = root.stat(path) if path else None
    return st.st_size if st is not None else 0


def check_crash_size(root: SysRoot, info: SystemInfo, kernel: str, initrd: str | None) -> Check:
    """Rule: the reservation must hold the kernel and initramfs files (else the load fails)
    and, to boot, twice their size plus CRASH_RUN_ROOM (warning below that)."""
    if not info.crash_size:
        return checks.check_crash_reserved(info)
    files = _size(root, kernel) + _size(root, initrd)
    reserved = info.crash_size
    need = 2 * files + CRASH_RUN_ROOM
    hint = f"reserve at least crashkernel={-(-need // MIB)}M on the kernel command line and reboot"
    if reserved < files:
        return checks.error(
            "crashkernel",
            f"{reserved // MIB} MiB reserved for a crash kernel cannot hold the crash kernel and"
            f" initramfs ({-(-files // MIB)} MiB)",
            hint,
        )
    if reserved < need:
        return checks.warning(
            "crashkernel",
            f"{reserved // MIB} MiB reserved for a crash kernel: the crash kernel and initramfs"
            f" ({-(-files // MIB)} MiB) may not boot in it (want {-(-need // MIB)} MiB)",
            hint,
        )
    return checks.ok(
        "crashkernel",
        f"{reserved // MIB} MiB reserved for a crash kernel (needs {-(-need // MIB)} MiB)",
    )


def check_makedumpfile(root: SysRoot, collector: tuple[str, ...]) -> Check:
    found = [d for d in MAKEDUMPFILE_DIRS if root.is_file(f"{d}/{collector[0]}")]
    if found:
        return checks.ok("makedumpfile", f"{found[0]}/{collector[0]} saves the dump")
    return checks.warning(
        "makedumpfile",
        f"{collector[0]} is not installed: a crash would save no dump",
        "apt install makedumpfile (dnf install makedumpfile on Red Hat)",
    )


def mem_total(root: SysRoot) -> int | None:
    for line in (root.read_text("/proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            fields = line.split()
            if len(fields) >= 2 and fields[1].isdigit():
                return int(fields[1]) * 1024
    return None


def check_dump_room(root: SysRoot, path: str) -> Check:
    """Rule: free space on the dump directory's file system of at least an eighth of memory
    (its nearest existing ancestor when the directory does not exist yet)."""
    existing = path
    while not root.is_dir(existing) and existing != "/":
        existing = existing.rsplit("/", 1)[0] or "/"
    try:
        st = os.statvfs(root.host(existing))
    except OSError as error:
        return checks.warning("dump-room", f"{path}: cannot tell the free space: {error.strerror}")
    free = st.f_bavail * st.f_frsize
    memory = mem_total(root)
    if memory is None:
        return checks.warning("dump-room", f"{path}: {free // MIB} MiB free, memory size unknown")
    need = memory // DUMP_ROOM_FRACTION
    if free < need:
        return checks.warning(
            "dump-room",
            f"{path} has {free // MIB} MiB free: a dump may need up to {need // MIB} MiB"
            f" (1/{DUMP_ROOM_FRACTION} of memory)",
            "free space there, or set `path` in /etc/kdump.conf (KDUMP_COREDIR in"
            " /etc/default/kdump-tools) to a larger file system",
        )
    return checks.ok("dump-room", f"{path}: {free // MIB} MiB free (wants {need // MIB} MiB)")


def _read_config(root: SysRoot) -> KdumpConfig:
    config = read_kdump_config(root) or read_kdump_tools_config(root)
    if config is None:
        raise ConfigError(
            "no /etc/sysconfig/kdump and no /etc/default/kdump-tools: the crash kernel is"
            " configured through Red Hat's or Debian's kdump file",
            hint="create /etc/sysconfig/kdump (KDUMP_COMMANDLINE_APPEND, KEXEC_ARGS, …) or"
            " /etc/default/kdump-tools (KDUMP_CMDLINE_APPEND, KDUMP_COREDIR, …)",
        )
    return config


def make_kdump_plan(root: SysRoot) -> KdumpPlan:
    config = _read_config(root)
    dump = read_dump_settings(root)
    info = read_system_info(root)
    version = config.kernel_version or info.running_release
    if not version:
        raise SelectionError("KDUMP_KERNELVER is empty and the running kernel's version is unknown")
    kernel = config.kernel_path or (
        f"{config.bootdir.rstrip('/')}/{config.img}-{version}{config.img_ext}"
    )
    if not root.exists(kernel):
        raise SelectionError(
            f"crash kernel {kernel} does not exist",
            hint=f"name an installed kernel in {config.files[0]}",
        )
    initrd = config.initrd_path or kdump_initrd(root, config.bootdir, version)
    base = config.commandline if config.commandline is not None else (info.proc_cmdline or "")
    # kdump-tools' default append names its own unit: the save unit decides here.
    own = [w for w in config.commandline_append.split() if not w.startswith("systemd.unit=")]
    append = " ".join([*own, capture_append(root, info)]).strip()
    cmdline = build_cmdline(
        base, remove=(*ALWAYS_REMOVE, *config.commandline_remove), append=append
    )
    method, extra = split_kexec_args(config.kexec_args)
    kernel_check, image_version = checks.check_kernel(root, kernel)
    found = [
        kernel_check,
        *checks.check_initrds(root, (initrd,) if initrd else (), image_version or version),
        checks.check_cmdline(cmdline),
        check_crash_size(root, info, kernel, initrd),
        check_makedumpfile(root, dump.collector),
        check_dump_room(root, dump.path),
        check_capture(root, info),
        *(
            c
            for c in checks.check_system(info, method, need_init=False)
            if c.name != "already-loaded"
        ),
        *(checks.warning("config-permissions", w) for w in config.warnings),
        *(checks.warning("kdump-config", w) for w in dump.warnings),
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
        config_files=(*config.files, *dump.files),
        dump=dump,
    )
