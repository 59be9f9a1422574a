"""Preflight checks: each a named result in the plan; an error blocks load and reboot."""

from __future__ import annotations

import enum
import stat
from dataclasses import dataclass

from fastreboot.boot.kimage import ImageKind, read_kernel_image
from fastreboot.boot.names import basename, initrd_version, kernel_release
from fastreboot.config.own import LoadMethod
from fastreboot.errors import ImageError
from fastreboot.plan.cmdline import cmdline_has, split_cmdline
from fastreboot.plan.sysinfo import InitSystem, SystemInfo
from fastreboot.sysroot import SysRoot


class Level(enum.StrEnum):
    OK = "ok"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Check:
    """One preflight check's result; level ERROR blocks load and reboot."""

    name: str
    level: Level
    message: str
    hint: str | None = None

    def to_json(self) -> dict[str, str]:
        data = {"name": self.name, "level": str(self.level), "message": self.message}
        if self.hint:
            data["hint"] = self.hint
        return data


def ok(name: str, message: str) -> Check:
    return Check(name, Level.OK, message)


def warning(name: str, message: str, hint: str | None = None) -> Check:
    return Check(name, Level.WARNING, message, hint)


def error(name: str, message: str, hint: str | None = None) -> Check:
    return Check(name, Level.ERROR, message, hint)


def _file_problem(root: SysRoot, path: str, what: str) -> str | None:
    host = root.host(path)
    try:
        info = host.stat()
    except FileNotFoundError:
        return f"{what} {path} does not exist"
    except OSError as err:
        return f"{what} {path} cannot be read: {err.strerror}"
    if not stat.S_ISREG(info.st_mode):
        return f"{what} {path} is not a regular file"
    # On a real system the root directory belongs to root; in a test sysroot it belongs to the
    # user running the tests. Either way a kernel owned by someone else could have been swapped.
    owner = root.path.stat().st_uid
    if info.st_uid != owner:
        return f"{what} {path} is owned by uid {info.st_uid}, not by root"
    if info.st_mode & stat.S_IWOTH:
        return f"{what} {path} is writable by every user"
    return None


def check_kernel(root: SysRoot, kernel: str) -> tuple[Check, str | None]:
    """The image exists, is sane, and its embedded version matches its name. Returns its version."""
    problem = _file_problem(root, kernel, "kernel")
    if problem:
        return error("kernel-image", problem, "choose another kernel with --kernel"), None
    try:
        image = read_kernel_image(root.host(kernel))
    except ImageError as err:
        message = err.message if kernel in err.message else f"{kernel}: {err.message}"
        return error("kernel-image", message, err.hint), None
    if image.kind is ImageKind.UNKNOWN:
        return error("kernel-image", f"{kernel} is not a Linux kernel image"), None
    named = kernel_release(basename(kernel))
    if image.version and named and image.version != named:
        return (
            error(
                "kernel-image",
                f"{kernel} says it is Linux {image.version}, but its name says {named}",
                "the file was replaced or mislabelled; reinstall the kernel package",
            ),
            image.version,
        )
    version = image.version or named
    return ok(
        "kernel-image", f"{kernel}: {image.kind.value}, Linux {version or 'unknown'}"
    ), version


def check_initrds(root: SysRoot, initrds: tuple[str, ...], version: str | None) -> list[Check]:
    if not initrds:
        return [
            warning(
                "initrd",
                "no initrd: the kernel must find and mount the root file system on its own",
                "pass --initrd if this system needs one",
            )
        ]
    results = []
    for initrd in initrds:
        problem = _file_problem(root, initrd, "initrd")
        if problem:
            results.append(error("initrd", problem, "rebuild it (update-initramfs -u -k VERSION)"))
            continue
        named = initrd_version(basename(root.resolve(initrd)))
        if version and named and named != version:
            results.append(error("initrd", f"{initrd} belongs to Linux {named}, not to {version}"))
        else:
            results.append(ok("initrd", f"{initrd} present"))
    if version:
        if root.is_dir(f"/lib/modules/{version}") or root.is_dir(f"/usr/lib/modules/{version}"):
            results.append(ok("modules", f"/lib/modules/{version} present"))
        else:
            results.append(
                warning(
                    "modules",
                    f"/lib/modules/{version} is missing: the new kernel cannot load modules",
                    "is the kernel package fully installed?",
                )
            )
    return results


