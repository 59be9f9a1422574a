from __future__ import annotations

import json
import struct
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import fastreboot
from fastreboot.act import records
from fastreboot.cli.output import format_record
from fastreboot.plan.plan import Options, make_plan
from fastreboot.sysroot import SysRoot
from tests.unit.fakes import RecordingEffects
from tests.unit.sysroots import NEW, OLD, debian_systemd

OLD_BOOT = "4a4e2f2e-0000-4000-8000-000000000001"
NEW_BOOT = "9b9b9b9b-0000-4000-8000-000000000002"


def pending(tmp_path: Path) -> records.Record:
    debian_systemd(tmp_path)
    plan = make_plan(SysRoot(tmp_path), Options())
    return records.write_pending(RecordingEffects(tmp_path), plan, now=1_000_000.0)


def facts(**changes: object) -> records.BootFacts:
    base: dict[str, object] = {
        "boot_id": NEW_BOOT,
        "release": NEW,
        "cmdline": "root=UUID=0b5f3c5e-1111-4a4a-9c9c-123456789abc ro quiet",
        "via_kexec": True,
        "wall_now": 1_000_020.0,
        "uptime": 8.0,
        "kernel_s": 2.5,
    }
    base.update(changes)
    return records.BootFacts(**base)  # type: ignore[arg-type]


def test_pending_record_is_written_and_read_back(tmp_path: Path) -> None:
    record = pending(tmp_path)
    assert record.state == "pending"
    (stored,) = records.read_records(SysRoot(tmp_path))
    assert stored == record
    assert (
        stored.from_kernel == OLD and stored.to_version == NEW and stored.from_boot_id == OLD_BOOT
    )


def test_completed_record_has_downtime_and_phases(tmp_path: Path) -> None:
    done = records.complete(pending(tmp_path), facts(up_s=8.0))
    assert done.state == "ok" and not done.problems
    # kernel started at 1_000_012 (20 - 8 s uptime): 12 s down before it, 8 s after
    assert done.downtime_s == 20.0
    assert done.phases == {"shutdown_and_handover_s": 12.0, "kernel_s": 2.5, "userspace_s": 5.5}


def test_downtime_ends_when_the_default_target_was_reached(tmp_path: Path) -> None:
    # The record unit reads its facts at an uptime of 8 s, but the services were up at 6.5 s:
    # the unit's own start (and systemd-analyze, journalctl) is not downtime.
    done = records.complete(pending(tmp_path), facts(up_s=6.5))
    assert done.downtime_s == 18.5
    assert done.phases == {"shutdown_and_handover_s": 12.0, "kernel_s": 2.5, "userspace_s": 4.0}
    # A value that cannot be (after the facts were read) is not trusted.
    assert records.complete(pending(tmp_path), facts(up_s=9.0)).downtime_s is None


def test_no_downtime_without_knowing_when_the_services_were_up(tmp_path: Path) -> None:
    # Facts read an hour into the boot (by `status`, or by the next reboot): the hour is
    # not downtime. The checks still run; the part before the kernel is still known.
    done = records.complete(pending(tmp_path), facts(wall_now=1_003_612.0, uptime=3600.0))
    assert done.state == "ok" and done.downtime_s is None
    assert done.phases == {"shutdown_and_handover_s": 12.0, "kernel_s": 2.5}
    assert "downtime not known" in format_record(done)


def test_the_record_unit_counts_now_as_up_when_systemd_cannot_say(tmp_path: Path) -> None:
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/uptime").write_text("7.25 12.00\n")
    assert records.read_boot_facts(SysRoot(tmp_path), end_of_boot=True).up_s == 7.25
    assert records.read_boot_facts(SysRoot(tmp_path), end_of_boot=True, up_s=6.5).up_s == 6.5
    assert records.read_boot_facts(SysRoot(tmp_path)).up_s is None


