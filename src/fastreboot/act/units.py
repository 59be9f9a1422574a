"""Files that `fastreboot setup` and `fastreboot enable` install, as text.

- fastreboot-record.service completes the downtime record in the next boot.
- fastreboot-auto-load.service (enable) loads the planned kernel when a reboot stops it,
  before file systems are unmounted; the system-shutdown hook then jumps instead of the
  firmware reboot at the very end (systemd 252's `systemctl reboot` never kexecs by itself;
  from 254 on it does only through logind, i.e. with the system bus up).
- fastreboot-preload.service (enable --preload) loads it after boot already, at idle
  priority, and fastreboot-preload.path loads again when a kernel, the boot loader's
  configuration or the kexec configuration changes; a reboot then only checks the plan.
- on sysvinit, an init script loads in runlevel 6 before Debian's /etc/init.d/kexec jumps.
Every hook steps aside when /run/fastreboot/cold or /no-kexec-reboot exists (fastreboot cold).
- fastreboot-kdump-load.service (kdump enable) loads the crash kernel early in every boot,
  before sysinit.target; fastreboot-kdump-save.service saves the dump in the capture boot
  (the crash kernel's command line names it); on sysvinit one init script does either.

The Debian package ships the same files, written at build time by
`python3 -m fastreboot.cli.dist --write DIR` (debian/rules); `setup`, `enable` and
`disable` then only enable and disable them (see `packaged`).
"""

from __future__ import annotations

from fastreboot.config.debian import DEBIAN_KEXEC, DEBIAN_KEXEC_D
from fastreboot.config.own import OWN_CONFIG
from fastreboot.plan import kdump
from fastreboot.sysroot import SysRoot

RECORD_UNIT = "/etc/systemd/system/fastreboot-record.service"
AUTO_LOAD_UNIT = "/etc/systemd/system/fastreboot-auto-load.service"
PRELOAD_UNIT = "/etc/systemd/system/fastreboot-preload.service"
PRELOAD_PATH_UNIT = "/etc/systemd/system/fastreboot-preload.path"
SHUTDOWN_HOOK = "/usr/lib/systemd/system-shutdown/fastreboot"

# What the plan reads that can change while the system runs: the kernels and initrds in
# /boot, GRUB's menu and environment (default, saved and next entry), Boot Loader Spec
# entries, the kexec configuration. /proc/cmdline cannot change until the next boot.
PRELOAD_WATCHED = (
    "/boot",
    "/boot/grub/grub.cfg",
    "/boot/grub/grubenv",
    "/boot/grub2/grub.cfg",
    "/boot/grub2/grubenv",
    "/boot/loader/entries",
    DEBIAN_KEXEC,
    DEBIAN_KEXEC_D,
    OWN_CONFIG,
)
KDUMP_LOAD_NAME = kdump.LOAD_UNIT
KDUMP_SAVE_NAME = kdump.SAVE_UNIT
SYSV_KDUMP_SCRIPT = kdump.SYSV_KDUMP_SCRIPT
KDUMP_LOAD_UNIT = f"/etc/systemd/system/{KDUMP_LOAD_NAME}"
KDUMP_SAVE_UNIT = f"/etc/systemd/system/{KDUMP_SAVE_NAME}"
SYSV_SCRIPT = "/etc/init.d/fastreboot-auto-load"
SYSV_RECORD_SCRIPT = "/etc/init.d/fastreboot-record"

RECORD_NAME = "fastreboot-record.service"
AUTO_LOAD_NAME = "fastreboot-auto-load.service"
PRELOAD_NAME = "fastreboot-preload.service"
PRELOAD_PATH_NAME = "fastreboot-preload.path"
# Where `systemctl enable` links the units (all are WantedBy=multi-user.target): that a
# link exists is what "enabled" means, for the package's units and for run-time ones.
WANTS_DIR = "/etc/systemd/system/multi-user.target.wants"

# The Debian package: debhelper's unit directory on Debian 12 (/lib, the same directory as
# /usr/lib on a merged-/usr system), the command in /usr/sbin, the module in dist-packages.
PACKAGE_UNIT_DIRS = ("/lib/systemd/system", "/usr/lib/systemd/system")
PACKAGE_BINARY = "/usr/sbin/fastreboot"
PACKAGE_CODE_DIR = "/usr/lib/python3/dist-packages/fastreboot"
PACKAGE_PYTHON = "/usr/bin/python3"


