"""The reboot kind: kexec, soft (userspace only) or cold; the plan, the CLI and the records."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from fastreboot.act import records
from fastreboot.config.own import RebootKind, RebootMethod, Target, read_own_config
from fastreboot.errors import ConfigError
from fastreboot.plan.failed import FAILED_FILE, FailedKernel, identity
from fastreboot.plan.kind import (
    Sameness,
    decide_kind,
    image_is_running,
    soft_blocker,
)
from fastreboot.plan.plan import Options, make_plan
from fastreboot.plan.sysinfo import InitSystem, read_system_info
from fastreboot.sysroot import SysRoot
from tests.unit.cli_helpers import run_cli
from tests.unit.fakes import RecordingEffects
from tests.unit.sysroots import NEW, OLD, Sysroot, debian_systemd, debian_sysv

BUILD = "#1 SMP PREEMPT_DYNAMIC Debian"
BOOT_ID = "4a4e2f2e-0000-4000-8000-000000000001"


def soft_capable(root: Path, *, systemd: int = 257) -> Sysroot:
    """debian_systemd with systemd *systemd*, booted after its files were written, running
    the build of OLD that /boot holds."""
    sysroot = debian_systemd(root)
    sysroot.remove("/usr/lib/systemd/libsystemd-shared-252.so")
    sysroot.write(f"/usr/lib/systemd/libsystemd-shared-{systemd}.so", b"")
    sysroot.set(
        "/proc/version",
        f"Linux version {OLD} (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14)"
        f" 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) {BUILD}",
    )
    sysroot.write("/proc/stat", f"cpu  1 2 3 4\nbtime {int(time.time()) + 100}\nprocesses 9\n")
    return sysroot


# -- the pure parts --------------------------------------------------------------------


def test_image_is_running_compares_the_build_not_only_the_release() -> None:
    proc = f"Linux version {OLD} (b@h) (gcc 12) {BUILD} (2025-01-01)"
    assert image_is_running(f"{OLD} (b@h) {BUILD} (2025-01-01)", proc)  # bzImage header
    assert image_is_running(f"{OLD} (b@h) (gcc 12) {BUILD} (2025-01-01)", proc)  # banner
    # Same release, another build (a rebuilt package): not the running kernel.
    assert not image_is_running(f"{OLD} (b@h) #2 SMP PREEMPT_DYNAMIC Debian (2025-02-02)", proc)
    assert not image_is_running(f"{OLD} (other@h) {BUILD} (2025-01-01)", proc)
    assert not image_is_running(None, proc)
    assert not image_is_running(f"{OLD} (b@h) {BUILD} (2025-01-01)", None)


SAME = Sameness(True, "same")
CHANGED = Sameness(False, "the plan boots Linux 6.2, 6.1 runs")


@pytest.mark.parametrize(
    ("asked", "sameness", "blocker", "kind", "level"),
    [
        (None, SAME, None, RebootKind.KEXEC, "ok"),  # the default stays kexec
        (RebootKind.KEXEC, SAME, None, RebootKind.KEXEC, "ok"),
        (RebootKind.AUTO, SAME, None, RebootKind.SOFT, "ok"),
        (RebootKind.AUTO, SAME, "systemd 252 has no soft reboot", RebootKind.KEXEC, "ok"),
        (RebootKind.AUTO, CHANGED, None, RebootKind.KEXEC, "ok"),
        (RebootKind.SOFT, SAME, None, RebootKind.SOFT, "ok"),
        (RebootKind.SOFT, CHANGED, None, RebootKind.SOFT, "warning"),
        (RebootKind.SOFT, SAME, "sysvinit has no soft reboot", RebootKind.SOFT, "error"),
        (RebootKind.COLD, SAME, None, RebootKind.COLD, "ok"),
    ],
)
def test_decide_kind(
    asked: RebootKind | None,
    sameness: Sameness,
    blocker: str | None,
    kind: RebootKind,
    level: str,
) -> None:
    decision = decide_kind(asked, sameness, blocker)
    assert (decision.kind, decision.check.level) == (kind, level)
    if blocker and asked in (RebootKind.AUTO, RebootKind.SOFT):
        assert blocker in decision.why + decision.check.message
    if asked is RebootKind.AUTO and not sameness.unchanged:
        assert sameness.why in decision.why


def test_soft_blocker_needs_systemd_254(tmp_path: Path) -> None:
    def blocker(systemd: int, method: RebootMethod = RebootMethod.SYSTEMD) -> str | None:
        soft_capable(tmp_path / str(systemd) / method, systemd=systemd)
        info = read_system_info(SysRoot(tmp_path / str(systemd) / method))
        assert info.init_system is InitSystem.SYSTEMD
        return soft_blocker(info, method)

    assert blocker(254) is None and blocker(257) is None
    assert blocker(253) == "systemd 253 has no soft reboot (systemd 254 and later)"
    assert blocker(257, RebootMethod.DIRECT) is not None
    debian_sysv(tmp_path / "sysv")
    info = read_system_info(SysRoot(tmp_path / "sysv"))
    assert soft_blocker(info, RebootMethod.SYSV) == "sysvinit has no soft reboot"


# -- the plan ----------------------------------------------------------------------------


def test_auto_soft_reboots_when_the_running_kernel_is_planned(tmp_path: Path) -> None:
    soft_capable(tmp_path)
    root = SysRoot(tmp_path)
    plan = make_plan(root, Options(target=Target.RUNNING, kind=RebootKind.AUTO))
    assert plan.reboot_kind is RebootKind.SOFT, plan.reboot_kind_why
    assert plan.sameness and plan.sameness.unchanged
    # Nothing is loaded: the kexec checks are not part of a soft plan.
    assert [c.name for c in plan.checks] == ["reboot-kind"] and not plan.errors
    # The default kind stays kexec, and the plan says that a soft reboot would do.
    kexec = make_plan(root, Options(target=Target.RUNNING))
    assert kexec.reboot_kind is RebootKind.KEXEC
    assert any("a soft reboot would do" in note for note in kexec.notes)
    soft = kexec.to_json()["soft_reboot"]
    assert soft == {
        "would_do": True,
        "possible": True,
        "why_not": None,
        "keeps": ["kernel state", "sysctls", "loaded modules"],
    }


def test_auto_kexecs_into_a_newer_kernel(tmp_path: Path) -> None:
    soft_capable(tmp_path)
    plan = make_plan(SysRoot(tmp_path), Options(kind=RebootKind.AUTO))
    assert plan.kernel_version == NEW and plan.reboot_kind is RebootKind.KEXEC
    assert plan.reboot_kind_why == f"auto: the plan boots Linux {NEW}, {OLD} runs"
    assert not any("soft reboot would do" in note for note in plan.notes)
    assert plan.to_json()["kernel_unchanged"] is False


@pytest.mark.parametrize(
    "change",
    ["changed after boot", "another build", "no boot time", "cmdline", "initrd of another kernel"],
)
def test_unchanged_only_when_it_can_be_shown(tmp_path: Path, change: str) -> None:
    sysroot = soft_capable(tmp_path)
    options = Options(target=Target.RUNNING, kind=RebootKind.AUTO)
    if change == "changed after boot":
        # A kernel or initrd written since the boot (a rebuilt initramfs, a reinstall).
        sysroot.write("/proc/stat", f"btime {int(time.time()) - 1000}\n")
    elif change == "another build":
        text = (tmp_path / "proc/version").read_text().replace("#1 ", "#2 ")
        sysroot.write("/proc/version", text)
    elif change == "no boot time":
        sysroot.remove("/proc/stat")
    elif change == "cmdline":
        options = Options(target=Target.RUNNING, kind=RebootKind.AUTO, append="quiet=1 mem=1G")
    else:
        options = Options(
            target=Target.RUNNING, kind=RebootKind.AUTO, initrd=f"/boot/initrd.img-{NEW}"
        )
    plan = make_plan(SysRoot(tmp_path), options)
    assert plan.reboot_kind is RebootKind.KEXEC, change
    assert plan.sameness is not None and not plan.sameness.unchanged
    if change == "changed after boot":
        assert plan.sameness.why.endswith("changed after this boot")


def test_soft_on_old_systemd_or_sysvinit_is_a_preflight_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    debian_systemd(tmp_path / "252")
    debian_sysv(tmp_path / "sysv")
    for machine, why in ((tmp_path / "252", "systemd 252"), (tmp_path / "sysv", "sysvinit")):
        fake = RecordingEffects(machine)
        assert run_cli(["reboot", "--root", str(machine), "--kind", "soft", "--yes"], fake) == 5
        err = capsys.readouterr().err
        assert "preflight check reboot-kind failed: a soft reboot was asked for, but" in err
        assert why in err and "hint: use --kind kexec" in err
        assert fake.calls == []
        # auto picks kexec there, and plan --json says why a soft reboot is not possible.
        assert run_cli(["plan", "--root", str(machine), "--json", "--kind", "auto"]) == 0
        plan = json.loads(capsys.readouterr().out)
        assert plan["reboot_kind"] == "kexec"
        assert why in plan["soft_reboot"]["why_not"]


def test_reboot_kind_in_the_toml(tmp_path: Path) -> None:
    sysroot = soft_capable(tmp_path)
    sysroot.write("/etc/fastreboot.toml", 'reboot_kind = "auto"\ntarget = "running"\n')
    assert read_own_config(SysRoot(tmp_path)).reboot_kind is RebootKind.AUTO
    assert make_plan(SysRoot(tmp_path), Options()).reboot_kind is RebootKind.SOFT
    # The command line wins over the toml.
    plan = make_plan(SysRoot(tmp_path), Options(kind=RebootKind.KEXEC))
    assert plan.reboot_kind is RebootKind.KEXEC
    sysroot.write("/etc/fastreboot.toml", 'reboot_kind = "fast"\n')
    with pytest.raises(ConfigError, match=r"fastreboot\.toml:1: reboot_kind must be one of"):
        read_own_config(SysRoot(tmp_path))


def test_plan_text_names_the_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    soft_capable(tmp_path)
    assert run_cli(["plan", "--root", str(tmp_path), "--target", "running", "--kind", "auto"]) == 0
    out = capsys.readouterr().out
    assert "kind:     soft (auto: the kernel stays" in out
    assert "reboot:   systemctl soft-reboot" in out and "load:" not in out
    assert "keeps the kernel state, sysctls, loaded modules" in out


# -- acting and records ------------------------------------------------------------------


class _Manager(RecordingEffects):
    """systemctl show: the manager's counters, as systemd 257 prints them."""

    def __init__(self, root: Path, *, count: int, userspace_us: int, up_us: int = 0) -> None:
        super().__init__(root)
        self.count, self.userspace_us, self.up_us = count, userspace_us, up_us

    def run(
        self, argv: Sequence[str], *, env: Mapping[str, str] | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        done = super().run(argv, env=env, check=check)
        if list(argv[:2]) != ["systemctl", "show"]:
            return done
        if argv[-1] == "default.target":
            out = f"{self.up_us}\n"
        else:
            out = (
                "InitRDTimestampMonotonic=1200000\n"
                f"UserspaceTimestampMonotonic={self.userspace_us}\n"
                f"SoftRebootsCount={self.count}\n"
            )
        return subprocess.CompletedProcess(list(argv), 0, out, "")


def test_soft_reboot_asks_for_confirmation_writes_the_record_and_loads_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    soft_capable(tmp_path)
    args = ["reboot", "--root", str(tmp_path), "--kind", "soft"]
    fake = _Manager(tmp_path, count=0, userspace_us=2_500_000)
    assert run_cli(args, fake, answer="n\n") == 10
    assert "soft reboot (userspace only" in capsys.readouterr().err
    assert fake.calls == []

    assert run_cli([*args, "--yes"], fake) == 0
    assert fake.names() == [
        "run systemctl show --property=InitRDTimestampMonotonic"
        " --property=UserspaceTimestampMonotonic --property=SoftRebootsCount",
        "write_file",
        "run systemctl --no-block soft-reboot",
    ]
    (record,) = records.read_records(SysRoot(tmp_path))
    assert record.kind is RebootKind.SOFT and record.state == "pending"
    assert (record.soft_reboots_before, record.userspace_before_s) == (0, 2.5)
    assert record.to_version == OLD and record.to_kernel == "(the running kernel)"


def test_soft_reboot_refused_by_systemd_is_exit_8(tmp_path: Path) -> None:
    soft_capable(tmp_path)
    fake = RecordingEffects(tmp_path, fail_commands=("systemctl",))
    assert run_cli(["reboot", "--root", str(tmp_path), "--kind", "soft", "--yes"], fake) == 8
    assert not any(name.startswith("kexec") for name in fake.names())
    # Nothing stopped: no pending record is left to be judged against the next reboot.
    assert records.read_records(SysRoot(tmp_path)) == []


def test_reboot_kind_cold_is_the_cold_path_with_a_record(tmp_path: Path) -> None:
    soft_capable(tmp_path)
    fake = RecordingEffects(tmp_path)
    assert run_cli(["reboot", "--root", str(tmp_path), "--kind", "cold", "--yes"], fake) == 0
    assert fake.names()[-1] == "run systemctl --no-block reboot"
    assert fake.calls[-1][2] == {"SYSTEMCTL_SKIP_AUTO_KEXEC": "1"}
    (record,) = records.read_records(SysRoot(tmp_path))
    assert record.kind is RebootKind.COLD
    facts = records.BootFacts(
        "new-boot", OLD, "root=/dev/vda", via_kexec=False, wall_now=1e10, uptime=8.0, kernel_s=2
    )
    assert records.complete(record, facts).state == "ok"
    from_kexec = records.complete(record, dataclasses.replace(facts, via_kexec=True))
    assert from_kexec.state == "mismatch"


def _soft_record(tmp_path: Path) -> records.Record:
    soft_capable(tmp_path)
    plan = make_plan(SysRoot(tmp_path), Options(target=Target.RUNNING, kind=RebootKind.SOFT))
    fake = _Manager(tmp_path, count=2, userspace_us=2_500_000)
    return records.write_pending(fake, plan, now=1_000_000.0)


def _soft_facts(**changes: object) -> records.BootFacts:
    base: dict[str, object] = {
        "boot_id": BOOT_ID,
        "release": OLD,
        "cmdline": "root=/dev/vda",
        "via_kexec": None,
        # The kernel started at 999_000: the request came 1000 s into the boot.
        "wall_now": 1_000_010.0,
        "uptime": 1010.0,
        "kernel_s": 1.2,
        "soft_reboots": 3,
        "userspace_s": 1002.0,  # the new userspace started 2 s after the request
        "up_s": 1005.5,
    }
    base.update(changes)
    return records.BootFacts(**base)  # type: ignore[arg-type]


def test_soft_record_completes_by_systemds_counter(tmp_path: Path) -> None:
    record = _soft_record(tmp_path)
    assert record.soft_reboots_before == 2 and record.from_boot_id == BOOT_ID
    done = records.complete(record, _soft_facts())
    assert done.state == "ok" and not done.problems
    assert done.downtime_s == 5.5
    assert done.phases == {"shutdown_s": 2.0, "userspace_s": 3.5}
    assert done.via_kexec is False
    # Same boot id and the counter unchanged: the soft reboot has not happened yet.
    assert records.complete(record, _soft_facts(soft_reboots=2)) is record


def test_soft_record_without_counter_uses_the_userspace_start(tmp_path: Path) -> None:
    record = records.Record(
        **{**_soft_record(tmp_path).to_json(), "soft_reboots_before": None}  # systemd 254/255
    )
    record = records.Record.from_json(record.to_json())
    assert records.complete(record, _soft_facts(soft_reboots=None)).state == "ok"
    assert records.complete(record, _soft_facts(soft_reboots=None, userspace_s=2.5)) is record


def test_soft_record_that_went_through_the_firmware_is_a_mismatch(tmp_path: Path) -> None:
    record = _soft_record(tmp_path)
    went = records.complete(
        record, _soft_facts(boot_id="new", via_kexec=False, uptime=8.0, soft_reboots=0)
    )
    assert went.state == "mismatch"
    assert went.problems[0].startswith("a soft reboot was asked for, but the kernel booted again")


def test_old_records_read_as_kexec(tmp_path: Path) -> None:
    record = _soft_record(tmp_path)
    data = record.to_json()
    for key in ("kind", "soft_reboots_before", "userspace_before_s"):
        del data[key]
    assert records.Record.from_json(data).kind is RebootKind.KEXEC


def test_status_shows_the_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _soft_record(tmp_path)
    assert run_cli(["status", "--root", str(tmp_path)]) == 0
    assert f"soft  {OLD} -> {OLD}  pending" in capsys.readouterr().out
    assert run_cli(["status", "--root", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["records"][-1]["kind"] == "soft"


def test_load_plans_a_kexec_whatever_reboot_kind_says(tmp_path: Path) -> None:
    # reboot_kind = "soft" must not take the kexec checks out of `fastreboot load`.
    sysroot = soft_capable(tmp_path)
    sysroot.write("/etc/fastreboot.toml", 'reboot_kind = "soft"\n')
    sysroot.set("/proc/sys/kernel/kexec_load_disabled", "1")
    fake = RecordingEffects(tmp_path)
    assert run_cli(["load", "--root", str(tmp_path)], fake) == 5
    assert fake.calls == []


def test_auto_goes_cold_into_a_kernel_whose_kexec_fell_back(tmp_path: Path) -> None:
    sysroot = soft_capable(tmp_path)
    kernel = f"/boot/vmlinuz-{NEW}"
    size, mtime_ns = identity(SysRoot(tmp_path), kernel) or (0, 0)
    failed = FailedKernel(kernel, size, mtime_ns, "20261204T000000-x", 1.0, OLD)
    sysroot.write(FAILED_FILE, failed.to_text())
    plan = make_plan(SysRoot(tmp_path), Options(kind=RebootKind.AUTO))
    assert plan.reboot_kind is RebootKind.COLD, plan.reboot_kind_why
    assert "never came up" in plan.reboot_kind_why and not plan.errors
    # Asked for explicitly, kexec stays refused; --retry-failed lets auto kexec again.
    kexec = make_plan(SysRoot(tmp_path), Options(kind=RebootKind.KEXEC))
    assert [c.name for c in kexec.errors] == ["failed-kernel"]
    retry = make_plan(SysRoot(tmp_path), Options(kind=RebootKind.AUTO, retry_failed=True))
    assert retry.reboot_kind is RebootKind.KEXEC
