"""The way back when the new kernel fails (issue 16), as planned: the running kernel's
bootloader entry, the watchdog, panic=N; on the real grub-mkconfig/kernel-install fixtures."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from fastreboot.boot.grub import grub_selection
from fastreboot.config.own import read_own_config
from fastreboot.plan.fallback import WayBackKind, find_way_back, plan_fallback
from fastreboot.sysroot import SysRoot
from tests.unit.cli_helpers import run_cli
from tests.unit.sysroots import bzimage
from tests.unit.test_grub import make_root

NEW, OLD = "6.1.0-56-amd64", "6.1.0-47-amd64"
UUID = "5a0e1b6c-2f3d-4e8a-9b7c-1d2e3f4a5b6c"
CMDLINE = f"BOOT_IMAGE=/boot/vmlinuz-{OLD} root=/dev/vda1 ro quiet"


def machine(tmp_path: Path, case: str, running: str = OLD, cmdline: str = CMDLINE) -> Path:
    root = make_root(tmp_path, case)
    for kernel in (root / "boot").glob("vmlinuz-*"):
        kernel.write_bytes(bzimage(kernel.name.removeprefix("vmlinuz-")))
    (root / "proc/sys/kernel").mkdir(parents=True, exist_ok=True)
    (root / "proc/sys/kernel/osrelease").write_text(running + "\n")
    (root / "proc/cmdline").write_text(cmdline + "\n")
    return root


def plan_json(root: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, Any]:
    assert run_cli(["plan", "--json", "--root", str(root), *extra]) == 0
    plan: dict[str, Any] = json.loads(capsys.readouterr().out)
    return plan


def checks_of(plan: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["level"] for c in plan["checks"]}


def test_grub_way_back_is_the_running_kernels_id_path_and_grub_boots_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # debian-saved: the saved default is the old kernel; plan the new one explicitly.
    root = machine(tmp_path, "debian-saved")
    plan = plan_json(root, capsys, "--kernel", NEW)
    fallback = plan["fallback"]
    assert fallback["enabled"] and fallback["possible"]
    entry = f"gnulinux-advanced-{UUID}>gnulinux-{OLD}-advanced-{UUID}"
    assert fallback["way_back"] == {
        "kind": "grub-next-entry",
        "entry": entry,
        "title": f"Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux {OLD}",
        "grubenv": "/boot/grub/grubenv",
    }
    assert plan["cmdline"].split()[-1] == "panic=10"
    assert checks_of(plan)["fallback-way-back"] == "ok"
    assert checks_of(plan)["fallback-panic"] == "ok"
    assert checks_of(plan)["fallback-watchdog"] == "warning"
    assert fallback["watchdog"] is None and fallback["watchdog_timeout"] == 120
    # The oracle: GRUB itself, with that one-shot entry set, boots the running kernel.
    env = root / "boot/grub/grubenv"
    env.write_text(env.read_text().replace("saved_entry=", f"next_entry={entry}\nsaved_entry=", 1))
    selection = grub_selection(SysRoot(root))
    assert selection is not None and selection.default is not None
    assert selection.via == "next_entry"
    assert selection.default.kernel == f"/boot/vmlinuz-{OLD}"
    assert "recovery" not in selection.default.title


def test_running_new_kernel_way_back_skips_the_recovery_entry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = machine(tmp_path, "debian-next-entry", running=NEW)
    fallback = plan_json(root, capsys)["fallback"]
    assert (
        fallback["way_back"]["entry"] == f"gnulinux-advanced-{UUID}>gnulinux-{NEW}-advanced-{UUID}"
    )


def test_without_grubenv_there_is_no_way_back_and_no_panic(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = machine(tmp_path, "debian-default")
    plan = plan_json(root, capsys)
    assert plan["fallback"]["way_back"] is None
    assert "grubenv" in plan["fallback"]["no_way_back"]
    assert checks_of(plan)["fallback-way-back"] == "warning"
    assert "panic=" not in plan["cmdline"]
    assert run_cli(["plan", "--root", str(root)]) == 0
    text = capsys.readouterr().out
    assert "way back: none" in text and "watchdog: none" in text


def test_running_kernel_without_entry_has_no_way_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = machine(tmp_path, "debian-saved", running="6.1.0-99-amd64")
    fallback = plan_json(root, capsys)["fallback"]
    assert fallback["way_back"] is None and not fallback["possible"]
    assert "no entry for the running kernel 6.1.0-99-amd64" in fallback["no_way_back"]


def test_no_fallback_option_and_toml_turn_it_off(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = machine(tmp_path, "debian-saved")
    plan = plan_json(root, capsys, "--no-fallback")
    assert plan["fallback"]["enabled"] is False and plan["fallback"]["why_off"] == "--no-fallback"
    assert "panic=" not in plan["cmdline"]
    assert not any(name.startswith("fallback-") for name in checks_of(plan))
    (root / "etc").mkdir(exist_ok=True)
    (root / "etc/fastreboot.toml").write_text("fallback = false\n")
    plan = plan_json(root, capsys)
    assert plan["fallback"]["enabled"] is False
    assert "fastreboot.toml" in plan["fallback"]["why_off"]
    assert run_cli(["plan", "--root", str(root)]) == 0
    assert "fallback: off" in capsys.readouterr().out


def test_panic_already_on_the_command_line_is_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = machine(tmp_path, "debian-saved")
    plan = plan_json(root, capsys, "--append", "panic=3")
    assert plan["fallback"]["panic_timeout"] is None
    assert plan["fallback"]["panic_on_cmdline"] == "panic=3"
    assert [w for w in plan["cmdline"].split() if w.startswith("panic")] == ["panic=3"]


def test_watchdog_and_timeouts_from_the_toml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = machine(tmp_path, "debian-saved")
    (root / "sys/class/watchdog/watchdog0").mkdir(parents=True)
    (root / "etc").mkdir(exist_ok=True)
    (root / "etc/fastreboot.toml").write_text("watchdog_timeout = 600\npanic_timeout = 5\n")
    plan = plan_json(root, capsys)
    assert plan["fallback"]["watchdog"] == "/dev/watchdog"
    assert plan["fallback"]["watchdog_timeout"] == 600
    # Found but not armed, and the plan says so rather than promise a reset it cannot
    # give: Linux stops the watchdog on kexec (harness/NOTES.md).
    assert plan["fallback"]["watchdog_armed"] is False
    warning = next(c for c in plan["checks"] if c["name"] == "fallback-watchdog")
    assert warning["level"] == "warning" and "not armed" in warning["message"]
    assert plan["cmdline"].split()[-1] == "panic=5"
    assert run_cli(["plan", "--root", str(root)]) == 0
    text = capsys.readouterr().out
    assert "watchdog: /dev/watchdog found, not armed" in text


@pytest.mark.parametrize("value", ["0", "true", '"120"', "1.5"])
def test_bad_timeout_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    root = machine(tmp_path, "debian-saved")
    (root / "etc").mkdir(exist_ok=True)
    (root / "etc/fastreboot.toml").write_text(f"target = 'default'\nwatchdog_timeout = {value}\n")
    assert run_cli(["plan", "--root", str(root)]) == 3
    assert "fastreboot.toml:2: watchdog_timeout" in capsys.readouterr().err


def test_soft_reboot_has_no_fallback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = machine(tmp_path, "debian-saved")
    plan = plan_json(root, capsys, "--kind", "cold")
    assert plan["fallback"] is None
    assert "panic=" not in plan["cmdline"]


def test_bls_way_back_is_the_loader_entry_id(tmp_path: Path) -> None:
    fixture = Path(__file__).parent.parent / "fixtures" / "bls" / "kernel-install-boot"
    shutil.copytree(fixture, tmp_path, dirs_exist_ok=True)
    way_back, why = find_way_back(SysRoot(tmp_path), OLD, None)
    assert why is None and way_back is not None
    assert way_back.kind is WayBackKind.LOADER_ENTRY_ONESHOT
    assert way_back.entry == f"4098b3f648d74c13b1f04ccfba7798e8-{OLD}"
    assert read_own_config(SysRoot(tmp_path)).fallback is None
    # Found, but not armed before the jump: no way back is promised, and no panic=.
    fallback = plan_fallback(
        SysRoot(tmp_path), read_own_config(SysRoot(tmp_path)), release=OLD, choice=None,
        cmdline="root=/dev/vda ro", off_by_option=False,
    )
    assert fallback.way_back is None and not fallback.possible
    assert fallback.no_way_back is not None and way_back.entry in fallback.no_way_back
    assert fallback.panic_timeout is None


# --- acting: the way back armed before the jump, judged in the next boot ---------------

NEXT_BOOT = "4a4e2f2e-0000-4000-8000-000000000002"
RECORDS_DIR = "var/lib/fastreboot/records"


def grub_machine(tmp_path: Path) -> tuple[Path, str]:
    """A running Debian 12 (systemd) whose GRUB's saved default is the running kernel."""
    from tests.unit.sysroots import debian_systemd

    root = machine(tmp_path, "debian-saved")
    sysroot = debian_systemd(root, links=False)
    sysroot.running(OLD, CMDLINE)
    sysroot.write("/etc/systemd/system/fastreboot-record.service", "[Unit]\n")
    entry = f"gnulinux-advanced-{UUID}>gnulinux-{OLD}-advanced-{UUID}"
    return root, entry


