"""/etc/kdump.conf and /etc/default/kdump-tools as data, and the kdump plan's checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from fastreboot.config.kdumpconf import (
    DEFAULT_COLLECTOR,
    DumpAction,
    read_dump_settings,
    read_kdump_tools_config,
)
from fastreboot.errors import ConfigError
from fastreboot.plan.checks import Level
from fastreboot.plan.kdump import make_kdump_plan
from fastreboot.sysroot import SysRoot
from tests.unit.sysroots import OLD, debian_systemd
from tests.unit.test_kdump import redhat

RHEL_KDUMP_CONF = """# This file contains a series of commands to perform (in order) in the kdump
#path /var/crash
path /srv/dumps/
core_collector makedumpfile -c --message-level 7 -d 17
final_action poweroff
failure_action shell
kdump_post /var/crash/scripts/kdump-post.sh
frobnicate yes   # a typo
auto_reset_crashkernel yes
"""

KDUMP_TOOLS = """# kdump-tools configuration
USE_KDUMP=1
KDUMP_COREDIR="/var/crash/here"
MAKEDUMP_ARGS="-c -d 31"
KDUMP_CMDLINE_APPEND="reset_devices nr_cpus=1 systemd.unit=kdump-tools-dump.service"
KDUMP_FAIL_CMD="reboot -f"
#NFS="server:/dumps"
KDUMP_MYSTERY=1
"""


def _check(plan_checks: tuple[object, ...], name: str) -> object:
    return next(c for c in plan_checks if getattr(c, "name", None) == name)


def test_kdump_conf_directives_are_read_and_the_rest_reported(tmp_path: Path) -> None:
    sysroot = debian_systemd(tmp_path)
    sysroot.write("/etc/kdump.conf", RHEL_KDUMP_CONF)
    settings = read_dump_settings(SysRoot(tmp_path))
    assert settings.path == "/srv/dumps"
    assert settings.collector == ("makedumpfile", "-c", "--message-level", "7", "-d", "17")
    assert settings.final_action is DumpAction.POWEROFF
    assert settings.failure_action is DumpAction.REBOOT  # shell: not supported
    assert settings.warnings == (
        "/etc/kdump.conf:6: failure_action shell is not supported: reboot instead",
        "/etc/kdump.conf:7: kdump_post is not supported by fastreboot: ignored",
        "/etc/kdump.conf:8: unknown directive 'frobnicate': ignored",
        "/etc/kdump.conf:9: auto_reset_crashkernel is not supported by fastreboot: ignored",
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("core_collector cp --sparse=always", r"kdump\.conf:2: .*only makedumpfile"),
        ("core_collector makedumpfile -F -l -d 31", r"kdump\.conf:2: .*does not write a dump"),
        ("final_action shell", r"kdump\.conf:2: final_action 'shell' is not one of"),
        ("path var/crash", r"kdump\.conf:2: path 'var/crash' is not absolute"),
        ("core_collector makedumpfile 'unclosed", r"kdump\.conf:2: core_collector"),
    ],
)
def test_kdump_conf_errors_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    debian_systemd(tmp_path).write("/etc/kdump.conf", f"# first\n{line}\n")
    with pytest.raises(ConfigError, match=message):
        read_dump_settings(SysRoot(tmp_path))


def test_defaults_without_any_file(tmp_path: Path) -> None:
    debian_systemd(tmp_path)
    settings = read_dump_settings(SysRoot(tmp_path))
    assert settings.path == "/var/crash" and settings.collector == DEFAULT_COLLECTOR
    assert settings.final_action is DumpAction.REBOOT and settings.files == ()


def test_kdump_tools_is_data_and_its_unsupported_variables_are_reported(tmp_path: Path) -> None:
    sysroot = debian_systemd(tmp_path)
    sysroot.write("/etc/default/kdump-tools", KDUMP_TOOLS)
    root = SysRoot(tmp_path)
    settings = read_dump_settings(root)
    assert settings.path == "/var/crash/here"
    assert settings.collector == ("makedumpfile", "-c", "-d", "31")
    assert settings.warnings == (
        "/etc/default/kdump-tools:6: KDUMP_FAIL_CMD is not supported by fastreboot: ignored",
        "/etc/default/kdump-tools:8: unknown variable KDUMP_MYSTERY: ignored",
    )
    config = read_kdump_tools_config(root)
    assert config is not None and config.kernel_path is None
    sysroot.write("/etc/default/kdump-tools", 'KDUMP_COREDIR="$(hostname)"\n')
    with pytest.raises(ConfigError, match=r"kdump-tools:1: .*"):
        read_dump_settings(root)


def test_kdump_plan_from_kdump_tools_names_the_save_unit_once_installed(tmp_path: Path) -> None:
    sysroot = debian_systemd(tmp_path)
    sysroot.running(OLD, f"BOOT_IMAGE=/vmlinuz-{OLD} root=/dev/vda ro quiet crashkernel=256M")
    sysroot.set("/sys/kernel/kexec_crash_size", str(256 << 20))
    sysroot.write("/etc/default/kdump-tools", KDUMP_TOOLS)
    plan = make_kdump_plan(SysRoot(tmp_path))
    assert plan.kernel == f"/boot/vmlinuz-{OLD}" and plan.initrd == f"/boot/initrd.img-{OLD}"
    # kdump-tools' own unit is dropped from its append: fastreboot's decides the capture boot.
    assert plan.cmdline == "root=/dev/vda ro quiet reset_devices nr_cpus=1"
    assert _check(plan.checks, "kdump-save").level is Level.WARNING  # type: ignore[attr-defined]
    sysroot.write("/etc/systemd/system/fastreboot-kdump-save.service", "[Unit]\n")
    plan = make_kdump_plan(SysRoot(tmp_path))
    assert plan.cmdline.endswith("nr_cpus=1 systemd.unit=fastreboot-kdump-save.service")
    assert _check(plan.checks, "kdump-save").level is Level.OK  # type: ignore[attr-defined]
    assert "/etc/default/kdump-tools" in plan.config_files
    assert plan.to_json()["dump"]["path"] == "/var/crash/here"


def test_reservation_must_hold_the_files_and_room_to_boot(tmp_path: Path) -> None:
    sysroot = redhat(tmp_path)
    sysroot.write(f"/boot/initramfs-{OLD}.img", b"070701" + b"\0" * (40 << 20))
    levels = ((32 << 20, Level.ERROR), (128 << 20, Level.WARNING), (256 << 20, Level.OK))
    for reserved, level in levels:
        sysroot.set("/sys/kernel/kexec_crash_size", str(reserved))
        check = _check(make_kdump_plan(SysRoot(tmp_path)).checks, "crashkernel")
        assert check.level is level, check  # type: ignore[attr-defined]
    sysroot.set("/sys/kernel/kexec_crash_size", str(32 << 20))
    check = _check(make_kdump_plan(SysRoot(tmp_path)).checks, "crashkernel")
    assert "crashkernel=145M" in (check.hint or "")  # type: ignore[attr-defined]


def test_makedumpfile_and_the_dump_directory_room(tmp_path: Path) -> None:
    sysroot = redhat(tmp_path)
    root = SysRoot(tmp_path)
    plan = make_kdump_plan(root)
    assert _check(plan.checks, "makedumpfile").level is Level.WARNING  # type: ignore[attr-defined]
    sysroot.write("/usr/sbin/makedumpfile", "", mode=0o755)
    sysroot.write("/proc/meminfo", "MemTotal:        1024000 kB\nMemFree: 1 kB\n")
    plan = make_kdump_plan(root)
    assert _check(plan.checks, "makedumpfile").level is Level.OK  # type: ignore[attr-defined]
    assert _check(plan.checks, "dump-room").level is Level.OK  # type: ignore[attr-defined]
    # More memory than any test file system has free: a dump may not fit.
    sysroot.write("/proc/meminfo", f"MemTotal: {1 << 50} kB\n")
    room = _check(make_kdump_plan(root).checks, "dump-room")
    assert room.level is Level.WARNING and "/var/crash has" in room.message  # type: ignore[attr-defined]
