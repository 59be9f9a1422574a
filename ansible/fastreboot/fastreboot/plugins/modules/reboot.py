#!/usr/bin/python
"""fastreboot.fastreboot.reboot: one fast reboot of a host, verified."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: reboot
short_description: Reboot a Linux host through kexec with fastreboot, and verify it came back
description:
  - Plans a fast reboot with C(fastreboot plan --json --kind KIND), loads the planned
    kernel with C(fastreboot load) while every service still runs (a refused load fails
    the host before anything on it is stopped), starts C(fastreboot reboot --yes --kind
    DECIDED) detached from the SSH session, waits for the host to answer again and
    verifies the reboot that was done.
  - The kind the plan decided (its C(reboot_kind); with O(kind=auto) soft when the kernel
    stays, else kexec) is passed explicitly to C(fastreboot reboot), so what is waited for
    is what the host does. A soft reboot loads nothing.
  - After a kexec the host passes when its boot id changed, the planned kernel runs, and
    fastreboot's downtime record for this reboot says C(ok) and that the kernel came from
    kexec. A host that comes back on another kernel, through the firmware, or not within
    O(reboot_timeout) fails, with the record's own words when there is one.
  - After a soft reboot (C(systemctl soft-reboot), systemd 254 and later) the boot id
    stays. The host is back when it answers again and systemd's C(SoftRebootsCount)
    (systemd 256 and later; before, the start of userspace) moved. It passes when the boot
    id and the running kernel are unchanged, the counter went up by exactly one, and the
    record of this reboot is of kind C(soft), complete and C(ok). A changed boot id fails,
    because the kernel booted again and the kernel state a soft reboot keeps is gone.
  - Waiting does not back off as M(ansible.builtin.reboot) does; an attempt starts every
    O(poll_interval) seconds with a short O(connect_timeout) (one that hung until that
    timeout is followed by the next at once), so the host's return is seen within about a
    second of SSH answering. The connection that saw it is kept; the record is read once
    the host's boot has finished (C(systemctl is-system-running --wait)).
  - The plan, the record and the downtime are returned, and set as facts
    (C(fastreboot_plan), C(fastreboot_record), C(fastreboot_downtime)).
  - The work on the controller (launching, waiting, verifying) is done by the action
    plugin of the same name; the module is the part that runs on the host (plan, load).
  - The host needs fastreboot installed, and C(fastreboot setup) for the downtime record;
    O(setup=true) (the default) runs it when the record unit is missing.
version_added: 0.1.0
author:
  - fastreboot developers
options:
  kind:
    description:
      - Which reboot (C(fastreboot --kind)). V(kexec) boots the planned kernel through
        kexec. V(soft) restarts userspace only (C(systemctl soft-reboot), systemd 254 and
        later; the kernel stays). V(auto) lets the plan decide, soft when the planned
        kernel is the running one and systemd can, else kexec.
      - A plan that decides a firmware reboot (V(auto) for a kernel whose fast reboot fell
        back before) refuses the host; O(cold_fallback) then reboots it with
        C(fastreboot cold).
    type: str
    choices: [auto, kexec, soft]
    default: kexec
  boot_id_command:
    description:
      - The command that prints the host's boot id, read before the reboot and while
        waiting (as M(ansible.builtin.reboot)'s C(boot_time_command)).
    type: str
    default: cat /proc/sys/kernel/random/boot_id
  state:
    description:
      - V(rebooted) plans, loads, reboots and verifies.
      - V(loaded) only plans and loads (stage the kernel ahead of the window; a refused
        load fails here, before any drain). A soft plan loads nothing.
      - V(planned) only plans, as check mode does.
    type: str
    choices: [rebooted, loaded, planned]
    default: rebooted
  only_if_needed:
    description:
      - Reboot only when C(/run/reboot-required) exists (as Debian's packages and kured use
        it) or the planned kernel is not the running one. Otherwise the task is unchanged
        and reports RV(reboot_needed=false).
    type: bool
    default: false
  kernel:
    description: The kernel to boot, a path or a version (C(fastreboot --kernel)).
    type: str
  initrd:
    description: The initrd to pass (C(fastreboot --initrd)).
    type: str
  append:
    description: Words to add to the command line (C(fastreboot --append)).
    type: str
  command_line:
    description: The whole command line, instead of the planned one (C(fastreboot --command-line)).
    type: str
  target:
    description: Which kernel to plan for when O(kernel) is not given (C(fastreboot --target)).
    type: str
    choices: [default, newest, running]
  load_method:
    description: Force one kexec system call (C(fastreboot --load-method)).
    type: str
    choices: [kexec_file_load, kexec_load]
  fastreboot_command:
    description: The fastreboot program on the host.
    type: str
    default: fastreboot
  setup:
    description:
      - Run C(fastreboot setup) when C(fastreboot status) says no unit completes the
        downtime records in the next boot. Without that unit there is no downtime figure
        and the verification waits O(record_timeout) for nothing.
    type: bool
    default: true
  cold_fallback:
    description:
      - When fastreboot refuses the host (no usable kernel, a failed preflight check, or
        the kernel refuses the load, e.g. under lockdown without a signed kernel), reboot
        it through the firmware with C(fastreboot cold) instead of failing it.
      - The result then says RV(cold=true), and a warning is shown.
    type: bool
    default: false
  reboot_timeout:
    description: Seconds to wait for the host to answer again after the reboot (a new boot
      id; after a soft reboot, a moved soft-reboot counter).
    type: int
    default: 600
  connect_timeout:
    description: Seconds one connection attempt may take while waiting (the connection
      plugin's timeout, set for the wait only).
    type: int
    default: 3
  poll_interval:
    description: Seconds between two attempts while waiting.
    type: float
    default: 1.0
  record_timeout:
    description: Seconds to wait, once the host answers, for the next boot's unit to
      complete the downtime record.
    type: int
    default: 120
notes:
  - Check mode runs only C(fastreboot plan --json) and reports changed when a reboot would
    happen (with O(cold_fallback), also a cold one).
  - The reboot is started as a transient systemd unit (C(systemd-run)) or, without systemd,
    under C(nohup setsid), so the SSH session closing is not an error. Its output stays in
    C(/run/fastreboot-ansible/) on the host until the reboot clears C(/run).
  - For a rollout, use the role C(fastreboot.fastreboot.rolling_reboot) or the playbook
    C(fastreboot.fastreboot.rolling).
seealso:
  - module: ansible.builtin.reboot
attributes:
  check_mode:
    support: full
  action:
    support: full
"""

