"""The plan: which kernel, initrd and command line, how to load and how to reboot.

Pure: reads the target under ``root`` and decides; changes nothing. Precedence for every
setting is CLI > /etc/fastreboot.toml > the distribution's kexec configuration > defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastreboot.boot import scan
from fastreboot.boot.choice import BootloaderChoice, bootloader_choice
from fastreboot.boot.entry import BootEntry, Source
from fastreboot.boot.names import basename, kernel_version
from fastreboot.config.debian import DebianKexecConfig, read_debian_kexec
from fastreboot.config.own import (
    LoadMethod,
    OwnConfig,
    RebootKind,
    RebootMethod,
    Target,
    read_own_config,
)
from fastreboot.errors import SelectionError
from fastreboot.plan import checks, staged
from fastreboot.plan.checks import Check, Level
from fastreboot.plan.cmdline import build_cmdline
from fastreboot.plan.failed import check_failed
from fastreboot.plan.fallback import Fallback, plan_fallback
from fastreboot.plan.kind import SOFT_KEEPS, Sameness, decide_kind, running_sameness, soft_blocker
from fastreboot.plan.staged import Loaded
from fastreboot.plan.sysinfo import InitSystem, SystemInfo, read_system_info
from fastreboot.sysroot import SysRoot

PLAN_FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class Options:
    """What the command line asked for; None means "not said"."""

    kernel: str | None = None
    initrd: str | None = None
    append: str | None = None
    command_line: str | None = None
    target: Target | None = None
    force: bool = False
    load_method: LoadMethod | None = None
    reboot_method: RebootMethod | None = None
    reload: bool = False  # load again even when this very kernel is already loaded
    kind: RebootKind | None = None
    no_fallback: bool = False
    retry_failed: bool = False  # try a kernel again whose fast reboot fell back
    # Whether the next boot runs fastreboot-record, which clears the one-shot way back after
    # a good boot (without it the entry would outlive the fast reboot); None: unknown.
    next_boot_clears: bool | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything a fast reboot would load and how, with the checks that judge it."""

    kernel: str
    kernel_version: str | None
    initrds: tuple[str, ...]
    cmdline: str
    source: Source
    title: str
    load_method: LoadMethod
    load_why: str
    load_fallback: bool  # the other call may take over when the chosen one fails
    reboot_method: RebootMethod
    checks: tuple[Check, ...]
    config_files: tuple[str, ...]
    running_release: str | None
    # GRUB's one-shot next_entry chose this kernel: GRUB would clear it when booting, and a
    # fast reboot skips GRUB, so fastreboot clears it itself just before the jump.
    consumed_next_entry: str | None = None
    grubenv: str | None = None
    notes: tuple[str, ...] = ()
    # This kernel is already loaded (by `fastreboot load` in this boot): not loaded again.
    already_loaded: Loaded | None = None
    reboot_kind: RebootKind = RebootKind.KEXEC
    reboot_kind_why: str = ""
    # Whether the kernel, initrds and command line are the running ones (a soft reboot would
    # do), and why; None when not judged.
    sameness: Sameness | None = None
    soft_blocker: str | None = None
    # The way back if the new kernel fails; None when nothing is loaded (soft, cold).
    fallback: Fallback | None = None

    @property
    def initrd(self) -> str | None:
        """The main initrd (GRUB lists early microcode images first, the initramfs last)."""
        return self.initrds[-1] if self.initrds else None

    @property
    def errors(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.level is Level.ERROR)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": PLAN_FORMAT_VERSION,
            "kernel": self.kernel,
            "kernel_version": self.kernel_version,
            "initrd": self.initrd,
            "initrds": list(self.initrds),
            "cmdline": self.cmdline,
            "source": str(self.source),
            "title": self.title,
            "load_method": str(self.load_method),
            "load_why": self.load_why,
            "reboot_method": str(self.reboot_method),
            "running_kernel": self.running_release,
            "consumed_next_entry": self.consumed_next_entry,
            "checks": [c.to_json() for c in self.checks],
            "config_files": list(self.config_files),
            "notes": list(self.notes),
            "already_loaded": self.already_loaded.to_json() if self.already_loaded else None,
            "reboot_kind": str(self.reboot_kind),
            "reboot_kind_why": self.reboot_kind_why,
            "kernel_unchanged": self.sameness.unchanged if self.sameness else None,
            "kernel_unchanged_why": self.sameness.why if self.sameness else None,
            "soft_reboot": {
                "would_do": bool(self.sameness and self.sameness.unchanged),
                "possible": self.soft_blocker is None,
                "why_not": self.soft_blocker,
                "keeps": list(SOFT_KEEPS),
            },
            "fallback": self.fallback.to_json() if self.fallback else None,
        }


