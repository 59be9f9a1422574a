"""QEMU guest test harness for fastreboot.

Builds Debian guest disk images with mmdebstrap (:mod:`harness.images`), boots them
under QEMU and drives their serial console and QMP socket (:mod:`harness.qemu`).
The accelerator probe lives in :mod:`harness.accel`.

Nothing in here ever reboots the host: every reboot happens inside a QEMU guest.
"""

from harness.images import VARIANTS, GuestImage, build_image, build_project_disk
from harness.qemu import (
    CommandFailed,
    CommandResult,
    Guest,
    GuestError,
    GuestExited,
    GuestFactory,
    GuestPanicked,
    GuestTimeout,
    QmpEvent,
    ReadyInfo,
)

__all__ = [
    "VARIANTS",
    "CommandFailed",
    "CommandResult",
    "Guest",
    "GuestError",
    "GuestExited",
    "GuestFactory",
    "GuestImage",
    "GuestPanicked",
    "GuestTimeout",
    "QmpEvent",
    "ReadyInfo",
    "build_image",
    "build_project_disk",
]
