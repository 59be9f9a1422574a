"""Where and how a crash dump is saved: Red Hat's /etc/kdump.conf and Debian's
/etc/default/kdump-tools, read as data and never run.

Only a local file system target is supported (the dump is written under ``path`` on the
ordinary root, which the capture kernel mounts); the directives for other targets
(raw, nfs, ssh, ...), hooks that would run commands (kdump_pre, KDUMP_FAIL_CMD) and
initramfs options are reported as warnings naming ``file:line``, never acted on.
"""

from __future__ import annotations

import enum
import shlex
from dataclasses import dataclass

from fastreboot.config.files import permission_warnings, read_config_text
from fastreboot.config.redhat import KdumpConfig
from fastreboot.config.shellvars import parse_shell_vars
from fastreboot.errors import ConfigError
from fastreboot.sysroot import SysRoot

KDUMP_CONF = "/etc/kdump.conf"
KDUMP_TOOLS = "/etc/default/kdump-tools"
DEFAULT_PATH = "/var/crash"
# -l: lzo, fast to write and read; -d 31: leave out zero, cache, user and free pages.
DEFAULT_COLLECTOR: tuple[str, ...] = ("makedumpfile", "-l", "-d", "31")


class DumpAction(enum.StrEnum):
    """What the capture kernel does after the save (final_action) or when it failed."""

    REBOOT = "reboot"
    HALT = "halt"
    POWEROFF = "poweroff"


# kdump.conf directives fastreboot knows but does not do: the dump target is the local
# root file system, the capture boot uses the ordinary initramfs.
_UNSUPPORTED_CONF = frozenset(
    (
        "raw", "nfs", "ssh", "sshkey", "ext2", "ext3", "ext4", "xfs", "btrfs", "minix",
        "virtiofs", "kdump_pre", "kdump_post", "extra_bins", "extra_modules", "dracut_args",
        "fence_kdump_args", "fence_kdump_nodes", "force_rebuild", "force_no_rebuild",
        "auto_reset_crashkernel", "blacklist", "options", "link_delay", "disk_timeout",
        "save_to_rootfs",
    )
)  # fmt: skip
# kdump-tools variables fastreboot knows but does not do (remote targets, commands, rotation).
_UNSUPPORTED_TOOLS = frozenset(
    (
        "KDUMP_FAIL_CMD", "NFS", "NFS_TIMEO", "NFS_RETRANS", "SSH", "SSH_KEY", "HOSTTAG",
        "KDUMP_NUM_DUMPS", "KDUMP_SYSCTL", "KDUMP_DUMP_DMESG",
    )
)  # fmt: skip
# kdump-tools variables the crash kernel's plan reads (plan/kdump.py).
KDUMP_TOOLS_PLAN_VARS = frozenset(
    (
        "USE_KDUMP", "KDUMP_KERNEL", "KDUMP_INITRD", "KDUMP_CMDLINE", "KDUMP_CMDLINE_APPEND",
        "KDUMP_KEXEC_ARGS",
    )
)  # fmt: skip
_FAILURE_FALLBACKS = ("shell", "dump_to_rootfs")


@dataclass(frozen=True, slots=True)
class DumpSettings:
    """How the capture kernel saves a dump: the directory, the collector's argv (without
    /proc/vmcore and the output file), and what it does afterwards."""

    path: str = DEFAULT_PATH
    collector: tuple[str, ...] = DEFAULT_COLLECTOR
    final_action: DumpAction = DumpAction.REBOOT
    failure_action: DumpAction = DumpAction.REBOOT
    files: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def _collector(value: str, where: str) -> tuple[str, ...]:
    try:
        argv = tuple(shlex.split(value))
    except ValueError as error:
        raise ConfigError(f"{where}: core_collector: {error}") from error
    if not argv or argv[0].rsplit("/", 1)[-1] != "makedumpfile":
        raise ConfigError(
            f"{where}: core_collector {value!r}: only makedumpfile is supported",
            hint="core_collector makedumpfile -l --message-level 7 -d 31",
        )
    if any(arg in ("-F", "--flatten", "--dump-dmesg") for arg in argv):
        raise ConfigError(
            f"{where}: core_collector: {value!r} does not write a dump file",
            hint="leave out -F (flattened output is for ssh targets) and --dump-dmesg",
        )
    return ("makedumpfile", *argv[1:])


def _action(value: str, where: str, name: str, warnings: list[str]) -> DumpAction:
    try:
        return DumpAction(value)
    except ValueError:
        pass
    if name == "failure_action" and value in _FAILURE_FALLBACKS:
        warnings.append(f"{where}: failure_action {value} is not supported: reboot instead")
        return DumpAction.REBOOT
    raise ConfigError(
        f"{where}: {name} {value!r} is not one of {', '.join(DumpAction)}",
        hint=f"{name} reboot",
    )


