"""The Ansible collection in ansible/fastreboot/fastreboot: its decisions, its docs, and
its module run by ansible-playbook against a stand-in fastreboot (connection local, only
paths that stop before any reboot: check mode and a refused load)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

COLLECTION = Path(__file__).resolve().parents[2] / "ansible" / "fastreboot" / "fastreboot"


def _load(relative: str) -> ModuleType:
    path = COLLECTION / relative
    spec = importlib.util.spec_from_file_location(f"frcol_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


utils = _load("plugins/module_utils/fastreboot.py")

PLAN: dict[str, Any] = {
    "version": 1, "kernel": "/boot/vmlinuz-6.1.0-56-cloud-amd64",
    "kernel_version": "6.1.0-56-cloud-amd64", "running_kernel": "6.1.0-47-cloud-amd64",
    "checks": [{"name": "kernel-image", "level": "ok", "message": "fine"}],
    "already_loaded": None,
}
OLD, NEW = "11111111-aaaa", "22222222-bbbb"


def _record(**changes: Any) -> dict[str, Any]:
    return {"from_boot_id": OLD, "state": "ok", "via_kexec": True, "downtime_s": 10.7,
            "problems": [], **changes}


def test_selection_args_in_fastreboots_spelling() -> None:
    params = {"kernel": "6.1.0-56-cloud-amd64", "command_line": "root=/dev/vda ro",
              "target": None, "append": ""}
    assert utils.selection_args(params) == [
        "--kernel", "6.1.0-56-cloud-amd64", "--command-line", "root=/dev/vda ro"]


def test_plan_errors_are_the_error_checks_only() -> None:
    plan = {**PLAN, "checks": [{"name": "a", "level": "warning", "message": "w"},
                               {"name": "lockdown", "level": "error", "message": "refused"}]}
    assert utils.plan_errors(plan) == ["lockdown: refused"]


def test_reboot_needed() -> None:
    assert utils.reboot_needed(PLAN, False)[0] is True
    same = {**PLAN, "kernel_version": PLAN["running_kernel"]}
    needed, why = utils.reboot_needed(same, False)
    assert not needed and "reboot-required is absent" in why
    assert utils.reboot_needed(same, True) == (True, "/run/reboot-required exists")


def test_launch_command_is_detached_and_says_so() -> None:
    command = utils.launch_command(["fastreboot", "reboot", "--yes"], "abcd")
    assert command.endswith("echo fastreboot-launched")
    assert "systemd-run --quiet --unit=fastreboot-ansible-abcd" in command
    assert "nohup setsid" in command
    # The launched shell records the exit status where the waiting side looks for it,
    # and the marker is printed only when the launch itself worked.
    assert f"; echo $? >{utils.LAUNCH_DIR}/abcd.rc" in command
    assert " fi; } && echo fastreboot-launched" in command


def test_find_record_picks_the_reboot_from_the_old_boot() -> None:
    status = {"records": [_record(from_boot_id="other"), _record(downtime_s=9.0)]}
    assert utils.find_record(status, OLD)["downtime_s"] == 9.0
    assert utils.find_record(status, "nope") is None


def test_record_complete() -> None:
    assert not utils.record_complete(None)
    assert not utils.record_complete(_record(state="pending"))
    assert not utils.record_complete(_record(downtime_s=None))  # the unit has not run yet
    assert utils.record_complete(_record())
    assert utils.record_complete(_record(state="mismatch", downtime_s=None))


def test_verify_accepts_the_planned_kexec_boot() -> None:
    assert utils.verify(PLAN, OLD, NEW, PLAN["kernel_version"], _record()) == []


@pytest.mark.parametrize(
    ("new_boot", "kernel", "record", "expected"),
    [
        (NEW, "6.1.0-47-cloud-amd64", _record(), "expected Linux 6.1.0-56-cloud-amd64"),
        (OLD, "6.1.0-56-cloud-amd64", _record(), "did not reboot"),
        (NEW, "6.1.0-56-cloud-amd64", None, "no fastreboot record"),
        (NEW, "6.1.0-56-cloud-amd64",
         _record(state="mismatch", via_kexec=False,
                 problems=["this boot did not come from kexec: the machine rebooted through "
                           "the firmware"]),
         "did not come from kexec"),
    ],
)
def test_verify_fails_what_was_not_planned(
    new_boot: str, kernel: str, record: dict[str, Any] | None, expected: str
) -> None:
    problems = utils.verify(PLAN, OLD, new_boot, kernel, record)
    assert any(expected in p for p in problems), problems


SOFT_PLAN: dict[str, Any] = {**PLAN, "kernel_version": PLAN["running_kernel"],
                              "reboot_kind": "soft", "reboot_kind_why": "asked for"}
BEFORE = {"soft_reboots": 3, "userspace_us": 1_000_000}
AFTER = {"soft_reboots": 4, "userspace_us": 9_000_000}


def _soft_record(**changes: Any) -> dict[str, Any]:
    return _record(**{"kind": "soft", "via_kexec": False, "boot_id": OLD,
                      "reboot_method": "systemd", "downtime_s": 7.9, **changes})


def test_the_reboot_runs_the_kind_the_plan_decided() -> None:
    assert utils.decided_kind(SOFT_PLAN) == "soft"
    assert utils.decided_kind(PLAN) == "kexec"  # a plan from before kinds existed
    assert utils.reboot_argv("fastreboot", "soft", {"target": "running"}) == [
        "fastreboot", "reboot", "--yes", "--kind", "soft", "--target", "running"]


def test_a_plan_of_kind_cold_refuses_the_fast_reboot() -> None:
    cold = {**PLAN, "reboot_kind": "cold", "reboot_kind_why": "auto: it fell back before"}
    assert utils.plan_errors(cold) == [
        "reboot-kind: a firmware reboot was decided (auto: it fell back before)"]
    assert utils.plan_errors(SOFT_PLAN) == []


def test_soft_state_and_when_a_soft_reboot_is_seen() -> None:
    assert utils.parse_soft_state("SoftRebootsCount=4\nUserspaceTimestampMonotonic=9000000\n"
                                  ) == AFTER
    # systemd 254/255: the property is unknown, systemctl prints nothing for it.
    old = utils.parse_soft_state("UserspaceTimestampMonotonic=1000000\n")
    assert old == {"soft_reboots": None, "userspace_us": 1_000_000}
    assert utils.parse_soft_state("") == {"soft_reboots": None, "userspace_us": None}
    assert utils.soft_reboot_seen(BEFORE, AFTER)
    assert not utils.soft_reboot_seen(BEFORE, BEFORE)
    # The counter decides where there is one, even if the userspace start moved.
    assert not utils.soft_reboot_seen(BEFORE, {**AFTER, "soft_reboots": 3})
    assert utils.soft_reboot_seen(old, {"soft_reboots": None, "userspace_us": 9_000_000})
    assert not utils.soft_reboot_seen({"soft_reboots": None, "userspace_us": None}, AFTER)


def test_find_record_takes_only_a_record_requested_since_the_launch() -> None:
    earlier = _soft_record(requested_at=100.0, downtime_s=5.0)
    status = {"records": [earlier, _soft_record(requested_at=200.0)]}
    assert utils.find_record(status, OLD, 150.0)["requested_at"] == 200.0
    assert utils.find_record({"records": [earlier]}, OLD, 150.0) is None
    assert utils.find_record({"records": [earlier]}, OLD)["requested_at"] == 100.0


def test_verify_soft_accepts_userspace_restarted_with_the_kernel_kept() -> None:
    kernel = SOFT_PLAN["running_kernel"]
    assert utils.verify_soft(SOFT_PLAN, OLD, OLD, kernel, _soft_record(),
                             before=BEFORE, after=AFTER) == []
    # systemd 254/255: no counter before or after; the record's own check stands.
    none = {"soft_reboots": None, "userspace_us": None}
    assert utils.verify_soft(SOFT_PLAN, OLD, OLD, kernel, _soft_record(),
                             before=none, after=none) == []


@pytest.mark.parametrize(
    ("new_boot", "kernel", "record", "after", "expected"),
    [
        # The kernel booted again: the host is up, but what a soft reboot keeps is gone.
        (NEW, "6.1.0-47-cloud-amd64", _soft_record(), AFTER, "the boot id changed"),
        (OLD, "6.1.0-47-cloud-amd64", _soft_record(), {**AFTER, "soft_reboots": 3},
         "SoftRebootsCount went from 3 to 3, not 4"),
        (OLD, "6.1.0-47-cloud-amd64", _soft_record(), {**AFTER, "soft_reboots": 5},
         "from 3 to 5"),
        (OLD, "6.1.0-47-cloud-amd64", _soft_record(), {**AFTER, "soft_reboots": None},
         "from 3 to None"),
        (OLD, "6.1.0-56-cloud-amd64", _soft_record(), AFTER, "the running kernel changed"),
        (OLD, "6.1.0-47-cloud-amd64", None, AFTER, "no fastreboot record"),
        (OLD, "6.1.0-47-cloud-amd64", _soft_record(state="pending", downtime_s=None), AFTER,
         "the record's state is pending"),
        (OLD, "6.1.0-47-cloud-amd64", _record(), AFTER, "the record is of kind kexec, not soft"),
        (OLD, "6.1.0-47-cloud-amd64",
         _soft_record(state="mismatch", problems=["a soft reboot was asked for, but the "
                                                  "kernel booted again (through kexec)"]),
         AFTER, "kernel booted again"),
    ],
)
def test_verify_soft_fails_what_a_soft_reboot_is_not(
    new_boot: str, kernel: str, record: dict[str, Any] | None, after: dict[str, Any],
    expected: str,
) -> None:
    problems = utils.verify_soft(SOFT_PLAN, OLD, new_boot, kernel, record,
                                 before=BEFORE, after=after)
    assert any(expected in p for p in problems), problems


def test_verify_kexec_refuses_a_soft_record() -> None:
    problems = utils.verify(PLAN, OLD, NEW, PLAN["kernel_version"], _soft_record())
    assert any("kind soft, not kexec" in p for p in problems), problems


# ---------------------------------------------------------------------- the gate module

ansible = pytest.importorskip("ansible")


def test_gate_sees_a_posix_lock_in_proc_locks(tmp_path: Path) -> None:
    gate = _load("plugins/modules/reboot_gate.py")
    lock = tmp_path / "lock-frontend"
    lock.write_text("")
    free = tmp_path / "lock"
    free.write_text("")
    st = os.stat(lock)
    line = (f"1: POSIX  ADVISORY  WRITE 4242 {os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:"
            f"{st.st_ino} 0 EOF\n")
    assert gate.held_locks([str(lock), str(free)], line) == [str(lock)]
    assert gate.held_locks([str(lock)], "") == []


def test_gate_reads_block_mode_shutdown_inhibitors() -> None:
    gate = _load("plugins/modules/reboot_gate.py")
    listing = textwrap.dedent("""\
        ModemManager 0 root 712 ModemManager sleep         ModemManager needs to reset devices delay
        backup tool  0 root 900 sh           shutdown:idle  nightly backup                     block
        Unattended   0 root 901 python3      shutdown       Stop upgrades                      delay
    """)
    assert [i.split()[0] for i in gate.shutdown_inhibitors(listing)] == ["backup"]


# ------------------------------------------------------------- installed, run by Ansible


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("ansible-galaxy") is None:
        pytest.skip("ansible-core is not installed")
    dest = tmp_path_factory.mktemp("collections")
    subprocess.run(["ansible-galaxy", "collection", "install", str(COLLECTION), "-p", str(dest)],
                   check=True, capture_output=True, timeout=120)
    return dest


def _env(installed: Path) -> dict[str, str]:
    return {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(installed),
            "ANSIBLE_NOCOLOR": "1", "ANSIBLE_HOST_KEY_CHECKING": "0",
            "ANSIBLE_LOCALHOST_WARNING": "0", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0"}


def test_ansible_doc_shows_the_module_options(installed: Path) -> None:
    shown = subprocess.run(["ansible-doc", "--json", "fastreboot.fastreboot.reboot"],
                           capture_output=True, text=True, env=_env(installed), timeout=120,
                           check=True)
    doc = json.loads(shown.stdout)["fastreboot.fastreboot.reboot"]["doc"]
    assert {"only_if_needed", "cold_fallback", "reboot_timeout", "poll_interval",
            "connect_timeout", "kernel", "state"} <= set(doc["options"])
    assert doc["options"]["cold_fallback"]["default"] is False
    assert doc["options"]["kind"]["choices"] == ["auto", "kexec", "soft"]
    assert doc["options"]["kind"]["default"] == "kexec"
    text = subprocess.run(["ansible-doc", "fastreboot.fastreboot.reboot_gate"],
                          capture_output=True, text=True, env=_env(installed), timeout=120,
                          check=True).stdout
    assert "/proc/locks" in text


# The stand-in host: `fastreboot` answers from files in the test's directory and its
# `reboot` runs outcome.sh, which changes what the host reports afterwards (boot id,
# `uname -r`, systemd's counter, the records). `uname` and `systemctl` are stand-ins too,
# first on PATH; the boot id comes through the module's boot_id_command. Nothing reboots.
STUB = """#!/bin/sh
D={dir}
echo "$*" >> $D/calls.log
case "$1" in
  plan) cat $D/plan.json ;;
  status) cat $D/status.json ;;
  load) if [ -e $D/load.err ]; then cat $D/load.err >&2; exit 7; fi
        sed -i 's/"already_loaded": null/"already_loaded": {{"kernel": "staged"}}/' $D/plan.json ;;
  reboot) sleep 0.3; sh $D/outcome.sh ;;
  *) exit 99 ;;
