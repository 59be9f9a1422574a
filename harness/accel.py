"""Pick QEMU's accelerator: KVM when it really works, TCG otherwise.

On nested-virtualisation hosts ``/dev/kvm`` can exist while a KVM guest hangs before
printing anything, so KVM is *probed*: a throw-away guest boots a kernel under
``-accel kvm`` and must print kernel console output within a few seconds, otherwise it
is killed and TCG is used.  The result is cached per process.  ``FASTREBOOT_ACCEL=kvm``
or ``FASTREBOOT_ACCEL=tcg`` skips the probe.
"""

from __future__ import annotations

import ctypes
import functools
import os
import re
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

#: Before QEMU 8.1 ("accel/tcg: Always lock pages before translation"), one vCPU thread
#: could translate guest code while another rewrote it. Linux rewrites its jump labels
#: that way while booting, with an int3 over the first byte, so under multi-threaded TCG
#: a guest kernel now and then stopped at a stale int3 ("Oops: int3 ... 66 <90>"): here 2
#: of 300 boots with QEMU 7.2 (README, Tests).  Older QEMUs run TCG in one thread.
MTTCG_SAFE_SINCE = (8, 1)

_VERSION_RE = re.compile(r"QEMU emulator version (\d+)\.(\d+)")


def parse_qemu_version(text: str) -> tuple[int, int]:
    """(major, minor) from the first line of ``qemu-system-x86_64 --version``."""
    m = _VERSION_RE.search(text)
    if m is None:
        raise ValueError(f"no QEMU version in {text.splitlines()[:1]!r}")
    return int(m.group(1)), int(m.group(2))


@functools.cache
def qemu_version() -> tuple[int, int]:
    out = subprocess.run([QEMU, "--version"], capture_output=True, text=True, check=True,
                         stdin=subprocess.DEVNULL, timeout=30).stdout
    return parse_qemu_version(out)


def tcg_threading(version: tuple[int, int]) -> str:
    """TCG's ``thread=`` for this QEMU: "multi" (a host thread per vCPU) where it is safe."""
    return "multi" if version >= MTTCG_SAFE_SINCE else "single"


def accel_args(accel: str, version: tuple[int, int] | None = None) -> list[str]:
    """QEMU arguments for *accel* ("kvm" or "tcg") on QEMU *version* (default: the
    installed one)."""
    if accel == "kvm":
        return ["-accel", "kvm", "-cpu", "host"]
    if accel == "tcg":
        threading_ = tcg_threading(version or qemu_version())
        # A small translation buffer (default: 1 GiB): QEMU then flushes it every few
        # seconds. With a large one, code translated in the previous boot stays, and every
        # boot after a reboot (kexec or firmware) took 12-35 s instead of 10 s, at random;
        # with 128 MiB it takes 10 s like the first (bench/README.md, Caveats).
        return ["-accel", f"tcg,thread={threading_},tb-size={TCG_TB_SIZE_MB}", "-cpu", "max"]
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
    if forced and forced not in ("kvm", "tcg"):
        raise ValueError(f"FASTREBOOT_ACCEL must be 'kvm' or 'tcg', not {forced!r}")
    with _lock:
        if forced and _cached != forced:
            _cached = forced
            _log(f"accelerator: {forced} (FASTREBOOT_ACCEL)")
        elif not forced and _cached is None:
            t0 = time.monotonic()
            _cached = "kvm" if probe_kvm(kernel) else "tcg"
            _log(f"accelerator: {_cached} (probe took {time.monotonic() - t0:.1f}s)")
        else:
            return _cached or forced
        if _cached == "tcg":
            _log_tcg_threading()
        return _cached


def dotted(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))


def _log_tcg_threading() -> None:
    version = qemu_version()
    mode = tcg_threading(version)
    why = "" if mode == "multi" else (
        f": QEMU before {dotted(MTTCG_SAFE_SINCE)} oopses guest kernels now and "
        "then in multi-threaded TCG (harness/accel.py)"
    )
    _log(f"QEMU {dotted(version)}, TCG thread={mode}{why}")
