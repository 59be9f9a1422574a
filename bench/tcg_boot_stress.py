"""Boot a guest kernel many times under TCG and count the boots that oops.

Each boot runs the kernel alone (no initrd, no root disk) until it panics for want of a
root file system, ~3 s under TCG; ``panic=-1`` with ``-no-reboot`` then ends QEMU.  An
``Oops``/``BUG:`` line before that is a failed boot; its console is kept in ``--out``.
Two boots at a time (the default) keep both host cores busy, as the test suite does.

    python3 -m bench.tcg_boot_stress --kernel ~/.cache/fastreboot/images/trixie-*/vmlinuz-*
    python3 -m bench.tcg_boot_stress --qemu /tmp/q72/usr/bin/qemu-system-x86_64 \\
        -L /tmp/q72/usr/share/qemu -L /tmp/q72/usr/share/seabios --kernel ...

Found with its first form, same QEMU arguments (2026-11-30, Debian 13's 6.12.111 kernel,
2 vCPUs, thread=multi): QEMU 7.2.22 oopsed in 2 of 300 boots (``Oops: int3`` at a jump
label), QEMU 10.0.2 in 0 of 300.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import subprocess
import sys
import time
from pathlib import Path

from harness.accel import QEMU, TCG_TB_SIZE_MB

BAD_MARKERS = ("Oops", "BUG:", "general protection fault")
APPEND = "root=/dev/nonexistent console=ttyS0,115200 loglevel=4 panic=-1"


def boot_once(qemu: str, kernel: Path, thread: str, extra: list[str]) -> tuple[float, str]:
    argv = [
        qemu, "-machine", "q35",
        "-accel", f"tcg,thread={thread},tb-size={TCG_TB_SIZE_MB}", "-cpu", "max",
        "-m", "1024", "-smp", "2", "-nodefaults", "-display", "none", "-nic", "none",
        "-no-reboot", "-serial", "stdio", "-kernel", str(kernel), "-append", APPEND, *extra,
    ]
    t0 = time.monotonic()
    out = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=180,
                         check=False).stdout.decode(errors="replace")
    return time.monotonic() - t0, out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kernel", type=Path, required=True)
    ap.add_argument("--qemu", default=QEMU)
    ap.add_argument("--boots", type=int, default=300)
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--thread", choices=("multi", "single"), default="multi")
    ap.add_argument("--out", type=Path, default=Path("artifacts/tcg-boot-stress"))
    args, extra = ap.parse_known_args(argv)  # the rest goes to QEMU (e.g. -L DIR)
    args.out.mkdir(parents=True, exist_ok=True)
    version = subprocess.run([args.qemu, "--version"], capture_output=True, text=True,
                             check=True).stdout.splitlines()[0]
    print(f"{version}; {args.kernel.name}; thread={args.thread}; {args.boots} boots, "
          f"{args.parallel} at a time", flush=True)
    bad = 0
    unfinished = 0
    times: list[float] = []
    with concurrent.futures.ThreadPoolExecutor(args.parallel) as pool:
        runs = pool.map(lambda _: boot_once(args.qemu, args.kernel, args.thread, extra),
                        range(args.boots))
        for i, (seconds, out) in enumerate(runs):
            times.append(seconds)
            oops = [line for line in out.splitlines() if any(m in line for m in BAD_MARKERS)]
            if oops:
                bad += 1
                (args.out / f"boot-{i:03d}.log").write_text(out)
                print(f"boot {i}: {oops[0].strip()}", flush=True)
            elif "VFS: Unable to mount root" not in out:
                unfinished += 1
                (args.out / f"boot-{i:03d}.log").write_text(out)
                print(f"boot {i}: ended without reaching the root mount", flush=True)
    times.sort()
    print(f"{bad} of {args.boots} boots oopsed, {unfinished} ended otherwise; "
          f"median {times[len(times) // 2]:.1f} s per boot")
    return 1 if bad or unfinished else 0


if __name__ == "__main__":
    sys.exit(main())