def _explicit_kernel(root: SysRoot, kernel: str, initrd: str | None) -> BootEntry:
    if "/" not in kernel:
        found = scan.kernel_by_version(root, kernel)
        if found is None:
            known = ", ".join(e.version or e.kernel for e in scan.installed_kernels(root))
            raise SelectionError(
                f"no kernel version {kernel} in /boot", hint=f"installed: {known or 'none'}"
            )
        return BootEntry(
            found.kernel, found.initrds, None, Source.EXPLICIT, found.title, found.version
        )
    path = root.resolve(kernel)
    if not root.exists(path):
        raise SelectionError(f"kernel {kernel} does not exist", hint="see: fastreboot kernels")
    version = kernel_version(basename(path))
    initrds: tuple[str, ...] = ()
    if initrd is None and version:
        paired = scan.find_initrd(root, version, path.rsplit("/", 1)[0] or "/")
        initrds = (paired,) if paired else ()
    return BootEntry(path, initrds, None, Source.EXPLICIT, path, version)


def _debian_entry(root: SysRoot, debian: DebianKexecConfig) -> BootEntry:
    kernel_image = debian.kernel_image or "/vmlinuz"
    initrd_image = debian.initrd if debian.initrd is not None else "/initrd.img"
    kernel = root.resolve(kernel_image)
    if not root.exists(kernel):
        raise SelectionError(
            f"KERNEL_IMAGE={kernel_image} from /etc/default/kexec does not exist",
            hint="fix /etc/default/kexec or pass --kernel",
        )
    initrds: tuple[str, ...] = ()
    if initrd_image:
        initrds = (root.resolve(initrd_image),)
    return BootEntry(
        kernel,
        initrds,
        debian.append or None,
        Source.DEBIAN_CONFIG,
        f"KERNEL_IMAGE={kernel_image}",
        kernel_version(basename(kernel)),
    )


def _choose(
    root: SysRoot,
    options: Options,
    own: OwnConfig,
    debian: DebianKexecConfig | None,
    info: SystemInfo,
) -> tuple[BootEntry, BootloaderChoice | None]:
    if options.kernel:
        return _explicit_kernel(root, options.kernel, options.initrd), None
    target = options.target or own.target
    if target is Target.RUNNING:
        if not info.running_release:
            raise SelectionError(
                "the running kernel's version is unknown (no /proc under the root)"
            )
        found = scan.kernel_by_version(root, info.running_release)
        if found is None:
            raise SelectionError(
                f"the running kernel {info.running_release} is no longer in /boot",
                hint="an upgrade removed it; use --target default",
            )
        return BootEntry(
            found.kernel, found.initrds, None, Source.RUNNING, found.title, found.version
        ), None
    if target is Target.NEWEST:
        newest = scan.newest_kernel(root)
        if newest is None:
            raise SelectionError("no kernel found in /boot")
        return newest, None
    # Debian's kexec configuration names the kernel unless the default target was asked for.
    if target is None and debian is not None and debian.kernel_image and not debian.use_grub_config:
        return _debian_entry(root, debian), None
    choice = bootloader_choice(root)
    if choice.entry is None:
        raise SelectionError(
            "no bootable kernel found (no GRUB or BLS entry, no /vmlinuz, nothing in /boot)",
            hint="pass --kernel PATH",
        )
    entry = choice.entry
    if debian is not None and debian.use_grub_config and entry.source is not Source.GRUB:
        raise SelectionError("USE_GRUB_CONFIG=true in /etc/default/kexec, but no GRUB entry found")
    return entry, choice


KEXEC_TOOLS = ("/usr/sbin/kexec", "/sbin/kexec", "/usr/bin/kexec", "/usr/local/sbin/kexec")


def _asked_load_method(options: Options, own: OwnConfig) -> LoadMethod | None:
    """The method the command line or the toml insists on; None for auto."""
    asked = options.load_method or own.load_method
    return None if asked is LoadMethod.AUTO else asked


def _load_method(
    root: SysRoot, options: Options, own: OwnConfig, info: SystemInfo, initrds: tuple[str, ...]
) -> tuple[LoadMethod, str, bool]:
    """The system call to load with, why (shown in the plan), and whether the other call may
    take over when the chosen one fails."""
    asked = _asked_load_method(options, own)
    if asked is not None:
        return asked, "asked for", False
    if info.machine and info.machine not in ("x86_64", "aarch64"):
        return LoadMethod.LEGACY, f"kexec_file_load is not used on {info.machine}", False
    needs_file = None
    if info.lockdown and info.lockdown != "none":
        needs_file = f"kernel lockdown ({info.lockdown}) allows only kexec_file_load"
    elif info.ima_kexec_rule:
        needs_file = "the IMA policy has a kexec rule, which only kexec_file_load meets"
    elif len(initrds) > 1:
        needs_file = "several initrds: kexec-tools takes one"
    elif not any(root.exists(path) for path in KEXEC_TOOLS):
        needs_file = "kexec-tools is not installed"
    if needs_file:
        return LoadMethod.FILE, needs_file, False
    # Both calls let purgatory check a sha256 of every segment; with the file call the
    # kernel computes it with the CPU's SHA-256 instructions, kexec-tools in plain C
    # (bench/hash_speed.py measures both).
    return (
        LoadMethod.FILE,
        "the kernel hashes with the CPU's SHA-256 instructions; kexec_load if it cannot "
        "take the image",
        True,
    )