def test_reboot_sets_next_entry_after_the_load_and_before_the_record(tmp_path: Path) -> None:
    from tests.unit.fakes import RecordingEffects

    root, entry = grub_machine(tmp_path)
    fake = RecordingEffects(root)
    assert run_cli(["reboot", "--yes", "--kernel", NEW, "--root", str(root)], fake) == 0
    names = fake.names()
    set_call = f"run /usr/sbin/grub-editenv /boot/grub/grubenv set next_entry={entry}"
    # Only the one-shot entry is written: the saved default (saved_entry) is not touched.
    assert [n for n in names if "grub-editenv" in n] == [set_call]
    assert names.index("kexec_file_load") < names.index(set_call)
    record_write = next(
        i
        for i, call in enumerate(fake.calls)
        if call[0] == "write_file" and "records" in str(call[1])
    )
    assert names.index(set_call) < record_write
    assert names[-1] == "run systemctl --no-block kexec"
    (record,) = [json.loads(p.read_text()) for p in (root / RECORDS_DIR).glob("*.json")]
    assert record["fallback_entry"] == entry and record["grubenv"] == "/boot/grub/grubenv"
    kernel = (root / f"boot/vmlinuz-{NEW}").stat()
    assert record["to_kernel_id"] == [kernel.st_size, kernel.st_mtime_ns]
    assert "panic=10" in record["cmdline"].split()


