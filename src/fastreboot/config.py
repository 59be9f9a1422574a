"""Configuration files that decide what a reboot loads, read as data from a sysroot.

Readers take ``root`` (the target's /) and report paths as seen on the target.
They only report what the files say; the planner applies defaults.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from pathlib import Path

from fastreboot import sysroot
from fastreboot.errors import ConfigError
from fastreboot.values import dataclass

TYPE_CHECKING = False  # True for mypy; typing is not imported at run time (start-up cost)
if TYPE_CHECKING:
    from typing import Any, TypeVar

    from fastreboot.shellvars import ShellVar

DEBIAN_KEXEC = "/etc/default/kexec"
DEBIAN_KEXEC_D = "/etc/default/kexec.d"
OWN_CONFIG = "/etc/fastreboot.toml"

# run-parts(8) without --lsbsysinit lists only names made of these characters.
_RUN_PARTS_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def _on_target(root: Path, target: str) -> Path:
    """The host path of a target path, symlinks resolved inside ``root`` (never the host's)."""
    return sysroot.host_path(root, sysroot.resolve(root, target))


def read_config_text(root: Path, target: str) -> str | None:
    """The file's text, or None when it does not exist."""
    try:
        data = _on_target(root, target).read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"{target}: cannot read: {exc.strerror}") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{target}:{line}: not valid UTF-8") from exc


def permission_warnings(root: Path, targets: list[str]) -> tuple[str, ...]:
    """Warnings for the target files that someone other than root could change."""
    from fastreboot.shellvars import insecure_permissions  # see read_debian_kexec()

    found = (insecure_permissions(_on_target(root, t), shown_as=t) for t in targets)
    return tuple(w for w in found if w)


@dataclass(frozen=True)
class DebianKexecConfig:
    """What Debian's kexec-tools init scripts would see after sourcing their files.

    None means the variable is not set. ``append == ""`` means "use /proc/cmdline",
    and ``initrd == ""`` means "no initrd", as /etc/init.d/kexec-load reads them.
    """

    load_kexec: bool | None
    kernel_image: str | None
    initrd: str | None
    append: str | None
    use_grub_config: bool
    files: tuple[str, ...]
    warnings: tuple[str, ...] = ()


def _debian_snippets(root: Path) -> tuple[list[str], list[str]]:
    """Target paths of /etc/default/kexec.d/* that `run-parts --list` gives, and warnings.

    run-parts lists regular files (symlinks followed) whose names match
    [A-Za-z0-9_-]+, in byte order; it skips everything else.
    """
    directory = _on_target(root, DEBIAN_KEXEC_D)
    if not directory.is_dir():
        return [], []
    try:
        entries = sorted(directory.iterdir(), key=lambda p: p.name.encode())
    except OSError as exc:
        raise ConfigError(f"{DEBIAN_KEXEC_D}: cannot list: {exc.strerror}") from exc
    snippets: list[str] = []
    warnings: list[str] = []
    for entry in entries:
        target = f"{DEBIAN_KEXEC_D}/{entry.name}"
        found = _on_target(root, target)
        if entry.is_symlink() and not found.exists():
            warnings.append(f"{target} is a dangling symlink: run-parts skips it")
        elif not found.is_file():
            continue
        elif not _RUN_PARTS_CHARS.issuperset(entry.name):
            warnings.append(f"{target} is ignored: run-parts only lists names of A-Z a-z 0-9 _ -")
        else:
            snippets.append(target)
    return snippets, warnings


def _debian_bool(variables: Mapping[str, ShellVar], name: str) -> bool | None:
    var = variables.get(name)
    if var is None:
        return None
    # kexec-load tests `"$VAR" = "true"`: anything else, empty included, means false.
    if var.value in ("true", "false", ""):
        return var.value == "true"
    raise ConfigError(
        f"{var.where}: {name}={var.value!r} is not true or false",
        hint="kexec-tools treats every value but the exact word 'true' as false",
    )


def read_debian_kexec(root: Path) -> DebianKexecConfig | None:
    """Debian's /etc/default/kexec, then /etc/default/kexec.d/* as /etc/init.d/kexec-load
    sources them (kexec-tools 2.0.25); later files override earlier ones.

    None when neither the file nor any snippet exists.
    """
    snippets, warnings = _debian_snippets(root)
    files: list[str] = []
    variables: dict[str, ShellVar] = {}
    for target in [DEBIAN_KEXEC, *snippets]:
        text = read_config_text(root, target)
        if text is None:
            continue
        # Imported only with a file to parse: a plan without one need not import its parser.
        from fastreboot.shellvars import parse_shell_vars

        files.append(target)
        variables.update(parse_shell_vars(text, target))
    if not files:
        return None
    if "USE_KEXEC" in variables and "LOAD_KEXEC" not in variables:
        warnings.append(
            f"{variables['USE_KEXEC'].where}: USE_KEXEC is ignored: "
            "kexec-tools' scripts read LOAD_KEXEC"
        )
    # A writable kexec.d lets anyone add a snippet, even while it is empty.
    has_dir = _on_target(root, DEBIAN_KEXEC_D).is_dir()
    checked = [*files, DEBIAN_KEXEC_D] if has_dir else files
    values = {name: var.value for name, var in variables.items()}
    return DebianKexecConfig(
        load_kexec=_debian_bool(variables, "LOAD_KEXEC"),
        kernel_image=values.get("KERNEL_IMAGE"),
        initrd=values.get("INITRD"),
        append=values.get("APPEND"),
        use_grub_config=bool(_debian_bool(variables, "USE_GRUB_CONFIG")),
        files=tuple(files),
        warnings=(*warnings, *permission_warnings(root, checked)),
    )


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


class LoadMethod(enum.StrEnum):
    """Which system call loads the kernel."""

    AUTO = "auto"
    FILE = "kexec_file_load"
    LEGACY = "kexec_load"


@dataclass(frozen=True)
class OwnConfig:
    """/etc/fastreboot.toml; every field None (or empty) when the file does not say."""

    target: Target | None = None
    reboot_method: RebootMethod | None = None
    load_method: LoadMethod | None = None
    strip_cmdline: tuple[str, ...] = ()
    append: str | None = None
    auto_kexec: bool | None = None
    files: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


if TYPE_CHECKING:
    _E = TypeVar("_E", Target, RebootMethod, LoadMethod)


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

    def words(self, key: str) -> tuple[str, ...]:
        value = self.data.get(key, [])
        if not isinstance(value, list) or not all(
            isinstance(w, str) and w and not any(c.isspace() for c in w) for w in value
        ):
            raise self.wrong(key, "a list of single words")
        return tuple(value)


_OWN_KEYS = ("target", "reboot_method", "load_method", "strip_cmdline", "append", "auto_kexec")


def read_own_config(root: Path) -> OwnConfig:
    """/etc/fastreboot.toml; all defaults when the file does not exist."""
    text = read_config_text(root, OWN_CONFIG)
    if text is None:
        return OwnConfig()
    import tomllib  # only when the file exists: tomllib (and datetime) cost start-up time

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
        strip_cmdline=fields.words("strip_cmdline"),
        append=fields.string("append"),
        auto_kexec=fields.boolean("auto_kexec"),
        files=(OWN_CONFIG,),
        warnings=permission_warnings(root, [OWN_CONFIG]),
    )
