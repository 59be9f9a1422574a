"""Split one reboot's downtime into phases, from host-timed console lines (pure functions).

Every time is the host's ``time.monotonic()``:

* ``sent``: the reboot command was typed on the guest's serial console;
* ``stop``: the first systemd status line of the shutdown ("Stopping …", "[ OK ] Stopped …");
* ``last_old``: the last console line of the old kernel: the last line before the QMP
  ``RESET`` event (firmware reboots) or before the new kernel started (kexec);
* ``kernel``: the new kernel's clock zero = host time of the READY line minus the guest's
  ``/proc/uptime`` in that line.  Under ``loglevel=4`` the new kernel prints nothing
  before the initramfs' "Loading, please wait...", so its first console line would
  charge ~2-4 s of kernel start-up to the hand-over; its own clock does not;
* ``ready``: the ``FASTREBOOT-READY`` line of the new boot (printed by a unit ordered
  after multi-user.target).

Phases: prepare = stop - sent (the command's own work before the init system starts
stopping units: fastreboot's start-up, plan and load; kexec-tools' load), stop =
last_old - stop (services, systemd-shutdown, the kernel's own shutdown), hand-over =
kernel - last_old (the kexec jump incl. purgatory, or reset + firmware + loading the
kernel), boot = ready - kernel (kernel + userspace start).

A soft reboot (`systemctl soft-reboot`) keeps the kernel: its clock zero lies before the
command. There the new userspace's first line, systemd's "Welcome to …", takes the
kernel's place: hand-over = PID 1 executing itself again, boot = userspace only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][A-Za-z0-9]|\x1b[=>cH]")
PROMPT_RE = re.compile(r"^(?:FRB# )+")
#: The first lines systemd prints when it starts a shutdown (status output on the console).
SHUTDOWN_RE = re.compile(
    r"^\[\s*OK\s*\] (?:Stopped|Removed slice|Unmounted|Closed|"
    r"Reached target .*(?:Shutdown|Unmount|Reboot|kexec))"
    r"|^\s+(?:Stopping|Unmounting|Deactivating) "
)
INITRAMFS_RE = re.compile(r"Loading, please wait\.\.\.")
WELCOME_RE = re.compile(r"^Welcome to ")
KMSG_RE = re.compile(r"^\[\s*\d+\.\d+\] ")

PHASES = ("prepare", "stop", "handover", "boot")
PHASE_TITLES = {
    "prepare": "prepare (command → shutdown starts)",
    "stop": "service stop (→ last line of the old kernel)",
    "handover": "hand-over (→ new kernel starts)",
    "boot": "kernel + userspace (→ READY)",
}


class PhaseError(ValueError):
    """The console does not show the markers a phase needs."""


def clean(line: str) -> str:
    """A console line without ANSI escapes and without the serial shell's prompt(s)."""
    return PROMPT_RE.sub("", ANSI_RE.sub("", line)).rstrip()


@dataclass(frozen=True)
class Marker:
    time: float  # host monotonic
    text: str


@dataclass(frozen=True)
class Phases:
    # "kexec", "firmware" (a QMP RESET/SHUTDOWN came after the command) or "soft" (the
    # kernel's clock started before the command)
    via: str
    prepare: float
    stop: float
    handover: float
    boot: float
    total: float
    # details (None where they do not apply)
    reset_after_last_line: float | None = None  # last old line -> QMP RESET
    firmware: float | None = None  # QMP RESET -> new kernel's clock zero
    kernel_to_initramfs: float | None = None  # new kernel's clock zero -> "Loading, ..."
    handover_to_first_line: float | None = None  # last old line -> first new console line
    kmsg_lines_in_stop: int = 0  # kernel (printk) lines shown during the stop phase
    markers: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def shutdown(self) -> float:
        return self.prepare + self.stop

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["shutdown"] = self.shutdown
        return data


