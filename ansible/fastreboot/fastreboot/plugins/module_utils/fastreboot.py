"""What the fastreboot collection decides, as plain functions (no Ansible import).

The module runs these on the managed host and the action plugin on the controller; the
unit tests load this file on its own.
"""

from __future__ import annotations

import shlex
from typing import Any

#: Where Debian (and kured) signal that a reboot is due.
REBOOT_REQUIRED = "/run/reboot-required"
#: Where the detached reboot leaves its output and exit status on the host.
LAUNCH_DIR = "/run/fastreboot-ansible"
#: fastreboot's exit codes that mean "this host is refused": no kernel or a corrupt image
#: (4), a preflight check failed (5), the kernel refused the load (7).
REFUSED_EXIT_CODES = (4, 5, 7)
#: The task options that choose the kernel; each becomes the fastreboot option of that name.
SELECTION_OPTIONS = ("kernel", "initrd", "append", "command_line", "target", "load_method")


def selection_args(params: dict[str, Any]) -> list[str]:
    """fastreboot's selection options for the task's parameters, in a fixed order."""
    args: list[str] = []
    for name in SELECTION_OPTIONS:
        value = params.get(name)
        if value is not None and value != "":
            args += [f"--{name.replace('_', '-')}", str(value)]
    return args


def plan_errors(plan: dict[str, Any]) -> list[str]:
    """The messages of the plan's checks that block a fast reboot."""
    return [
        f"{check.get('name')}: {check.get('message')}"
        for check in plan.get("checks", [])
        if check.get("level") == "error"
    ]


def reboot_needed(plan: dict[str, Any], reboot_required: bool) -> tuple[bool, str]:
    """Whether a host needs a reboot, and why: Debian's marker file, or a planned kernel
    that is not the running one."""
    if reboot_required:
        return True, f"{REBOOT_REQUIRED} exists"
    planned, running = plan.get("kernel_version"), plan.get("running_kernel")
    if planned and planned != running:
        return True, f"planned Linux {planned} is not the running {running}"
    return False, f"Linux {running} is the planned kernel and {REBOOT_REQUIRED} is absent"


def launch_command(argv: list[str], token: str) -> str:
    """A shell command that starts *argv* detached from the SSH session and returns at
    once. Under systemd it runs as a transient unit (outside the session, which the
    shutdown stops first); elsewhere under nohup and setsid. Either way its output and
    exit status land in LAUNCH_DIR/TOKEN.{log,rc}, and the command prints a marker, so
    that Ansible's own suffix (``&& sleep 0``) and the closing connection change nothing.
    """
    log, rc = f"{LAUNCH_DIR}/{token}.log", f"{LAUNCH_DIR}/{token}.rc"
    inner = f"{shlex.join(argv)} >{log} 2>&1; echo $? >{rc}"
    script = shlex.quote(inner)
    return (
        f"mkdir -p {LAUNCH_DIR} && {{ "
        "if [ -d /run/systemd/system ] && command -v systemd-run >/dev/null 2>&1; then "
        f"systemd-run --quiet --unit=fastreboot-ansible-{token} /bin/sh -c {script}; "
        f"else nohup setsid /bin/sh -c {script} </dev/null >/dev/null 2>&1 & fi; }} && "
        "echo fastreboot-launched"
    )


def find_record(status: dict[str, Any], from_boot_id: str) -> dict[str, Any] | None:
    """The downtime record of the reboot that left the boot *from_boot_id*."""
    for record in reversed(status.get("records", [])):
        if record.get("from_boot_id") == from_boot_id:
            return dict(record)
    return None


def record_complete(record: dict[str, Any] | None) -> bool:
    """True once the next boot's record unit has written the record's downtime (or the
    record says something went wrong, which no waiting changes)."""
    if record is None or record.get("state") == "pending":
        return False
    return record.get("state") != "ok" or record.get("downtime_s") is not None


def verify(
    plan: dict[str, Any],
    old_boot_id: str,
    new_boot_id: str,
    running_kernel: str,
    record: dict[str, Any] | None,
) -> list[str]:
    """What is wrong with the boot that came back (empty: the fast reboot did what was
    planned). The record's own words come first."""
    problems: list[str] = []
    if record is None:
        problems.append(f"no fastreboot record for the reboot from boot {old_boot_id}")
    else:
        problems += [str(p) for p in record.get("problems", [])]
        if record.get("state") != "ok" and not problems:
            problems.append(f"the record's state is {record.get('state')}")
        if record.get("via_kexec") is False and not any("firmware" in p for p in problems):
            problems.append("the host came back through the firmware, not through kexec")
    if new_boot_id == old_boot_id:
        problems.append(f"the boot id is still {old_boot_id}: the host did not reboot")
    planned = plan.get("kernel_version")
    if planned and running_kernel != planned and not any(planned in p for p in problems):
        problems.append(f"expected Linux {planned}, came up with {running_kernel}")
    return problems
