#!/usr/bin/python
"""fastreboot.fastreboot.reboot_gate: is this host safe to reboot right now?"""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: reboot_gate
short_description: Tell whether a Linux host is safe to reboot right now (read-only)
description:
  - Reports RV(safe=false), with the reasons, while a package manager holds its lock
    (dpkg/apt, rpm), while an initramfs is being written (C(update-initramfs),
    C(mkinitramfs), C(dracut) running), or while a systemd inhibitor of type C(shutdown)
    in mode C(block) is held (C(systemd-inhibit --list)).
  - Locks are read from C(/proc/locks) (both C(fcntl) and C(flock) locks, as dpkg and
    rpm take them); nothing is locked, opened for writing or changed.
  - Use it with C(until) and C(retries)/C(delay) to wait for a host, or end the host when
    it is not safe; the role C(fastreboot.fastreboot.rolling_reboot) does both.
version_added: 0.1.0
author:
  - fastreboot developers
options:
  lock_files:
    description: Files whose lock means a package manager is at work.
    type: list
    elements: str
    default:
      - /var/lib/dpkg/lock-frontend
      - /var/lib/dpkg/lock
      - /var/lib/apt/lists/lock
      - /var/cache/apt/archives/lock
      - /var/lib/rpm/.rpm.lock
  busy_programs:
    description: Programs (process names) whose running makes a reboot unsafe.
    type: list
    elements: str
    default: [update-initramfs, mkinitramfs, dracut]
  inhibitors:
    description: Whether a systemd shutdown inhibitor in block mode makes the host unsafe.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
"""

EXAMPLES = r"""
- name: Wait up to 10 minutes until the host is safe to reboot
  fastreboot.fastreboot.reboot_gate:
  register: gate
  until: gate.safe
  retries: 120
  delay: 5
"""

RETURN = r"""
safe:
  description: Whether nothing blocks a reboot now.
  returned: always
  type: bool
reasons:
  description: What blocks it, one sentence each.
  returned: always
  type: list
  elements: str
"""

import os

from ansible.module_utils.basic import AnsibleModule


def held_locks(lock_files: list[str], proc_locks: str) -> list[str]:
    """The lock files someone holds a lock on, per /proc/locks."""
    held_inodes: set[tuple[int, int, int]] = set()
    for line in proc_locks.splitlines():
        fields = line.split()
        # "1: POSIX  ADVISORY  WRITE 1234 fd:01:131090 0 EOF" (blocked waiters have "->").
        fields = [f for f in fields if f != "->"]
        if len(fields) < 6:
            continue
        parts = fields[5].split(":")
        if len(parts) != 3:
            continue
        try:
            held_inodes.add((int(parts[0], 16), int(parts[1], 16), int(parts[2])))
        except ValueError:
            continue
    held = []
    for path in lock_files:
        try:
            st = os.stat(path)
        except OSError:
            continue
        if (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino) in held_inodes:
            held.append(path)
    return held


def running_programs(names: list[str]) -> list[str]:
    """The wanted programs that run now (by process name or script name)."""
    found = set()
    wanted = set(names)
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                argv = fh.read().split(b"\0")
            with open(f"/proc/{pid}/comm") as fh:
                comm = fh.read().strip()
        except OSError:
            continue
        # A shell script (update-initramfs) runs as "sh": its name is the next argument.
        candidates = {comm, *(os.path.basename(a.decode(errors="replace")) for a in argv[:2])}
        found |= candidates & wanted
    return sorted(found)


def shutdown_inhibitors(listing: str) -> list[str]:
    """Block-mode shutdown inhibitors from `systemd-inhibit --list --no-legend` lines
    (WHO UID USER PID COMM WHAT WHY MODE; WHO and WHY may contain spaces)."""
    found = []
    for line in listing.splitlines():
        fields = line.split()
        if not fields or fields[-1] != "block":
            continue
        if any("shutdown" in field.split(":") for field in fields):
            found.append(" ".join(fields))
    return found


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "lock_files": {"type": "list", "elements": "str", "default": [
                "/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock", "/var/lib/apt/lists/lock",
                "/var/cache/apt/archives/lock", "/var/lib/rpm/.rpm.lock"]},
            "busy_programs": {"type": "list", "elements": "str",
                              "default": ["update-initramfs", "mkinitramfs", "dracut"]},
            "inhibitors": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    reasons = []
    try:
        with open("/proc/locks") as fh:
            proc_locks = fh.read()
    except OSError:
        proc_locks = ""
    reasons += [f"a package manager holds {path}"
                for path in held_locks(module.params["lock_files"], proc_locks)]
    reasons += [f"{name} is running" for name in running_programs(module.params["busy_programs"])]
    if module.params["inhibitors"] and module.get_bin_path("systemd-inhibit"):
        rc, out, err = module.run_command(
            ["systemd-inhibit", "--list", "--no-pager", "--no-legend"]
        )
        if rc == 0:
            reasons += [f"shutdown inhibited: {i}" for i in shutdown_inhibitors(out)]
        else:
            module.warn(f"systemd-inhibit --list failed, inhibitors not checked: {err.strip()}")
    module.exit_json(changed=False, safe=not reasons, reasons=reasons)


if __name__ == "__main__":
    main()
