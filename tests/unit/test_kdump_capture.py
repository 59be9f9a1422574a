"""kdump end to end with the recording fake: enable/disable, the capture boot's save,
the saved dumps in `kdump status`, and `kdump test`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from fastreboot.act.kdump import dump_stamp
from fastreboot.plan.dumps import panic_line, saved_dumps
from fastreboot.sysroot import SysRoot
from tests.unit.cli_helpers import run_cli
from tests.unit.fakes import RecordingEffects
from tests.unit.sysroots import OLD, Sysroot, debian_systemd, debian_sysv
from tests.unit.test_kdump import redhat

DMESG = f"""[    0.000000] Linux version {OLD} (debian-kernel@lists.debian.org) #1 SMP
[   12.100000] sysrq: Trigger a crash
[   12.100100] Kernel panic - not syncing: sysrq triggered crash
[   12.100200] CPU: 0 PID: 401 Comm: fastreboot Not tainted {OLD} #1
"""


def _loaded_cmdline(fake: RecordingEffects) -> str:
    load = next(c for c in fake.calls if c[0] == "kexec_file_load")
    assert load[4] is True  # the crash slot
    return str(load[3])


def _capture(tmp_path: Path, **fake: object) -> tuple[Sysroot, RecordingEffects]:
    """The crash kernel's boot: /proc/vmcore exists, makedumpfile is installed."""
    sysroot = redhat(tmp_path)
    sysroot.write("/proc/vmcore", b"ELF")
    sysroot.write("/usr/sbin/makedumpfile", "", mode=0o755)
    return sysroot, RecordingEffects(
        tmp_path, commands=("systemctl", "makedumpfile"), dmesg=DMESG, **fake  # type: ignore[arg-type]
    )


def test_enable_installs_both_units_and_loads_with_the_save_unit_named(tmp_path: Path) -> None:
    redhat(tmp_path)
    fake = RecordingEffects(tmp_path)
    assert run_cli(["kdump", "enable", "--root", str(tmp_path)], fake) == 0
    names = fake.names()
    assert names[:4] == [
        "write_file",
        "write_file",
        "run systemctl daemon-reload",
        "run systemctl enable fastreboot-kdump.service fastreboot-kdump-save.service",
    ]
    assert _loaded_cmdline(fake).endswith("systemd.unit=fastreboot-kdump-save.service")
    unit = (tmp_path / "etc/systemd/system/fastreboot-kdump.service").read_text()
    assert "ConditionPathExists=!/proc/vmcore" in unit and "WantedBy=sysinit.target" in unit
    assert "ExecStart=" in unit and " kdump load" in unit
    save = (tmp_path / "etc/systemd/system/fastreboot-kdump-save.service").read_text()
    assert "ConditionPathExists=/proc/vmcore" in save and " kdump save" in save

    fake.calls.clear()
    assert run_cli(["kdump", "disable", "--root", str(tmp_path)], fake) == 0
    assert "run systemctl disable fastreboot-kdump.service fastreboot-kdump-save.service" in (
        fake.names()
    )
    assert ("kexec_unload", True) in fake.calls
    assert not (tmp_path / "etc/systemd/system/fastreboot-kdump.service").exists()
    assert not (tmp_path / "etc/systemd/system/fastreboot-kdump-save.service").exists()


def test_enable_on_sysvinit_writes_one_script_that_loads_or_saves(tmp_path: Path) -> None:
    sysroot = debian_sysv(tmp_path)
    sysroot.running(OLD, "root=/dev/vda ro crashkernel=256M")
    sysroot.set("/sys/kernel/kexec_crash_size", str(256 << 20))
    sysroot.write("/etc/default/kdump-tools", 'KDUMP_COREDIR="/var/crash"\n')
    fake = RecordingEffects(tmp_path)
    assert run_cli(["kdump", "enable", "--root", str(tmp_path)], fake) == 0
    assert "run update-rc.d fastreboot-kdump defaults" in fake.names()
    script = (tmp_path / "etc/init.d/fastreboot-kdump").read_text()
    assert "[ -e /proc/vmcore ]" in script and "kdump save" in script and "kdump load" in script
    # sysvinit: the script decides, not the command line
    assert "systemd.unit" not in _loaded_cmdline(fake)