def packaged(root: SysRoot) -> bool:
    """Whether the Debian package's units are installed: then run-time code writes none."""
    return any(root.exists(f"{unit_dir}/{RECORD_NAME}") for unit_dir in PACKAGE_UNIT_DIRS)


def enabled(root: SysRoot, name: str) -> bool:
    return root.exists(f"{WANTS_DIR}/{name}")


def record_unit(binary: str, code_dir: str) -> str:
    # RequiresMountsFor: fastreboot's own code may live on a file system that local-fs.target
    # does not wait for (a nofail mount, /opt on its own disk).
    return f"""[Unit]
Description=Complete the fastreboot downtime record of this boot
ConditionDirectoryNotEmpty=/var/lib/fastreboot/records
After=multi-user.target
RequiresMountsFor={code_dir}

[Service]
Type=oneshot
ExecStart={binary} record-boot

[Install]
WantedBy=multi-user.target
"""


def auto_load_unit(binary: str, code_dir: str) -> str:
    # Active from boot on; the work is in ExecStop. A unit *started* during shutdown
    # cannot keep /boot or fastreboot's own mount alive (systemd orders stop jobs before
    # start jobs), but stop jobs run in reverse After= order: this one runs before the
    # file systems it needs are unmounted. Debian's kexec-load uses the same pattern.
    return f"""[Unit]
Description=Load the next kernel when a reboot starts, so that it skips the firmware
After=local-fs.target remote-fs.target
RequiresMountsFor=/boot {code_dir}

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/true
ExecStop={binary} load --yes --record --on-reboot

[Install]
WantedBy=multi-user.target
"""


def preload_unit(binary: str, code_dir: str) -> str:
    # After multi-user.target, at idle priority: the boot is not made longer by the load.
    # A failure shows in `systemctl --failed`; a reboot then loads as without --preload.
    return f"""[Unit]
Description=Keep the planned kernel loaded, so that a reboot need not load it
After=multi-user.target fastreboot-auto-load.service
RequiresMountsFor=/boot {code_dir}
ConditionPathExists=!/run/fastreboot/cold
ConditionPathExists=!/no-kexec-reboot

[Service]
Type=oneshot
ExecStart={binary} load --yes --preload
Nice=19
IOSchedulingClass=idle

[Install]
WantedBy=multi-user.target
"""


def preload_path_unit() -> str:
    watched = "".join(f"PathChanged={path}\n" for path in PRELOAD_WATCHED)
    return f"""[Unit]
Description=Load the kernel again when kernels, boot loader or kexec configuration change

[Path]
{watched}Unit=fastreboot-preload.service

[Install]
WantedBy=multi-user.target
"""


def shutdown_hook(python: str) -> str:
    # Runs last, from systemd-shutdown, after every file system is unmounted or read-only.
    return f"""#!/bin/sh
# fastreboot: the final reboot becomes a kexec when a kernel is loaded, while
# `fastreboot enable` is in force (its unit is enabled).
[ "$1" = reboot ] || exit 0
[ -e {WANTS_DIR}/{AUTO_LOAD_NAME} ] || exit 0
[ -e /run/fastreboot/cold ] && exit 0
[ "$(cat /sys/kernel/kexec_loaded 2>/dev/null)" = 1 ] || exit 0
command -v kexec >/dev/null 2>&1 && exec kexec -e
exec {python} -c 'import ctypes; ctypes.CDLL(None).reboot(0x45584543)'
"""


def sysv_auto_load_script(binary: str) -> str:
    return f"""#!/bin/sh
### BEGIN INIT INFO
# Provides:          fastreboot-auto-load
# Required-Start:    $local_fs
# Required-Stop:     $local_fs
# X-Stop-Before:     kexec
# Default-Start:     2 3 4 5
# Default-Stop:      6
# Short-Description: Load the next kernel so that this reboot skips the firmware
### END INIT INFO
# A package removed but not purged leaves its init scripts behind.
[ -x {binary} ] || exit 0
case "$1" in
  start|restart|force-reload) ;;
  stop)
    [ "$(runlevel | cut -d' ' -f2)" = 6 ] || exit 0
    [ -e /run/fastreboot/cold ] || [ -e /no-kexec-reboot ] && exit 0
    [ "$(cat /sys/kernel/kexec_loaded 2>/dev/null)" = 1 ] && exit 0
    {binary} load --yes --record || echo "fastreboot: load failed; rebooting through the firmware"
    ;;
esac
exit 0
"""


