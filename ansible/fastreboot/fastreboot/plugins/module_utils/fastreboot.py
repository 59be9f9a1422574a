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
#: The kinds a task may ask for (a firmware reboot is the separate cold_fallback path).
KINDS = ("auto", "kexec", "soft")
#: Prints the boot id (the default of the boot_id_command option).
BOOT_ID_COMMAND = "cat /proc/sys/kernel/random/boot_id"
#: systemd's soft-reboot counter (256 and later) and the start of the running userspace
#: (monotonic microseconds, which a soft reboot moves on): one KEY=VALUE per line.
SOFT_STATE_COMMAND = (
    "systemctl show --property=SoftRebootsCount --property=UserspaceTimestampMonotonic"
)


def selection_args(params: dict[str, Any]) -> list[str]:
    """fastreboot's selection options for the task's parameters, in a fixed order."""
    args: list[str] = []
    for name in SELECTION_OPTIONS:
        value = params.get(name)
        if value is not None and value != "":
            args += [f"--{name.replace('_', '-')}", str(value)]
    return args


def decided_kind(plan: dict[str, Any]) -> str:
    """The kind of reboot the plan decided (plans from before kinds existed: kexec)."""
    return str(plan.get("reboot_kind") or "kexec")


def plan_errors(plan: dict[str, Any]) -> list[str]:
    """The messages of the plan's checks that block a fast reboot. A plan of kind cold
    (auto chose the firmware) blocks it too: that is the cold_fallback path's to take."""
    errors = [
        f"{check.get('name')}: {check.get('message')}"
        for check in plan.get("checks", [])
        if check.get("level") == "error"
    ]
    if decided_kind(plan) == "cold" and not errors:
        errors.append(f"reboot-kind: a firmware reboot was decided ({plan.get('reboot_kind_why')})")
    return errors


def reboot_argv(fastreboot: str, kind: str, params: dict[str, Any]) -> list[str]:
    """The reboot command for the kind the plan decided, passed explicitly, so that what
    is waited for and verified is what the host does even if its toml says otherwise."""
    return [fastreboot, "reboot", "--yes", "--kind", kind, *selection_args(params)]


def parse_soft_state(text: str) -> dict[str, int | None]:
    """SOFT_STATE_COMMAND's output: the counter and the userspace start (None: absent)."""
    values = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)

    def number(key: str) -> int | None:
        value = values.get(key, "").strip()
        return int(value) if value.isdigit() else None

    return {"soft_reboots": number("SoftRebootsCount"),
            "userspace_us": number("UserspaceTimestampMonotonic")}


def soft_reboot_seen(before: dict[str, Any], now: dict[str, Any]) -> bool:
    """Whether systemd soft-rebooted since *before*: its counter grew, or (systemd 254 and
    255, no counter) a later userspace started."""
    if before.get("soft_reboots") is not None and now.get("soft_reboots") is not None:
        return bool(now["soft_reboots"] > before["soft_reboots"])
    if before.get("userspace_us") is not None and now.get("userspace_us") is not None:
        return bool(now["userspace_us"] != before["userspace_us"])
    return False


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


def find_record(
    status: dict[str, Any], from_boot_id: str, since: float | None = None
) -> dict[str, Any] | None:
    """The downtime record of the reboot that left the boot *from_boot_id*, requested at
    or after *since* (the host's clock before the launch): a boot can leave through several
    soft reboots, and only the newest is this one."""
    for record in reversed(status.get("records", [])):
        if record.get("from_boot_id") != from_boot_id:
            continue
        if since is not None and float(record.get("requested_at") or 0) < since:
            return None
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
    """What is wrong with the boot that came back after a kexec (empty: the fast reboot
    did what was planned). The record's own words come first."""
    problems = _record_problems(record, old_boot_id, "kexec")
    if record is not None and record.get("via_kexec") is False and not any(
        "firmware" in p for p in problems
    ):
        problems.append("the host came back through the firmware, not through kexec")
    if new_boot_id == old_boot_id:
        problems.append(f"the boot id is still {old_boot_id}: the host did not reboot")
    planned = plan.get("kernel_version")
    if planned and running_kernel != planned and not any(planned in p for p in problems):
        problems.append(f"expected Linux {planned}, came up with {running_kernel}")
    return problems


def verify_soft(
    plan: dict[str, Any],
    old_boot_id: str,
    new_boot_id: str,
    running_kernel: str,
    record: dict[str, Any] | None,
    *,
    before: dict[str, Any],
    after: dict[str, Any],
) -> list[str]:
    """What is wrong after a soft reboot (empty: userspace restarted, the kernel stayed).
    The boot id must stay: a changed one means the kernel booted again, which loses the
    kernel state a soft reboot promises to keep, so it fails even though the host is up.
    systemd's counter must have grown by exactly one (another soft reboot in between is
    not this one); systemd 254 and 255 have no counter, and the record's own check (a
    later userspace start) then stands alone."""
    problems = _record_problems(record, old_boot_id, "soft")
    if new_boot_id != old_boot_id:
        problems.append(f"the boot id changed ({old_boot_id} -> {new_boot_id}): the kernel "
                        "booted again, a soft reboot keeps it")
    counted, now = before.get("soft_reboots"), after.get("soft_reboots")
    if counted is not None and now != counted + 1:
        problems.append(f"systemd's SoftRebootsCount went from {counted} to {now}, not "
                        f"{counted + 1}")
    running = plan.get("running_kernel")
    if running and running_kernel != running:
        problems.append(f"the running kernel changed: Linux {running} -> {running_kernel}")
    return problems


def _record_problems(record: dict[str, Any] | None, old_boot_id: str, kind: str) -> list[str]:
    if record is None:
        return [f"no fastreboot record for the reboot from boot {old_boot_id}"]
    problems = [str(p) for p in record.get("problems", [])]
    if record.get("state") != "ok" and not problems:
        problems.append(f"the record's state is {record.get('state')}")
    if record.get("kind", "kexec") != kind:
        problems.append(f"the record is of kind {record.get('kind', 'kexec')}, not {kind}")
    return problems
