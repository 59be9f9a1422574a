"""The README's main job: a real fast reboot inside a QEMU guest, with its downtime.

Builds (or reuses) the Debian systemd guest image, boots its older kernel, shows
`fastreboot plan`, runs `fastreboot reboot --yes`, and reports what came back and how
long the guest was down, measured on the host from the console.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from harness import Guest, build_image, build_project_disk
from harness.guest_records import completed_record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--variant", default="systemd", choices=["systemd", "sysv", "redhat"])
    args = parser.parse_args(argv)

    image = build_image(args.variant)
    with tempfile.TemporaryDirectory(prefix="fastreboot-demo-") as tmp:
        work = Path(tmp)
        disk = build_project_disk(work / "project.img")
        with Guest(image, work / "guest", name="demo", project_disk=disk) as guest:
            before = guest.wait_ready(timeout=300)
            print(f"guest up: Linux {before.kernel}, boot id {before.boot_id}")
            print(guest.run("fastreboot plan").output)
            guest.run("fastreboot setup")
            sent = guest.send("fastreboot reboot --yes")
            after = guest.wait_reboot(timeout=300)
            if guest.exited or guest.resets:
                print("FAILED: the guest went through the firmware", file=sys.stderr)
                return 1
            record = completed_record(guest)
            print(f"came back: Linux {after.kernel}, boot id {after.boot_id}")
            print("no firmware reset seen by QEMU (-no-reboot would have ended it)")
            print(f"downtime (host, command sent -> guest ready): {after.host_time - sent:.1f} s")
            print(
                f"fastreboot's own record inside the guest: {record['downtime_s']} s, "
                f"state {record['state']}, phases {record['phases']}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
