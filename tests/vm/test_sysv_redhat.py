"""Scenarios on the sysvinit guest and the Red Hat-style guest."""

from __future__ import annotations

import json
from pathlib import Path

from harness import GuestImage
from harness.images import NEW_KERNEL_VERSION as NEW
from harness.images import OLD_KERNEL_VERSION as OLD
from tests.vm.summary import record
from tests.vm.test_scenarios import (
    booted_guest,
    fast_reboot,
    firmware_reboot,
    kexec_loaded,
    recorded_fast_reboot,
    recorded_summary,
    victim_stopped,
)


def test_2_and_4_sysvinit(sysv_image: GuestImage, project_disk: Path, tmp_path: Path) -> None:
    with booted_guest(sysv_image, project_disk, tmp_path, "sysv") as guest:
        assert guest.run("cat /proc/1/comm").output.strip() == "init"
        plan = json.loads(guest.run("fastreboot plan --json").output)
        assert plan["reboot_method"] == "sysv" and plan["kernel"] == f"/boot/vmlinuz-{NEW}"
        guest.run("fastreboot setup")  # the record script, at the end of the runlevel
        before, after, downtime, last = recorded_fast_reboot(
            guest, "fastreboot reboot --yes --append fastreboot.marker=s2"
        )
        assert (before.kernel, after.kernel) == (OLD, NEW)
        assert "fastreboot.marker=s2" in guest.run("cat /proc/cmdline").output.split()
        record("2 sysvinit fast reboot", recorded_summary(before, after, downtime, last))

        # Debian's own opt-in: LOAD_KEXEC=true makes a plain reboot a kexec under sysvinit.
        guest.run("sed -i 's/^LOAD_KEXEC=.*/LOAD_KEXEC=true/' /etc/default/kexec")
        assert "kexec" in json.loads(guest.run("fastreboot status --json").output)["reboot_would"]
        before, _, downtime = fast_reboot(guest, "reboot")
        assert victim_stopped(guest, before.boot_id)
        record("4 plain reboot, LOAD_KEXEC=true (sysvinit)", f"kexec, downtime {downtime:.1f} s")

        # fastreboot's own switch, with Debian's turned off.
        guest.run("sed -i 's/^LOAD_KEXEC=.*/LOAD_KEXEC=false/' /etc/default/kexec")
        guest.run("fastreboot enable")
        assert "K" in guest.run("ls /etc/rc6.d/ | grep fastreboot-auto-load").output
        before, after, downtime = fast_reboot(guest, "reboot")
        assert after.kernel == NEW and victim_stopped(guest, before.boot_id)
        record("4 plain reboot, fastreboot enabled (sysvinit)", f"kexec, downtime {downtime:.1f} s")

        guest.run("fastreboot disable")
        took = firmware_reboot(guest, "reboot")
        record("4 plain reboot, no opt-in (sysvinit)", f"firmware reset after {took:.1f} s")


def test_5_redhat_layout_and_kdump(
    redhat_image: GuestImage, project_disk: Path, tmp_path: Path
) -> None:
    with booted_guest(
        redhat_image, project_disk, tmp_path, "redhat", append="crashkernel=192M", memory_mb=1536
    ) as guest:
        plan = json.loads(guest.run("fastreboot plan --json").output)
        assert plan["source"] == "bls", plan
        assert plan["kernel"] == f"/boot/vmlinuz-{NEW}"
        assert plan["initrd"] == f"/boot/initramfs-{NEW}.img"

        # KEXEC_ARGS picks the syscall: -s is the direct kexec_file_load.
        guest.run("sed -i 's/^KEXEC_ARGS=.*/KEXEC_ARGS=\"-s\"/' /etc/sysconfig/kdump")
        result = guest.run("fastreboot --debug kdump load")
        assert "+ kexec" not in result.output
        assert guest.run("cat /sys/kernel/kexec_crash_loaded").output.strip() == "1"
        kdump = json.loads(guest.run("fastreboot kdump status --json").output)
        assert kdump["loaded"] is True and "crashkernel" not in kdump["cmdline"]
        # -c forces kexec-tools' kexec_load: the command it ran is logged under --debug.
        guest.run("fastreboot kdump unload")
        guest.run("sed -i 's/^KEXEC_ARGS=.*/KEXEC_ARGS=\"-c\"/' /etc/sysconfig/kdump")
        result = guest.run("fastreboot --debug kdump load")
        assert "+ kexec -p -c" in result.output, result.output
        assert guest.run("cat /sys/kernel/kexec_crash_loaded").output.strip() == "1"
        record(
            "5 red hat: kdump", "crash kernel loaded via kexec_file_load (-s) and kexec_load (-c)"
        )

        # Fast reboot to the BLS default, dropping crashkernel= from the command line...
        before, after, downtime = fast_reboot(
            guest,
            "fastreboot reboot --yes --command-line "
            "'root=/dev/vda ro console=ttyS0,115200 loglevel=4'",
        )
        assert after.kernel == NEW and victim_stopped(guest, before.boot_id)
        # ...so kdump now has no reservation and must refuse clearly.
        result = guest.run("fastreboot kdump load", check=False)
        assert result.exit_code == 5, result.output
        assert "no memory is reserved for a crash kernel" in result.output
        assert guest.run("cat /sys/kernel/kexec_crash_loaded").output.strip() == "0"
        assert kexec_loaded(guest) == "0"
        record(
            "5 red hat: BLS fast reboot",
            f"-> {NEW} from BLS, initramfs paired, downtime "
            f"{downtime:.1f} s; kdump refused without crashkernel=",
        )