def test_a_refused_reboot_undoes_next_entry_and_unloads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.unit.fakes import RecordingEffects

    root, entry = grub_machine(tmp_path)
    fake = RecordingEffects(root, fail_commands=["systemctl"])
    assert run_cli(["reboot", "--yes", "--kernel", NEW, "--root", str(root)], fake) == 8
    editenv = [n for n in fake.names() if "grub-editenv" in n]
    assert editenv == [
        f"run /usr/sbin/grub-editenv /boot/grub/grubenv set next_entry={entry}",
        "run /usr/sbin/grub-editenv /boot/grub/grubenv unset next_entry",
    ]
    assert "kexec_unload" in fake.names()


def test_a_failed_load_touches_no_bootloader(tmp_path: Path) -> None:
    from tests.unit.fakes import RecordingEffects

    root, _ = grub_machine(tmp_path)
    fake = RecordingEffects(root, fail_load="failed")
    assert run_cli(["reboot", "--yes", "--kernel", NEW, "--root", str(root)], fake) != 0
    assert not any("grub-editenv" in n for n in fake.names())


def test_no_fallback_sets_no_next_entry(tmp_path: Path) -> None:
    from tests.unit.fakes import RecordingEffects

    root, _ = grub_machine(tmp_path)
    fake = RecordingEffects(root)
    args = ["reboot", "--yes", "--no-fallback", "--kernel", NEW, "--root", str(root)]
    assert run_cli(args, fake) == 0
    assert not any("grub-editenv" in n for n in fake.names())


def boot_params(root: Path, *, kexec: bool) -> None:
    import struct

    data = bytearray(4096)
    struct.pack_into("B", data, 0x210, 0xD0 if kexec else 0x30)
    path = root / "sys/kernel/boot_params/data"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(data))


