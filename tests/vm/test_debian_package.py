"""The Debian package in a Debian 12 guest: `apt install ./fastreboot_*.deb` (the .deb on
the second disk, no working tree in the guest), `fastreboot enable`, a fast reboot with
the usual oracles, the man page and the completion; then `apt purge` leaves no unit, hook
or state behind, and a plain `reboot` goes through the firmware again. One guest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import GuestImage, build_project_disk
from harness.guest_records import completed_record
from tests.unit.test_debian import build_deb, require_build_tools
from tests.vm.summary import record
from tests.vm.test_scenarios import booted_guest, fast_reboot, firmware_reboot, victim_stopped

pytestmark = pytest.mark.vm
# (the image's own fastreboot-ready.service marks the end of each boot for the harness)
UNITS = "fastreboot-{record,auto-load,preload}*"
LEFT_OVER = (
    f"/lib/systemd/system/{UNITS}",
    f"/etc/systemd/system/{UNITS}",
    f"/etc/systemd/system/*.wants/{UNITS}",
    "/usr/lib/systemd/system-shutdown/fastreboot",
    "/etc/init.d/fastreboot*",
    "/etc/rc?.d/*fastreboot*",
    "/etc/fastreboot.toml",
    "/var/lib/fastreboot",
    "/run/fastreboot",
    "/usr/sbin/fastreboot",
    "/usr/lib/python3/dist-packages/fastreboot",
)


def test_the_debian_package_installs_fast_reboots_and_purges_cleanly(
    debpkg_image: GuestImage, tmp_path: Path
) -> None:
    require_build_tools()
    deb = build_deb(tmp_path / "build")
    packages = tmp_path / "packages"
    packages.mkdir()
    (packages / deb.name).write_bytes(deb.read_bytes())
    disk = build_project_disk(tmp_path / "packages.img", packages, bytecode=False)

    with booted_guest(debpkg_image, disk, tmp_path, "debpkg") as guest:
        assert guest.run("command -v fastreboot || echo none").output.strip() == "none"
        guest.run(
            "cd /mnt/packages/src && DEBIAN_FRONTEND=noninteractive"
            " apt install -y ./fastreboot_*.deb >/tmp/apt.log 2>&1"
            " || (cat /tmp/apt.log; false)",
            timeout=300,
        )
        assert guest.run("command -v fastreboot").output.strip() == "/usr/sbin/fastreboot"
        module = guest.run("python3 -c 'import fastreboot; print(fastreboot.__file__)'").output
        assert module.strip() == "/usr/lib/python3/dist-packages/fastreboot/__init__.py"
        # the package enables nothing by itself
        enabled = guest.run("systemctl is-enabled fastreboot-auto-load.service", check=False)
        assert enabled.output.strip() == "disabled", enabled.output
        status = json.loads(guest.run("fastreboot status --json").output)
        assert "firmware" in status["reboot_would"] and not status["record_unit_installed"]

        guest.run("fastreboot enable", timeout=120)
        status = json.loads(guest.run("fastreboot status --json").output)
        assert status["reboot_would"].startswith("fast reboot"), status
        assert status["record_unit_installed"] is True
        # enable wrote nothing next to the package's files
        assert (
            guest.run(f"ls /etc/systemd/system/{UNITS} 2>/dev/null | wc -l").output.strip() == "0"
        )

        before, after, downtime = fast_reboot(guest, "fastreboot reboot --yes")
        assert victim_stopped(guest, before.boot_id)
        last = completed_record(guest)
        assert last["state"] == "ok" and last["boot_id"] == after.boot_id, last

        page = guest.run("MANWIDTH=80 man fastreboot 2>&1 | cat").output
        assert "fastreboot reboot" in page and "KERNEL SELECTION OPTIONS" in page, page[:500]
        toml_page = guest.run("MANWIDTH=80 man 5 fastreboot.toml 2>&1 | cat").output
        assert "strip_cmdline" in toml_page, toml_page[:500]
        completion = guest.run(
            "bash -c '. /usr/share/bash-completion/bash_completion;"
            " __load_completion fastreboot; complete -p fastreboot;"
            " COMP_WORDS=(fastreboot reb); COMP_CWORD=1; _fastreboot;"
            ' echo "offered: ${COMPREPLY[*]}"\''
        ).output
        assert "complete -F _fastreboot fastreboot" in completion, completion
        assert "offered: reboot" in completion, completion

        guest.run(
            "DEBIAN_FRONTEND=noninteractive apt purge -y fastreboot >/tmp/apt.log 2>&1"
            " || (cat /tmp/apt.log; false)",
            timeout=300,
        )
        left = guest.run(
            f"bash -c 'ls -d {' '.join(LEFT_OVER)} 2>/dev/null' || true"
        ).output.strip()
        assert left == "", f"left behind: {left}"
        units = guest.run(
            "systemctl list-unit-files 'fastreboot-*' --no-legend | grep -vc fastreboot-ready"
            " || true"
        ).output
        assert units.strip() == "0", units
        assert guest.run("cat /sys/kernel/kexec_loaded").output.strip() == "0"
        took = firmware_reboot(guest, "reboot")
    record(
        "debian package",
        f"apt install, enable, fast reboot {downtime:.1f} s (record {last['downtime_s']} s),"
        f" man and completion, purge: nothing left, plain reboot through the firmware"
        f" ({took:.1f} s)",
    )
