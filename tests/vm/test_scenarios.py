"""End-to-end: real fast reboots inside QEMU guests, with fastreboot from the working tree.

Oracles: the guest's boot id changes every boot; `uname -r` and /proc/cmdline show what
came up; QEMU runs with -no-reboot, so a firmware reset ends it (and QMP reports it) while
a kexec does not; a "victim" service appends `stopped boot_id=…` when it is stopped, so a
record from the old boot proves services were stopped cleanly.

Guests are shared within a module where the scenarios do not disturb each other; each
scenario is its own test and prints one line with its measured downtime.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import Guest, GuestImage
from harness.guest_records import completed_record
from harness.images import NEW_KERNEL_VERSION as NEW
from harness.images import OLD_KERNEL_VERSION as OLD
from harness.qemu import ReadyInfo
from tests.vm.summary import record

pytestmark = pytest.mark.vm
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "scenarios"


@contextlib.contextmanager
def booted_guest(
    image: GuestImage, project_disk: Path, workdir: Path, name: str, append: str = "", **kw: object
) -> Iterator[Guest]:
    """A guest booted to READY; always stopped, its logs kept in artifacts/scenarios/NAME
    (also when the boot itself fails)."""
    guest = Guest(image, workdir / name, name=name, project_disk=project_disk, append=append, **kw)  # type: ignore[arg-type]
    try:
        guest.start()
        guest.wait_ready(timeout=300)
        yield guest
    finally:
        stop_and_keep_logs(guest, ARTIFACTS)


def stop_and_keep_logs(guest: Guest, artifacts: Path) -> None:
    """Stop the guest and keep its logs in ARTIFACTS/NAME, whether the test passed or not."""
    guest.stop()
    dest = artifacts / guest.name
    dest.mkdir(parents=True, exist_ok=True)
    for path in (guest.console_log, guest.timed_log, guest.events_log, guest.qemu_log):
        if path.exists():
            shutil.copy2(path, dest / path.name)


def fast_reboot(guest: Guest, command: str) -> tuple[ReadyInfo, ReadyInfo, float]:
    """Send a reboot command; require a kexec: a new boot, QEMU still running, no reset."""
    before = guest.current
    assert before is not None
    resets = len(guest.resets)
    sent = guest.send(command)
    after = guest.wait_reboot(timeout=300)
    assert after.boot_id != before.boot_id
    assert not guest.exited, "QEMU exited: the guest went through a firmware reset"
    assert guest.resets[resets:] == [], f"firmware reset seen: {guest.resets[resets:]}"
    return before, after, after.host_time - sent


def firmware_reboot(guest: Guest, command: str) -> float:
    """Send a reboot command; require a firmware reset (under -no-reboot QEMU then exits)."""
    sent = guest.send(command)
    guest.wait_exit(timeout=180)
    resets = [e for e in guest.resets if e.host_time >= sent]
    assert resets, "QEMU exited without a RESET/SHUTDOWN event"
    return resets[0].host_time - sent


def victim_stopped(guest: Guest, boot_id: str) -> bool:
    out = guest.run("cat /var/lib/victim/records 2>/dev/null || true").output
    return f"stopped boot_id={boot_id}" in out


def kexec_loaded(guest: Guest) -> str:
    return guest.run("cat /sys/kernel/kexec_loaded").output.strip()


# ------------------------------------------------------------------ systemd guest


@pytest.fixture(scope="module")
def systemd_guest(
    systemd_image: GuestImage, project_disk: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Guest]:
    with booted_guest(
        systemd_image, project_disk, tmp_path_factory.mktemp("sd"), "systemd"
    ) as guest:
        yield guest


def test_7_answer_no_changes_nothing(systemd_guest: Guest) -> None:
    boot = systemd_guest.current
    assert boot is not None
    result = systemd_guest.run("echo n | fastreboot reboot", check=False)
    assert result.exit_code == 10, result.output
    assert "Do you want to perform a fast reboot (without hardware reboot)? [y/N]" in result.output
    assert "cancelled" in result.output
    assert kexec_loaded(systemd_guest) == "0"
    assert systemd_guest.run("cat /proc/sys/kernel/random/boot_id").output.strip() == boot.boot_id
    record("7 answer n", "exit 10, nothing loaded, same boot")


def test_soft_reboot_refused_on_systemd_252(systemd_guest: Guest) -> None:
    """systemd 252 has no soft reboot: --kind soft is a preflight error, auto picks kexec."""
    guest = systemd_guest
    result = guest.run("fastreboot reboot --kind soft --yes", check=False)
    assert result.exit_code == 5, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("fastreboot: ")]
    assert errors == [
        "fastreboot: preflight check reboot-kind failed: a soft reboot was asked for, but"
        " systemd 252 has no soft reboot (systemd 254 and later) (hint: use --kind kexec"
        " (or auto, which picks kexec here))"
    ], result.output
    assert kexec_loaded(guest) == "0"
    plan = json.loads(guest.run("fastreboot plan --json --kind auto --target running").output)
    assert plan["kernel_unchanged"] is True, plan  # the kernel stays: soft would do, but
    assert plan["reboot_kind"] == "kexec" and "systemd 252" in plan["reboot_kind_why"], plan
    assert plan["soft_reboot"]["possible"] is False, plan
    plan = json.loads(guest.run("fastreboot plan --json --kind auto").output)
    assert plan["reboot_kind"] == "kexec" and plan["kernel_version"] == NEW, plan
    record("soft on systemd 252", f"refused, exit 5: {errors[0]}; auto: kexec")


BAD_INPUTS = {
    "missing initrd": (
        "fastreboot reboot --yes --initrd /boot/initrd.img-gone",
        5,
        "does not exist",
    ),
    "corrupt kernel": (
        "head -c 65536 /dev/urandom > /root/vmlinuz-6.1.0-99-cloud-amd64 && "
        "fastreboot reboot --yes --kernel /root/vmlinuz-6.1.0-99-cloud-amd64",
        5,
        "vmlinuz-6.1.0-99",
    ),
    "kernel that does not exist": (
        "fastreboot reboot --yes --kernel /boot/vmlinuz-nope",
        4,
        "/boot/vmlinuz-nope does not exist",
    ),
    "unknown version": (
        "fastreboot reboot --yes --kernel 5.10.0-99-amd64",
        4,
        "no kernel version 5.10.0-99-amd64",
    ),
    "config with $(...)": (
        "cp /etc/default/kexec /root/kexec.saved; "
        "echo 'APPEND=\"$(cat /proc/cmdline) quiet\"' >> /etc/default/kexec; "
        "fastreboot reboot --yes; rc=$?; cp /root/kexec.saved /etc/default/kexec; exit $rc",
        3,
        "/etc/default/kexec:",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_6_bad_input_changes_nothing(systemd_guest: Guest, case: str) -> None:
    command, code, message = BAD_INPUTS[case]
    boot = systemd_guest.current
    assert boot is not None
    result = systemd_guest.run(command, check=False)
    assert result.exit_code == code, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("fastreboot: ")]
    assert len(errors) == 1 and message in errors[0], result.output
    assert kexec_loaded(systemd_guest) == "0"
    assert systemd_guest.run("cat /proc/sys/kernel/random/boot_id").output.strip() == boot.boot_id
    record(f"6 bad input ({case})", f"exit {code}: {errors[0]}")


# Where nothing needs either call: the file call, the faster one on silicon (KVM) and under
# QEMU 10's TCG alike.
DEFAULT_LOAD_METHOD = "kexec_file_load"


def recorded_fast_reboot(
    guest: Guest, command: str
) -> tuple[ReadyInfo, ReadyInfo, float, dict[str, Any]]:
    """fast_reboot() through fastreboot: the services stopped cleanly, and the record the
    new boot completed says so and agrees with the downtime the host measured."""
    before, after, downtime = fast_reboot(guest, command)
    assert victim_stopped(guest, before.boot_id), "the victim service was not stopped cleanly"
    last = completed_record(guest)
    assert last["state"] == "ok" and last["via_kexec"] is True, last
    assert (last["from_boot_id"], last["boot_id"]) == (before.boot_id, after.boot_id), last
    # The record spans request -> services up on the guest's clocks, the host's figure
    # command sent -> READY. The record leaves out the plan and load before the request,
    # whose length under TCG follows the host's load (no lower bound: that would time the
    # emulator); the clocks of the two boots come from the whole-second RTC, so +-1 s.
    assert last["downtime_s"] is not None, last
    assert 0 < last["downtime_s"] <= downtime + 1.5, (downtime, last)
    if guest.run("test -d /var/log/journal", check=False).ok:  # the shutdown, from the journal
        assert last["phases"].get("shutdown_s", 0) > 0 and last["slowest_stop"], last
    return before, after, downtime, last


def recorded_summary(
    before: ReadyInfo, after: ReadyInfo, downtime: float, last: dict[str, Any]
) -> str:
    """The one-line summary of a recorded_fast_reboot()."""
    return (
        f"{before.kernel} -> {after.kernel}, downtime {downtime:.1f} s "
        f"(record inside the guest: {last['downtime_s']} s), services stopped cleanly"
    )


def test_1_fast_reboot_systemd(systemd_guest: Guest) -> None:
    guest = systemd_guest
    plan = json.loads(guest.run("fastreboot plan --json").output)
    # kexec-tools' /etc/default/kexec names KERNEL_IMAGE="/vmlinuz", the link to the newer one
    assert plan["kernel"] == f"/boot/vmlinuz-{NEW}" and plan["source"] == "debian-config"
    assert "/etc/default/kexec" in plan["config_files"]
    assert plan["reboot_method"] == "systemd"
    assert plan["load_method"] == DEFAULT_LOAD_METHOD
    guest.run("fastreboot setup")
    before, after, downtime, last = recorded_fast_reboot(
        guest, "fastreboot reboot --yes --append fastreboot.marker=s1"
    )
    assert before.kernel == OLD and after.kernel == NEW
    cmdline = guest.run("cat /proc/cmdline").output.split()
    assert "fastreboot.marker=s1" in cmdline and "root=/dev/vda" in cmdline
    assert not any(w.startswith("BOOT_IMAGE=") for w in cmdline)
    record("1 systemd fast reboot", recorded_summary(before, after, downtime, last))


def test_1_fast_reboot_with_the_system_bus(
    dbus_image: GuestImage, project_disk: Path, tmp_path: Path
) -> None:
    # Most Debian 12 servers run dbus; then systemctl hands `kexec` to logind, not PID 1.
    with booted_guest(dbus_image, project_disk, tmp_path, "systemd-bus") as guest:
        assert guest.run("systemctl is-active dbus.service").output.strip() == "active"
        guest.run("fastreboot setup")
        before, after, downtime, last = recorded_fast_reboot(guest, "fastreboot reboot --yes")
        assert (before.kernel, after.kernel) == (OLD, NEW)
        record("1 systemd fast reboot, system bus", recorded_summary(before, after, downtime, last))


def test_8_five_fast_reboots_in_a_row(systemd_guest: Guest) -> None:
    guest = systemd_guest
    boot_ids = {guest.current.boot_id} if guest.current else set()
    downtimes = []
    # Rounds 3 and 4 load through the other system call than the default one here, so that
    # both calls bring a kernel up, under TCG and on silicon alike.
    default, other = DEFAULT_LOAD_METHOD, "kexec_load"
    for round_ in range(5):
        method = other if round_ >= 3 else default
        args = "" if method == default else f" --load-method {method}"
        if round_ % 2:
            # Staged ahead of time: the reboot must use the loaded kernel, not load again.
            guest.run(f"fastreboot load{args}")
            plan = json.loads(guest.run("fastreboot plan --json").output)
            assert plan["already_loaded"]["method"] == method, plan
        before, after, downtime = fast_reboot(guest, f"fastreboot reboot --yes{args}")
        assert victim_stopped(guest, before.boot_id), f"round {round_}: victim record lost"
        assert after.kernel == NEW
        boot_ids.add(after.boot_id)
        downtimes.append(downtime)
    assert len(boot_ids) == 6
    assert not guest.resets
    records = json.loads(guest.run("fastreboot status --json").output)["records"]
    assert [r["state"] for r in records[-5:]] == ["ok"] * 5
    record(
        "8 five in a row",
        f"5 new boot ids (2 of them staged with fastreboot load; rounds 4-5 through "
        f"{other}), 0 firmware resets, "
        "0 lost records, downtimes "
        + " ".join(f"{d:.1f}" for d in downtimes)
        + " s",
    )


def test_4_plain_reboot_after_enable_is_a_kexec(systemd_guest: Guest) -> None:
    guest = systemd_guest
    guest.run("fastreboot enable")
    status = json.loads(guest.run("fastreboot status --json").output)
    assert status["reboot_would"].startswith("fast reboot")
    before, _, downtime = fast_reboot(guest, "reboot")
    assert victim_stopped(guest, before.boot_id)
    record("4 plain reboot, fastreboot enabled (systemd)", f"kexec, downtime {downtime:.1f} s")


def test_3_cold_reboot_with_a_loaded_kernel(systemd_guest: Guest) -> None:
    guest = systemd_guest
    guest.run("fastreboot load")
    assert kexec_loaded(guest) == "1"
    # fastreboot is still enabled from scenario 4: cold must step past its hooks too.
    took = firmware_reboot(guest, "fastreboot cold --yes")
    record("3 cold with kernel loaded", f"firmware reset seen after {took:.1f} s")


def test_4_plain_reboot_without_opt_in_goes_through_firmware(
    systemd_image: GuestImage, project_disk: Path, tmp_path: Path
) -> None:
    with booted_guest(systemd_image, project_disk, tmp_path, "systemd-plain") as guest:
        assert (
            "firmware" in json.loads(guest.run("fastreboot status --json").output)["reboot_would"]
        )
        took = firmware_reboot(guest, "reboot")
        record("4 plain reboot, no opt-in (systemd)", f"firmware reset after {took:.1f} s")


def test_6_lockdown_refuses_and_changes_nothing(
    systemd_image: GuestImage, project_disk: Path, tmp_path: Path
) -> None:
    with booted_guest(
        systemd_image, project_disk, tmp_path, "lockdown", append="lockdown=integrity"
    ) as guest:
        assert "[integrity]" in guest.run("cat /sys/kernel/security/lockdown").output
        result = guest.run("fastreboot reboot --yes", check=False)
        assert result.exit_code == 7, result.output
        errors = [line for line in result.output.splitlines() if line.startswith("fastreboot: ")]
        assert len(errors) == 1 and "lockdown" in errors[0], result.output
        assert kexec_loaded(guest) == "0"
        assert guest.run("fastreboot unload; fastreboot status --json", check=False).exit_code == 0
        record("6 bad input (lockdown=integrity)", f"exit 7: {errors[0]}")


def _wait_in_guest(guest: Guest, condition: str, what: str, timeout: int = 120) -> None:
    """Poll a shell condition inside the guest, once a second."""
    script = f"for i in $(seq {timeout}); do {condition} && exit 0; sleep 1; done; exit 1"
    assert guest.run(script, timeout=timeout + 30, check=False).ok, f"timed out: {what}"


def _preload_state(guest: Guest) -> dict[str, object]:
    return dict(json.loads(guest.run("cat /run/fastreboot/loaded.json").output))


PRELOADED = (
    '[ "$(cat /sys/kernel/kexec_loaded)" = 1 ] && grep -q \'"origin": "preload"\' '
    "/run/fastreboot/loaded.json 2>/dev/null"
)


def test_9_preload_from_boot_refreshed_when_stale(
    systemd_image: GuestImage, project_disk: Path, tmp_path: Path
) -> None:
    with booted_guest(systemd_image, project_disk, tmp_path, "preload") as guest:
        guest.run("fastreboot enable --preload")
        _wait_in_guest(guest, PRELOADED, "fastreboot-preload.service loading the kernel")
        first = _preload_state(guest)
        assert first["kernel"] == f"/boot/vmlinuz-{NEW}" and first["method"] == DEFAULT_LOAD_METHOD

        # A kernel package replaced: fastreboot-preload.path loads it again.
        guest.run(f"touch /boot/vmlinuz-{NEW}")
        _wait_in_guest(
            guest,
            f"{PRELOADED} && ! grep -q '\"loaded_at\": {first['loaded_at']}' "
            "/run/fastreboot/loaded.json",
            "the path unit reloading after the kernel changed",
        )

        # Stale without the path unit noticing: the reboot itself must plan and load again.
        marker = "fastreboot.marker=s9"
        cmdline = guest.run("cat /proc/cmdline").output.strip()
        guest.run(
            "systemctl stop fastreboot-preload.path && "
            f"sed -i 's|^APPEND=.*|APPEND=\"{cmdline} {marker}\"|' /etc/default/kexec"
        )
        assert marker not in str(_preload_state(guest)["cmdline"])
        before, after, downtime = fast_reboot(guest, "reboot")
        assert after.kernel == NEW and marker in guest.run("cat /proc/cmdline").output.split()
        assert victim_stopped(guest, before.boot_id)
        last = json.loads(guest.run("fastreboot status --json").output)["records"][-1]
        assert last["state"] == "ok" and last["via_kexec"] is True, last

        # In the new boot the preload runs again, after multi-user.target: not in the boot.
        _wait_in_guest(guest, PRELOADED, "the preload in the next boot")
        times = guest.run(
            "systemctl show -p ActiveEnterTimestampMonotonic --value multi-user.target; "
            "systemctl show -p ExecMainStartTimestampMonotonic --value fastreboot-preload"
        ).output.split()
        assert int(times[1]) >= int(times[0]), times
        record(
            "9 enable --preload",
            f"loaded at boot and again when the kernel changed; a stale preload reloaded "
            f"during a plain reboot: kexec, downtime {downtime:.1f} s",
        )


# A unit that unloads the kernel while the machine goes down, as a misbehaving package
# script could: systemd-shutdown then has nothing to kexec and resets through the firmware.
UNLOAD_ON_STOP = """[Unit]
Description=test: unload the kexec kernel during the shutdown
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/true
ExecStop=/sbin/kexec -u
[Install]
WantedBy=multi-user.target
"""


def test_11_a_lost_kexec_is_recorded_as_a_firmware_reboot(
    systemd_image: GuestImage, project_disk: Path, tmp_path: Path
) -> None:
    with booted_guest(systemd_image, project_disk, tmp_path, "kexec-lost") as guest:
        first = guest.current
        assert first is not None
        guest.run("fastreboot setup")
        guest.run(
            f"printf '%s' '{UNLOAD_ON_STOP}' > /etc/systemd/system/unload-on-stop.service && "
            "systemctl daemon-reload && systemctl start unload-on-stop.service"
        )
        took = firmware_reboot(guest, "fastreboot reboot --yes")
        guest.start()  # QEMU plays the firmware's part: it boots the older kernel again
        again = guest.wait_ready(timeout=300)
        assert again.boot_id != first.boot_id and again.kernel == OLD
        last = completed_record(guest)
        assert (last["state"], last["via_kexec"]) == ("mismatch", False), last
        assert any(f"expected Linux {NEW}" in p for p in last["problems"]), last
        assert any("through the firmware" in p for p in last["problems"]), last
        assert "mismatch" in guest.run("fastreboot status").output
        record(
            "11 kexec lost during the shutdown",
            f"firmware reset after {took:.1f} s; the record says {last['state']}: "
            + "; ".join(last["problems"]),
        )


@pytest.mark.parametrize("variant", ["systemd", "dbus"])
@pytest.mark.parametrize("command", ["systemctl reboot", "reboot"])
def test_10_status_says_what_a_plain_reboot_does_with_a_kernel_loaded(
    request: pytest.FixtureRequest, project_disk: Path, tmp_path: Path, command: str,
    variant: str,
) -> None:
    # No `fastreboot enable`: whether systemd itself kexecs a loaded kernel depends on its
    # version and on the command (252: `reboot` does, `systemctl reboot` does not), and
    # with the system bus systemctl asks logind instead of PID 1; `status` must say what
    # really happens, with the bus and without.
    image: GuestImage = request.getfixturevalue(f"{variant}_image")
    name = "loaded-no-opt-in" + ("-bus" if variant == "dbus" else "")
    with booted_guest(image, project_disk, tmp_path, name) as guest:
        states = guest.run(
            "systemctl is-active dbus.service systemd-logind.service", check=False
        ).output.split()
        assert (states == ["active", "active"]) == (variant == "dbus"), states
        guest.run("fastreboot load")
        would = json.loads(guest.run("fastreboot status --json").output)["reboot_would"]
        firmware = would.startswith("firmware") or (
            f"`{command}` goes through the firmware" in would
        )
        if not firmware:
            assert would.startswith("kexec"), would
            _, after, downtime = fast_reboot(guest, command)
            assert after.kernel == NEW
            seen = f"kexec, downtime {downtime:.1f} s"
        else:
            seen = f"firmware reset after {firmware_reboot(guest, command):.1f} s"
        record(
            f"10 `{command}`, kernel loaded, no opt-in"
            + (", system bus" if variant == "dbus" else ""),
            f"status said {would!r}; {seen}",
        )


# ------------------------------------------------------------------ the terminal goes away

# Runs a command on a fresh pseudo-terminal (its controlling terminal, as an SSH session's)
# and closes the terminal when the prompt appears or a marker file exists: the kernel then
# sends the session SIGHUP and every later write to the terminal fails with EIO.
HANGUP_DRIVER = r"""import os, pty, select, sys, time
until, argv = sys.argv[1], sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
seen, deadline = b"", time.monotonic() + 180
while time.monotonic() < deadline:
    if b"[y/N]" in seen if until == "prompt" else os.path.exists(until):
        break
    if select.select([fd], [], [], 0.05)[0]:
        try:
            seen += os.read(fd, 4096)
        except OSError:
            break