def next_boot(root: Path, release: str, cmdline: str, *, kexec: bool) -> None:
    (root / "proc/sys/kernel/random/boot_id").write_text(NEXT_BOOT + "\n")
    (root / "proc/sys/kernel/osrelease").write_text(release + "\n")
    (root / "proc/cmdline").write_text(cmdline + "\n")
    (root / "proc/uptime").write_text("20.00 30.00\n")
    boot_params(root, kexec=kexec)


def test_fell_back_is_recorded_remembered_and_refused_until_retry_or_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.unit.fakes import RecordingEffects

    root, _ = grub_machine(tmp_path)
    assert (
        run_cli(["reboot", "--yes", "--kernel", NEW, "--root", str(root)], RecordingEffects(root))
        == 0
    )
    # The new kernel panicked; the firmware reset, GRUB booted next_entry (and cleared it).
    next_boot(root, OLD, CMDLINE, kexec=False)
    fake = RecordingEffects(root)
    assert run_cli(["record-boot", "--root", str(root)], fake) == 0
    (record,) = [json.loads(p.read_text()) for p in (root / RECORDS_DIR).glob("*.json")]
    assert record["state"] == "fell-back"
    assert record["to_version"] == NEW and record["came_up_version"] == OLD
    assert not any("grub-editenv" in n for n in fake.names())  # GRUB cleared it itself
    failed = json.loads((root / "var/lib/fastreboot/failed-kernel.json").read_text())
    assert failed["kernel"] == f"/boot/vmlinuz-{NEW}"
    assert failed["record_id"] == record["record_id"]
    capsys.readouterr()

    # The same image again: refused with exit 5, naming the attempt; nothing loaded.
    fake = RecordingEffects(root)
    assert run_cli(["reboot", "--yes", "--kernel", NEW, "--root", str(root)], fake) == 5
    err = capsys.readouterr().err
    assert "failed-kernel" in err and record["record_id"] in err and "--retry-failed" in err
    assert fake.names() == [] or "kexec_file_load" not in fake.names()
    assert run_cli(["load", "--kernel", NEW, "--root", str(root)], RecordingEffects(root)) == 5
    # Another kernel is not affected.
    assert run_cli(["check", "--kernel", OLD, "--root", str(root)]) == 0
    # Asked for explicitly: tried again.
    fake = RecordingEffects(root)
    args = ["reboot", "--yes", "--retry-failed", "--kernel", NEW, "--root", str(root)]
    assert run_cli(args, fake) == 0
    assert "kexec_file_load" in fake.names()
    # That retry came up: the kernel works after all and is forgotten, so the next fast
    # reboot into it needs no option (seen in the guest, tests/vm/test_fallback.py).
    (retry,) = [
        r for p in (root / RECORDS_DIR).glob("*.json")
        if (r := json.loads(p.read_text()))["state"] == "pending"
    ]
    next_boot(root, NEW, retry["cmdline"], kexec=True)
    (root / "proc/sys/kernel/random/boot_id").write_text(NEXT_BOOT.replace("0", "1") + "\n")
    fake = RecordingEffects(root)
    assert run_cli(["record-boot", "--root", str(root)], fake) == 0
    assert ("remove_file", "/var/lib/fastreboot/failed-kernel.json") in fake.calls
    assert not (root / "var/lib/fastreboot/failed-kernel.json").exists()
    assert run_cli(["check", "--kernel", NEW, "--root", str(root)]) == 0
    # A rebuilt image (another mtime) gets its chance without the option.
    import os

    kernel = root / f"boot/vmlinuz-{NEW}"
    os.utime(kernel, ns=(kernel.stat().st_atime_ns, kernel.stat().st_mtime_ns + 10**9))
    assert run_cli(["check", "--kernel", NEW, "--root", str(root)]) == 0


