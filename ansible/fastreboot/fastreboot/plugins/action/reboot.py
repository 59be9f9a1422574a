"""The controller's half of fastreboot.fastreboot.reboot: start the reboot, wait for the
host, verify the boot that came back. The host's half (plan, load) is the module."""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

from ansible.errors import AnsibleConnectionFailure, AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible_collections.fastreboot.fastreboot.plugins.module_utils.fastreboot import (
    BOOT_ID_COMMAND,
    LAUNCH_DIR,
    SOFT_STATE_COMMAND,
    find_record,
    launch_command,
    parse_soft_state,
    reboot_argv,
    record_complete,
    soft_reboot_seen,
    verify,
    verify_soft,
)

display = Display()

MODULE = "fastreboot.fastreboot.reboot"
#: Keeps a wait from hanging on a connection whose host went away without closing it.
KEEPALIVE = "-o ServerAliveInterval=1 -o ServerAliveCountMax=3"


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = True

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        prepared = self._execute_module(
            module_name=MODULE, module_args=args, task_vars=task_vars
        )
        result.update(prepared)
        # With the module's host_time_before: how far the host's clock is from this one.
        result["prepared_at"] = time.time()
        plan = prepared.get("plan") or {}
        facts = {"fastreboot_plan": plan}
        result["ansible_facts"] = facts
        if self._task.check_mode or args.get("state", "rebooted") != "rebooted":
            return result
        if prepared.get("failed"):
            if prepared.get("refused") and args.get("cold_fallback"):
                return self._cold(result, args, prepared)
            return result
        if not prepared.get("reboot_needed", True):
            return result

        fastreboot = args.get("fastreboot_command") or "fastreboot"
        old_boot = prepared["boot_id_before"]
        kind = prepared.get("kind", "kexec")
        soft_before = prepared.get("soft_state_before") or {}
        launched_at = self._launch(reboot_argv(fastreboot, kind, args), result)
        if result.get("failed"):
            return result
        if kind == "soft":
            back = self._wait(args, result, lambda state: state["boot_id"] != old_boot
                              or soft_reboot_seen(soft_before, state), soft=True)
        else:
            back = self._wait(args, result, lambda state: state["boot_id"] != old_boot)
        if back is None:
            return result
        state, back_at = back
        new_boot = state["boot_id"]
        result.update(
            changed=True, rebooted=True, cold=False, boot_id_after=new_boot,
            launched_at=launched_at, back_at=back_at, wait_s=round(back_at - launched_at, 2),
        )
        kernel = state["kernel"]
        record = self._wait_for_record(fastreboot, old_boot, prepared.get("host_time_before"),
                                       args)
        result.update(kernel=kernel, record=record)
        downtime = record.get("downtime_s") if record else None
        result["downtime_s"] = downtime
        facts.update(fastreboot_record=record, fastreboot_downtime=downtime)
        if kind == "soft":
            # The counter once more: the record unit ran after the wait saw it move.
            soft_after = self._soft_state()
            result["soft_state_after"] = soft_after
            problems = verify_soft(plan, old_boot, new_boot, kernel, record,
                                   before=soft_before, after=soft_after)
        else:
            problems = verify(plan, old_boot, new_boot, kernel, record)
        if problems:
            result.update(failed=True, msg=f"the {kind} reboot did not go as planned: "
                          + "; ".join(problems), problems=problems)
        elif kind == "soft":
            result["msg"] = (f"soft reboot, Linux {kernel} stays, downtime {downtime} s "
                             f"(back {result['wait_s']} s after the start)")
        else:
            result["msg"] = (f"fast reboot into Linux {kernel}, downtime {downtime} s "
                             f"(back {result['wait_s']} s after the start)")
        return result

    # ------------------------------------------------------------------ on the host

    def _run(self, command: str) -> dict[str, Any]:
        return self._low_level_execute_command(command, sudoable=True)

    def _soft_state(self) -> dict[str, int | None]:
        shown = self._run(SOFT_STATE_COMMAND)
        return parse_soft_state(shown.get("stdout", "") if shown.get("rc") == 0 else "")

    def _launch(self, argv: list[str], result: dict[str, Any]) -> float:
        token = secrets.token_hex(4)
        started = time.time()
        result.update(launch_token=token, launched_at=started)
        try:
            launched = self._run(launch_command(argv, token))
        except AnsibleConnectionFailure:
            # The host may have gone down before the launch command's answer came back.
            return started
        if "fastreboot-launched" not in launched.get("stdout", ""):
            result.update(failed=True, msg="could not start the reboot: "
                          + to_text(launched.get("stderr", "")).strip(), rc=launched.get("rc"))
        return started

    def _launch_failure(self, token: str) -> str | None:
        """The reboot command's output when it has already ended without rebooting."""
        shown = self._run(f"cat {LAUNCH_DIR}/{token}.rc 2>/dev/null")
        code = shown.get("stdout", "").strip()
        if not code or code == "0":
            return None
        log = self._run(f"cat {LAUNCH_DIR}/{token}.log").get("stdout", "")
        return f"fastreboot reboot exited {code}: {to_text(log).strip()}"

    # -------------------------------------------------------------------- waiting

    def _set_connection_option(self, names: tuple[str, ...], value: Any) -> Any:
        """Set the first of *names* the connection plugin has; returns its old value."""
        for name in names:
            try:
                old = self._connection.get_option(name)
                self._connection.set_option(name, value)
                return old
            except (AnsibleError, KeyError, AttributeError):
                continue
        return None

    @staticmethod
    def _probe_command(args: dict[str, Any], soft: bool) -> str:
        """One command per attempt: the boot id, the running kernel and (for a soft
        reboot) systemd's soft-reboot state, so the answer that says "back" needs no second
        round trip."""
        boot_id = args.get("boot_id_command") or BOOT_ID_COMMAND
        state = f" && {{ {SOFT_STATE_COMMAND} 2>/dev/null || true; }}" if soft else ""
        return f"{boot_id} && uname -r{state}"

    def _wait(
        self, args: dict[str, Any], result: dict[str, Any],
        back: Callable[[dict[str, Any]], bool], *, soft: bool = False,
    ) -> tuple[dict[str, Any], float] | None:
        """Poll the host until *back* says the reboot happened; returns what the host
        answered then (boot_id, kernel, soft_reboots, userspace_us) and the controller's
        time. An attempt starts every *interval* seconds: one that hung until the connect
        timeout (a host that is down drops the connection request) is followed by the
        next at once, not after another interval. The connection that saw the host back
        is kept for the commands that follow."""
        timeout = float(args.get("reboot_timeout") or 600)
        interval = float(args.get("poll_interval") or 1.0)
        connect = int(args.get("connect_timeout") or 3)
        old_timeout = self._set_connection_option(("connection_timeout", "timeout"), connect)
        old_extra = None
        try:
            old_extra = self._connection.get_option("ssh_extra_args")
            self._connection.set_option("ssh_extra_args", f"{old_extra or ''} {KEEPALIVE}")
        except (AnsibleError, KeyError, AttributeError):
            old_extra = None
        deadline = time.monotonic() + timeout
        last_error = ""
        token = result["launch_token"]
        checked_launch = time.monotonic()
        probe = self._probe_command(args, soft)
        # A connection opened before the launch has no keepalive: drop it.
        self._reset_connection()
        attempts = failures = 0
        gone_at: float | None = None
        came_back = False
        try:
            while time.monotonic() < deadline:
                attempt_started = time.monotonic()
                attempts += 1
                try:
                    answer = self._run(probe)
                    lines = to_text(answer.get("stdout", "")).splitlines()
                    boot = lines[0].strip() if lines else ""
                    if answer.get("rc") == 0 and boot:
                        state: dict[str, Any] = {
                            "boot_id": boot, "kernel": lines[1].strip() if len(lines) > 1 else "",
                            **parse_soft_state("\n".join(lines[2:]))}
                        if back(state):
                            came_back = True
                            result["wait"] = {
                                "attempts": attempts, "failed_attempts": failures,
                                "gone_after_s": gone_at,
                                "last_attempt_s": round(time.monotonic() - attempt_started, 2)}
                            return state, time.time()
                    last_error = f"still boot {boot or '?'}"
                    # The old boot still answers: has the reboot command given up?
                    if time.monotonic() - checked_launch > 5:
                        checked_launch = time.monotonic()
                        failure = self._launch_failure(token)
                        if failure:
                            result.update(failed=True, msg=failure)
                            return None
                except (AnsibleConnectionFailure, AnsibleError, OSError) as exc:
                    lines = to_text(exc).strip().splitlines()
                    last_error = lines[-1] if lines else type(exc).__name__
                    failures += 1
                    if gone_at is None:
                        gone_at = round(time.time() - result["launched_at"], 2)
                    self._reset_connection()
                display.vvv(f"fastreboot: waiting for the host: {last_error}")
                time.sleep(max(0.0, interval - (time.monotonic() - attempt_started)))
        finally:
            if old_timeout is not None:
                self._set_connection_option(("connection_timeout", "timeout"), old_timeout)
            if old_extra is not None:
                self._connection.set_option("ssh_extra_args", old_extra)
            if not came_back:
                self._reset_connection()
        result.update(failed=True, rebooted=False,
                      msg=f"the host did not come back within {timeout:.0f} s ({last_error})")
        return None

    def _reset_connection(self) -> None:
        with contextlib.suppress(AnsibleError, AttributeError):
            self._connection.reset()

    def _wait_for_record(
        self, fastreboot: str, old_boot: str, since: float | None, args: dict[str, Any]
    ) -> dict[str, Any] | None:
        """The record of this reboot, once the new boot's unit completed it (the unit runs
        when the services are up, which can be just after SSH answers)."""
        timeout = float(args.get("record_timeout") or 120)
        deadline = time.monotonic() + timeout
        # The record unit is part of the boot: wait (on the host, in one command) for the
        # boot to finish rather than start fastreboot again and again on a host that is
        # still starting its services. Without systemd this returns at once.
        self._run(f"timeout {int(timeout)} systemctl is-system-running --wait "
                  ">/dev/null 2>&1 || true")
        record = None
        while True:
            shown = self._run(f"{fastreboot} status --json")
            if shown.get("rc") == 0:
                try:
                    record = find_record(json.loads(shown["stdout"]), old_boot, since)
                except ValueError:
                    record = None
            if record_complete(record) or time.monotonic() > deadline:
                return record
            time.sleep(1.0)

    # ---------------------------------------------------------------- cold fallback

    def _cold(
        self, result: dict[str, Any], args: dict[str, Any], prepared: dict[str, Any]
    ) -> dict[str, Any]:
        fastreboot = args.get("fastreboot_command") or "fastreboot"
        refusal = prepared.get("msg", "")
        for key in ("failed", "msg", "rc"):
            result.pop(key, None)
        old_boot = prepared["boot_id_before"]
        launched_at = self._launch([fastreboot, "cold", "--yes"], result)
        if result.get("failed"):
            return result
        back = self._wait(args, result, lambda state: state["boot_id"] != old_boot)
        if back is None:
            return result
        new_boot, back_at = back[0]["boot_id"], back[1]
        kernel = back[0]["kernel"]
        result.update(
            changed=True, rebooted=True, cold=True, boot_id_after=new_boot, kernel=kernel,
            launched_at=launched_at, back_at=back_at, wait_s=round(back_at - launched_at, 2),
            refused_because=refusal,
            msg=f"rebooted through the firmware (cold fallback): {refusal}",
        )
        display.warning(f"{self._task.get_name()}: cold reboot instead: {refusal}")
        return result
