"""kdump end to end in one Debian 12 guest (image variant "kdump": makedumpfile installed),
booted with crashkernel= and allowed to reset (the capture boot's final reboot goes
through the firmware, which boots the guest again by itself).

One guest for every scenario: enable, a fast reboot that loads the crash kernel again,
`kdump test --yes` -> panic -> capture boot -> dump saved -> firmware reboot -> `kdump
status` lists it; then without the reservation (its memory given back to the kernel
through /sys/kernel/kexec_crash_size) enable and test refuse and change nothing.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

from harness import Guest, GuestImage
from harness.images import NEW_KERNEL_VERSION as NEW
from harness.images import OLD_KERNEL_VERSION as OLD
from tests.vm.summary import record
from tests.vm.test_scenarios import booted_guest, fast_reboot

# Small, so that makedumpfile is quick under TCG; the reservation is what `kdump status`
# asks for with the Debian 12 cloud kernel and its initramfs (about 122 MiB), and more.
MEMORY_MB = 768
RESERVE = "crashkernel=256M"
MIB = 1 << 20


def _crash_loaded(guest: Guest) -> str:
    return guest.run("cat /sys/kernel/kexec_crash_loaded").output.strip()


def _unseen(guest: Guest, command: str) -> str:
    """The command's output, carried in base64: the harness takes a "Kernel panic" line on
    the console for a real panic, and the saved panic line is what these commands print."""
    encoded = guest.run(f"set -o pipefail; {command} | base64 -w0").output
    return base64.b64decode(encoded).decode()


def _kdump_status(guest: Guest) -> dict[str, object]:
    document = json.loads(_unseen(guest, "fastreboot kdump status --json"))
    assert isinstance(document, dict)
    return document


def test_kdump_end_to_end(kdump_image: GuestImage, project_disk: Path, tmp_path: Path) -> None:
    started = time.monotonic()
    with booted_guest(
        kdump_image,
        project_disk,
        tmp_path,
        "kdump",
        append=RESERVE,
        memory_mb=MEMORY_MB,
        allow_reset=True,
    ) as guest:
        guest.run("printf 'KDUMP_COREDIR=\"/var/crash\"\\n' > /etc/default/kdump-tools")
        status = _kdump_status(guest)
        levels = {c["name"]: c["level"] for c in status["checks"]}  # type: ignore[attr-defined]
        assert levels["crashkernel"] == levels["makedumpfile"] == levels["dump-room"] == "ok", (
            status
        )
        assert levels["kdump-save"] == "warning" and status["dumps"] == []

        guest.run("fastreboot kdump enable")
        assert _crash_loaded(guest) == "1"
        status = _kdump_status(guest)
        assert str(status["cmdline"]).endswith("systemd.unit=fastreboot-kdump-save.service")
        assert "crashkernel" not in str(status["cmdline"])

        # A fast reboot: the unit loads the crash kernel again, early in the new boot.
        _, after, downtime = fast_reboot(guest, "fastreboot reboot --yes")
        assert after.kernel == NEW
        assert _crash_loaded(guest) == "1"
        assert guest.run("systemctl is-active fastreboot-kdump.service").output == "active"
        record("kdump enable + fast reboot", f"crash kernel loaded again, down {downtime:.1f} s")

        # The crash on purpose. No firmware reset may come before the dump is saved.
        guest.expect_panic()
        resets = len(guest.resets)
        sent = guest.send("fastreboot kdump test --yes")
        back = guest.wait_reboot(timeout=600)
        lines = guest.console_since(sent)
        saved = [t for t, line in lines if "dump saved in /var/crash/" in line]
        assert saved, guest.tail(60)
        assert guest.expected_panics, "no Kernel panic line after kdump test"
        panic_at, panic = guest.expected_panics[-1]
        assert "sysrq triggered crash" in panic, panic
        new_resets = guest.resets[resets:]
        assert new_resets, "the capture boot did not reboot through the firmware"
        assert all(e.host_time > saved[0] for e in new_resets), (new_resets, saved)
        assert back.kernel == OLD  # the firmware boots QEMU's -kernel again
        assert _crash_loaded(guest) == "1"

        status = _kdump_status(guest)
        dumps = status["dumps"]
        assert isinstance(dumps, list) and len(dumps) == 1, dumps
        [dump] = dumps
        assert dump["complete"] and dump["kernel"] == NEW, dump
        assert "sysrq triggered crash" in (dump["panic"] or ""), dump
        assert 0 < dump["size"] < MEMORY_MB * MIB // 4, dump
        log = _unseen(guest, f"cat {dump['directory']}/dmesg.txt")
        assert "sysrq: Trigger a crash" in log and f"Linux version {NEW}" in log
        assert guest.run(f"ls -d {dump['directory']}.incomplete 2>&1 || true").output.endswith(
            "No such file or directory"
        )
        text = _unseen(guest, "fastreboot kdump status")
        assert f"Linux {NEW}" in text and "sysrq triggered crash" in text
        record(
            "kdump test",
            f"panic -> dump saved {saved[0] - panic_at:.1f} s later, firmware reset after it,"
            f" back {back.host_time - sent:.1f} s after the command; dump"
            f" {dump['size'] / MIB:.1f} MiB of {MEMORY_MB} MiB",
        )

        # Without the reservation: enable and test refuse with the hint, nothing changes.
        # The kernel gives the reserved memory back when 0 is written to kexec_crash_size
        # (only with no crash kernel loaded): the state of a boot without crashkernel=,
        # without the 45 s of another reboot.
        guest.run("fastreboot kdump disable")
        assert _crash_loaded(guest) == "0"
        guest.run("echo 0 > /sys/kernel/kexec_crash_size")
        assert guest.run("cat /sys/kernel/kexec_crash_size").output.strip() == "0"
        units_before = guest.run("ls /etc/systemd/system/ | sort").output
        refused = guest.run("fastreboot kdump enable", check=False)
        assert refused.exit_code == 5, refused.output
        assert "no memory is reserved for a crash kernel" in refused.output
        assert "crashkernel=" in refused.output  # the hint
        refused = guest.run("fastreboot kdump test --yes", check=False)
        assert refused.exit_code == 5, refused.output
        assert "no crash kernel is loaded" in refused.output and "kdump enable" in refused.output
        assert guest.run("ls /etc/systemd/system/ | sort").output == units_before
        assert "fastreboot-kdump" not in units_before
        assert _crash_loaded(guest) == "0"
        assert len(_kdump_status(guest)["dumps"]) == 1  # type: ignore[arg-type]
        record("kdump without crashkernel=", "enable and test refuse (exit 5), nothing changed")
    record("kdump scenario", f"{time.monotonic() - started:.0f} s in all")
