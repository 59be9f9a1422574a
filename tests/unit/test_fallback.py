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
from fastreboot.plan.fallback import WayBackKind, find_way_back
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
    assert checks_of(plan)["fallback-watchdog"] == "ok"
    assert plan["cmdline"].split()[-1] == "panic=5"


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
