"""The one module that talks to the init system: systemd, sysvinit, or none (--force).

Every request goes through ``Effects``; nothing here touches the machine directly.
"""

from __future__ import annotations

import shlex

from fastreboot.act.effects import Effects
from fastreboot.config.kdumpconf import DumpAction
from fastreboot.config.own import RebootMethod
from fastreboot.errors import CommandError, RebootError
from fastreboot.plan import staged
from fastreboot.sysroot import SysRoot

# Debian's own one-shot "next reboot is cold" marker: /etc/init.d/kexec-load skips loading
# (and removes it) when it exists; /sbin/coldreboot uses it. fastreboot's auto-kexec hook
# honours it too, and /run/fastreboot/cold for this boot.
NO_KEXEC_FILE = "/no-kexec-reboot"
COLD_MARKER = "/run/fastreboot/cold"


def _ask_systemd(
    effects: Effects, argv: list[str], refused: str, env: dict[str, str] | None = None
) -> None:
    """Run a systemctl request. systemctl may end without an answer because the shutdown it
    asked for has begun and stopped the session it ran in (SIGTERM to the whole login or
    getty): the request was taken then, and undoing the load would turn the kexec into a
    firmware reboot. Only a request that systemd did not take is an error."""
    # --no-block: systemctl returns once systemd has queued the job, before the shutdown
    # stops the session it runs in.
    argv = [argv[0], "--no-block", *argv[1:]]
    result = effects.run(argv, env=env, check=False)
    # Ended by a signal: in this window only the shutdown it started stops its session.
    if result.returncode <= 0 or _shutting_down(effects):
        return
    lines = (result.stderr or result.stdout or "").strip().splitlines()
    raise RebootError(
        f"{refused}: {shlex.join(argv)} failed with exit code {result.returncode}"
        + (f": {lines[-1]}" if lines else "")
    )


def _shutting_down(effects: Effects) -> bool:
    state = effects.run(["systemctl", "is-system-running"], check=False)
    if state.stdout.strip() == "stopping" or state.returncode < 0:
        return True
    jobs = effects.run(["systemctl", "list-jobs", "--no-legend", "--no-pager"], check=False)
    if jobs.returncode < 0:
        return True
    targets = ("kexec.target", "reboot.target", "soft-reboot.target")
    return any(line.split()[1:2] in ([t] for t in targets) for line in jobs.stdout.splitlines())


def request_kexec_reboot(effects: Effects, method: RebootMethod) -> None:
    """Ask the init system to stop everything cleanly and jump into the loaded kernel."""
    try:
        if method is RebootMethod.SYSTEMD:
            _ask_systemd(effects, ["systemctl", "kexec"], "the init system refused the reboot")
        elif method is RebootMethod.SYSV:
            # Runlevel 6 stops services; Debian's /etc/init.d/kexec then runs `kexec -e`
            # after the root file system is remounted read-only.
            effects.run(["telinit", "6"])
        else:
            effects.sync()
            effects.jump()  # returns only on failure
            raise RebootError("reboot(LINUX_REBOOT_CMD_KEXEC) returned: the jump did not happen")
    except CommandError as error:
        raise RebootError(f"the init system refused the reboot: {error.message}") from error


def request_soft_reboot(effects: Effects) -> None:
    """Ask systemd (254 and later) to stop and start all of userspace; the kernel stays."""
    _ask_systemd(effects, ["systemctl", "soft-reboot"], "systemd refused the soft reboot")


def request_cold_reboot(effects: Effects, method: RebootMethod) -> None:
    """A firmware reboot. The caller has already unloaded any kexec kernel."""
    try:
        if method is RebootMethod.SYSTEMD:
            # systemd >= 254 turns `systemctl reboot` into a kexec when a kernel is loaded
            # unless told not to; the variable is ignored by older versions.
            _ask_systemd(
                effects,
                ["systemctl", "reboot"],
                "the init system refused the reboot",
                env={"SYSTEMCTL_SKIP_AUTO_KEXEC": "1"},
            )
        elif method is RebootMethod.SYSV:
            effects.run(["telinit", "6"])
        else:
            effects.sync()
            effects.run(["reboot", "-f"])
    except CommandError as error:
        raise RebootError(f"the init system refused the reboot: {error.message}") from error


def request_power_action(effects: Effects, method: RebootMethod, action: DumpAction) -> None:
    """After a crash dump: reboot through the firmware, halt or power off. Nothing is
    loaded in a capture boot, so no kexec can happen."""
    if action is DumpAction.REBOOT:
        request_cold_reboot(effects, method)
        return
    try:
        if method is RebootMethod.SYSTEMD:
            _ask_systemd(effects, ["systemctl", action], f"the init system refused to {action}")
        elif method is RebootMethod.SYSV:
            effects.run(["telinit", "0"])
        else:
            effects.sync()
            effects.run([action, "-f"])
    except CommandError as error:
        raise RebootError(f"the init system refused to {action}: {error.message}") from error


def cold_requested(root: SysRoot) -> bool:
    """`fastreboot cold` (this boot) or Debian's /no-kexec-reboot asked for a firmware reboot."""
    return any(root.exists(marker) for marker in (COLD_MARKER, NO_KEXEC_FILE))


def automatic_load_refused(root: SysRoot) -> str | None:
    """Why fastreboot must not load a kernel on its own now (preload, or the auto-load unit
    during a reboot), or None. A kernel somebody chose stays; so does a cold request."""
    if cold_requested(root):
        return "a firmware reboot was asked for (fastreboot cold, or /no-kexec-reboot)"
    if _kexec_loaded(root) and staged.preloaded(root) is None:
        return "a kernel somebody asked for is loaded; it stays"
    return None


def _kexec_loaded(root: SysRoot) -> bool:
    return root.read_first_line("/sys/kernel/kexec_loaded") == "1"


def reboot_in_progress(effects: Effects) -> bool:
    """True when a reboot is under way and fastreboot should load (or refresh) for it.

    Not for a poweroff, not after `fastreboot cold`, and not when a kernel somebody chose is
    loaded (whoever loaded it chose it; Debian's kexec-load does the same). fastreboot's own
    automatic preload is planned again, for a reboot and for a kexec alike: it may be stale
    (a kernel installed since), and when a kernel is loaded systemd turns `reboot` (and from
    254 on, through logind, `systemctl reboot`) into a kexec.
    """
    root = effects.root
    if automatic_load_refused(root):
        return False
    # Not refused: a kernel loaded now is fastreboot's own preload.
    targets = {"reboot.target", "kexec.target"} if _kexec_loaded(root) else {"reboot.target"}
    jobs = effects.run(["systemctl", "list-jobs", "--no-legend", "--no-pager"], check=False)
    # `systemctl list-jobs` lines: JOB UNIT TYPE STATE
    return any(line.split()[1:2] in ([t] for t in targets) for line in jobs.stdout.splitlines())
