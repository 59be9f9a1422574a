"""fastreboot's own configuration, /etc/fastreboot.toml, and the closed sets of values it names."""

from __future__ import annotations

import enum
import re
import tomllib
from dataclasses import dataclass
from typing import Any, TypeVar

from fastreboot.config.files import permission_warnings, read_config_text
from fastreboot.errors import ConfigError
from fastreboot.sysroot import SysRoot

OWN_CONFIG = "/etc/fastreboot.toml"


class Target(enum.StrEnum):
    """Which kernel a reboot loads."""

    DEFAULT = "default"
    NEWEST = "newest"
    RUNNING = "running"


class RebootMethod(enum.StrEnum):
    """How the kexec reboot is started."""

    AUTO = "auto"
    SYSTEMD = "systemd"
    SYSV = "sysv"
    DIRECT = "direct"


class RebootKind(enum.StrEnum):
    """What a reboot restarts: a new kernel (kexec), userspace only (soft), or everything
    through the firmware (cold); auto picks soft when the kernel stays, else kexec."""

    AUTO = "auto"
    KEXEC = "kexec"
    SOFT = "soft"
    COLD = "cold"


class LoadMethod(enum.StrEnum):
    """Which system call loads the kernel."""

    AUTO = "auto"
    FILE = "kexec_file_load"
    LEGACY = "kexec_load"


@dataclass(frozen=True, slots=True)
class OwnConfig:
    """/etc/fastreboot.toml; every field None (or empty) when the file does not say."""

    target: Target | None = None
    reboot_method: RebootMethod | None = None
    load_method: LoadMethod | None = None
    reboot_kind: RebootKind | None = None
    strip_cmdline: tuple[str, ...] = ()
    append: str | None = None
    auto_kexec: bool | None = None
    fallback: bool | None = None  # the way back if the new kernel fails (on by default)
    watchdog_timeout: int | None = None  # seconds the new kernel has to boot
    panic_timeout: int | None = None  # the panic=N added to the new kernel's command line
    files: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


_E = TypeVar("_E", Target, RebootMethod, LoadMethod, RebootKind)


class _TomlFields:
    """Typed access to the top-level keys of a parsed TOML file, errors naming file:line."""

    def __init__(self, data: dict[str, Any], text: str, source: str) -> None:
        self.data = data
        self.text = text
        self.source = source

    def where(self, key: str) -> str:
        # tomllib keeps no positions: find the line that defines the key.
        name = re.escape(key)
        pattern = rf"""^[ \t]*\[?[ \t]*(?:{name}|"{name}"|'{name}')[ \t]*[=\].]"""
        found = re.search(pattern, self.text, re.MULTILINE)
        if found is None:
            return self.source
        line = self.text.count("\n", 0, found.start()) + 1
        return f"{self.source}:{line}"

    def wrong(self, key: str, expected: str) -> ConfigError:
        return ConfigError(f"{self.where(key)}: {key} must be {expected}, not {self.data[key]!r}")

    def enum(self, key: str, kind: type[_E]) -> _E | None:
        value = self.data.get(key)
        if value is None:
            return None
        allowed = ", ".join(repr(str(member)) for member in kind)
        if not isinstance(value, str) or value not in {str(m) for m in kind}:
            raise self.wrong(key, f"one of {allowed}")
        return kind(value)

    def string(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is not None and not isinstance(value, str):
            raise self.wrong(key, "a string")
        return value

    def boolean(self, key: str) -> bool | None:
        value = self.data.get(key)
        if value is not None and not isinstance(value, bool):
            raise self.wrong(key, "true or false")
        return value

    def seconds(self, key: str) -> int | None:
        value = self.data.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 86400
        ):
            raise self.wrong(key, "a whole number of seconds from 1 to 86400")
        return value

    def words(self, key: str) -> tuple[str, ...]:
        value = self.data.get(key, [])
        if not isinstance(value, list) or not all(
            isinstance(w, str) and w and not any(c.isspace() for c in w) for w in value
        ):
            raise self.wrong(key, "a list of single words")
        return tuple(value)


@dataclass(frozen=True, slots=True)
class ConfigKey:
    """One key of /etc/fastreboot.toml, as the Debian package's conffile and
    fastreboot.toml(5) document it."""

    name: str
    value: str  # the default (or, with no default, an example), written as TOML
    meaning: str