EXAMPLES = r"""
- name: Fast reboot, verified
  fastreboot.fastreboot.reboot:
  register: fr

- name: Show the downtime
  ansible.builtin.debug:
    msg: "{{ inventory_hostname }} was down {{ fr.downtime_s }} s"

- name: Reboot only hosts that need it, into the newest installed kernel
  fastreboot.fastreboot.reboot:
    only_if_needed: true
    target: newest

- name: Soft reboot when the kernel stays (a userspace update), else kexec
  fastreboot.fastreboot.reboot:
    kind: auto
  register: fr

- name: Stage the kernel before draining; a refused load fails here
  fastreboot.fastreboot.reboot:
    state: loaded
"""

RETURN = r"""
rebooted:
  description: Whether the host was rebooted.
  returned: always
  type: bool
reboot_needed:
  description: Whether a reboot was due (always true without O(only_if_needed)).
  returned: always
  type: bool
reason:
  description: Why a reboot is or is not needed.
  returned: always
  type: str
plan:
  description: C(fastreboot plan --json) before the reboot.
  returned: always
  type: dict
boot_id_before:
  description: The host's boot id before the reboot.
  returned: always
  type: str
kind:
  description: The kind of reboot the plan decided and the module ran (V(kexec) or V(soft)).
  returned: always
  type: str
kind_why:
  description: Why the plan decided that kind (its C(reboot_kind_why)).
  returned: always
  type: str
soft_state_before:
  description: systemd's C(soft_reboots) counter and C(userspace_us) start before a soft
    reboot (None where systemd has no such property).
  returned: when the kind is soft
  type: dict
soft_state_after:
  description: The same after the soft reboot.
  returned: when soft-rebooted
  type: dict
boot_id_after:
  description: The boot id of the boot that came back (the same after a soft reboot).
  returned: when rebooted
  type: str
kernel:
  description: C(uname -r) of the boot that came back.
  returned: when rebooted
  type: str
record:
  description: fastreboot's downtime record of this reboot (C(fastreboot status --json)).
  returned: when rebooted (kexec or soft)
  type: dict
downtime_s:
  description: The downtime the record measured, from the reboot request to the services up.
  returned: when rebooted (kexec or soft)
  type: float
launched_at:
  description: Controller wall clock (seconds since the epoch) when the reboot was started.
  returned: when rebooted
  type: float
back_at:
  description: Controller wall clock when the host answered after the reboot.
  returned: when rebooted
  type: float
wait_s:
  description: Seconds from the start of the reboot to the host answering again.
  returned: when rebooted
  type: float
prepared_at:
  description: Controller wall clock when the module's part (plan, load) returned; with
    RV(host_time_before), the host's clock at about that moment, it places the record's
    times on the controller's clock.
  returned: when the module ran
  type: float
host_time_before:
  description: The host's wall clock at the end of the module's part; the record of this
    reboot is the one requested after it.
  returned: when a reboot follows
  type: float
wait:
  description: How the wait went, C(attempts), C(failed_attempts), C(gone_after_s) (seconds
    from the launch to the first failed attempt) and C(last_attempt_s).
  returned: when rebooted
  type: dict
cold:
  description: True when the host was rebooted through the firmware by O(cold_fallback).
  returned: when rebooted
  type: bool
refused:
  description: True when fastreboot refused the host (its plan or its load).
  returned: on failure
  type: bool
"""

