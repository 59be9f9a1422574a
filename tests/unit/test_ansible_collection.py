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
    text = subprocess.run(["ansible-doc", "fastreboot.fastreboot.reboot_gate"],
                          capture_output=True, text=True, env=_env(installed), timeout=120,
                          check=True).stdout
    assert "/proc/locks" in text


STUB = """#!/bin/sh
echo "$*" >> {log}
case "$1" in
  plan) cat {plan} ;;
  status) echo '{{"records": [], "record_unit_installed": true}}' ;;
  load) echo "fastreboot: the kernel refused to load the image (hint: ...)" >&2; exit 7 ;;
  *) exit 99 ;;
esac
"""


def _play(installed: Path, tmp_path: Path, plan: dict[str, Any], *extra: str,
          task_args: str = "") -> tuple[subprocess.CompletedProcess[str], list[str]]:
    log = tmp_path / "calls.log"
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    stub = tmp_path / "fastreboot"
    stub.write_text(STUB.format(log=log, plan=tmp_path / "plan.json"))
    stub.chmod(0o755)
    playbook = tmp_path / "play.yml"
    playbook.write_text(textwrap.dedent(f"""\
        - hosts: localhost
          connection: local
          gather_facts: false
          tasks:
            - fastreboot.fastreboot.reboot:
                fastreboot_command: {stub}
                {task_args}
              register: fr
            - ansible.builtin.copy:
                content: "{{{{ fr | to_json }}}}"
                dest: {tmp_path}/result.json
              check_mode: false
        """))
    ran = subprocess.run(
        ["ansible-playbook", "-i", "localhost,",
         "-e", f"ansible_python_interpreter={sys.executable}", str(playbook), *extra],
        capture_output=True, text=True, env=_env(installed), timeout=300, check=False)
    calls = log.read_text().splitlines() if log.exists() else []
    return ran, calls


def test_check_mode_only_plans_and_reports_changed(installed: Path, tmp_path: Path) -> None:
    ran, calls = _play(installed, tmp_path, PLAN, "--check")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert calls == ["plan --json"]
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
    assert calls == ["plan --json"]


def test_a_refused_load_fails_the_host_before_any_reboot(installed: Path, tmp_path: Path) -> None:
    ran, calls = _play(installed, tmp_path, PLAN)
    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert "fastreboot load failed" in ran.stdout and "refused to load" in ran.stdout
    assert calls == ["plan --json", "status --json", "load"]
    assert not (tmp_path / "result.json").exists()


def test_a_refusing_plan_fails_in_check_mode_too(installed: Path, tmp_path: Path) -> None:
    refusing = {**PLAN, "checks": [{"name": "lockdown", "level": "error",
                                    "message": "lockdown refuses unsigned kernels"}]}
    ran, calls = _play(installed, tmp_path, refusing, "--check")
    assert calls == ["plan --json"]
    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert "fastreboot refuses this host: lockdown" in ran.stdout
    # With the cold fallback the same host would be rebooted through the firmware.
    ran, _ = _play(installed, tmp_path, refusing, "--check", task_args="cold_fallback: true")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["changed"] is True and result["cold"] is True


def test_role_playbook_and_example_pass_ansibles_syntax_check(installed: Path) -> None:
    for playbook in ("fastreboot.fastreboot.rolling", str(COLLECTION / "examples/rolling.yml")):
        ran = subprocess.run(
            ["ansible-playbook", "--syntax-check", "-i", "localhost,", playbook],
            capture_output=True, text=True, env=_env(installed), timeout=120, check=False)
        assert ran.returncode == 0, ran.stdout + ran.stderr