class _SystemdTimes(RecordingEffects):
    """systemctl show answers: the manager's timestamps, and default.target's activation."""

    def run(
        self, argv: Sequence[str], *, env: Mapping[str, str] | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        super().run(argv, env=env, check=check)
        if argv[:2] == ["systemctl", "show"]:
            out = (
                "6500000\n"
                if argv[-1] == "default.target"
                else "InitRDTimestampMonotonic=1200000\nUserspaceTimestampMonotonic=2500000\n"
            )
            return subprocess.CompletedProcess(list(argv), 0, out, "")
        return subprocess.CompletedProcess(list(argv), 0, "", "")


def test_systemd_boot_times_reads_when_the_services_were_up(tmp_path: Path) -> None:
    debian_systemd(tmp_path)
    times = records.systemd_boot_times(_SystemdTimes(tmp_path))
    assert times["kernel_s"] == 1.2 and times["up_s"] == 6.5


def test_wrong_kernel_or_firmware_reboot_is_reported(tmp_path: Path) -> None:
    record = pending(tmp_path)
    wrong = records.complete(record, facts(release=OLD, via_kexec=False))
    assert wrong.state == "mismatch"
    assert any("expected Linux" in p for p in wrong.problems)
    assert any("firmware" in p for p in wrong.problems)


def test_same_boot_does_not_complete(tmp_path: Path) -> None:
    record = pending(tmp_path)
    assert records.complete(record, facts(boot_id=OLD_BOOT)) is record


def test_records_are_bounded(tmp_path: Path) -> None:
    debian_systemd(tmp_path)
    plan = make_plan(SysRoot(tmp_path), Options())
    fake = RecordingEffects(tmp_path)
    for second in range(records.KEEP_RECORDS + 7):
        records.write_pending(fake, plan, now=1_000_000.0 + second)
    assert len(records.read_records(SysRoot(tmp_path))) == records.KEEP_RECORDS


def test_damaged_record_is_skipped(tmp_path: Path) -> None:
    pending(tmp_path)
    (tmp_path / "var/lib/fastreboot/records/zz-broken.json").write_text("{not json")
    assert len(records.read_records(SysRoot(tmp_path))) == 1


def test_boot_protocol_tells_kexec_from_firmware(tmp_path: Path) -> None:
    data = bytearray(4096)
    path = tmp_path / "sys/kernel/boot_params/data"
    path.parent.mkdir(parents=True)
    struct.pack_into("B", data, 0x210, 0xD0)
    path.write_bytes(bytes(data))
    assert records.booted_via_kexec(SysRoot(tmp_path)) is True
    struct.pack_into("B", data, 0x210, 0xB0)  # QEMU's direct -kernel boot
    path.write_bytes(bytes(data))
    assert records.booted_via_kexec(SysRoot(tmp_path)) is False


def test_record_json_roundtrip(tmp_path: Path) -> None:
    record = pending(tmp_path)
    path = next((tmp_path / "var/lib/fastreboot/records").glob("*.json"))
    assert json.loads(path.read_text())["record_id"] == record.record_id


def test_status_completes_a_pending_record_of_the_previous_boot(tmp_path: Path) -> None:
    planned = pending(tmp_path)
    (tmp_path / "proc/cmdline").write_text(planned.cmdline + "\n")
    (tmp_path / "proc/sys/kernel/random/boot_id").write_text(NEW_BOOT + "\n")
    (tmp_path / "proc/sys/kernel/osrelease").write_text(NEW + "\n")
    (tmp_path / "proc/uptime").write_text("8.00 12.00\n")
    (view,) = records.current_view(SysRoot(tmp_path))
    assert view.state == "ok" and view.boot_id == NEW_BOOT
    # When the services were up is the record unit's to say: status does not count the
    # time until it happened to run as downtime.
    assert view.downtime_s is None and "kernel_and_userspace_s" not in view.phases
    # ...in memory only: the stored record stays pending until the boot unit saves it
    assert records.read_records(SysRoot(tmp_path))[0].state == "pending"


def test_record_unit_waits_for_the_mount_holding_fastreboot(tmp_path: Path) -> None:
    from fastreboot.act import install, units

    root = debian_systemd(tmp_path).root
    fake = RecordingEffects(root)
    install.setup(fake)
    unit = (root / units.RECORD_UNIT.lstrip("/")).read_text()
    code_dir = Path(fastreboot.__file__).resolve().parent
    assert f"RequiresMountsFor={code_dir}" in unit
    assert "ExecStart=" in unit and unit.rstrip().endswith("WantedBy=multi-user.target")
    assert fake.names()[-1] == "run systemctl enable fastreboot-record.service"


def test_shutdown_phases_from_the_previous_boots_journal(tmp_path: Path) -> None:
    def entry(us: int, **fields: str) -> str:
        return json.dumps({"__REALTIME_TIMESTAMP": str(us), **fields})

    base = 1_000_005_000_000
    journal = [
        entry(base - 9_000_000, MESSAGE="something earlier"),
        entry(base, UNIT="victim.service", JOB_TYPE="stop"),
        entry(base + 100_000, UNIT="cron.service", JOB_TYPE="stop"),
        entry(base + 300_000, UNIT="cron.service", JOB_TYPE="stop", JOB_RESULT="done"),
        entry(base + 2_500_000, UNIT="victim.service", JOB_TYPE="stop", JOB_RESULT="done"),
        entry(base + 3_000_000, MESSAGE="Journal stopped"),
        "not json",
    ]
    found = records.shutdown_from_journal(journal)
    assert found["shutdown_s"] == 3.0
    assert found["slowest_stop"] == ("victim.service 2.50s", "cron.service 0.20s")
    # requested at 1_000_000, kernel started at 1_000_012: 3 s shutdown leaves 9 s hand-over
    done = records.complete(pending(tmp_path), facts(**found))
    assert done.phases["shutdown_s"] == 3.0 and done.phases["handover_s"] == 9.0
    assert done.slowest_stop == ["victim.service 2.50s", "cron.service 0.20s"]
    assert records.shutdown_from_journal(["{}"]) == {}


def test_only_the_shutdown_of_the_records_boot_is_read_from_the_journal(
    tmp_path: Path,
) -> None:
    record = pending(tmp_path)
    (tmp_path / "var/log/journal").mkdir(parents=True)
    fake = RecordingEffects(tmp_path)
    assert records.journal_shutdown_facts(fake, record) == {}  # the fake journal is empty
    ((_, argv, _),) = fake.calls
    assert isinstance(argv, tuple)
    assert f"--boot={OLD_BOOT.replace('-', '')}" in argv and "--since=@1000000" in argv
    assert "--output-fields=UNIT,JOB_TYPE,JOB_RESULT" in argv


def test_a_new_fast_reboot_completes_an_earlier_pending_record(tmp_path: Path) -> None:
    first = pending(tmp_path)
    (tmp_path / "proc/sys/kernel/random/boot_id").write_text(NEW_BOOT + "\n")
    plan = make_plan(SysRoot(tmp_path), Options())
    records.write_pending(RecordingEffects(tmp_path), plan, now=1_000_100.0)
    stored = {r.record_id: r for r in records.read_records(SysRoot(tmp_path))}
    assert stored[first.record_id].state != "pending"
    assert stored[first.record_id].boot_id == NEW_BOOT
    assert sorted(r.state for r in stored.values())[-1] == "pending"