def test_a_good_boot_clears_next_entry_and_is_ok(tmp_path: Path) -> None:
    from tests.unit.fakes import RecordingEffects

    root, entry = grub_machine(tmp_path)
    assert (
        run_cli(["reboot", "--yes", "--kernel", NEW, "--root", str(root)], RecordingEffects(root))
        == 0
    )
    (record,) = [json.loads(p.read_text()) for p in (root / RECORDS_DIR).glob("*.json")]
    # The fake ran no grub-editenv: write what it would have left.
    env = root / "boot/grub/grubenv"
    env.write_text(env.read_text().replace("saved_entry=", f"next_entry={entry}\nsaved_entry=", 1))
    next_boot(root, NEW, record["cmdline"], kexec=True)
    fake = RecordingEffects(root)
    assert run_cli(["record-boot", "--root", str(root)], fake) == 0
    assert [n for n in fake.names() if "grub-editenv" in n] == [
        "run /usr/sbin/grub-editenv /boot/grub/grubenv unset next_entry"
    ]
    (record,) = [json.loads(p.read_text()) for p in (root / RECORDS_DIR).glob("*.json")]
    assert record["state"] == "ok"
    assert not (root / "var/lib/fastreboot/failed-kernel.json").exists()


def test_status_shows_fell_back_and_whether_fallback_is_possible(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.unit.fakes import RecordingEffects

    root, _ = grub_machine(tmp_path)
    assert run_cli(["status", "--json", "--root", str(root)]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["fallback_possible"] is True and status["fell_back"] is False
    args = ["reboot", "--yes", "--kernel", NEW, "--root", str(root)]
    assert run_cli(args, RecordingEffects(root)) == 0
    next_boot(root, OLD, CMDLINE, kexec=False)
    assert run_cli(["record-boot", "--root", str(root)], RecordingEffects(root)) == 0
    capsys.readouterr()
    assert run_cli(["status", "--root", str(root)]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"FELL BACK: the fast reboot into {NEW} never came up")
    assert "fallback:            possible" in text
    assert f"failed kernel:       /boot/vmlinuz-{NEW}" in text
    (root / "boot/grub/grubenv").unlink()
    assert run_cli(["status", "--json", "--root", str(root)]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["fell_back"] is True and status["fallback_possible"] is False
    assert "grubenv" in status["fallback_why_not"]


def test_the_shutdown_auto_load_arms_the_way_back_too(tmp_path: Path) -> None:
    from tests.unit.fakes import RecordingEffects
    from tests.unit.staging import REBOOT_JOBS

    root, entry = grub_machine(tmp_path)
    args = ["load", "--yes", "--record", "--on-reboot", "--kernel", NEW, "--root", str(root)]
    fake = RecordingEffects(root, stdout={"systemctl list-jobs": REBOOT_JOBS})
    assert run_cli(args, fake) == 0
    set_call = f"run /usr/sbin/grub-editenv /boot/grub/grubenv set next_entry={entry}"
    assert fake.names().index("kexec_file_load") < fake.names().index(set_call)
    (record,) = [json.loads(p.read_text()) for p in (root / RECORDS_DIR).glob("*.json")]
    assert record["fallback_entry"] == entry
    # A failing grub-editenv does not stop the reboot under way; the record has no way back.
    (root / "sys/kernel/kexec_loaded").write_text("0\n")
    for old in (root / RECORDS_DIR).glob("*.json"):
        old.unlink()
    fake = RecordingEffects(
        root, stdout={"systemctl list-jobs": REBOOT_JOBS}, fail_commands=["/usr/sbin/grub-editenv"]
    )
    assert run_cli(args, fake) == 0
    (record,) = [json.loads(p.read_text()) for p in (root / RECORDS_DIR).glob("*.json")]
    assert record["fallback_entry"] is None
    # A plain `load` (staging ahead of a window) leaves the bootloader alone.
    fake = RecordingEffects(root)
    assert run_cli(["load", "--reload", "--kernel", NEW, "--root", str(root)], fake) == 0
    assert not any("grub-editenv" in n for n in fake.names())


def test_without_the_record_unit_no_one_shot_entry_is_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.unit.fakes import RecordingEffects

    root, _ = grub_machine(tmp_path)
    (root / "etc/systemd/system/fastreboot-record.service").unlink()
    plan = plan_json(root, capsys, "--kernel", NEW)
    assert plan["fallback"]["way_back"] is None
    assert "fastreboot setup" in plan["fallback"]["no_way_back"]
    assert "panic=" not in plan["cmdline"]
    fake = RecordingEffects(root)
    assert run_cli(["reboot", "--yes", "--kernel", NEW, "--root", str(root)], fake) == 0
    assert not any("grub-editenv" in n for n in fake.names())