def _reboot_method(options: Options, own: OwnConfig, info: SystemInfo) -> RebootMethod:
    if options.force:
        return RebootMethod.DIRECT
    wanted = options.reboot_method or own.reboot_method or RebootMethod.AUTO
    if wanted is not RebootMethod.AUTO:
        return wanted
    if info.init_system is InitSystem.SYSV:
        return RebootMethod.SYSV
    return RebootMethod.SYSTEMD if info.init_system is InitSystem.SYSTEMD else RebootMethod.DIRECT


def make_plan(root: SysRoot, options: Options) -> Plan:
    """Decide everything a fast reboot would do. Raises only when no kernel can be chosen."""
    own = read_own_config(root)
    debian = read_debian_kexec(root)
    info = read_system_info(root)
    entry, choice = _choose(root, options, own, debian, info)

    initrds = (root.resolve(options.initrd),) if options.initrd else entry.initrds
    notes: list[str] = []
    if options.command_line is not None:
        base = options.command_line
    elif entry.cmdline is not None:
        base = entry.cmdline
    else:
        base = info.proc_cmdline or ""
        if info.proc_cmdline is None:
            notes.append("no /proc/cmdline under the root: the command line is empty")
    append = " ".join(a for a in (own.append, options.append) if a)
    cmdline = build_cmdline(base, strip=own.strip_cmdline, append=append)

    load_method, load_why, load_fallback = _load_method(root, options, own, info, initrds)
    reboot_method = _reboot_method(options, own, info)

    kernel_check, image_version = checks.check_kernel(root, entry.kernel)
    version = image_version or entry.version
    sameness = running_sameness(
        root,
        info,
        plan_version=version,
        kernel=entry.kernel,
        initrds=tuple(initrds),
        cmdline=cmdline,
    )
    blocker = soft_blocker(info, reboot_method)
    failed = check_failed(root, entry.kernel, retry=options.retry_failed)
    decision = decide_kind(
        options.kind or own.reboot_kind,
        sameness,
        blocker,
        failed_before=failed.message if failed and failed.level is Level.ERROR else None,
    )
    fallback = None
    if decision.kind is RebootKind.KEXEC:
        fallback = plan_fallback(
            root,
            own,
            release=info.running_release,
            choice=choice,
            cmdline=cmdline,
            off_by_option=options.no_fallback,
            next_boot_clears=options.next_boot_clears,
        )
        if fallback.panic_timeout is not None:
            cmdline = build_cmdline(cmdline, append=f"panic={fallback.panic_timeout}")

    already_loaded = None
    if info.kexec_loaded and not options.reload:
        already_loaded = staged.reusable(
            root, entry.kernel, initrds, cmdline, method=_asked_load_method(options, own)
        )

    found: list[Check] = [kernel_check]
    found += checks.check_initrds(root, initrds, version)
    found.append(checks.check_cmdline(cmdline))
    found += checks.check_system(
        info,
        load_method,
        need_init=not options.force,
        reused=already_loaded.describe() if already_loaded else None,
    )
    if reboot_method is RebootMethod.SYSV:
        found.append(checks.check_sysv_hook(root))
    for config_warning in (*own.warnings, *(debian.warnings if debian else ())):
        found.append(checks.warning("config-permissions", config_warning))

    if sameness.unchanged:
        notes.append(
            "the kernel, initrd and command line are the running ones: a soft reboot would do"
            f" (--kind soft{'' if blocker is None else ', but ' + blocker}); it restarts all"
            f" of userspace and keeps the {', '.join(SOFT_KEEPS)}"
        )
    if decision.kind is not RebootKind.KEXEC:
        # Nothing is loaded for a soft or cold reboot: the kexec checks do not apply.
        found = [
            decision.check,
            *(c for c in found if c.name in ("init-system", "config-permissions")),
        ]
    else:
        found.append(decision.check)
    if fallback is not None:
        found += fallback.checks()
    if decision.kind is RebootKind.KEXEC and failed is not None:
        found.append(failed)

    config_files = [*own.files, *(debian.files if debian else ())]
    if choice is not None:
        config_files += choice.config_files
        notes.append(f"chosen by {choice.via}")
    return Plan(
        kernel=entry.kernel,
        kernel_version=version,
        initrds=tuple(initrds),
        cmdline=cmdline,
        source=entry.source,
        title=entry.title,
        load_method=load_method,
        load_why=load_why,
        load_fallback=load_fallback,
        reboot_method=reboot_method,
        checks=tuple(found),
        config_files=tuple(dict.fromkeys(config_files)),
        running_release=info.running_release,
        consumed_next_entry=choice.next_entry if choice else None,
        grubenv=choice.grubenv if choice else None,
        notes=tuple(notes),
        already_loaded=already_loaded,
        reboot_kind=decision.kind,
        reboot_kind_why=decision.why,
        sameness=sameness,
        soft_blocker=blocker,
        fallback=fallback,
    )
