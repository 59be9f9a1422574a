from __future__ import annotations

from pathlib import Path

import pytest

from fastreboot.boot.entry import Source
from fastreboot.config.own import LoadMethod, RebootMethod, Target
from fastreboot.errors import SelectionError
from fastreboot.plan.plan import Options, make_plan
from fastreboot.sysroot import SysRoot
from tests.unit.sysroots import NEW, OLD, debian_systemd, debian_sysv


def test_vmlinuz_link_is_the_default_without_a_bootloader_config(tmp_path: Path) -> None:
    debian_systemd(tmp_path)
    plan = make_plan(SysRoot(tmp_path), Options())
    assert plan.source is Source.VMLINUZ_LINK
    assert plan.kernel == f"/boot/vmlinuz-{NEW}"
    assert plan.initrds == (f"/boot/initrd.img-{NEW}",)
    assert plan.kernel_version == NEW
    assert plan.load_method is LoadMethod.FILE
    assert plan.reboot_method is RebootMethod.SYSTEMD
    assert not plan.errors, plan.errors


def test_cmdline_drops_boot_image_and_keeps_the_rest(tmp_path: Path) -> None:
    debian_systemd(tmp_path)
    plan = make_plan(SysRoot(tmp_path), Options(append="fastreboot.marker=1"))
    assert (
        plan.cmdline
        == "root=UUID=0b5f3c5e-1111-4a4a-9c9c-123456789abc ro quiet fastreboot.marker=1"
    )


def test_command_line_option_replaces(tmp_path: Path) -> None:
    debian_systemd(tmp_path)
    plan = make_plan(SysRoot(tmp_path), Options(command_line="root=/dev/vda console=ttyS0"))
    assert plan.cmdline == "root=/dev/vda console=ttyS0"


def test_own_config_strips_words_and_cli_wins_over_it(tmp_path: Path) -> None:
    sysroot = debian_systemd(tmp_path)
    sysroot.write("/etc/fastreboot.toml", 'strip_cmdline = ["quiet"]\ntarget = "running"\n')
    plan = make_plan(SysRoot(tmp_path), Options())
    assert "quiet" not in plan.cmdline.split()
    assert plan.source is Source.RUNNING and plan.kernel_version == OLD
    assert make_plan(SysRoot(tmp_path), Options(target=Target.NEWEST)).kernel_version == NEW


def test_newest_when_nothing_else_says(tmp_path: Path) -> None:
    debian_systemd(tmp_path, links=False)
    plan = make_plan(SysRoot(tmp_path), Options())
    assert plan.source is Source.NEWEST and plan.kernel_version == NEW


def test_debian_config_names_the_kernel(tmp_path: Path) -> None:
    sysroot = debian_systemd(tmp_path)
    sysroot.write(
        "/etc/default/kexec",
        f'LOAD_KEXEC=false\nKERNEL_IMAGE="/boot/vmlinuz-{OLD}"\nINITRD="/boot/initrd.img-{OLD}"\n'
        'APPEND="root=/dev/vda1 ro"\nUSE_GRUB_CONFIG=false\n',
    )
    plan = make_plan(SysRoot(tmp_path), Options())
    assert plan.source is Source.DEBIAN_CONFIG
    assert plan.kernel == f"/boot/vmlinuz-{OLD}"
    assert plan.cmdline == "root=/dev/vda1 ro"
    assert "/etc/default/kexec" in plan.config_files
    # an explicit --target default asks for the bootloader's choice instead
    assert make_plan(SysRoot(tmp_path), Options(target=Target.DEFAULT)).kernel_version == NEW


def test_debian_empty_append_means_proc_cmdline(tmp_path: Path) -> None:
    sysroot = debian_systemd(tmp_path)
    sysroot.write(
        "/etc/default/kexec", 'KERNEL_IMAGE="/vmlinuz"\nINITRD="/initrd.img"\nAPPEND=""\n'
    )
    plan = make_plan(SysRoot(tmp_path), Options())
    assert plan.kernel == f"/boot/vmlinuz-{NEW}"
    assert plan.cmdline.startswith("root=UUID=")


def test_explicit_kernel_by_version_and_by_path(tmp_path: Path) -> None:
    debian_systemd(tmp_path)
    by_version = make_plan(SysRoot(tmp_path), Options(kernel=OLD))
    assert by_version.source is Source.EXPLICIT
    assert by_version.initrds == (f"/boot/initrd.img-{OLD}",)
    by_path = make_plan(
        SysRoot(tmp_path), Options(kernel=f"/boot/vmlinuz-{OLD}", initrd="/initrd.img")
    )
    assert by_path.initrds == (f"/boot/initrd.img-{NEW}",)
    assert any(c.name == "initrd" and c.level == "error" for c in by_path.checks)


def test_unknown_kernel_is_a_selection_error(tmp_path: Path) -> None:
    debian_systemd(tmp_path)
    with pytest.raises(SelectionError, match=r"no kernel version 5\.10\.0-99"):
        make_plan(SysRoot(tmp_path), Options(kernel="5.10.0-99"))
    with pytest.raises(SelectionError, match="/boot/vmlinuz-nope does not exist"):
        make_plan(SysRoot(tmp_path), Options(kernel="/boot/vmlinuz-nope"))


def test_running_kernel_removed_by_upgrade(tmp_path: Path) -> None:
    sysroot = debian_systemd(tmp_path)
    sysroot.running("6.1.0-10-cloud-amd64")
    with pytest.raises(SelectionError, match="no longer in /boot"):
        make_plan(SysRoot(tmp_path), Options(target=Target.RUNNING))


def test_sysv_reboots_through_runlevel_6(tmp_path: Path) -> None:
    debian_sysv(tmp_path)
    plan = make_plan(SysRoot(tmp_path), Options())
    assert plan.reboot_method is RebootMethod.SYSV
    assert not plan.errors


def test_sysv_without_kexec_hook_blocks(tmp_path: Path) -> None:
    sysroot = debian_sysv(tmp_path)
    sysroot.remove("/etc/rc6.d/K06kexec")
    plan = make_plan(SysRoot(tmp_path), Options())
    assert [c.name for c in plan.errors] == ["sysv-kexec-hook"]


def test_force_means_direct(tmp_path: Path) -> None:
    debian_systemd(tmp_path)
    assert make_plan(SysRoot(tmp_path), Options(force=True)).reboot_method is RebootMethod.DIRECT


def test_plan_json_shape(tmp_path: Path) -> None:
    debian_systemd(tmp_path)
    data = make_plan(SysRoot(tmp_path), Options()).to_json()
    assert data["version"] == 1
    assert set(data) >= {
        "kernel",
        "kernel_version",
        "initrd",
        "cmdline",
        "source",
        "load_method",
        "reboot_method",
        "checks",
        "config_files",
    }
    assert data["source"] == "vmlinuz-link"
    assert all(set(c) >= {"name", "level", "message"} for c in data["checks"])