def test_enable_without_reservation_refuses_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    redhat(tmp_path, reserved=0)
    fake = RecordingEffects(tmp_path)
    assert run_cli(["kdump", "enable", "--root", str(tmp_path)], fake) == 5
    err = capsys.readouterr().err
    assert "no memory is reserved for a crash kernel" in err and "crashkernel=" in err
    assert fake.calls == []


def test_save_writes_log_and_dump_under_a_temporary_name_then_renames_and_reboots(
    tmp_path: Path,
) -> None:
    _sysroot, fake = _capture(tmp_path)
    when = 1_790_000_000.0  # the stamp's format, UTC
    assert run_cli(["kdump", "save", "--root", str(tmp_path)], fake) == 0
    names = fake.names()
    partial = next(c[1] for c in fake.calls if c[0] == "make_dir")
    assert str(partial).endswith(".incomplete")
    dmesg_run = f"run makedumpfile --dump-dmesg /proc/vmcore {partial}/dmesg.txt"
    dump_run = f"run makedumpfile -l -d 31 /proc/vmcore {partial}/vmcore"
    publish = names.index("publish_dir")
    assert names.index(dmesg_run) < names.index(dump_run) < publish
    assert names[publish + 1 :] == ["sync", "run systemctl --no-block reboot"]
    reboot = next(c for c in fake.calls if c[:2] == ("run", ("systemctl", "--no-block", "reboot")))
    assert reboot[2] == {"SYSTEMCTL_SKIP_AUTO_KEXEC": "1"}
    dumps = saved_dumps(SysRoot(tmp_path), "/var/crash")
    assert len(dumps) == 1 and dumps[0].complete and dumps[0].kernel == OLD
    assert dumps[0].panic == "Kernel panic - not syncing: sysrq triggered crash"
    assert dumps[0].directory.startswith("/var/crash/2") and dump_stamp(when) == "20260921-141320"


