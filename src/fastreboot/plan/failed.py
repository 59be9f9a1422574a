"""The kernel whose fast reboot fell back: remembered so that the next fast reboot into
the same image stops, until the administrator asks to try again or the file changes.

Pure: reads the state file and the image's identity; `fastreboot record-boot` writes it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from fastreboot.plan import checks
from fastreboot.plan.checks import Check
from fastreboot.sysroot import SysRoot

FAILED_FILE = "/var/lib/fastreboot/failed-kernel.json"


@dataclass(frozen=True, slots=True)
class FailedKernel:
    """The image (by path, size and mtime) that never came up, and the attempt."""

    kernel: str
    size: int
    mtime_ns: int
    record_id: str
    failed_at: float  # when the fast reboot into it was asked for
    from_kernel: str | None

    def to_text(self) -> str:
        return json.dumps(asdict(self), indent=1) + "\n"


def identity(root: SysRoot, kernel: str) -> tuple[int, int] | None:
    """(size, mtime in ns) of the image; a reinstalled or rebuilt kernel has another."""
    try:
        info = root.host(kernel).stat()
    except OSError:
        return None
    return info.st_size, info.st_mtime_ns


def read_failed(root: SysRoot) -> FailedKernel | None:
    text = root.read_text(FAILED_FILE)
    if text is None:
        return None
    try:
        data: dict[str, Any] = json.loads(text)
        return FailedKernel(**data)
    except (ValueError, TypeError):
        return None  # a damaged file blocks nothing


def check_failed(root: SysRoot, kernel: str, *, retry: bool) -> Check | None:
    """An error when ``kernel`` is the unchanged image that fell back; a warning with
    ``retry``; None for any other kernel."""
    failed = read_failed(root)
    if failed is None or failed.kernel != kernel:
        return None
    if identity(root, kernel) != (failed.size, failed.mtime_ns):
        return None  # the file changed since: a new build gets its chance
    message = (
        f"the fast reboot into {kernel} (record {failed.record_id}) never came up: the machine"
        f" fell back to {failed.from_kernel or 'the old kernel'} through the firmware"
    )
    if retry:
        return checks.warning("failed-kernel", message + "; trying again as asked")
    return checks.error(
        "failed-kernel", message, "fix the kernel, or pass --retry-failed to try it again"
    )
