"""`fastreboot enable --preload`: the kernel stays loaded from boot on, and is refreshed when
it goes stale; a kernel somebody asked for is never replaced automatically."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fastreboot.act import units
from tests.unit.cli_helpers import run_cli
from tests.unit.fakes import RecordingEffects
from tests.unit.staging import (
    KEXEC_JOBS,
    REBOOT_JOBS,
    STATE,
    WITH_KEXEC,
    debian_with_kexec_tools,
    loads,
    touch_kernel,
)
from tests.unit.sysroots import Sysroot, debian_sysv


@pytest.fixture
def machine(tmp_path: Path) -> Path:
    return debian_with_kexec_tools(tmp_path)


def load_count(fake: RecordingEffects) -> int:
    return len(loads(fake))


def origin(machine: Path) -> str:
    return str(json.loads((machine / STATE).read_text())["origin"])


def preload(machine: Path, fake: RecordingEffects) -> None:
    assert run_cli(["load", "--yes", "--preload", "--root", str(machine)], fake) == 0


def test_preload_loads_once_and_again_only_when_the_plan_changed(machine: Path) -> None:
    fake = RecordingEffects(machine, commands=WITH_KEXEC)
    preload(machine, fake)
    assert load_count(fake) == 1 and origin(machine) == "preload"
    preload(machine, fake)  # what fastreboot-preload.path does when nothing relevant changed
    assert load_count(fake) == 1
    touch_kernel(machine)  # e.g. the package manager replaced the kernel
    preload(machine, fake)
    assert load_count(fake) == 2


@pytest.mark.parametrize("who", ["fastreboot load", "kexec -l by hand", "fastreboot cold"])
def test_preload_leaves_a_chosen_kernel_and_a_cold_request_alone(machine: Path, who: str) -> None:
    fake = RecordingEffects(machine, commands=WITH_KEXEC)
    if who == "fastreboot load":
        assert run_cli(["load", "--yes", "--root", str(machine)], fake) == 0
    elif who == "kexec -l by hand":
        (machine / "sys/kernel/kexec_loaded").write_text("1\n")
    else:
        (machine / "run/fastreboot").mkdir(parents=True)
        (machine / "run/fastreboot/cold").write_text("")
    before = load_count(fake)
    touch_kernel(machine)
    preload(machine, fake)
    assert load_count(fake) == before


def test_a_reboot_refreshes_a_stale_preload_even_as_a_kexec(machine: Path) -> None:
    # With a kernel loaded, systemd's `reboot` (252) starts kexec.target, not reboot.target: the
    # auto-load unit must still notice that a kernel was installed after the preload.
    preload(machine, RecordingEffects(machine, commands=WITH_KEXEC))
    touch_kernel(machine)
    stop = RecordingEffects(
        machine, commands=WITH_KEXEC, stdout={"systemctl list-jobs": KEXEC_JOBS}
    )
    assert run_cli(["load", "--yes", "--record", "--on-reboot", "--root", str(machine)], stop) == 0
    assert load_count(stop) == 1
    fresh = RecordingEffects(
        machine, commands=WITH_KEXEC, stdout={"systemctl list-jobs": REBOOT_JOBS}
    )
    assert run_cli(["load", "--yes", "--on-reboot", "--root", str(machine)], fresh) == 0
    assert load_count(fresh) == 0  # up to date now: checked, not loaded again


def test_fastreboot_reboot_takes_over_a_preload_and_the_unit_then_keeps_out(
    machine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = RecordingEffects(machine, commands=WITH_KEXEC)
    preload(machine, fake)
    capsys.readouterr()
    assert run_cli(["reboot", "--yes", "--root", str(machine)], fake) == 0
    assert "already loaded by fastreboot-preload at" in capsys.readouterr().out
    assert load_count(fake) == 1 and origin(machine) == "command"
    # Its `systemctl kexec` stops fastreboot-auto-load.service: nothing more to do there.
    stop = RecordingEffects(
        machine, commands=WITH_KEXEC, stdout={"systemctl list-jobs": KEXEC_JOBS}
    )
    touch_kernel(machine)
    assert run_cli(["load", "--yes", "--on-reboot", "--root", str(machine)], stop) == 0
    assert stop.names() == []


def test_a_failed_reboot_request_keeps_the_preloaded_kernel(machine: Path) -> None:
    preload(machine, RecordingEffects(machine, commands=WITH_KEXEC))
    fake = RecordingEffects(machine, commands=WITH_KEXEC, fail_commands=("systemctl",))
    assert run_cli(["reboot", "--yes", "--root", str(machine)], fake) == 8
    assert "kexec_unload" not in fake.names()
    assert (machine / "sys/kernel/kexec_loaded").read_text() == "1\n"


def test_enable_preload_installs_and_starts_the_units_and_enable_alone_removes_them(
    machine: Path,
) -> None:
    fake = RecordingEffects(machine, commands=WITH_KEXEC)
    assert run_cli(["enable", "--preload", "--root", str(machine)], fake) == 0
    service = (machine / units.PRELOAD_UNIT.lstrip("/")).read_text()
    assert "ExecStart=" in service and "load --yes --preload" in service
    assert "After=multi-user.target" in service and "IOSchedulingClass=idle" in service
    path = (machine / units.PRELOAD_PATH_UNIT.lstrip("/")).read_text()
    for watched in ("/boot", "/boot/grub/grubenv", "/boot/loader/entries", "/etc/fastreboot.toml"):
        assert f"PathChanged={watched}\n" in path
    names = fake.names()
    assert "run systemctl enable fastreboot-preload.path fastreboot-preload.service" in names
    assert names[-1] == "run systemctl start --no-block fastreboot-preload.service"

    preload(machine, fake)  # what the service then does
    assert run_cli(["enable", "--root", str(machine)], fake) == 0
    assert not (machine / units.PRELOAD_UNIT.lstrip("/")).exists()
    assert not (machine / units.PRELOAD_PATH_UNIT.lstrip("/")).exists()
    assert "kexec_unload" in fake.names()  # or `reboot` would still kexec into it


def test_disable_unloads_a_preload_but_not_a_chosen_kernel(machine: Path) -> None:
    fake = RecordingEffects(machine, commands=WITH_KEXEC)
    assert run_cli(["enable", "--preload", "--root", str(machine)], fake) == 0
    assert run_cli(["load", "--yes", "--root", str(machine)], fake) == 0  # asked for
    assert run_cli(["disable", "--root", str(machine)], fake) == 0
    assert "kexec_unload" not in fake.names()
    assert "run systemctl disable --now fastreboot-preload.path fastreboot-preload.service" in (
        fake.names()
    )


def test_preload_needs_systemd(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    debian_sysv(tmp_path)
    assert (
        run_cli(["enable", "--preload", "--root", str(tmp_path)], RecordingEffects(tmp_path)) == 2
    )
    assert "--preload needs systemd" in capsys.readouterr().err


@pytest.mark.parametrize("how", ["--preload", "--on-reboot"])
def test_a_preload_that_cannot_be_planned_any_more_is_unloaded(machine: Path, how: str) -> None:
    preload(machine, RecordingEffects(machine, commands=WITH_KEXEC))
    # Someone broke the configuration: nothing can be planned (shell is never run).
    Sysroot(machine).write("/etc/default/kexec", 'LOAD_KEXEC=true\nKERNEL_IMAGE="$(ls /boot)"\n')
    fake = RecordingEffects(
        machine, commands=WITH_KEXEC, stdout={"systemctl list-jobs": KEXEC_JOBS}
    )
    assert run_cli(["load", "--yes", how, "--root", str(machine)], fake) != 0
    assert "kexec_unload" in fake.names()
    assert (machine / "sys/kernel/kexec_loaded").read_text() == "0\n"


def test_a_failed_explicit_load_leaves_the_preload_alone(machine: Path) -> None:
    preload(machine, RecordingEffects(machine, commands=WITH_KEXEC))
    fake = RecordingEffects(machine, commands=WITH_KEXEC)
    args = ["load", "--yes", "--kernel", "/boot/missing", "--root", str(machine)]
    assert run_cli(args, fake) != 0
    assert "kexec_unload" not in fake.names()