def compute(
    lines: Sequence[tuple[float, str]],
    sent: float,
    reset_times: Sequence[float],
    ready_time: float,
    ready_uptime: float,
) -> Phases:
    """Phases of one reboot.  *lines*: every (host time, console line); *reset_times*: host
    times of QMP RESET/SHUTDOWN events; *ready_time*/*ready_uptime*: the new boot's READY
    line (host time) and the guest uptime it reports."""
    window = [(t, clean(text)) for t, text in lines if sent <= t <= ready_time]
    kernel = ready_time - ready_uptime
    resets = sorted(t for t in reset_times if sent <= t <= ready_time)
    via = "firmware" if resets else "kexec" if kernel >= sent else "soft"
    if via == "soft":
        return _soft(window, sent, ready_time, ready_uptime)
    boundary = resets[0] if resets else kernel
    old = [(t, text) for t, text in window if t < boundary]
    new = [(t, text) for t, text in window if t >= boundary]
    stop = next(((t, text) for t, text in old if SHUTDOWN_RE.search(text)), None)
    if stop is None:
        raise PhaseError("no systemd shutdown line between the command and the hand-over")
    last_old = old[-1]
    first_new = next(((t, text) for t, text in new if text.strip()), None)
    initramfs = next(((t, text) for t, text in new if INITRAMFS_RE.search(text)), None)

    def mark(point: tuple[float, str] | None) -> dict[str, Any] | None:
        return None if point is None else {"t": round(point[0] - sent, 3), "text": point[1]}

    markers = {
        "stop": mark(stop),
        "last_old": mark(last_old),
        "reset": mark((resets[0], "QMP RESET")) if resets else None,
        "kernel": mark((kernel, f"new kernel's clock zero (READY uptime {ready_uptime})")),
        "first_new": mark(first_new),
        "initramfs": mark(initramfs),
        "ready": mark((ready_time, "FASTREBOOT-READY")),
    }
    return Phases(
        via=via,
        prepare=stop[0] - sent,
        stop=last_old[0] - stop[0],
        handover=kernel - last_old[0],
        boot=ready_uptime,
        total=ready_time - sent,
        reset_after_last_line=resets[0] - last_old[0] if resets else None,
        firmware=kernel - resets[0] if resets else None,
        kernel_to_initramfs=initramfs[0] - kernel if initramfs else None,
        handover_to_first_line=first_new[0] - last_old[0] if first_new else None,
        kmsg_lines_in_stop=sum(1 for t, text in old if t >= stop[0] and KMSG_RE.match(text)),
        markers={k: v for k, v in markers.items() if v is not None},
    )


def _soft(
    window: list[tuple[float, str]], sent: float, ready_time: float, ready_uptime: float
) -> Phases:
    """Phases of a soft reboot: the same kernel, a new userspace from "Welcome to" on."""
    stop = next(((t, text) for t, text in window if SHUTDOWN_RE.search(text)), None)
    if stop is None:
        raise PhaseError("no systemd shutdown line between the command and READY")
    welcome = next(
        ((t, text) for t, text in window if t > stop[0] and WELCOME_RE.search(text)), None
    )
    if welcome is None:
        raise PhaseError("a soft reboot without systemd's Welcome line before READY")
    old = [(t, text) for t, text in window if t < welcome[0]]
    last_old = old[-1]
    markers = {
        "stop": {"t": round(stop[0] - sent, 3), "text": stop[1]},
        "last_old": {"t": round(last_old[0] - sent, 3), "text": last_old[1]},
        "welcome": {"t": round(welcome[0] - sent, 3), "text": welcome[1]},
        "ready": {"t": round(ready_time - sent, 3), "text": f"FASTREBOOT-READY ({ready_uptime})"},
    }
    return Phases(
        via="soft",
        prepare=stop[0] - sent,
        stop=last_old[0] - stop[0],
        handover=welcome[0] - last_old[0],
        boot=ready_time - welcome[0],
        total=ready_time - sent,
        handover_to_first_line=welcome[0] - last_old[0],
        kmsg_lines_in_stop=sum(1 for t, text in old if t >= stop[0] and KMSG_RE.match(text)),
        markers=markers,
    )