CONFIG_KEYS = (
    ConfigKey(
        "target",
        '"default"',
        "which kernel a fast reboot loads: default = what the boot loader would boot on a"
        " cold boot (or KERNEL_IMAGE from /etc/default/kexec when it is set), newest = the"
        " newest kernel in /boot, running = the running kernel again; --target overrides it",
    ),
    ConfigKey(
        "reboot_method",
        '"auto"',
        "how the kexec reboot starts: auto = the init system in use, systemd ="
        " `systemctl kexec`, sysv = runlevel 6 (Debian's /etc/init.d/kexec jumps), direct ="
        " sync and jump without stopping services (like `reboot -f`)",
    ),
    ConfigKey(
        "load_method",
        '"auto"',
        "the system call that loads the kernel: auto = kexec_file_load, then kexec_load"
        " through kexec-tools when the kernel cannot take the image that way;"
        " kexec_file_load or kexec_load = only that one; --load-method overrides it",
    ),
    ConfigKey(
        "reboot_kind",
        '"kexec"',
        "what a reboot restarts: kexec = a new kernel, soft = userspace only (`systemctl"
        " soft-reboot`, systemd 254 and later; the kernel stays), auto = soft when the"
        " planned kernel is provably the running one, else kexec, cold = through the"
        " firmware; --kind overrides it",
    ),
    ConfigKey(
        "strip_cmdline",
        "[]",
        "words (quiet) or keys (console, which drops every console=...) to remove from the"
        " kernel command line taken from the boot loader entry or /proc/cmdline,"
        ' e.g. ["quiet", "splash"]',
    ),
    ConfigKey(
        "append",
        '""',
        "added to every planned command line (before --append); an appended key=value"
        ' replaces the same key, e.g. "panic=10"',
    ),
    ConfigKey(
        "auto_kexec",
        "false",
        "reported as auto_kexec by `fastreboot status`, nothing more: `fastreboot enable`"
        " is what makes a plain reboot a fast reboot",
    ),
    ConfigKey(
        "fallback",
        "true",
        "before a fast reboot, arrange the way back to the running kernel if the new one"
        " fails: GRUB's one-shot next_entry (or systemd-boot's LoaderEntryOneShot), the"
        " watchdog, panic=N; false (or --no-fallback) turns it off",
    ),
    ConfigKey(
        "watchdog_timeout",
        "120",
        "seconds the new kernel would have to boot before a watchdog resets the machine;"
        " shown in the plan, but no watchdog is armed: Linux stops it on kexec",
    ),
    ConfigKey(
        "panic_timeout",
        "10",
        "the panic=N added to the new kernel's command line when there is a way back"
        " (unless the command line sets panic= itself)",
    ),
)
_OWN_KEYS = tuple(key.name for key in CONFIG_KEYS)


def read_own_config(root: SysRoot) -> OwnConfig:
    """/etc/fastreboot.toml; all defaults when the file does not exist."""
    text = read_config_text(root, OWN_CONFIG)
    if text is None:
        return OwnConfig()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        at_line = re.search(r"\(at line (\d+)", str(exc))
        where = f"{OWN_CONFIG}:{at_line.group(1)}" if at_line else OWN_CONFIG
        raise ConfigError(f"{where}: invalid TOML: {exc}") from exc
    fields = _TomlFields(data, text, OWN_CONFIG)
    for key in data:
        if key not in _OWN_KEYS:
            raise ConfigError(
                f"{fields.where(key)}: unknown key {key!r}",
                hint=f"known keys: {', '.join(_OWN_KEYS)}",
            )
    return OwnConfig(
        target=fields.enum("target", Target),
        reboot_method=fields.enum("reboot_method", RebootMethod),
        load_method=fields.enum("load_method", LoadMethod),
        reboot_kind=fields.enum("reboot_kind", RebootKind),
        strip_cmdline=fields.words("strip_cmdline"),
        append=fields.string("append"),
        auto_kexec=fields.boolean("auto_kexec"),
        fallback=fields.boolean("fallback"),
        watchdog_timeout=fields.seconds("watchdog_timeout"),
        panic_timeout=fields.seconds("panic_timeout"),
        files=(OWN_CONFIG,),
        warnings=permission_warnings(root, [OWN_CONFIG]),
    )
