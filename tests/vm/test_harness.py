"""Tests of the VM harness itself, independent of the fastreboot product code.

They prove that each image boots to its ready marker on the older kernel, that the
console plumbing reports output and exit codes faithfully, that a kexec is seen as a
new boot with no firmware reset, and that a firmware reboot is seen as QEMU exiting.
Timings are printed (run with ``-s`` to see them).
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable

import pytest

from harness import CommandFailed, Guest, GuestExited, GuestFactory, GuestImage, GuestPanicked
from harness.accel import accel_args, parse_qemu_version, tcg_threading
from harness.images import PROJECT_LABEL

pytestmark = pytest.mark.vm

BOOT_TIMEOUT = 300.0
Timings = Callable[[str, float], None]


def _boot(
    factory: GuestFactory, image: GuestImage, name: str, timings: Timings,
    *, firmware: str = "direct", allow_reset: bool = False,
) -> Guest:
    guest = factory(image, name=name, firmware=firmware, allow_reset=allow_reset)
    ready = guest.wait_ready(timeout=BOOT_TIMEOUT)
    assert guest.started_at is not None
    assert ready.shell_time is not None
    timings(f"{name}: QEMU start -> READY", ready.host_time - guest.started_at)
    timings(f"{name}: QEMU start -> root shell", ready.shell_time - guest.started_at)
    timings(f"{name}: guest uptime at READY", ready.uptime)
    return guest


def _lines(guest: Guest, command: str) -> list[str]:
    return guest.run(command).output.splitlines()


@pytest.mark.parametrize("variant", ["systemd", "sysv", "redhat"])
def test_boots_to_ready_on_the_older_kernel(
    variant: str, request: pytest.FixtureRequest, guest_factory: GuestFactory,
    timings: Timings,
) -> None:
    image: GuestImage = request.getfixturevalue(f"{variant}_image")
    assert image.variant == variant
    assert image.old_version != image.new_version
    guest = _boot(guest_factory, image, variant, timings)
    ready = guest.current
    assert ready is not None

    # The READY line and the shell agree on the running kernel: the older one.
    assert ready.kernel == image.old_version
    assert _lines(guest, "uname -r") == [image.old_version]
    assert _lines(guest, "cat /proc/sys/kernel/random/boot_id") == [ready.boot_id]
    assert image.root_arg in guest.run("cat /proc/cmdline").output.split()

    # run() reports output (stdout + stderr, in order) and exit codes faithfully.
    result = guest.run("echo out; echo err >&2; exit 3", check=False)
    assert (result.exit_code, result.output.splitlines()) == (3, ["out", "err"])
    with pytest.raises(CommandFailed):
        guest.run("false")
    quoted = guest.run("""printf '%s|' "a b" 'c'"'"'d' "$((6 * 7))" """)
    assert quoted.output == "a b|c'd|42|"
    big = guest.run("python3 -c 'print(\"x\" * 5000)' | wc -c; echo " + "y" * 4000 + " | wc -c")
    assert big.output.split() == ["5001", "4001"]

    # PID 1 is the variant's init.
    assert _lines(guest, "cat /proc/1/comm") == ["init" if variant == "sysv" else "systemd"]

    # The working tree is mounted read-only from the project disk, and the wrapper is there.
    assert _lines(guest, "findmnt -no SOURCE,OPTIONS /opt/fastreboot")[0].startswith(
        "/dev/vdb ro"
    )
    guest.run("test -x /usr/local/bin/fastreboot && test -d /opt/fastreboot/src")
    manifest = _lines(guest, "cat /opt/fastreboot/MANIFEST")
    assert manifest, "project disk manifest is empty"
    assert _lines(guest, "cd /opt/fastreboot && find src -type f | sort") == sorted(manifest)
    # A guest Python of the host's version imports fastreboot from the disk's .pyc files
    # (checked by mtime, so mkfs.ext4 -d must keep the copies' mtimes): the guest cannot
    # write __pycache__, and compiling on every run would distort every timing.
    if _lines(guest, "python3 -c 'import sys; print(sys.version_info[1])'") == [
        str(sys.version_info[1])
    ]:
        verbose = guest.run(
            "PYTHONPATH=/opt/fastreboot/src python3 -v -c 'import fastreboot.cli.commands' 2>&1"
        ).output
        loaded = re.findall(r"code object from '?(/opt/fastreboot/\S+?)'?$", verbose, re.M)
        assert len(loaded) >= 10, verbose[-2000:]
        assert all("/__pycache__/" in path for path in loaded), loaded

    # The victim is running and has not been stopped yet on this fresh disk.
    if variant == "sysv":
        guest.run("/etc/init.d/victim status")
    else:
        assert _lines(guest, "systemctl is-active victim.service") == ["active"]
    assert not guest.run("test -e /var/lib/victim/records", check=False).ok

    # Boot-loader layout.
    new, old = image.new_version, image.old_version
    if variant == "redhat":
        guest.run("test ! -e /vmlinuz && test ! -e /initrd.img && test ! -e /etc/default/kexec")
        machine_id = _lines(guest, "cat /etc/machine-id")[0]
        assert machine_id == image.meta["machine_id"]
        entries = _lines(guest, "ls -1 /boot/loader/entries")
        assert entries == sorted([f"{machine_id}-{old}.conf", f"{machine_id}-{new}.conf"])
        entry = _lines(guest, f"cat /boot/loader/entries/{machine_id}-{new}.conf")
        assert f"linux /boot/vmlinuz-{new}" in entry
        assert f"initrd /boot/initramfs-{new}.img" in entry
        assert any(line.startswith(f"options {image.root_arg} ") for line in entry)
        guest.run(f"test -s /boot/initramfs-{new}.img && test -s /boot/initramfs-{old}.img")
        guest.run("grep -qx 'KEXEC_ARGS=\"\"' /etc/sysconfig/kdump")
        guest.run("grep -q '^KDUMP_COMMANDLINE_APPEND=' /etc/sysconfig/kdump")
    else:
        assert _lines(guest, "readlink /vmlinuz /initrd.img") == [
            f"boot/vmlinuz-{new}", f"boot/initrd.img-{new}"
        ]
        assert _lines(guest, "grep '^LOAD_KEXEC=' /etc/default/kexec") == ["LOAD_KEXEC=false"]
        assert _lines(guest, "cat /sys/kernel/kexec_loaded") == ["0"]

    assert guest.resets == []
    assert guest.running


def test_manual_kexec_round_trip(
    systemd_image: GuestImage, guest_factory: GuestFactory, timings: Timings
) -> None:
    image = systemd_image
    guest = _boot(guest_factory, image, "kexec", timings)
    first = guest.current
    assert first is not None and first.kernel == image.old_version
    new = image.new_version

    guest.run(f"kexec -s -l /boot/vmlinuz-{new} --initrd=/boot/initrd.img-{new} "
              "--reuse-cmdline")
    assert _lines(guest, "cat /sys/kernel/kexec_loaded") == ["1"]
    sent = guest.send("systemctl kexec")
    second = guest.wait_reboot(timeout=BOOT_TIMEOUT)
    assert second.shell_time is not None
    timings("kexec: `systemctl kexec` sent -> READY (round trip)", second.host_time - sent)
    timings("kexec: `systemctl kexec` sent -> root shell", second.shell_time - sent)
    timings("kexec: new kernel's uptime at READY", second.uptime)

    assert second.boot_id != first.boot_id
    assert second.kernel == new
    assert _lines(guest, "uname -r") == [new]
    # No firmware reset: QEMU is still the same process and saw no RESET/SHUTDOWN.
    assert guest.resets == []
    assert guest.running and not guest.exited
    # The old boot stopped the victim cleanly, and only once.
    assert _lines(guest, "cat /var/lib/victim/records") == [f"stopped boot_id={first.boot_id}"]
    assert image.root_arg in guest.run("cat /proc/cmdline").output.split()


def test_qemu_version_decides_tcg_threading() -> None:
    debian12 = "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\nCopyright"
    assert parse_qemu_version(debian12) == (7, 2)
    assert parse_qemu_version("QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2)") == (10, 0)
    with pytest.raises(ValueError, match="no QEMU version"):
        parse_qemu_version("qemu-system-x86_64: command not found")
    # 8.1 is the first release with "accel/tcg: Always lock pages before translation".
    assert [tcg_threading(v) for v in [(7, 2), (8, 0), (8, 1), (10, 0)]] == [
        "single", "single", "multi", "multi"]
    assert "tcg,thread=single,tb-size=128" in accel_args("tcg", (7, 2))
    assert "tcg,thread=multi,tb-size=128" in accel_args("tcg", (10, 0))
    assert accel_args("kvm", (7, 2)) == ["-accel", "kvm", "-cpu", "host"]


def test_a_guest_kernel_panic_ends_the_wait_at_once(
    systemd_image: GuestImage, guest_factory: GuestFactory, timings: Timings
) -> None:
    guest = _boot(guest_factory, systemd_image, "panic", timings)
    t0 = time.monotonic()
    # The kernel does not reboot after a panic (panic=0): only the console tells.
    with pytest.raises(GuestPanicked) as raised:
        guest.run("echo c > /proc/sysrq-trigger", timeout=BOOT_TIMEOUT)
    waited = time.monotonic() - t0
    timings("panic: sysrq crash -> GuestPanicked", waited)
    assert waited < 30
    report = str(raised.value)
    assert "Kernel panic - not syncing: sysrq triggered crash" in report
    assert "Call Trace:" in report and "---[ end Kernel panic" in report  # all of it
    assert guest.running  # the panicked kernel spins; QEMU itself did not exit


def test_systemctl_reboot_without_kexec_is_a_firmware_reset(
    systemd_image: GuestImage, guest_factory: GuestFactory, timings: Timings
) -> None:
    image = systemd_image
    guest = _boot(guest_factory, image, "firmware", timings)
    first = guest.current
    assert first is not None
    assert _lines(guest, "cat /sys/kernel/kexec_loaded") == ["0"]

    sent = guest.send("systemctl reboot")
    with pytest.raises(GuestExited):
        guest.wait_reboot(timeout=BOOT_TIMEOUT)
    timings("firmware: `systemctl reboot` sent -> QEMU exit", time.monotonic() - sent)
    assert guest.exited and guest.exit_status == 0
    reasons = [(e.name, e.data.get("reason")) for e in guest.resets]
    assert ("SHUTDOWN", "guest-reset") in reasons or any(n == "RESET" for n, _ in reasons)

    # Play the firmware's part: boot the same disk again.  The victim was stopped cleanly.
    guest.start()
    second = guest.wait_ready(timeout=BOOT_TIMEOUT)
    assert second.boot_id != first.boot_id
    assert second.kernel == image.old_version
    assert _lines(guest, "cat /var/lib/victim/records") == [f"stopped boot_id={first.boot_id}"]


def test_sysv_runlevel_6_kexecs_as_notes_say(
    sysv_image: GuestImage, guest_factory: GuestFactory, timings: Timings
) -> None:
    """Debian's sysv scripts (harness/NOTES.md): with LOAD_KEXEC=true, runlevel 6 loads
    /vmlinuz (the newer kernel) with the current command line and kexecs into it; with
    LOAD_KEXEC=false, a kernel loaded beforehand is still executed by /etc/init.d/kexec."""
    image = sysv_image
    old, new = image.old_version, image.new_version
    guest = _boot(guest_factory, image, "sysv-kexec", timings)
    first = guest.current
    assert first is not None and first.kernel == old

    guest.run("sed -i 's/^LOAD_KEXEC=.*/LOAD_KEXEC=true/' /etc/default/kexec")
    sent = guest.send("reboot")
    second = guest.wait_reboot(timeout=BOOT_TIMEOUT)
    timings("sysv: `reboot` (LOAD_KEXEC=true) sent -> READY", second.host_time - sent)
    assert second.boot_id != first.boot_id
    assert second.kernel == new
    assert guest.resets == [] and guest.running
    assert _lines(guest, "cat /var/lib/victim/records") == [f"stopped boot_id={first.boot_id}"]

    guest.run("sed -i 's/^LOAD_KEXEC=.*/LOAD_KEXEC=false/' /etc/default/kexec")
    guest.run(f"kexec -s -l /boot/vmlinuz-{old} --initrd=/boot/initrd.img-{old} "
              "--reuse-cmdline")
    sent = guest.send("reboot")
    third = guest.wait_reboot(timeout=BOOT_TIMEOUT)
    timings("sysv: `reboot` (LOAD_KEXEC=false, kernel preloaded) sent -> READY",
            third.host_time - sent)
    assert third.boot_id not in (first.boot_id, second.boot_id)
    assert third.kernel == old
    assert guest.resets == [] and guest.running
    assert _lines(guest, "cat /var/lib/victim/records") == [
        f"stopped boot_id={first.boot_id}", f"stopped boot_id={second.boot_id}"
    ]


@pytest.mark.parametrize("firmware", ["grub-bios", "grub-uefi"])
def test_grub_boot_disk_boots_vmlinuz_and_again_after_a_firmware_reset(
    firmware: str, systemd_image: GuestImage, guest_factory: GuestFactory, timings: Timings
) -> None:
    # The bench's firmware reboots through a disk bootloader, as a real server's: the
    # firmware starts GRUB, GRUB loads /vmlinuz (the newer kernel) from the root disk.
    image = systemd_image
    guest = _boot(guest_factory, image, firmware, timings, firmware=firmware,
                  allow_reset=True)
    first = guest.current
    assert first is not None and first.kernel == image.new_version
    cmdline = guest.run("cat /proc/cmdline").output.split()
    assert cmdline[0] == "BOOT_IMAGE=/vmlinuz" and image.root_arg in cmdline
    # The disks keep their names: the boot disk comes after the root and project disks.
    assert _lines(guest, "findmnt -no SOURCE /") == ["/dev/vda"]
    assert _lines(guest, f"readlink -f /dev/disk/by-label/{PROJECT_LABEL}") == ["/dev/vdb"]
    assert any("GRUB: booting /vmlinuz" in line for _, line in guest.console_lines)

    sent = guest.send("systemctl reboot")
    second = guest.wait_reboot(timeout=BOOT_TIMEOUT)
    timings(f"{firmware}: `systemctl reboot` sent -> READY", second.host_time - sent)
    assert any(e.name == "RESET" for e in guest.resets), "no firmware reset seen"
    assert second.boot_id != first.boot_id and second.kernel == image.new_version
    grub_lines = [line for _, line in guest.console_lines if "GRUB: booting /vmlinuz" in line]
    assert len(grub_lines) == 2, "GRUB did not run again after the reset"