def sysv_record_script(binary: str) -> str:
    return f"""#!/bin/sh
### BEGIN INIT INFO
# Provides:          fastreboot-record
# Required-Start:    $local_fs $all
# Required-Stop:
# Default-Start:     2 3 4 5
# Default-Stop:
# Short-Description: Complete the fastreboot downtime record of this boot
### END INIT INFO
# $all: it runs last, when every service is up, as the downtime ends there.
[ -x {binary} ] || exit 0
case "$1" in
  start) {binary} record-boot ;;
  stop|restart|force-reload) ;;
esac
exit 0
"""


def kdump_load_unit(binary: str, code_dir: str) -> str:
    # No default dependencies: it needs only /boot, /sys and its own code, so the crash
    # kernel is loaded before the services start (a crash while they start is caught).
    return f"""[Unit]
Description=Load the crash kernel (kdump) early in the boot
DefaultDependencies=no
ConditionPathExists=!/proc/vmcore
After=local-fs.target systemd-journald.socket
Before=sysinit.target shutdown.target
Conflicts=shutdown.target
RequiresMountsFor=/boot {code_dir}

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart={binary} kdump load

[Install]
WantedBy=sysinit.target
"""


def kdump_save_unit(binary: str, code_dir: str) -> str:
    # The crash kernel's systemd.unit= names this unit: the capture boot starts only it and
    # what it needs (sysinit.target mounts the file systems), then `kdump save` asks for the
    # final_action. WantedBy: a capture boot without that argument saves too.
    return f"""[Unit]
Description=Save the crash dump (kdump capture boot)
ConditionPathExists=/proc/vmcore
After=local-fs.target remote-fs.target
RequiresMountsFor={code_dir}

[Service]
Type=oneshot
ExecStart={binary} kdump save
StandardOutput=journal+console
StandardError=journal+console

[Install]
WantedBy=multi-user.target
"""


def sysv_kdump_script(binary: str) -> str:
    return f"""#!/bin/sh
### BEGIN INIT INFO
# Provides:          fastreboot-kdump
# Required-Start:    $local_fs $remote_fs
# Required-Stop:
# Default-Start:     2 3 4 5
# Default-Stop:
# Short-Description: Load the crash kernel, or save the dump in the capture boot
### END INIT INFO
[ -x {binary} ] || exit 0
case "$1" in
  start)
    if [ -e /proc/vmcore ]; then
      {binary} kdump save
    else
      {binary} kdump load || echo "fastreboot: the crash kernel was not loaded"
    fi
    ;;
  stop|restart|force-reload) ;;
esac
exit 0
"""


def package_files() -> dict[str, tuple[str, int]]:
    """The Debian package's copy of every unit, hook and init script: path -> (text, mode)."""
    binary, code_dir, unit_dir = PACKAGE_BINARY, PACKAGE_CODE_DIR, PACKAGE_UNIT_DIRS[0]
    return {
        f"{unit_dir}/{RECORD_NAME}": (record_unit(binary, code_dir), 0o644),
        f"{unit_dir}/{AUTO_LOAD_NAME}": (auto_load_unit(binary, code_dir), 0o644),
        f"{unit_dir}/{PRELOAD_NAME}": (preload_unit(binary, code_dir), 0o644),
        f"{unit_dir}/{PRELOAD_PATH_NAME}": (preload_path_unit(), 0o644),
        "/lib/systemd/system-shutdown/fastreboot": (shutdown_hook(PACKAGE_PYTHON), 0o755),
        SYSV_SCRIPT: (sysv_auto_load_script(binary), 0o755),
        SYSV_RECORD_SCRIPT: (sysv_record_script(binary), 0o755),
        f"{unit_dir}/{KDUMP_LOAD_NAME}": (kdump_load_unit(binary, code_dir), 0o644),
        f"{unit_dir}/{KDUMP_SAVE_NAME}": (kdump_save_unit(binary, code_dir), 0o644),
        SYSV_KDUMP_SCRIPT: (sysv_kdump_script(binary), 0o755),
    }

