"""The one module that talks to the init system: systemd, sysvinit, or none (--force).

Every request goes through ``Effects``; nothing here touches the machine directly.
"""

from __future__ import annotations

from fastreboot.config import RebootMethod
from fastreboot.effects import Effects
from fastreboot.errors import RebootError
from fastreboot.run import CommandError

# Debian's own one-shot "next reboot is cold" marker: /etc/init.d/kexec-load skips loading
# (and removes it) when it exists; /sbin/coldreboot uses it. fastreboot's auto-kexec hook
# honours it too, and /run/fastreboot/cold for this boot.
NO_KEXEC_FILE = "/no-kexec-reboot"
COLD_MARKER = "/run/fastreboot/cold"


def request_kexec_reboot(effects: Effects, method: RebootMethod) -> None:
    """Ask the init system to stop everything cleanly and jump into the loaded kernel."""
    try:
        if method is RebootMethod.SYSTEMD:
            effects.run(["systemctl", "kexec"])
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


def request_cold_reboot(effects: Effects, method: RebootMethod) -> None:
    """A firmware reboot. The caller has already unloaded any kexec kernel."""
    try:
        if method is RebootMethod.SYSTEMD:
            # systemd >= 254 turns `systemctl reboot` into a kexec when a kernel is loaded
            # unless told not to; the variable is ignored by older versions.
            effects.run(["systemctl", "reboot"], env={"SYSTEMCTL_SKIP_AUTO_KEXEC": "1"})
        elif method is RebootMethod.SYSV:
            effects.run(["telinit", "6"])
        else:
            effects.sync()
            effects.run(["reboot", "-f"])
    except CommandError as error:
        raise RebootError(f"the init system refused the reboot: {error.message}") from error