def test_a_failed_save_leaves_an_incomplete_directory_and_does_the_failure_action(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sysroot, _ = _capture(tmp_path)
    sysroot.write("/etc/kdump.conf", "path /srv/dumps\nfailure_action poweroff\n")
    fake = RecordingEffects(
        tmp_path, commands=("systemctl", "makedumpfile"), fail_commands=("makedumpfile",)
    )
    assert run_cli(["kdump", "save", "--root", str(tmp_path)], fake) == 1
    names = fake.names()
    assert "publish_dir" not in names
    assert "run systemctl --no-block poweroff" in names
    [left] = [p.name for p in (tmp_path / "srv/dumps").iterdir()]
    assert left.endswith(".incomplete")
    assert any("kdump save failed" in message for _, message in fake.events)


def test_save_outside_a_capture_boot_does_nothing(tmp_path: Path) -> None:
    redhat(tmp_path)
    fake = RecordingEffects(tmp_path)
    assert run_cli(["kdump", "save", "--root", str(tmp_path)], fake) == 1
    assert fake.calls == []


def test_status_lists_saved_dumps_and_marks_incomplete_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sysroot = redhat(tmp_path)
    sysroot.write("/var/crash/20261204-101500/vmcore", b"\0" * 3 * (1 << 20))
    sysroot.write("/var/crash/20261204-101500/dmesg.txt", DMESG)
    sysroot.write("/var/crash/20261204-111500.incomplete/dmesg.txt", DMESG)
    sysroot.write("/var/crash/kexec_cmd", "unrelated file of kdump-tools")
    os.utime(tmp_path / "var/crash/20261204-101500/vmcore", (1_790_000_000, 1_790_000_000))
    assert run_cli(["kdump", "status", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "saved dumps in /var/crash:" in out
    assert f"Linux {OLD}  3.0 MiB  /var/crash/20261204-101500\n" in out
    assert "Kernel panic - not syncing: sysrq triggered crash" in out
    assert "20261204-111500.incomplete INCOMPLETE" in out
    assert run_cli(["kdump", "status", "--json", "--root", str(tmp_path)]) == 0
    dumps = json.loads(capsys.readouterr().out)["dumps"]
    assert [(d["complete"], d["size"], d["kernel"]) for d in dumps] == [
        (True, 3 << 20, OLD),
        (False, 0, OLD),
    ]
    assert dumps[0]["time"] == 1_790_000_000


def test_panic_line_prefers_the_panic_over_earlier_lines() -> None:
    assert panic_line("[ 1.0] BUG: x\n[ 2.0] Kernel panic - not syncing: Fatal exception\n") == (
        "Kernel panic - not syncing: Fatal exception"
    )
    assert panic_line("nothing here\n") is None


def test_test_refuses_without_a_loaded_crash_kernel(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    redhat(tmp_path)
    fake = RecordingEffects(tmp_path)
    assert run_cli(["kdump", "test", "--yes", "--root", str(tmp_path)], fake) == 5
    err = capsys.readouterr().err
    assert "no crash kernel is loaded" in err and "kdump enable" in err
    assert fake.calls == []


def test_test_asks_then_crashes_through_effects(tmp_path: Path) -> None:
    sysroot = redhat(tmp_path)
    sysroot.set("/sys/kernel/kexec_crash_loaded", "1")
    fake = RecordingEffects(tmp_path)
    assert run_cli(["kdump", "test", "--root", str(tmp_path)], fake, answer="n\n") == 10
    assert fake.calls == []
    # The fake's crash returns, as a kernel that did not crash would: an error, not success.
    assert run_cli(["kdump", "test", "--root", str(tmp_path)], fake, answer="y\n") == 1
    assert fake.names() == ["sync", "trigger_crash"]
    assert any("sysrq c" in message for _, message in fake.events)


def test_debian_systemd_without_any_kdump_file_is_a_config_error(tmp_path: Path) -> None:
    debian_systemd(tmp_path)
    assert run_cli(["kdump", "enable", "--root", str(tmp_path)], RecordingEffects(tmp_path)) == 3


def test_with_the_package_kdump_enable_writes_no_file(tmp_path: Path) -> None:
    from fastreboot.act import units

    redhat(tmp_path)
    for path, (text, _mode) in units.package_files().items():
        target = tmp_path / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    fake = RecordingEffects(tmp_path)
    assert run_cli(["kdump", "enable", "--root", str(tmp_path)], fake) == 0
    assert "write_file" not in fake.names()
    assert _loaded_cmdline(fake).endswith("systemd.unit=fastreboot-kdump-save.service")
    assert run_cli(["kdump", "disable", "--root", str(tmp_path)], fake) == 0
    assert "remove_file" not in fake.names()


@pytest.mark.parametrize(
    ("init", "conf", "asked"),
    [
        ("systemd", "final_action halt\n", "run systemctl --no-block halt"),
        ("systemd", "final_action poweroff\n", "run systemctl --no-block poweroff"),
        ("sysv", "final_action reboot\n", "run telinit 6"),
        ("sysv", "final_action poweroff\n", "run telinit 0"),
    ],
)
def test_the_final_action_goes_through_the_init_system(
    tmp_path: Path, init: str, conf: str, asked: str
) -> None:
    sysroot = debian_sysv(tmp_path) if init == "sysv" else debian_systemd(tmp_path)
    sysroot.write("/proc/vmcore", b"ELF")
    sysroot.write("/etc/kdump.conf", conf)
    fake = RecordingEffects(tmp_path, commands=("systemctl", "telinit"), dmesg=DMESG)
    assert run_cli(["kdump", "save", "--root", str(tmp_path)], fake) == 0
    assert fake.names()[-2:] == ["sync", asked]
