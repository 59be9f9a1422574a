"""What fastreboot inside a guest says about its last reboot."""

from __future__ import annotations

import json
import time
from typing import Any

from harness.qemu import Guest


def completed_record(guest: Guest, timeout: float = 90) -> dict[str, Any]:
    """The newest downtime record, once the boot's record unit has completed it.

    `fastreboot status` checks a pending record at once, but leaves the downtime to that
    unit, which alone knows when the services were up; it runs alongside the harness's
    READY marker, so it may not be done yet. Returned as it is after *timeout*, for the
    caller's assertion to show.
    """
    deadline = time.monotonic() + timeout
    while True:
        last: dict[str, Any] = json.loads(guest.run("fastreboot status --json").output)[
            "records"
        ][-1]
        if last["downtime_s"] is not None or time.monotonic() > deadline:
            return last
        time.sleep(1)
