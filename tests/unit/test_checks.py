from __future__ import annotations

import os
from pathlib import Path

import pytest

from fastreboot.config.own import LoadMethod
from fastreboot.plan.checks import Level
from fastreboot.plan.plan import Options, make_plan
from fastreboot.sysroot import SysRoot
from tests.unit.sysroots import NEW, debian_systemd


def levels(tmp_path: Path, **options: object) -> dict[str, str]:
    plan = make_plan(SysRoot(tmp_path), Options(**options))  # type: ignore[arg-type]
    worst: dict[str, str] = {}
    order = {"ok": 0, "warning": 1, "error": 2}
    for check in plan.checks:
        if order[check.level] >= order.get(worst.get(check.name, "ok"), 0):
            worst[check.name] = str(check.level)
    return worst


def test_clean_system_has_no_errors(tmp_path: Path) -> None:
    debian_systemd(tmp_path)
    result = levels(tmp_path)
    assert result["kernel-image"] == "ok"
    assert result["initrd"] == "ok"
    assert result["modules"] == "ok"
    assert result["cmdline-root"] == "ok"
    assert result["kexec-support"] == "ok"
    assert result["cap-sys-boot"] == "ok"
    assert "error" not in result.values()


def test_missing_initrd(tmp_path: Path) -> None:
    sysroot = debian_systemd(tmp_path)
    sysroot.remove(f"/boot/initrd.img-{NEW}")
    assert levels(tmp_path)["initrd"] == "error"


def test_corrupt_kernel(tmp_path: Path) -> None:
    sysroot = debian_systemd(tmp_path)
    sysroot.write(f"/boot/vmlinuz-{NEW}", b"\0" * 4096)
    plan = make_plan(SysRoot(tmp_path), Options())
    errors = {c.name: c.message for c in plan.errors}
    assert "kernel-image" in errors


def test_kernel_whose_header_disagrees_with_its_name(tmp_path: Path) -> None:
    from tests.unit.sysroots import bzimage

    sysroot = debian_systemd(tmp_path)
    sysroot.write(f"/boot/vmlinuz-{NEW}", bzimage("6.1.0-99-cloud-amd64"))
    plan = make_plan(SysRoot(tmp_path), Options())
    assert any("its name says" in c.message for c in plan.errors)


def test_world_writable_kernel_is_refused(tmp_path: Path) -> None:
    debian_systemd(tmp_path)
    os.chmod(tmp_path / f"boot/vmlinuz-{NEW}", 0o666)  # noqa: S103 - the point of the test
    assert levels(tmp_path)["kernel-image"] == "error"


def test_missing_modules_is_a_warning(tmp_path: Path) -> None:
    debian_systemd(tmp_path)
    (tmp_path / f"lib/modules/{NEW}").rmdir()
    assert levels(tmp_path)["modules"] == "warning"


def test_no_root_in_cmdline(tmp_path: Path) -> None:
    debian_systemd(tmp_path)
    assert levels(tmp_path, command_line="console=ttyS0")["cmdline-root"] == "error"


@pytest.mark.parametrize(
    ("path", "value", "check"),
    [
        ("/proc/sys/kernel/kexec_load_disabled", "1", "kexec-load-disabled"),
        ("/proc/self/status", "CapEff:\t0000000000000000", "cap-sys-boot"),
    ],
)
def test_system_refusals(tmp_path: Path, path: str, value: str, check: str) -> None:
    sysroot = debian_systemd(tmp_path)
    sysroot.set(path, value)
    assert levels(tmp_path)[check] == "error"


def test_no_kexec_support(tmp_path: Path) -> None:
    sysroot = debian_systemd(tmp_path)
    sysroot.remove("/sys/kernel/kexec_loaded")
    assert levels(tmp_path)["kexec-support"] == "error"


def test_lockdown_blocks_kexec_load_but_warns_for_file_load(tmp_path: Path) -> None:
    sysroot = debian_systemd(tmp_path)
    sysroot.set("/sys/kernel/security/lockdown", "none [integrity] confidentiality")
    assert levels(tmp_path)["lockdown"] == "warning"
    assert levels(tmp_path, load_method=LoadMethod.LEGACY)["lockdown"] == "error"


def test_already_loaded_is_a_warning(tmp_path: Path) -> None:
    sysroot = debian_systemd(tmp_path)
    sysroot.set("/sys/kernel/kexec_loaded", "1")
    assert levels(tmp_path)["already-loaded"] == "warning"


def test_unknown_init_system_blocks_unless_forced(tmp_path: Path) -> None:
    sysroot = debian_systemd(tmp_path)
    (tmp_path / "run/systemd/system").rmdir()
    sysroot.set("/proc/1/comm", "runit")
    assert levels(tmp_path)["init-system"] == "error"
    assert "init-system" not in levels(tmp_path, force=True)


def test_world_writable_config_warns(tmp_path: Path) -> None:
    sysroot = debian_systemd(tmp_path)
    sysroot.write("/etc/fastreboot.toml", "", mode=0o666)
    plan = make_plan(SysRoot(tmp_path), Options())
    assert any(c.name == "config-permissions" and c.level is Level.WARNING for c in plan.checks)
