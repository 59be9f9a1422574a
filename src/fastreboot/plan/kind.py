"""Which kind of reboot: kexec (a new kernel), soft (userspace only) or cold (the firmware).

A soft reboot (`systemctl soft-reboot`, systemd 254 and later) stops and starts all of
userspace and keeps the running kernel. It is the fastest way back when the kernel does
not change, and only then: so ``auto`` picks it only when the plan's kernel image, initrds
and command line are provably the running ones. Pure: reads the target, changes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fastreboot.boot.kimage import read_kernel_image
from fastreboot.boot.names import basename, initrd_version
from fastreboot.config.own import RebootKind, RebootMethod
from fastreboot.errors import ImageError
from fastreboot.plan.checks import Check, error, ok, warning
from fastreboot.plan.cmdline import build_cmdline, split_cmdline
from fastreboot.plan.sysinfo import InitSystem, SystemInfo
from fastreboot.sysroot import SysRoot

#: The first systemd with `systemctl soft-reboot`.
SOFT_REBOOT_SYSTEMD = 254
#: What a soft reboot does not reset (systemd-soft-reboot.service(8)).
SOFT_KEEPS = ("kernel state", "sysctls", "loaded modules")


@dataclass(frozen=True, slots=True)
class Sameness:
    """Whether the planned kernel, initrds and command line are the running ones, and why."""

    unchanged: bool
    why: str


@dataclass(frozen=True, slots=True)
class KindDecision:
    kind: RebootKind  # never AUTO
    why: str
    check: Check
    soft_blocker: str | None  # why this system cannot soft-reboot; None: it can


def _boot_time(root: SysRoot) -> int | None:
    text = root.read_text("/proc/stat")
    found = re.search(r"^btime (\d+)$", text or "", re.MULTILINE)
    return int(found.group(1)) if found else None


def image_is_running(raw_version: str | None, proc_version: str | None) -> bool:
    """The image's version string against /proc/version. A bzImage's header string is
    "RELEASE (BUILDER) UTS_VERSION", the kernel's banner "Linux version RELEASE (BUILDER)
    (COMPILER) UTS_VERSION": the same build shows the same release, builder and build
    number with date. Pure."""
    if not raw_version or not proc_version:
        return False
    running = proc_version.strip().removeprefix("Linux version ")
    if running == raw_version.strip():
        return True
    parts = re.fullmatch(r"(\S+ \([^)]*\)) (.+)", raw_version.strip())
    if parts is None:
        return False
    head, tail = parts.groups()
    return running.startswith(head + " (") and running.endswith(" " + tail)


def running_sameness(
    root: SysRoot,
    info: SystemInfo,
    *,
    plan_version: str | None,
    kernel: str,
    initrds: tuple[str, ...],
    cmdline: str,
) -> Sameness:
    """Whether a soft reboot would leave the machine where a kexec into this plan would.
    Honest when unsure: what cannot be shown to be the running kernel counts as changed.
    *plan_version*: the release the checks read from the image (it is read again, for its
    whole version string, only when that release is the running one)."""
    if not info.running_release:
        return Sameness(False, "the running kernel's version is unknown")
    if plan_version != info.running_release:
        return Sameness(
            False, f"the plan boots Linux {plan_version or 'unknown'}, {info.running_release} runs"
        )
    try:
        image = read_kernel_image(root.host(kernel))
    except ImageError:
        return Sameness(False, f"{kernel} cannot be read")
    if image.version != info.running_release:
        return Sameness(
            False, f"the plan boots Linux {image.version or 'unknown'}, {info.running_release} runs"
        )
    if not image_is_running(image.raw_version, root.read_first_line("/proc/version")):
        return Sameness(False, f"{kernel} is not the build that runs (its version string differs)")
    booted = _boot_time(root)
    if booted is None:
        return Sameness(False, "the boot time is unknown (no /proc/stat)")
    for initrd in initrds:
        named = initrd_version(basename(root.resolve(initrd)))
        if named != info.running_release:
            return Sameness(False, f"{initrd} is not the running kernel's initrd")
    for path in (kernel, *initrds):
        try:
            changed = root.host(path).stat().st_ctime
        except OSError:
            return Sameness(False, f"{path} cannot be read")
        if changed > booted:
            return Sameness(False, f"{path} changed after this boot")
    if info.proc_cmdline is None:
        return Sameness(False, "the running command line is unknown (no /proc/cmdline)")
    if split_cmdline(cmdline) != split_cmdline(build_cmdline(info.proc_cmdline)):
        return Sameness(False, "the planned command line differs from /proc/cmdline")
    return Sameness(True, f"Linux {info.running_release} runs, with this initrd and command line")


def soft_blocker(info: SystemInfo, reboot_method: RebootMethod) -> str | None:
    """Why this system cannot soft-reboot, or None when it can."""
    if reboot_method is RebootMethod.DIRECT:
        return "--force skips the init system, which alone can soft-reboot"
    if info.init_system is InitSystem.SYSV:
        return "sysvinit has no soft reboot"
    if info.init_system is not InitSystem.SYSTEMD:
        return "the init system is not systemd"
    if info.systemd_version is None:
        return "systemd's version could not be read"
    if info.systemd_version < SOFT_REBOOT_SYSTEMD:
        return f"systemd {info.systemd_version} has no soft reboot (systemd 254 and later)"
    return None


def decide_kind(
    asked: RebootKind | None,
    sameness: Sameness,
    blocker: str | None,
    *,
    failed_before: str | None = None,
) -> KindDecision:
    """The kind of reboot and why. *asked*: the command line's or the toml's; None: kexec,
    the default (a reboot gets a fresh kernel unless the administrator opts in).
    *failed_before*: a fast reboot into this very image fell back on this machine (the
    failed-kernel memory); auto then goes through the firmware. Pure."""
    name = "reboot-kind"
    if asked is None or asked is RebootKind.KEXEC:
        why = "asked for" if asked else "the default (--kind auto soft-reboots if the kernel stays)"
        return KindDecision(RebootKind.KEXEC, why, ok(name, f"kexec: {why}"), blocker)
    if asked is RebootKind.COLD:
        why = "asked for: a firmware reboot"
        return KindDecision(RebootKind.COLD, why, ok(name, f"cold: {why}"), blocker)
    if asked is RebootKind.SOFT:
        if blocker:
            check = error(
                name,
                f"a soft reboot was asked for, but {blocker}",
                "use --kind kexec (or auto, which picks kexec here)",
            )
        elif not sameness.unchanged:
            check = warning(
                name,
                f"soft reboot: the running kernel stays, not the planned one ({sameness.why})",
                "use --kind kexec to boot the planned kernel",
            )
        else:
            check = ok(name, "soft: asked for; the kernel stays")
        return KindDecision(RebootKind.SOFT, "asked for", check, blocker)
    if sameness.unchanged and blocker is None:
        why = f"auto: the kernel stays ({sameness.why})"
        return KindDecision(RebootKind.SOFT, why, ok(name, f"soft: {why}"), blocker)
    if failed_before:
        why = f"auto: {failed_before}; --retry-failed tries kexec again"
        return KindDecision(RebootKind.COLD, why, ok(name, f"cold: {why}"), blocker)
    why = f"auto: {blocker}" if sameness.unchanged else f"auto: {sameness.why}"
    return KindDecision(RebootKind.KEXEC, why, ok(name, f"kexec: {why}"), blocker)