def check_cmdline(cmdline: str) -> Check:
    words = split_cmdline(cmdline)
    if not cmdline_has(words, "root"):
        return error(
            "cmdline-root",
            "the command line has no root=: the new kernel would not find its root file system",
            "add one with --append root=… or set the command line with --command-line",
        )
    return ok("cmdline-root", "root= present")


def check_system(
    info: SystemInfo, load_method: LoadMethod, *, need_init: bool, reused: str | None = None
) -> list[Check]:
    results: list[Check] = []
    if info.kexec_supported is False:
        results.append(
            error(
                "kexec-support",
                "the running kernel has no kexec support (/sys/kernel/kexec_loaded is missing)",
                "boot a kernel built with CONFIG_KEXEC / CONFIG_KEXEC_FILE",
            )
        )
    elif info.kexec_supported:
        results.append(ok("kexec-support", "the running kernel supports kexec"))
    else:
        results.append(warning("kexec-support", "unknown: no /sys under the root"))

    if info.kexec_load_disabled:
        results.append(
            error(
                "kexec-load-disabled",
                "kernel.kexec_load_disabled is 1: loading kernels is disabled until the next boot",
                "this cannot be undone at run time; use a cold reboot (fastreboot cold)",
            )
        )
    elif info.kexec_load_disabled is False:
        results.append(ok("kexec-load-disabled", "kernel.kexec_load_disabled is 0"))

    if info.lockdown and info.lockdown != "none":
        if load_method is LoadMethod.LEGACY:
            results.append(
                error(
                    "lockdown",
                    f"kernel lockdown ({info.lockdown}) refuses kexec_load",
                    "use kexec_file_load with a signed kernel, or reboot cold",
                )
            )
        else:
            results.append(
                warning(
                    "lockdown",
                    f"kernel lockdown ({info.lockdown}): only kernels with a signature the "
                    "running kernel trusts can be loaded",
                )
            )
    elif info.lockdown == "none":
        results.append(ok("lockdown", "no kernel lockdown"))

    if info.cap_sys_boot is False:
        results.append(
            error(
                "cap-sys-boot", "CAP_SYS_BOOT is missing: only root can load kernels", "run as root"
            )
        )
    elif info.cap_sys_boot:
        results.append(ok("cap-sys-boot", "CAP_SYS_BOOT present"))

    if reused:
        results.append(ok("already-loaded", f"this kernel is already loaded ({reused})"))
    elif info.kexec_loaded:
        results.append(
            warning("already-loaded", "a kexec kernel is already loaded; it will be replaced")
        )
    if need_init and info.init_system is InitSystem.UNKNOWN:
        results.append(
            error(
                "init-system",
                "cannot tell the init system (neither systemd nor sysvinit found)",
                "use --force to skip the init system, or set reboot_method in /etc/fastreboot.toml",
            )
        )
    return results


def check_sysv_hook(root: SysRoot) -> Check:
    """sysvinit reboots through runlevel 6; Debian's /etc/init.d/kexec does the jump there."""
    if root.glob("etc/rc6.d/K*kexec") or root.glob("etc/rc6.d/S*kexec"):
        return ok("sysv-kexec-hook", "/etc/init.d/kexec runs in runlevel 6")
    return error(
        "sysv-kexec-hook",
        "no kexec hook in runlevel 6: sysvinit would reboot through the firmware",
        "install kexec-tools (it provides /etc/init.d/kexec), or use --force",
    )


def check_crash_reserved(info: SystemInfo) -> Check:
    if info.crash_size:
        return ok("crashkernel", f"{info.crash_size // (1 << 20)} MiB reserved for a crash kernel")
    if info.crash_size == 0:
        return error(
            "crashkernel",
            "no memory is reserved for a crash kernel (/sys/kernel/kexec_crash_size is 0)",
            "add crashkernel=256M (crashkernel=auto on RHEL) to the command line and reboot",
        )
    return warning("crashkernel", "unknown: no /sys/kernel/kexec_crash_size under the root")
