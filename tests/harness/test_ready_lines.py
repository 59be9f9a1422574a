"""The harness's console parsing: which READY lines are boots (no guest is started)."""

from __future__ import annotations

from pathlib import Path

from harness.images import GuestImage
from harness.qemu import Guest

BOOT = "11f8a62d-e12a-48d4-8049-22b65e3447ce"
NEXT = "92dcf871-88fc-4070-b0ba-e9f0abef95f1"


def _guest(tmp_path: Path) -> Guest:
    image = GuestImage("trixie", tmp_path / "d", tmp_path / "k", tmp_path / "i", "o", "n", "")
    return Guest(image, tmp_path / "g")


def _ready(boot_id: str, uptime: str, kmsg: bool = False) -> str:
    line = f"FASTREBOOT-READY boot_id={boot_id} kernel=6.12 uptime={uptime}"
    return f"[   {uptime}0000] {line}" if kmsg else line


def test_a_soft_reboot_is_a_boot_and_a_duplicate_marker_is_not(tmp_path: Path) -> None:
    guest = _guest(tmp_path)
    lines = [
        (1.0, _ready(BOOT, "22.80", kmsg=True)),  # the kmsg copy, then the tty's
        (1.1, _ready(BOOT, "22.80")),
        (2.0, f"FASTREBOOT-SHELL boot_id={BOOT}"),
        (40.0, _ready(BOOT, "59.26")),  # soft reboot: same boot id, later uptime
        (41.0, _ready(NEXT, "23.60")),  # kexec: a new boot id
    ]
    for now, line in lines:
        guest._on_line(now, line)
    assert [(b.boot_id, b.uptime) for b in guest.boots] == [
        (BOOT, 22.8),
        (BOOT, 59.26),
        (NEXT, 23.6),
    ]


def test_an_expected_panic_is_kept_apart_and_a_later_one_still_counts(tmp_path: Path) -> None:
    guest = _guest(tmp_path)
    guest._on_line(1.0, "[   12.1] Kernel panic - not syncing: before any expectation")
    assert guest._panic is not None
    guest = _guest(tmp_path)
    guest.expect_panic()
    guest._on_line(1.0, "[   12.1] Kernel panic - not syncing: sysrq triggered crash")
    assert guest.expected_panics == [
        (1.0, "[   12.1] Kernel panic - not syncing: sysrq triggered crash")
    ]
    assert guest._panic is None
    guest._on_line(2.0, "[   13.1] Kernel panic - not syncing: Attempted to kill init!")
    assert guest._panic is not None
    assert [line for _, line in guest.console_since(2.0)] == [
        "[   13.1] Kernel panic - not syncing: Attempted to kill init!"
    ]
