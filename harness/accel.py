"""Pick QEMU's accelerator: KVM when it really works, TCG otherwise.

On nested-virtualisation hosts ``/dev/kvm`` can exist while a KVM guest hangs before
printing anything, so KVM is *probed*: a throw-away guest boots a kernel under
``-accel kvm`` and must print kernel console output within a few seconds, otherwise it
is killed and TCG is used.  The result is cached per process.  ``FASTREBOOT_ACCEL=kvm``
or ``FASTREBOOT_ACCEL=tcg`` skips the probe.
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

QEMU = "qemu-system-x86_64"
PROBE_TIMEOUT = 10.0

_lock = threading.Lock()
_cached: str | None = None

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """``preexec_fn`` for QEMU: SIGKILL the child when the thread that started it dies."""
    _libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)


def _log(msg: str) -> None:
    print(f"[harness.accel] {msg}", file=sys.stderr, flush=True)


TCG_TB_SIZE_MB = 128


def accel_args(accel: str) -> list[str]:
    """QEMU arguments for *accel* ("kvm" or "tcg")."""
    if accel == "kvm":
        return ["-accel", "kvm", "-cpu", "host"]
    if accel == "tcg":
        # A small translation buffer (default: 1 GiB): QEMU then flushes it every few
        # seconds. With a large one, code translated in the previous boot stays, and every
        # boot after a reboot (kexec or firmware) took 12-35 s instead of 10 s, at random;
        # with 128 MiB it takes 10 s like the first (bench/README.md, Caveats).
        return ["-accel", f"tcg,thread=multi,tb-size={TCG_TB_SIZE_MB}", "-cpu", "max"]
    raise ValueError(f"unknown accelerator {accel!r}")


def probe_kvm(kernel: Path, timeout: float = PROBE_TIMEOUT) -> bool:
    """True if a KVM guest booting *kernel* prints its banner within *timeout* seconds."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False
    argv = [
        QEMU, "-accel", "kvm", "-cpu", "host", "-m", "256", "-smp", "1",
        "-nodefaults", "-display", "none", "-nic", "none", "-no-reboot",
        "-serial", "stdio", "-kernel", str(kernel),
        "-append", "console=ttyS0 earlyprintk=ttyS0 panic=-1",
    ]
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        preexec_fn=die_with_parent,  # noqa: PLW1509 (only a prctl call)
    )
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    seen = b""
    ok = False
    deadline = time.monotonic() + timeout
    try:
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                break  # QEMU exited
            seen = (seen + chunk)[-8192:]
            if b"Linux version" in seen:
                ok = True
                break
    finally:
        proc.kill()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            _log(f"KVM probe QEMU (pid {proc.pid}) did not die after SIGKILL")
        proc.stdout.close()
    return ok


def select_accel(kernel: Path) -> str:
    """The accelerator to use ("kvm" or "tcg"); probes at most once per process."""
    global _cached  # noqa: PLW0603
    forced = os.environ.get("FASTREBOOT_ACCEL", "").strip().lower()
    if forced:
        if forced not in ("kvm", "tcg"):
            raise ValueError(f"FASTREBOOT_ACCEL must be 'kvm' or 'tcg', not {forced!r}")
        return forced
    with _lock:
        if _cached is None:
            t0 = time.monotonic()
            _cached = "kvm" if probe_kvm(kernel) else "tcg"
            _log(f"accelerator: {_cached} (probe took {time.monotonic() - t0:.1f}s)")
        return _cached