esac
"""
NO_RECORDS = {"records": [], "record_unit_installed": True}


class Host:
    """What the stand-in host says before the reboot; `after()` sets what it says once
    the stand-in `fastreboot reboot` ran."""

    def __init__(self, tmp_path: Path, plan: dict[str, Any]) -> None:
        self.dir = tmp_path
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir(exist_ok=True)
        for name, text in (("fastreboot", STUB.format(dir=tmp_path)),
                           ("uname", f"#!/bin/sh\ncat {tmp_path}/uname\n"),
                           ("systemctl", f"#!/bin/sh\ncat {tmp_path}/systemctl.out\n")):
            (bin_dir / name).write_text(text)
            (bin_dir / name).chmod(0o755)
        self.stub = bin_dir / "fastreboot"
        self.bin = bin_dir
        self._write("plan.json", json.dumps(plan))
        self._write("status.json", json.dumps(NO_RECORDS))
        self._state(OLD, "6.1.0-47-cloud-amd64", 3)
        self._write("outcome.sh", "exit 0\n")

    def _write(self, name: str, text: str) -> None:
        (self.dir / name).write_text(text)

    def _state(self, boot: str, kernel: str, soft_reboots: int) -> None:
        self._write("boot_id", boot + "\n")
        self._write("uname", kernel + "\n")
        self._write("systemctl.out", f"SoftRebootsCount={soft_reboots}\n"
                    f"UserspaceTimestampMonotonic={1_000_000 * (soft_reboots + 1)}\n")

    def refuse_load(self) -> None:
        self._write("load.err", "fastreboot: the kernel refused to load the image (hint: ...)\n")

    def after(self, boot: str, kernel: str, soft_reboots: int,
              record: dict[str, Any] | None) -> None:
        """What the stand-in reboot leaves: written to the side, then moved in place."""
        out = self.dir / "after"
        out.mkdir(exist_ok=True)
        status = {"records": [{**record, "requested_at": 4e9}] if record else [],
                  "record_unit_installed": True}
        (out / "status.json").write_text(json.dumps(status))
        (out / "boot_id").write_text(boot + "\n")
        (out / "uname").write_text(kernel + "\n")
        (out / "systemctl.out").write_text(f"SoftRebootsCount={soft_reboots}\n"
                                          "UserspaceTimestampMonotonic=99000000\n")
        self._write("outcome.sh", f"cd {out} && mv status.json uname boot_id systemctl.out "
                    f"{self.dir}/\n")

    def calls(self) -> list[str]:
        log = self.dir / "calls.log"
        return log.read_text().splitlines() if log.exists() else []


def _play(installed: Path, tmp_path: Path, plan: dict[str, Any] | Host, *extra: str,
          task_args: str = "") -> tuple[subprocess.CompletedProcess[str], list[str]]:
    host = plan if isinstance(plan, Host) else Host(tmp_path, plan)
    if not isinstance(plan, Host):
        host.refuse_load()
    (tmp_path / "result.json").unlink(missing_ok=True)
    (tmp_path / "calls.log").unlink(missing_ok=True)
    playbook = tmp_path / "play.yml"
    playbook.write_text(textwrap.dedent(f"""\
        - hosts: localhost
          connection: local
          gather_facts: false
          tasks:
            - fastreboot.fastreboot.reboot:
                fastreboot_command: {host.stub}
                boot_id_command: cat {tmp_path}/boot_id
                poll_interval: 0.2
                {task_args}
              register: fr
              ignore_errors: true
            - ansible.builtin.copy:
                content: "{{{{ fr | to_json }}}}"
                dest: {tmp_path}/result.json
              check_mode: false
            - ansible.builtin.fail:
                msg: the task failed
              when: fr is failed
        """))
    env = {**_env(installed), "PATH": f"{host.bin}:{os.environ['PATH']}"}
    ran = subprocess.run(
        ["ansible-playbook", "-i", "localhost,",
         "-e", f"ansible_python_interpreter={sys.executable}", str(playbook), *extra],
        capture_output=True, text=True, env=env, timeout=300, check=False)
    return ran, host.calls()


def _result(tmp_path: Path) -> dict[str, Any]:
    return dict(json.loads((tmp_path / "result.json").read_text()))


def test_check_mode_only_plans_and_reports_changed(installed: Path, tmp_path: Path) -> None:
    ran, calls = _play(installed, tmp_path, PLAN, "--check")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert calls == ["plan --json --kind kexec"]
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["changed"] is True and result["rebooted"] is False
    assert result["plan"]["kernel_version"] == PLAN["kernel_version"]


def test_check_mode_unchanged_when_no_reboot_is_needed(installed: Path, tmp_path: Path) -> None:
    same = {**PLAN, "kernel_version": PLAN["running_kernel"]}
    if Path("/run/reboot-required").exists():
        pytest.skip("this machine has /run/reboot-required")
    ran, calls = _play(installed, tmp_path, same, "--check", task_args="only_if_needed: true")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["changed"] is False and result["reboot_needed"] is False
    assert calls == ["plan --json --kind kexec"]


def test_a_refused_load_fails_the_host_before_any_reboot(installed: Path, tmp_path: Path) -> None:
    ran, calls = _play(installed, tmp_path, PLAN)
    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert "fastreboot load failed" in ran.stdout and "refused to load" in ran.stdout
    assert calls == ["plan --json --kind kexec", "status --json", "load"]
    assert _result(tmp_path)["rebooted"] is False


def test_a_refusing_plan_fails_in_check_mode_too(installed: Path, tmp_path: Path) -> None:
    refusing = {**PLAN, "checks": [{"name": "lockdown", "level": "error",
                                    "message": "lockdown refuses unsigned kernels"}]}
    ran, calls = _play(installed, tmp_path, refusing, "--check")
    assert calls == ["plan --json --kind kexec"]
    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert "fastreboot refuses this host: lockdown" in ran.stdout
    # With the cold fallback the same host would be rebooted through the firmware.
    ran, _ = _play(installed, tmp_path, refusing, "--check", task_args="cold_fallback: true")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["changed"] is True and result["cold"] is True


needs_run = pytest.mark.skipif(not os.access("/run", os.W_OK),
                               reason="the launch writes its output to /run/fastreboot-ansible")
SOFT = {**SOFT_PLAN, "reboot_kind_why": "asked for"}
AUTO_SOFT = {**SOFT_PLAN, "reboot_kind_why": "auto: the kernel stays (same build)"}
AUTO_KEXEC = {**PLAN, "reboot_kind": "kexec", "reboot_kind_why": "auto: another kernel"}
KEXEC = {**PLAN, "reboot_kind": "kexec", "reboot_kind_why": "asked for"}
RUNNING, PLANNED = PLAN["running_kernel"], PLAN["kernel_version"]


@needs_run
@pytest.mark.parametrize(
    ("asked", "plan", "decided"),
    [("kexec", KEXEC, "kexec"), ("soft", SOFT, "soft"),
     ("auto", AUTO_SOFT, "soft"), ("auto", AUTO_KEXEC, "kexec")],
)
def test_the_module_runs_and_verifies_the_decided_kind(
    installed: Path, tmp_path: Path, asked: str, plan: dict[str, Any], decided: str
) -> None:
    host = Host(tmp_path, plan)
    if decided == "soft":
        host.after(OLD, RUNNING, 4, _soft_record())
    else:
        host.after(NEW, PLANNED, 3, _record())
    ran, calls = _play(installed, tmp_path, host, task_args=f"kind: {asked}")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    load = [] if decided == "soft" else ["load"]
    assert calls == [f"plan --json --kind {asked}", "status --json", *load,
                     f"reboot --yes --kind {decided}", "status --json"]
    result = _result(tmp_path)
    assert result["kind"] == decided and result["kind_why"] == plan["reboot_kind_why"]
    assert result["rebooted"] is True and result["downtime_s"] == result["record"]["downtime_s"]
    if decided == "soft":
        assert result["boot_id_after"] == OLD and result["kernel"] == RUNNING
        assert result["soft_state_before"]["soft_reboots"] == 3
        assert result["soft_state_after"]["soft_reboots"] == 4
        assert result["msg"].startswith("soft reboot, Linux " + RUNNING)
    else:
        assert result["boot_id_after"] == NEW and result["kernel"] == PLANNED
        assert "soft_state_before" not in result


@needs_run
@pytest.mark.parametrize(
    ("kind", "outcome", "expected"),
    [
        # A soft reboot that became a kexec: up again, but the kernel state is gone.
        ("soft", (NEW, RUNNING, 4, "soft"), "the boot id changed"),
        # Two soft reboots since the plan (another one came first): not verifiably this one.
        ("soft", (OLD, RUNNING, 5, "soft"), "SoftRebootsCount went from 3 to 5"),
        # The counter never moves: the host is not back, whatever SSH says.
        ("soft", (OLD, RUNNING, 3, "soft"), "did not come back within 2 s"),
        ("soft", (OLD, RUNNING, 4, None), "no fastreboot record"),
        # A kexec whose boot id stays never counts as back.
        ("kexec", (OLD, PLANNED, 3, "kexec"), "did not come back within 2 s"),
        ("kexec", (NEW, RUNNING, 3, "kexec"), f"expected Linux {PLANNED}"),
    ],
)
def test_the_module_fails_a_reboot_that_was_not_the_one_decided(
    installed: Path, tmp_path: Path, kind: str, outcome: tuple[str, str, int, str | None],
    expected: str,
) -> None:
    host = Host(tmp_path, SOFT if kind == "soft" else KEXEC)
    boot, kernel, count, record_kind = outcome
    record = None if record_kind is None else (
        _soft_record() if record_kind == "soft" else _record())
    host.after(boot, kernel, count, record)
    ran, calls = _play(installed, tmp_path, host,
                       task_args=f"kind: {kind}\n                reboot_timeout: 2\n"
                                 "                record_timeout: 1")
    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert f"reboot --yes --kind {kind}" in calls
    result = _result(tmp_path)
    assert result["failed"] is True and expected in result["msg"], result["msg"]


@needs_run
def test_a_failing_reboot_command_fails_while_the_old_boot_answers(
    installed: Path, tmp_path: Path
) -> None:
    host = Host(tmp_path, SOFT)
    (tmp_path / "outcome.sh").write_text("echo 'fastreboot: preflight check reboot-kind "
                                         "failed' >&2; exit 5\n")
    ran, _ = _play(installed, tmp_path, host, task_args="kind: soft")
    assert ran.returncode == 2, ran.stdout + ran.stderr
    msg = _result(tmp_path)["msg"]
    assert "fastreboot reboot exited 5" in msg and "reboot-kind" in msg, msg


def test_auto_deciding_a_firmware_reboot_is_a_refusal(installed: Path, tmp_path: Path) -> None:
    cold = {**PLAN, "reboot_kind": "cold", "reboot_kind_why": "auto: fell back before"}
    host = Host(tmp_path, cold)
    ran, calls = _play(installed, tmp_path, host, "--check", task_args="kind: auto")
    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert calls == ["plan --json --kind auto"]
    assert "a firmware reboot was decided" in _result(tmp_path)["msg"]
    ran, _ = _play(installed, tmp_path, host, "--check",
                   task_args="kind: auto\n                cold_fallback: true")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert _result(tmp_path)["cold"] is True


@needs_run
@pytest.mark.parametrize(
    ("role_vars", "expected"),
    [
        # Defaults: one module run plans, loads and reboots (nothing comes between).
        ("{}", ["plan --json --kind kexec", "status --json", "load",
                "reboot --yes --kind kexec", "status --json"]),
        # "needed?" plans first; drain tasks put the load before them, the reboot after.
        ("{fastreboot_only_if_needed: true, fastreboot_pre_reboot_tasks: drain.yml}",
         ["plan --json --kind kexec", "plan --json --kind kexec", "status --json", "load",
          "plan --json --kind kexec", "reboot --yes --kind kexec", "status --json"]),
    ],
)
def test_the_role_runs_only_the_module_runs_it_needs(
    installed: Path, tmp_path: Path, role_vars: str, expected: list[str]
) -> None:
    host = Host(tmp_path, KEXEC)
    host.after(NEW, PLANNED, 3, _record())
    (tmp_path / "drain.yml").write_text("- ansible.builtin.debug:\n    msg: drained\n")
    playbook = tmp_path / "role.yml"
    playbook.write_text(textwrap.dedent(f"""\
        - hosts: localhost
          connection: local
          gather_facts: false
          vars:
            fastreboot_command: {host.stub}
            fastreboot_gate: "off"
          # The reboot step's wait reads the stand-in's boot id.
          module_defaults:
            fastreboot.fastreboot.reboot:
              boot_id_command: cat {tmp_path}/boot_id
              poll_interval: 0.2
          roles:
            - role: fastreboot.fastreboot.rolling_reboot
          post_tasks:
            - ansible.builtin.copy:
                content: "{{{{ fastreboot_result | to_json }}}}"
                dest: {tmp_path}/result.json
        """))
    env = {**_env(installed), "PATH": f"{host.bin}:{os.environ['PATH']}"}
    ran = subprocess.run(
        ["ansible-playbook", "-i", "localhost,", "-e", role_vars,
         "-e", f"ansible_python_interpreter={sys.executable}", str(playbook)],
        capture_output=True, text=True, env=env, timeout=300, check=False, cwd=tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert host.calls() == expected
    assert _result(tmp_path)["kernel"] == PLANNED


def test_role_playbook_and_example_pass_ansibles_syntax_check(installed: Path) -> None:
    for playbook in ("fastreboot.fastreboot.rolling", str(COLLECTION / "examples/rolling.yml")):
        ran = subprocess.run(
            ["ansible-playbook", "--syntax-check", "-i", "localhost,", playbook],
            capture_output=True, text=True, env=_env(installed), timeout=120, check=False)
        assert ran.returncode == 0, ran.stdout + ran.stderr