os.close(fd)
print("hung up; exit", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
"""
# Stand-ins that mark the moment to hang up, then do the real work a little later.
SLOW_KEXEC = '#!/bin/sh\ntouch /run/hangup-now; sleep 3; exec /usr/sbin/kexec "$@"\n'
SLOW_SYSTEMCTL = (
    '#!/bin/sh\ncase " $* " in *" kexec "*) touch /run/hangup-now; sleep 3;; esac\n'
    'exec /usr/bin/systemctl "$@"\n'
)


def _fastreboot_log(guest: Guest, boot: str) -> str:
    return guest.run(f"journalctl -b {boot} -t fastreboot -o cat --no-pager").output


def test_12_a_hang_up_cancels_before_the_answer_and_not_after_it(
    systemd_image: GuestImage, project_disk: Path, tmp_path: Path
) -> None:
    # A guest of its own: the shared one has been through enable, cold and lockdown.
    with booted_guest(systemd_image, project_disk, tmp_path, "hang-up") as guest:
        _hang_up_scenarios(guest)


def _hang_up_scenarios(guest: Guest) -> None:
    # A persistent journal, so that the boot after a fast reboot can read the one before.
    guest.run(
        "mkdir -p /var/log/journal /root/wrap && systemd-tmpfiles --create --prefix "
        "/var/log/journal && journalctl --flush && "
        f"printf '%s' '{HANGUP_DRIVER}' > /root/hangup.py && "
        f"printf '%s' '{SLOW_KEXEC}' > /root/wrap/kexec && "
        f"printf '%s' '{SLOW_SYSTEMCTL}' > /root/wrap/systemctl && chmod +x /root/wrap/*"
    )
    boot = guest.current
    assert boot is not None

    # 1. At the question: cancelled, nothing loaded, the same boot, and the journal says so.
    out = guest.run("python3 /root/hangup.py prompt fastreboot reboot").output
    assert "hung up; exit 129" in out or "hung up; exit 10" in out, out
    assert kexec_loaded(guest) == "0"
    assert guest.run("cat /proc/sys/kernel/random/boot_id").output.strip() == boot.boot_id
    assert "cancelled" in _fastreboot_log(guest, "0")

    # 2. During the load, and 3. between the load and the init system's request: the
    # answer was --yes, so the reboot that was asked for happens.
    seen = []
    for step, wrapped in (("during the load", "--load-method kexec_load"),
                          ("before the request", "")):
        before = guest.current
        assert before is not None
        _, after, downtime = fast_reboot(
            guest,
            "rm -f /run/hangup-now; PATH=/root/wrap:$PATH python3 /root/hangup.py "
            f"/run/hangup-now fastreboot reboot --yes {wrapped}",
        )
        assert after.kernel == NEW and victim_stopped(guest, before.boot_id)
        log = _fastreboot_log(guest, "-1")
        assert "asked by uid 0 (root)" in log and "on /dev/pts/" in log, log
        assert f"fast reboot into Linux {NEW} started" in log, log
        seen.append(f"{step}: kexec, downtime {downtime:.1f} s")
    last = json.loads(guest.run("fastreboot status --json").output)["records"][-1]
    assert last["state"] == "ok", last
    record("12 terminal hung up", "at the question: cancelled, nothing loaded; " + "; ".join(seen))
