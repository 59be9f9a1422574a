"""bench/phases.py: the markers that split a reboot's downtime (synthetic console lines)."""

from __future__ import annotations

import pytest

from bench.phases import PhaseError, clean, compute

ESC = "\x1b"
OK = f"[{ESC}[0;32m  OK  {ESC}[0m]"


def console(*lines: tuple[float, str]) -> list[tuple[float, str]]:
    return list(lines)


KEXEC = console(
    (9.0, "FASTREBOOT-READY boot_id=old"),
    (10.2, "fastreboot plan"),
    (10.9, f"FRB# {OK} Stopped target {ESC}[0;1;39mgraphical.target{ESC}[0m - Graphical"),
    (11.5, f"         Stopping {ESC}[0;1;39mvictim.service{ESC}[0m..."),
    (13.0, "[   40.100000] kexec_core: Starting new kernel"),
    (17.0, "Loading, please wait..."),
    (30.0, "FASTREBOOT-READY boot_id=new"),
)


def test_kexec_phases() -> None:
    # READY at 30.0 with uptime 15.5: the new kernel's clock started at 14.5
    p = compute(KEXEC, 10.0, [], 30.0, 15.5)
    assert p.via == "kexec"
    assert p.prepare == pytest.approx(0.9)
    assert p.stop == pytest.approx(2.1)
    assert p.handover == pytest.approx(1.5)
    assert p.boot == pytest.approx(15.5)
    assert p.total == pytest.approx(20.0)
    assert p.prepare + p.stop + p.handover + p.boot == pytest.approx(p.total)
    assert p.kernel_to_initramfs == pytest.approx(2.5)
    assert p.handover_to_first_line == pytest.approx(4.0)
    assert p.kmsg_lines_in_stop == 1
    assert p.markers["last_old"]["text"].endswith("Starting new kernel")
    assert p.reset_after_last_line is None and p.firmware is None


def test_firmware_phases_split_at_the_reset() -> None:
    lines = console(
        (10.5, f"{OK} Removed slice system-getty.slice"),
        (12.0, "[   41.0] reboot: machine restart"),
        (12.5, "BdsDxe: loading Boot0001"),  # firmware output: after the reset
        (16.0, "Loading, please wait..."),
        (30.0, "FASTREBOOT-READY boot_id=new"),
    )
    p = compute(lines, 10.0, [12.2], 30.0, 16.0)
    assert p.via == "firmware"
    assert p.markers["last_old"]["text"] == "[   41.0] reboot: machine restart"
    assert p.reset_after_last_line == pytest.approx(0.2)
    assert p.firmware == pytest.approx(1.8)
    assert p.handover == pytest.approx(2.0)
    assert p.markers["first_new"]["text"] == "BdsDxe: loading Boot0001"


def test_no_shutdown_line_is_an_error() -> None:
    with pytest.raises(PhaseError):
        compute(console((11.0, "hello"), (30.0, "READY")), 10.0, [], 30.0, 5.0)


def test_clean_strips_escapes_and_prompts() -> None:
    assert clean(f"FRB# FRB# {OK} Stopped x") == "[  OK  ] Stopped x"


SOFT = console(
    (9.0, "FASTREBOOT-READY boot_id=same uptime=20.0"),
    (10.8, f"FRB# {OK} Stopped target {ESC}[0;1;39mgraphical.target{ESC}[0m - Graphical"),
    (12.0, f"{OK} Reached target {ESC}[0;1;39msoft-reboot.target{ESC}[0m - Reboot System"),
    (12.4, f"{ESC}[0;1;39mWelcome to {ESC}[0m{ESC}[1mDebian GNU/Linux 13 (trixie)"),
    (17.0, "FASTREBOOT-READY boot_id=same uptime=28.0"),
)


def test_soft_reboot_phases() -> None:
    # READY at 17.0 with uptime 28.0: the kernel's clock started at -11, before the command.
    p = compute(SOFT, 10.0, [], 17.0, 28.0)
    assert p.via == "soft"
    assert p.prepare == pytest.approx(0.8) and p.stop == pytest.approx(1.2)
    assert p.handover == pytest.approx(0.4)  # PID 1 executing itself again
    assert p.boot == pytest.approx(4.6)  # userspace only
    assert p.prepare + p.stop + p.handover + p.boot == pytest.approx(p.total)
    with pytest.raises(PhaseError, match="Welcome"):
        compute(SOFT[:3] + SOFT[4:], 10.0, [], 17.0, 28.0)
