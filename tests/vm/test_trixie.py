"""Scenarios on Debian 13 "trixie": systemd 257, Linux 6.12, kexec-tools 2.0.29.

What changed since Debian 12, and what each scenario pins down in a real guest:
- systemd >= 254 turns `reboot` and `systemctl reboot` into a kexec when a kernel is
  loaded, but only through logind (a flag systemctl passes on the system bus). Without the
  bus both commands reset through the firmware. `fastreboot status` must say which.
- `fastreboot cold` must still reset through the firmware with a kernel loaded.
- Debian's kexec-tools has no LOAD_KEXEC and no init scripts any more; its own kexec path is
  `kexec-load-kernel`, then `reboot`.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness import Guest, GuestImage
from tests.vm.summary import record
from tests.vm.test_scenarios import (
    DEFAULT_LOAD_METHOD,
    booted_guest,
    fast_reboot,
    firmware_reboot,
    kexec_loaded,
    recorded_fast_reboot,
    recorded_summary,
    victim_stopped,
)


def _reboot_would(guest: Guest) -> str:
    return str(json.loads(guest.run("fastreboot status --json").output)["reboot_would"])


def test_t1_fast_reboot_and_debians_own_path(
    trixie_image: GuestImage, project_disk: Path, tmp_path: Path
) -> None:
    old, new = trixie_image.old_version, trixie_image.new_version
    with booted_guest(trixie_image, project_disk, tmp_path, "trixie") as guest:
        status = json.loads(guest.run("fastreboot status --json").output)
        assert status["systemd_version"] == 257, status
        plan = json.loads(guest.run("fastreboot plan --json").output)
        assert plan["kernel"] == f"/boot/vmlinuz-{new}"
        assert plan["load_method"] == DEFAULT_LOAD_METHOD
        guest.run("fastreboot setup")
        before, after, downtime, last = recorded_fast_reboot(
            guest, "fastreboot reboot --yes --append fastreboot.marker=t1"
        )
        assert (before.kernel, after.kernel) == (old, new)
        assert "fastreboot.marker=t1" in guest.run("cat /proc/cmdline").output.split()
        record(
            "t1 trixie fast reboot",
            "systemd 257, " + recorded_summary(before, after, downtime, last),
        )

        # Debian 13's documented path (kexec-tools' changelog): kexec-load-kernel; reboot.
        before, after, downtime = fast_reboot(guest, "kexec-load-kernel && reboot")
        assert after.kernel == new and victim_stopped(guest, before.boot_id)
        record("t2 trixie: Debian's kexec-load-kernel && reboot", f"kexec, {downtime:.1f} s")


def test_t3_status_says_what_reboot_does_with_and_without_the_system_bus(
    trixie_image: GuestImage, project_disk: Path, tmp_path: Path
) -> None:
    with booted_guest(trixie_image, project_disk, tmp_path, "trixie-bus") as guest:
        seen = []
        for command in ("systemctl reboot", "reboot"):
            guest.run("fastreboot load")
            would = _reboot_would(guest)
            assert would.startswith("kexec into the loaded kernel (systemd 257"), would
            _, after, downtime = fast_reboot(guest, command)
            assert after.kernel == trixie_image.new_version
            seen.append(f"`{command}`: kexec, {downtime:.1f} s")

        guest.run("systemctl stop dbus.socket dbus.service && fastreboot load")
        would = _reboot_would(guest)
        assert would.startswith("firmware reboot: systemd 257"), would
        took = firmware_reboot(guest, "systemctl reboot")
        seen.append(f"no system bus, `systemctl reboot`: firmware reset after {took:.1f} s")
        record("t3 trixie: status vs. a plain reboot, kernel loaded", "; ".join(seen))


def test_t4_enable_then_cold_with_a_loaded_kernel(
    trixie_image: GuestImage, project_disk: Path, tmp_path: Path
) -> None:
    with booted_guest(trixie_image, project_disk, tmp_path, "trixie-enable") as guest:
        guest.run("fastreboot enable")
        assert kexec_loaded(guest) == "0"
        before, after, downtime = fast_reboot(guest, "systemctl reboot")
        assert after.kernel == trixie_image.new_version and victim_stopped(guest, before.boot_id)

        # systemd 257 would kexec this kernel on `systemctl reboot`: cold must not.
        guest.run("fastreboot load")
        assert kexec_loaded(guest) == "1"
        took = firmware_reboot(guest, "fastreboot cold --yes")
        record(
            "t4 trixie: enable, then cold",
            f"`systemctl reboot` after enable: kexec, {downtime:.1f} s; "
            f"cold with a kernel loaded: firmware reset after {took:.1f} s",
        )