import json
import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fastreboot.fastreboot.plugins.module_utils.fastreboot import (
    KINDS,
    REBOOT_REQUIRED,
    REFUSED_EXIT_CODES,
    SOFT_STATE_COMMAND,
    decided_kind,
    parse_soft_state,
    plan_errors,
    reboot_needed,
    selection_args,
)

ARGUMENT_SPEC = {
    "kind": {"type": "str", "choices": list(KINDS), "default": "kexec"},
    "boot_id_command": {"type": "str", "default": "cat /proc/sys/kernel/random/boot_id"},
    "state": {"type": "str", "choices": ["rebooted", "loaded", "planned"], "default": "rebooted"},
    "only_if_needed": {"type": "bool", "default": False},
    "kernel": {"type": "str"},
    "initrd": {"type": "str"},
    "append": {"type": "str"},
    "command_line": {"type": "str"},
    "target": {"type": "str", "choices": ["default", "newest", "running"]},
    "load_method": {"type": "str", "choices": ["kexec_file_load", "kexec_load"]},
    "fastreboot_command": {"type": "str", "default": "fastreboot"},
    "setup": {"type": "bool", "default": True},
    "cold_fallback": {"type": "bool", "default": False},
    "reboot_timeout": {"type": "int", "default": 600},
    "connect_timeout": {"type": "int", "default": 3},
    "poll_interval": {"type": "float", "default": 1.0},
    "record_timeout": {"type": "int", "default": 120},
}


def _boot_id(module: AnsibleModule) -> str:
    rc, out, err = module.run_command(module.params["boot_id_command"], use_unsafe_shell=True)
    if rc != 0 or not out.strip():
        module.fail_json(msg=f"cannot read the boot id: {err.strip() or 'no output'}", rc=rc)
    return str(out.strip())


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    binary = module.get_bin_path(params["fastreboot_command"], required=True)
    selection = selection_args(params)
    result: dict[str, object] = {"changed": False, "rebooted": False,
                                 "boot_id_before": _boot_id(module)}

    rc, out, err = module.run_command([binary, "plan", "--json", "--kind", params["kind"],
                                       *selection])
    if rc != 0:
        module.fail_json(msg=f"fastreboot plan failed: {err.strip() or out.strip()}", rc=rc,
                         refused=rc in REFUSED_EXIT_CODES, **result)
    plan = json.loads(out)
    kind = decided_kind(plan)
    result.update(plan=plan, kind=kind, kind_why=plan.get("reboot_kind_why", ""))
    needed, reason = (True, "a reboot was asked for")
    if params["only_if_needed"]:
        needed, reason = reboot_needed(plan, os.path.exists(REBOOT_REQUIRED))
    result.update(reboot_needed=needed, reason=reason)
    if not needed:
        module.exit_json(**result)

    errors = plan_errors(plan)
    if errors:
        if params["cold_fallback"] and (module.check_mode or params["state"] != "rebooted"):
            # The action plugin reboots it through the firmware instead.
            result.update(changed=module.check_mode, cold=True, refused=True,
                          refused_because=errors)
            module.exit_json(**result)
        module.fail_json(msg="fastreboot refuses this host: " + "; ".join(errors),
                         refused=True, **result)
    if module.check_mode or params["state"] == "planned":
        result["changed"] = params["state"] != "planned"
        module.exit_json(**result)

    if params["setup"]:
        rc, out, err = module.run_command([binary, "status", "--json"])
        if rc == 0 and json.loads(out).get("record_unit_installed") is False:
            rc, out, err = module.run_command([binary, "setup"])
            if rc != 0:
                module.fail_json(msg=f"fastreboot setup failed: {err.strip()}", rc=rc, **result)
            result["changed"] = True

    # The host's clock before the reboot: the record of this reboot is requested later.
    result["host_time_before"] = time.time()
    if kind == "soft":
        # Nothing to load: the kernel stays. What the wait compares with.
        rc, out, err = module.run_command(SOFT_STATE_COMMAND, use_unsafe_shell=True)
        result.update(loaded=False, soft_state_before=parse_soft_state(out if rc == 0 else ""))
        module.exit_json(**result)
    if plan.get("already_loaded") is None:
        rc, out, err = module.run_command([binary, "load", *selection])
        if rc != 0:
            module.fail_json(msg=f"fastreboot load failed: {err.strip() or out.strip()}", rc=rc,
                             refused=rc in REFUSED_EXIT_CODES, **result)
        result["changed"] = True
    result["loaded"] = True
    module.exit_json(**result)


if __name__ == "__main__":
    main()
