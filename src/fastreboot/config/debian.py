"""Debian's kexec configuration: /etc/default/kexec, then /etc/default/kexec.d/*.

Read as data, never run: the files hold shell assignments (see shellvars). The reader only
reports what the files say; the planner applies defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fastreboot.config.files import permission_warnings, read_config_text
from fastreboot.config.shellvars import ShellVar, parse_shell_vars
from fastreboot.errors import ConfigError
from fastreboot.sysroot import SysRoot

DEBIAN_KEXEC = "/etc/default/kexec"
DEBIAN_KEXEC_D = "/etc/default/kexec.d"

# run-parts(8) without --lsbsysinit lists only names made of these characters.
_RUN_PARTS_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


@dataclass(frozen=True, slots=True)
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


def _debian_snippets(root: SysRoot) -> tuple[list[str], list[str]]:
    """Target paths of /etc/default/kexec.d/* that `run-parts --list` gives, and warnings.

    run-parts lists regular files (symlinks followed) whose names match
    [A-Za-z0-9_-]+, in byte order; it skips everything else.
    """
    directory = root.host(DEBIAN_KEXEC_D)
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
        found = root.host(target)
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


def read_debian_kexec(root: SysRoot) -> DebianKexecConfig | None:
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
    has_dir = root.is_dir(DEBIAN_KEXEC_D)
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