def _read_kdump_conf(root: SysRoot, text: str) -> DumpSettings:
    path, collector = DEFAULT_PATH, DEFAULT_COLLECTOR
    final, failure = DumpAction.REBOOT, DumpAction.REBOOT
    warnings: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"{KDUMP_CONF}:{number}"
        directive, _, value = line.partition(" ")
        directive, value = directive.strip(), value.strip()
        if directive == "path":
            if not value.startswith("/"):
                raise ConfigError(
                    f"{where}: path {value!r} is not absolute", hint="path /var/crash"
                )
            path = value.rstrip("/") or "/"
        elif directive == "core_collector":
            collector = _collector(value, where)
        elif directive == "final_action":
            final = _action(value, where, directive, warnings)
        elif directive in ("failure_action", "default"):  # default: its name before RHEL 8
            failure = _action(value, where, "failure_action", warnings)
        elif directive in _UNSUPPORTED_CONF:
            warnings.append(f"{where}: {directive} is not supported by fastreboot: ignored")
        else:
            warnings.append(f"{where}: unknown directive {directive!r}: ignored")
    return DumpSettings(
        path=path,
        collector=collector,
        final_action=final,
        failure_action=failure,
        files=(KDUMP_CONF,),
        warnings=(*permission_warnings(root, [KDUMP_CONF]), *warnings),
    )


def _read_kdump_tools(root: SysRoot, text: str) -> DumpSettings:
    values = parse_shell_vars(text, KDUMP_TOOLS)
    warnings: list[str] = []
    for name, var in values.items():
        if name in _UNSUPPORTED_TOOLS and var.value:
            warnings.append(f"{var.where}: {name} is not supported by fastreboot: ignored")
        elif name not in _UNSUPPORTED_TOOLS | KDUMP_TOOLS_PLAN_VARS | {
            "KDUMP_COREDIR",
            "MAKEDUMP_ARGS",
        }:
            warnings.append(f"{var.where}: unknown variable {name}: ignored")
    path = DEFAULT_PATH
    if "KDUMP_COREDIR" in values and values["KDUMP_COREDIR"].value:
        coredir = values["KDUMP_COREDIR"]
        if not coredir.value.startswith("/"):
            raise ConfigError(f"{coredir.where}: KDUMP_COREDIR {coredir.value!r} is not absolute")
        path = coredir.value.rstrip("/") or "/"
    collector = DEFAULT_COLLECTOR
    if "MAKEDUMP_ARGS" in values and values["MAKEDUMP_ARGS"].value:
        args = values["MAKEDUMP_ARGS"]
        collector = _collector(f"makedumpfile {args.value}", args.where)
    return DumpSettings(
        path=path,
        collector=collector,
        files=(KDUMP_TOOLS,),
        warnings=(*permission_warnings(root, [KDUMP_TOOLS]), *warnings),
    )


def read_dump_settings(root: SysRoot) -> DumpSettings:
    """/etc/kdump.conf (Red Hat), else /etc/default/kdump-tools (Debian), else the defaults."""
    text = read_config_text(root, KDUMP_CONF)
    if text is not None:
        settings = _read_kdump_conf(root, text)
        if root.exists(KDUMP_TOOLS):
            note = f"{KDUMP_TOOLS} is not read: {KDUMP_CONF} decides where dumps go"
            return DumpSettings(
                settings.path,
                settings.collector,
                settings.final_action,
                settings.failure_action,
                settings.files,
                (*settings.warnings, note),
            )
        return settings
    text = read_config_text(root, KDUMP_TOOLS)
    if text is not None:
        return _read_kdump_tools(root, text)
    return DumpSettings()


# kdump-tools' default without its own unit (systemd.unit=kdump-tools-dump.service): the
# plan names fastreboot's save unit instead.
KDUMP_TOOLS_APPEND = "reset_devices nr_cpus=1 irqpoll nousb"


def read_kdump_tools_config(root: SysRoot) -> KdumpConfig | None:
    """The crash kernel from Debian's /etc/default/kdump-tools, or None without the file."""
    text = read_config_text(root, KDUMP_TOOLS)
    if text is None:
        return None
    values = {k: v.value for k, v in parse_shell_vars(text, KDUMP_TOOLS).items()}
    warnings = list(permission_warnings(root, [KDUMP_TOOLS]))
    if values.get("USE_KDUMP", "1") not in ("1", ""):
        warnings.append(
            f"{KDUMP_TOOLS}: USE_KDUMP={values['USE_KDUMP']}: kdump-tools would not load a"
            " crash kernel; fastreboot kdump does when asked"
        )
    return KdumpConfig(
        kernel_version=None,
        commandline=values.get("KDUMP_CMDLINE") or None,
        commandline_append=values.get("KDUMP_CMDLINE_APPEND") or KDUMP_TOOLS_APPEND,
        commandline_remove=(),
        kexec_args=tuple(values.get("KDUMP_KEXEC_ARGS", "").split()),
        bootdir="/boot",
        img="vmlinuz",
        img_ext="",
        mkdumprd_args="",
        files=(KDUMP_TOOLS,),
        warnings=tuple(warnings),
        kernel_path=values.get("KDUMP_KERNEL") or None,
        initrd_path=values.get("KDUMP_INITRD") or None,
    )
