"""Scenarios on Debian 13 "trixie": systemd 257, Linux 6.12, kexec-tools 2.0.29.

What changed since Debian 12, and what each scenario pins down in a real guest:
- systemd >= 254 turns `reboot` and `systemctl reboot` into a kexec when a kernel is
  loaded, but only through logind (a flag systemctl passes on the system bus). Without the
  bus both commands reset through the firmware. `fastreboot status` must say which.
- `fastreboot cold` must still reset through the firmware with a kernel loaded.
- Debian's kexec-tools has no LOAD_KEXEC and no init scripts any more; its own kexec path is
  `kexec-load-kernel`, then `reboot`.
- systemd 254 and later soft-reboot (`systemctl soft-reboot`): userspace restarts, the kernel
  and the boot id stay. `--kind soft` and `--kind auto` (soft for the running kernel, kexec
  for the newer one) must do that, and the downtime record must see it (t5).
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from harness import Guest, GuestImage
from harness.guest_records import completed_record
from harness.qemu import ReadyInfo
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


# Records every start and stop of its own, with the boot id and the uptime: a soft
# reboot must stop it and start it again in the same boot. One line each for the console.
_TWICE_SCRIPT = (
    "#!/bin/sh\\n"
    'echo \\"$1 $(cat /proc/sys/kernel/random/boot_id) $(cut -d\\" \\" -f1 /proc/uptime)\\"'
    " >> /var/lib/twice; sync\\n"
)
_TWICE_UNIT = (
    "[Unit]\\nDescription=records its start and stop\\n[Service]\\nType=oneshot\\n"
    "RemainAfterExit=yes\\nExecStart=/usr/local/sbin/twice start\\n"
    "ExecStop=/usr/local/sbin/twice stop\\n[Install]\\nWantedBy=multi-user.target\\n"
)


def soft_reboot(guest: Guest, command: str) -> tuple[ReadyInfo, ReadyInfo, float]:
    """Send a command that must soft-reboot: userspace announces itself again, with the
    same boot id and kernel, QEMU still running and no reset."""
    before = guest.current
    assert before is not None
    resets = len(guest.resets)
    sent = guest.send(command)
    after = guest.wait_reboot(timeout=300)
    assert (after.boot_id, after.kernel) == (before.boot_id, before.kernel)
    assert after.uptime > before.uptime
    assert not guest.exited and guest.resets[resets:] == []
    return before, after, after.host_time - sent


def _plan(guest: Guest, args: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(guest.run(f"fastreboot plan --json {args}").output)
    return result


def test_t5_soft_reboot_and_auto(
    trixie_image: GuestImage, project_disk: Path, tmp_path: Path
) -> None:
    old, new = trixie_image.old_version, trixie_image.new_version
    with booted_guest(trixie_image, project_disk, tmp_path, "trixie-soft") as guest:
        guest.run("fastreboot setup")
        guest.run(
            f"printf {shlex.quote(_TWICE_SCRIPT)} > /usr/local/sbin/twice"
            " && chmod 755 /usr/local/sbin/twice"
            f" && printf {shlex.quote(_TWICE_UNIT)} > /etc/systemd/system/twice.service"
            " && systemctl daemon-reload && systemctl enable --now twice.service"
        )
        # auto: the newer kernel is the default, so kexec; the running one, so soft.
        plan = _plan(guest, "--kind auto")
        assert plan["reboot_kind"] == "kexec" and new in plan["reboot_kind_why"], plan
        assert plan["soft_reboot"]["would_do"] is False
        plan = _plan(guest, "--kind auto --target running")
        assert plan["reboot_kind"] == "soft", plan
        assert plan["kernel_unchanged"] is True and plan["soft_reboot"]["possible"] is True
        plan = _plan(guest, "--target running")  # the default kind still says it
        assert plan["reboot_kind"] == "kexec" and plan["soft_reboot"]["would_do"] is True
        assert any("a soft reboot would do" in note for note in plan["notes"]), plan

        before, after, downtime = soft_reboot(guest, "fastreboot reboot --kind soft --yes")
        twice = guest.run("cat /var/lib/twice").output.splitlines()
        assert [line.split()[:2] for line in twice[-2:]] == [
            ["stop", before.boot_id],
            ["start", before.boot_id],
        ], twice
        assert float(twice[-1].split()[2]) > float(twice[-2].split()[2]) > before.uptime
        last = completed_record(guest)
        assert (last["state"], last["kind"]) == ("ok", "soft"), last
        assert last["from_boot_id"] == last["boot_id"] == before.boot_id, last
        assert last["to_kernel"] == "(the running kernel)", last  # --kind soft, newer default
        assert last["downtime_s"] is not None, last
        assert downtime - 4 <= last["downtime_s"] <= downtime + 0.5, (downtime, last)
        assert set(last["phases"]) == {"shutdown_s", "userspace_s"}, last
        soft = f"soft: {downtime:.1f} s (record {last['downtime_s']} s, phases {last['phases']})"

        _, _, auto_soft = soft_reboot(
            guest, "fastreboot reboot --kind auto --target running --yes"
        )
        last = completed_record(guest)
        assert (last["state"], last["kind"]) == ("ok", "soft"), last

        before, after, auto_kexec, last = recorded_fast_reboot(
            guest, "fastreboot reboot --kind auto --yes"
        )
        assert (before.kernel, after.kernel, last["kind"]) == (old, new, "kexec"), last
        record(
            "t5 trixie: soft reboot, auto",
            f"{soft}; auto, running kernel: soft, {auto_soft:.1f} s;"
            f" auto, newer kernel installed: kexec, {auto_kexec:.1f} s",
        )
