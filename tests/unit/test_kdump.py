from __future__ import annotations

from pathlib import Path

import pytest

from fastreboot.config.own import LoadMethod
from fastreboot.errors import ConfigError, SelectionError
from fastreboot.plan.kdump import make_kdump_plan, split_kexec_args
from fastreboot.sysroot import SysRoot
from tests.unit.cli_helpers import run_cli
from tests.unit.fakes import RecordingEffects
from tests.unit.sysroots import OLD, Sysroot, debian_systemd

KDUMP = """# Kernel Version string for the -kdump kernel, such as 2.6.13-1544.FC5kdump
KDUMP_KERNELVER=""
KDUMP_COMMANDLINE=""
KDUMP_COMMANDLINE_REMOVE="hugepages hugepagesz slub_debug quiet log_buf_len swiotlb"
KDUMP_COMMANDLINE_APPEND="irqpoll nr_cpus=1 reset_devices cgroup_disable=memory mce=0"
KEXEC_ARGS="-s"
KDUMP_BOOTDIR="/boot"
KDUMP_IMG="vmlinuz"
KDUMP_IMG_EXT=""
"""


def redhat(tmp_path: Path, *, reserved: int = 256 << 20) -> Sysroot:
    sysroot = debian_systemd(tmp_path, links=False)
    sysroot.remove(f"/boot/initrd.img-{OLD}")
    sysroot.kernel(OLD, initrd="initramfs-{v}.img")
    sysroot.write("/etc/sysconfig/kdump", KDUMP)
    sysroot.running(
        OLD, f"BOOT_IMAGE=(hd0,gpt2)/vmlinuz-{OLD} root=/dev/vda ro quiet crashkernel=256M"
    )
    sysroot.set("/sys/kernel/kexec_crash_size", str(reserved))
    return sysroot


def test_kdump_plan_from_redhat_config(tmp_path: Path) -> None:
    redhat(tmp_path)
    plan = make_kdump_plan(SysRoot(tmp_path))
    assert plan.kernel == f"/boot/vmlinuz-{OLD}"
    assert plan.initrd == f"/boot/initramfs-{OLD}.img"
    assert (
        plan.cmdline
        == "root=/dev/vda ro irqpoll nr_cpus=1 reset_devices cgroup_disable=memory mce=0"
    )
    assert plan.load_method is LoadMethod.FILE
    assert not plan.errors


def test_kdump_initrd_preferred(tmp_path: Path) -> None:
    sysroot = redhat(tmp_path)
    sysroot.write(f"/boot/initramfs-{OLD}kdump.img", b"070701")
    assert make_kdump_plan(SysRoot(tmp_path)).initrd == f"/boot/initramfs-{OLD}kdump.img"


def test_no_reservation_blocks_kdump_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    redhat(tmp_path, reserved=0)
    fake = RecordingEffects(tmp_path)
    assert run_cli(["kdump", "load", "--root", str(tmp_path)], fake) == 5
    assert "no memory is reserved for a crash kernel" in capsys.readouterr().err
    assert fake.calls == []


def test_kdump_load_uses_crash_slot(tmp_path: Path) -> None:
    redhat(tmp_path)
    fake = RecordingEffects(tmp_path)
    assert run_cli(["kdump", "load", "--root", str(tmp_path)], fake) == 0
    assert fake.calls[0][0] == "kexec_file_load" and fake.calls[0][-1] is True
    assert (tmp_path / "sys/kernel/kexec_crash_loaded").read_text().strip() == "1"


def test_kexec_args_pick_the_syscall_and_other_options_need_kexec_tools(tmp_path: Path) -> None:
    assert split_kexec_args(("-c",)) == (LoadMethod.LEGACY, ())
    assert split_kexec_args(("-s", "--dt-no-old-root")) == (LoadMethod.FILE, ("--dt-no-old-root",))
    sysroot = redhat(tmp_path)
    sysroot.write("/etc/sysconfig/kdump", KDUMP.replace('KEXEC_ARGS="-s"', 'KEXEC_ARGS="--noefi"'))
    fake = RecordingEffects(tmp_path, commands=["kexec"])
    assert run_cli(["kdump", "load", "--root", str(tmp_path)], fake) == 0
    assert fake.names()[0].startswith(f"run kexec -p -s --noefi /boot/vmlinuz-{OLD}")


def test_missing_config_and_missing_kernel(tmp_path: Path) -> None:
    sysroot = debian_systemd(tmp_path)
    with pytest.raises(ConfigError, match="no /etc/sysconfig/kdump"):
        make_kdump_plan(SysRoot(tmp_path))
    sysroot.write("/etc/sysconfig/kdump", 'KDUMP_KERNELVER="5.14.0-1.el9"\n')
    with pytest.raises(
        SelectionError, match=r"crash kernel /boot/vmlinuz-5\.14\.0-1\.el9 does not exist"
    ):
        make_kdump_plan(SysRoot(tmp_path))
