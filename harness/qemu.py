"""Run one guest image under QEMU and drive it through its serial console and QMP.

The serial console is QEMU's stdio (``-serial stdio``): a reader thread timestamps every
byte with the host's ``time.monotonic()``, keeps the full log in ``console.log`` and
parses the guests' ``FASTREBOOT-READY`` / ``FASTREBOOT-SHELL`` lines.  QMP events are
watched with ``qemu.qmp`` on an asyncio loop in a background thread.  QEMU runs with
``-no-reboot``: a firmware reset ends QEMU, a kexec does not.  With ``allow_reset=True``
QEMU resets the machine instead and the firmware boots the guest again (the benchmark's
cold reboots); QMP still reports the ``RESET``.  ``firmware="direct"`` is QEMU's default
BIOS (SeaBIOS) with ``-kernel``; ``firmware="ovmf"`` is UEFI (Debian's ``ovmf`` package,
code + a per-guest copy of the variable store as pflash), also booting ``-kernel``
through fw_cfg.

Every wait is bounded, and QEMU never outlives the process that started it (it gets
``PR_SET_PDEATHSIG=SIGKILL``; note that Linux delivers it when the *thread* that started
QEMU exits, so start guests from a long-lived thread such as the main thread).
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import codecs
import contextlib
import dataclasses
import functools
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Protocol, TypeVar

from qemu.qmp import QMPClient
from qemu.qmp.message import Message

from harness import bootdisk
from harness.accel import (
    QEMU,
    accel_args,
    die_with_parent,
    dotted,
    qemu_version,
    select_accel,
)
from harness.images import CMDLINE_OPTIONS, ROOT_LABEL, GuestImage, session_project_disk

_T = TypeVar("_T")

#: Firmware a guest can boot through: QEMU's default BIOS (SeaBIOS) or UEFI (OVMF).
#: "direct": SeaBIOS with -kernel/-initrd (QEMU hands the kernel over, no disk bootloader);
#: "ovmf": the same through UEFI; "grub-bios"/"grub-uefi": the firmware boots GRUB from a
#: boot disk, and GRUB loads /vmlinuz from the root disk, as on a real machine
#: (harness/bootdisk.py).
FIRMWARES = ("direct", "ovmf", *bootdisk.KINDS)
UEFI_FIRMWARES = ("ovmf", "grub-uefi")
#: OVMF from Debian's ``ovmf`` package (4 MiB flash layout, no Secure Boot, no SMM needed).
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")

READY_RE = re.compile(
    r"FASTREBOOT-READY boot_id=([0-9a-f-]{36}) kernel=(\S+) uptime=([0-9]+(?:\.[0-9]+)?)"
)
#: A READY line of a known boot id at least this much uptime later is a soft reboot's (a
#: whole userspace start takes longer; a duplicate of the same marker has the same uptime).
SOFT_REBOOT_MIN_S = 2.0
SHELL_RE = re.compile(r"FASTREBOOT-SHELL boot_id=([0-9a-f-]{36})")
PANIC_RE = re.compile(r"Kernel panic - not syncing")
PANIC_END_RE = re.compile(r"---\[ end Kernel panic")
#: Where the report of a panic starts, looking back from its "Kernel panic" line.
OOPS_START_RE = re.compile(r"Oops|BUG:|WARNING:|Kernel panic")
#: How long a panic may go on printing after its first line before waits give up.
PANIC_GRACE_S = 3.0

def _log(msg: str) -> None:
    print(f"[harness.qemu] {msg}", file=sys.stderr, flush=True)


class GuestError(Exception):
    """Something went wrong with a guest."""


class GuestExited(GuestError):
    """QEMU exited while we waited (under -no-reboot: a firmware reset or a power-off)."""


class GuestTimeout(GuestError, TimeoutError):
    """A bounded wait ran out."""


class GuestPanicked(GuestError):
    """The guest kernel panicked: waits end at once instead of at their timeout."""


class CommandFailed(GuestError):
    """A command run with check=True exited non-zero."""

    def __init__(self, result: CommandResult) -> None:
        super().__init__(
            f"command {result.command!r} exited {result.exit_code}:\n{result.output}"
        )
        self.result = result


@dataclass(frozen=True)
class ReadyInfo:
    """One boot of the guest, as announced by its ready marker."""

    boot_id: str
    kernel: str  # uname -r
    uptime: float  # guest's /proc/uptime when boot finished
    host_time: float  # host time.monotonic() when the READY line arrived
    shell_time: float | None = None  # host time.monotonic() when the root shell came up


@dataclass(frozen=True)
class CommandResult:
    command: str
    exit_code: int
    output: str  # stdout and stderr, "\r" removed, final newline stripped
    duration: float

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


@dataclass(frozen=True)
class QmpEvent:
    name: str  # e.g. "RESET", "SHUTDOWN", "STOP"
    data: dict[str, Any]
    host_time: float  # host time.monotonic() when the event arrived
    qemu_time: float  # QEMU's timestamp (seconds since the epoch)


class _QmpThread:
    """A qemu.qmp client living on its own asyncio loop in a daemon thread."""

    def __init__(self, name: str, on_event: Callable[[Message], None]) -> None:
        self._on_event = on_event
        self._loop = asyncio.new_event_loop()
        self._client = QMPClient(name)
        self._watch: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._run, name=f"qmp-{name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def _call(self, coro: Any, timeout: float) -> Any:
        fut = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return fut.result(timeout)
        except TimeoutError:
            fut.cancel()
            raise GuestTimeout(f"QMP call did not finish within {timeout}s") from None

    async def _connect(self, path: str) -> None:
        await self._client.connect(path)
        self._watch = asyncio.ensure_future(self._watch_events())

    async def _watch_events(self) -> None:
        async for event in self._client.events:
            self._on_event(event)

    async def _execute(self, cmd: str, args: dict[str, object] | None) -> object:
        return await self._client.execute(cmd, args)

    async def _close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
        with contextlib.suppress(Exception):
            await self._client.disconnect()

    def connect(self, path: str, timeout: float = 10.0) -> None:
        self._call(self._connect(path), timeout)

    def execute(self, cmd: str, args: dict[str, object] | None = None,
                timeout: float = 10.0) -> object:
        return self._call(self._execute(cmd, args), timeout)

    def close(self) -> None:
        if self._loop.is_running():
            with contextlib.suppress(Exception):
                self._call(self._close(), 5.0)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5.0)
        if not self._thread.is_alive():
            self._loop.close()


class GuestFactory(Protocol):
    """What the ``guest_factory`` pytest fixture returns: makes (and by default starts)
    a :class:`Guest`; the fixture stops every guest it made."""

    def __call__(
        self, image: GuestImage, *, name: str = "guest", start: bool = True, **kwargs: Any
    ) -> Guest: ...


_live_guests: weakref.WeakSet[Guest] = weakref.WeakSet()


def _stop_live_guests() -> None:
    for guest in list(_live_guests):
        with contextlib.suppress(Exception):
            guest.stop()


atexit.register(_stop_live_guests)


class Guest:
    """A QEMU guest booted from a :class:`GuestImage` (use as a context manager).

    Files in *workdir*: ``disk.qcow2`` (overlay on the cached image; reused when the guest
    is started again, e.g. to play the firmware's part after QEMU exited), ``console.log``
    (everything the serial console printed), ``qemu.log`` (QEMU's stderr) and
    ``qmp-events.jsonl``.
    """

    def __init__(
        self,
        image: GuestImage,
        workdir: Path,
        *,
        memory_mb: int = 1024,
        append: str = "",
        name: str = "guest",
        firmware: str = "direct",
        project_disk: Path | None = None,
        smp: int = 2,
        allow_reset: bool = False,
        ssh_port: int | None = None,
        watchdog: bool = False,
    ) -> None:
        if firmware not in FIRMWARES:
            raise NotImplementedError(
                f"firmware {firmware!r} is not supported (only {', '.join(FIRMWARES)})"
            )
        self.image = image
        self.workdir = Path(workdir)
        self.memory_mb = memory_mb
        self.append = append
        self.name = name
        self.firmware = firmware
        self.smp = smp
        self.project_disk = project_disk
        #: False: QEMU runs with -no-reboot, so a firmware reset ends it.  True: QEMU resets
        #: and the firmware boots the guest again (QMP still reports the RESET).
        self.allow_reset = allow_reset
        #: Host loopback port forwarded to the guest's port 22 (QEMU's user network,
        #: restricted: the guest reaches nothing outside), or None for no network at all.
        self.ssh_port = ssh_port
        #: An Intel 6300ESB watchdog (the guest's i6300esb driver, /dev/watchdog0); when it
        #: expires QEMU resets the machine (-action watchdog=reset, also QEMU's default).
        self.watchdog = watchdog
        self.overlay = self.workdir / "disk.qcow2"
        #: The guest's own UEFI variable store (firmware="ovmf"), copied on first start.
        self.ovmf_vars = self.workdir / "OVMF_VARS.fd"
        self.console_log = self.workdir / "console.log"
        self.qemu_log = self.workdir / "qemu.log"
        self.events_log = self.workdir / "qmp-events.jsonl"
        self.timed_log = self.workdir / "console-timed.log"

        #: Every complete serial line, with the host monotonic time it arrived.
        self.console_lines: list[tuple[float, str]] = []
        #: Every QMP event seen, and the RESET/SHUTDOWN subset of them.
        self.events: list[QmpEvent] = []
        self.resets: list[QmpEvent] = []
        #: Every boot announced by a READY line, in order: one entry per boot id and
        #: uptime, so a soft reboot (same boot id, userspace started again) is a boot too.
        self.boots: list[ReadyInfo] = []
        #: The boot returned by the last wait_ready()/wait_reboot().
        self.current: ReadyInfo | None = None
        #: Host monotonic time QEMU was last let run (after QMP connected), or None.
        self.started_at: float | None = None
        self.accel: str | None = None  # "kvm" or "tcg", once started

        self._cond = threading.Condition()
        self._chunks: list[str] = []  # console output, "\r" removed
        self._partial = ""
        self._shell_lines: list[tuple[str, float]] = []  # (boot id, host time) per SHELL line
        self._eof = True
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._qmp: _QmpThread | None = None
        self._qmp_dir: Path | None = None
        self._cmd_lock = threading.Lock()
        self._consumed = 0  # how many entries of self.boots wait_ready() has returned
        #: (host time, index in console_lines) of a "Kernel panic" line since start().
        self._panic: tuple[float, int] | None = None
        self._panic_ended = False
        #: A panic the test causes on purpose (kdump test): its line is kept here instead.
        self._panic_expected = False
        self.expected_panics: list[tuple[float, str]] = []
        self._stderr: IO[bytes] | None = None
        self._timed: IO[str] | None = None
        self._t_base = 0.0

    # ----------------------------------------------------------------------- lifecycle

    def __enter__(self) -> Guest:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def exited(self) -> bool:
        """True once the QEMU process started last has exited."""
        return self._proc is not None and self._proc.poll() is not None

    @property
    def exit_status(self) -> int | None:
        """QEMU's exit status, or None while it runs (or before start)."""
        return None if self._proc is None else self._proc.poll()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def kernel_cmdline(self) -> str:
        return " ".join(p for p in (self.image.root_arg, CMDLINE_OPTIONS, self.append) if p)

    def firmware_args(self) -> list[str]:
        """QEMU arguments selecting the firmware (none for QEMU's default SeaBIOS)."""
        if self.firmware in UEFI_FIRMWARES:
            return [
                "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
                "-drive", f"if=pflash,format=raw,unit=1,file={self.ovmf_vars}",
            ]
        return []

    def qemu_argv(self, accel: str, project_disk: Path, qmp_socket: Path) -> list[str]:
        return [
            QEMU,
            "-name", f"guest={self.name},debug-threads=on",
            "-machine", "q35",
            *accel_args(accel),
            "-m", str(self.memory_mb),
            "-smp", str(self.smp),
            "-nodefaults",
            "-display", "none",
            *self.network_args(),
            *([] if self.allow_reset else ["-no-reboot"]),
            *self.firmware_args(),
            "-S",
            "-serial", "stdio",
            "-qmp", f"unix:{qmp_socket},server=on,wait=off",
            *self.boot_args(project_disk),
            "-device", "virtio-rng-pci",
            *(["-device", "i6300esb", "-action", "watchdog=reset"] if self.watchdog else []),
        ]

    def network_args(self) -> list[str]:
        if self.ssh_port is None:
            return ["-nic", "none"]
        return ["-nic", "user,model=virtio-net-pci,restrict=on,"
                f"hostfwd=tcp:127.0.0.1:{self.ssh_port}-:22"]

    def authorize_ssh_key(self, public_key: str) -> None:
        """Let *public_key* log in as root over SSH (kept on the overlay across reboots)."""
        key = public_key.strip()
        if not key or "'" in key or "\n" in key:
            raise ValueError(f"not a one-line public key: {public_key!r}")
        self.run(f"install -d -m 0700 /root/.ssh && printf '%s\\n' '{key}' "
                 ">> /root/.ssh/authorized_keys && chmod 0600 /root/.ssh/authorized_keys")

    @property
    def boot_disk(self) -> Path:
        return self.workdir / "grub-boot.img"

    def boot_args(self, project_disk: Path) -> list[str]:
        """The kernel for -kernel and the disks, or the disks with GRUB's boot disk first in
        the firmware's boot order. The root disk is /dev/vda, the project disk /dev/vdb."""
        project = f"file={project_disk},format=raw,readonly=on"
        if self.firmware not in bootdisk.KINDS:
            return [
                "-kernel", str(self.image.boot_kernel),
                "-initrd", str(self.image.boot_initrd),
                "-append", self.kernel_cmdline(),
                "-drive", f"file={self.overlay},if=virtio,format=qcow2",
                "-drive", f"{project},if=virtio",
            ]
        # All three as -device, in this order: QEMU creates if=virtio disks after them,
        # which would make the project disk /dev/vdc.
        return [
            "-drive", f"file={self.overlay},if=none,id=root,format=qcow2",
            "-device", "virtio-blk-pci,drive=root,bootindex=1",
            "-drive", f"{project},if=none,id=project",
            "-device", "virtio-blk-pci,drive=project",
            "-drive", f"file={self.boot_disk},if=none,id=grub,format=raw,readonly=on",
            "-device", "virtio-blk-pci,drive=grub,bootindex=0",
        ]

    def start(self) -> None:
        """Start QEMU (paused), connect QMP, then let the guest run."""
        if self.running:
            raise GuestError(f"guest {self.name} is already running")
        self._cleanup()
        self._panic, self._panic_ended = None, False
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self.overlay.exists():
            subprocess.run(
                ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw",
                 "-b", str(self.image.disk), str(self.overlay)],
                check=True, stdin=subprocess.DEVNULL, timeout=60,
            )
        if self.firmware in UEFI_FIRMWARES:
            for path in (OVMF_CODE, OVMF_VARS):
                if not path.is_file():
                    raise GuestError(f"{path} is missing (apt-get install ovmf)")
            if not self.ovmf_vars.exists():
                shutil.copyfile(OVMF_VARS, self.ovmf_vars)
        if self.firmware in bootdisk.KINDS and not self.boot_disk.exists():
            # Once per guest: start() after a firmware reset boots the same disks again.
            bootdisk.build(self.boot_disk, self.firmware, ROOT_LABEL, self.kernel_cmdline())
        project_disk = self.project_disk or session_project_disk()
        accel = self.accel = select_accel(self.image.boot_kernel)
        # A short path: unix socket paths are limited to 108 bytes.
        self._qmp_dir = Path(tempfile.mkdtemp(prefix="frqmp-"))
        qmp_socket = self._qmp_dir / "qmp.sock"
        argv = self.qemu_argv(accel, project_disk, qmp_socket)
        (self.workdir / "qemu-cmdline.txt").write_text(" ".join(argv) + "\n")
        self._stderr = open(self.qemu_log, "ab")  # noqa: SIM115 (closed in _cleanup)
        self._timed = open(self.timed_log, "a", buffering=1)  # noqa: SIM115 (ditto)
        self._t_base = time.monotonic()
        self._timed.write("# QEMU started; times are seconds since then\n")
        self._eof = False
        self._proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            preexec_fn=die_with_parent,  # noqa: PLW1509 (only a prctl call)
            close_fds=True,
        )
        _live_guests.add(self)
        assert self._proc.stdout is not None
        self._reader = threading.Thread(
            target=self._read_console, args=(self._proc.stdout.fileno(),),
            name=f"console-{self.name}", daemon=True,
        )
        self._reader.start()
        try:
            deadline = time.monotonic() + 15
            while not qmp_socket.exists():
                if self._proc.poll() is not None:
                    raise GuestExited(f"QEMU exited at start-up:\n{self._qemu_log_tail()}")
                if time.monotonic() > deadline:
                    raise GuestTimeout("QEMU did not create its QMP socket within 15s")
                time.sleep(0.05)
            self._qmp = _QmpThread(self.name, self._on_event)
            self._qmp.connect(str(qmp_socket))
            self._qmp.execute("cont")
            self.started_at = time.monotonic()
        except BaseException:
            self.stop()
            raise
        _log(f"{self.name}: QEMU pid {self._proc.pid} started ({accel}), "
             f"console log {self.console_log}")

    def stop(self) -> None:
        """Quit QEMU (QMP quit, then SIGTERM, then SIGKILL); bounded, idempotent."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            if self._qmp is not None:
                with contextlib.suppress(Exception):
                    self._qmp.execute("quit", timeout=5.0)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(timeout=10)
        self._cleanup()

    def _cleanup(self) -> None:
        if self._qmp is not None:
            self._qmp.close()
            self._qmp = None
        if self._proc is not None and self._proc.stdin is not None:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()
        if self._reader is not None:
            self._reader.join(timeout=5)
            self._reader = None
        if self._proc is not None and self._proc.stdout is not None:
            with contextlib.suppress(OSError):
                self._proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        with self._cond:
            if self._timed is not None:
                self._timed.close()
                self._timed = None
        if self._qmp_dir is not None:
            shutil.rmtree(self._qmp_dir, ignore_errors=True)
            self._qmp_dir = None
        _live_guests.discard(self)

    def _qemu_log_tail(self, n: int = 20) -> str:
        try:
            return "\n".join(self.qemu_log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    # ------------------------------------------------------------- background threads

    def _on_event(self, msg: Message) -> None:
        raw_ts = msg.get("timestamp")
        ts: dict[str, Any] = raw_ts if isinstance(raw_ts, dict) else {}
        raw_data = msg.get("data")
        event = QmpEvent(
            name=str(msg["event"]),
            data=dict(raw_data) if isinstance(raw_data, dict) else {},
            host_time=time.monotonic(),
            qemu_time=float(ts.get("seconds", 0)) + float(ts.get("microseconds", 0)) / 1e6,
        )
        with self._cond:
            self.events.append(event)
            if event.name in ("RESET", "SHUTDOWN"):
                self.resets.append(event)
            self._cond.notify_all()
        with contextlib.suppress(OSError), open(self.events_log, "a") as fh:
            fh.write(json.dumps(dataclasses.asdict(event)) + "\n")

    def _read_console(self, fd: int) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        with open(self.console_log, "ab") as log:
            while True:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    chunk = b""
                now = time.monotonic()
                if not chunk:
                    break
                log.write(chunk)
                log.flush()
                text = decoder.decode(chunk).replace("\r", "")
                with self._cond:
                    self._chunks.append(text)
                    self._partial += text
                    *lines, self._partial = self._partial.split("\n")
                    for line in lines:
                        self._on_line(now, line)
                    self._cond.notify_all()
        with self._cond:
            if self._partial:
                self._on_line(time.monotonic(), self._partial)
                self._partial = ""
            self._eof = True
            self._cond.notify_all()

    def _on_line(self, now: float, line: str) -> None:  # called with self._cond held
        self.console_lines.append((now, line))
        if self._timed is not None:
            self._timed.write(f"{now - self._t_base:9.3f} {line}\n")
        if m := READY_RE.search(line):
            boot_id = m.group(1)
            uptime = float(m.group(3))
            # The marker may come twice (kmsg and the tty) with the same uptime. A soft
            # reboot prints it again with the same boot id, seconds of uptime later.
            seen = [b.uptime for b in self.boots if b.boot_id == boot_id]
            if not seen or uptime > max(seen) + SOFT_REBOOT_MIN_S:
                self.boots.append(ReadyInfo(boot_id, m.group(2), uptime, now))
        if m := SHELL_RE.search(line):
            self._shell_lines.append((m.group(1), now))
        if self._panic_expected and PANIC_RE.search(line):
            self._panic_expected = False
            self.expected_panics.append((now, line))
        elif self._panic is None and PANIC_RE.search(line):
            self._panic = (now, len(self.console_lines) - 1)
        elif self._panic is not None and PANIC_END_RE.search(line):
            self._panic_ended = True

    # ------------------------------------------------------------------------ waiting

    def _wait_for(
        self, predicate: Callable[[], _T | None], timeout: float, what: str,
        panic_ok: bool = False,
    ) -> _T:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                result = predicate()
                if result is not None:
                    return result
                if self._eof or self._proc is None or self._proc.poll() is not None:
                    break
                if not panic_ok and self._panic is not None and (
                    self._panic_ended or time.monotonic() - self._panic[0] > PANIC_GRACE_S
                ):
                    raise GuestPanicked(
                        f"{self.name}: the guest kernel panicked while waiting for {what} "
                        f"(QEMU {dotted(qemu_version())}, {self.accel}).\n"
                        f"{self.panic_report()}"
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    raise GuestTimeout(
                        f"{self.name}: timed out after {timeout:.0f}s waiting for {what}.\n"
                        f"last console lines:\n{self.tail()}"
                    )
                self._cond.wait(min(left, 0.5))
        self._settle_exit()
        resets = ", ".join(f"{e.name}{e.data}" for e in self.resets) or "no RESET/SHUTDOWN"
        raise GuestExited(
            f"{self.name}: QEMU exited (status {self.exit_status}; {resets}) while waiting "
            f"for {what}; under -no-reboot a firmware reset ends QEMU.\n"
            f"last console lines:\n{self.tail()}"
        )

    def _settle_exit(self, timeout: float = 5.0) -> None:
        """After the console closed: let QEMU exit and its last QMP events arrive, so that
        :attr:`exited`, :attr:`exit_status` and :attr:`resets` are final."""
        if self._proc is None:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout)
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(2.0)  # the console log is complete once the reader saw EOF
        deadline = time.monotonic() + 2.0  # QEMU sends SHUTDOWN before it exits
        with self._cond:
            while not any(e.name == "SHUTDOWN" for e in self.events):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)

    def expect_panic(self) -> None:
        """The next "Kernel panic" line is the test's own (a crash for kdump): waits do not
        raise GuestPanicked for it; it goes to :attr:`expected_panics`. A later panic still
        raises."""
        with self._cond:
            self._panic_expected = True

    def console_since(self, host_time: float) -> list[tuple[float, str]]:
        """The console lines (host time, text) that arrived at or after *host_time*."""
        with self._cond:
            return [(t, line) for t, line in self.console_lines if t >= host_time]

    def wait_exit(self, timeout: float = 120) -> int:
        """Wait until QEMU exits by itself (e.g. a firmware reset under -no-reboot) and
        return its exit status."""
        if self._proc is None:
            raise GuestError("guest was never started")
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise GuestTimeout(
                f"{self.name}: QEMU still running after {timeout:.0f}s.\n"
                f"last console lines:\n{self.tail()}"
            ) from None
        self._settle_exit()
        status = self._proc.poll()
        assert status is not None
        return status

    def panic_report(self, max_lines: int = 60) -> str:
        """The console lines of the guest's panic, from the first Oops/BUG/WARNING line
        shortly before it (empty if the guest has not panicked since start())."""
        with self._cond:
            if self._panic is None:
                return ""
            at = self._panic[1]
            start = at
            for i in range(at, max(-1, at - 80), -1):
                if OOPS_START_RE.search(self.console_lines[i][1]):
                    start = i
            return "\n".join(line for _, line in self.console_lines[start:start + max_lines])

    def tail(self, n: int = 25) -> str:
        """The last *n* console lines (plus any unterminated line)."""
        with self._cond:
            lines = [line for _, line in self.console_lines[-n:]]
            if self._partial:
                lines.append(self._partial)
        return "\n".join(lines)

    def wait_ready(self, timeout: float = 180, *, panic_ok: bool = False) -> ReadyInfo:
        """Wait for the READY line of a boot not returned by an earlier wait, then for its
        root shell; returns that boot (also stored in :attr:`current`). With *panic_ok* a
        kernel panic on the way (one that panic=N turns into a reset, ``allow_reset``) does
        not end the wait, and is forgotten once the next boot is up."""
        deadline = time.monotonic() + timeout
        first = self._consumed

        def next_boot() -> ReadyInfo | None:
            return self.boots[first] if len(self.boots) > first else None

        boot = self._wait_for(
            next_boot, timeout, "the FASTREBOOT-READY line of a new boot", panic_ok
        )
        if panic_ok:
            with self._cond:
                self._panic, self._panic_ended = None, False
        # After a soft reboot the same boot id gets a new shell: only one that came up after
        # the previous userspace's shell belongs to this boot.
        earlier = self.current
        after = (
            earlier.shell_time or earlier.host_time
            if earlier is not None and earlier.boot_id == boot.boot_id
            else float("-inf")
        )

        def new_shell() -> float | None:
            return next(
                (t for b, t in self._shell_lines if b == boot.boot_id and t > after), None
            )

        shell_time = self._wait_for(
            new_shell,
            max(1.0, deadline - time.monotonic()),
            f"the root shell of boot {boot.boot_id}",
        )
        boot = dataclasses.replace(boot, shell_time=shell_time)
        self._consumed = first + 1
        self.current = boot
        # Make sure the shell really takes input before handing it out.
        probe = self.run("cat /proc/sys/kernel/random/boot_id",
                         timeout=max(10.0, deadline - time.monotonic()))
        if probe.output.strip() != boot.boot_id:
            raise GuestError(f"shell reports boot id {probe.output!r}, expected {boot.boot_id}")
        return boot

    def wait_reboot(self, timeout: float = 240, *, panic_ok: bool = False) -> ReadyInfo:
        """After a reboot was sent: wait for the next boot (a NEW boot id, or after a soft
        reboot the same boot id with a new READY line) and its shell.
        Raises :class:`GuestExited` if QEMU exits meanwhile (= a firmware reset under
        -no-reboot).  With ``allow_reset=True`` a firmware reset is no error: QEMU resets,
        the firmware boots the guest again and this returns that boot (the reset is in
        :attr:`resets`)."""
        if self.current is None:
            raise GuestError("wait_reboot() before wait_ready(): no boot to compare with")
        return self.wait_ready(timeout, panic_ok=panic_ok)

    def hmp(self, command: str, timeout: float = 10.0) -> str:
        """Run a QEMU monitor (HMP) command through QMP, e.g. ``info jit``; returns its text."""
        if self._qmp is None or not self.running:
            raise GuestError(f"{self.name}: QEMU is not running")
        result = self._qmp.execute(
            "human-monitor-command", {"command-line": command}, timeout=timeout
        )
        return str(result)

    # ---------------------------------------------------------------------- commands

    def _write(self, data: bytes) -> float:
        proc = self._proc
        if proc is None or proc.stdin is None or proc.poll() is not None:
            raise GuestExited(f"{self.name}: QEMU is not running")
        try:
            proc.stdin.write(data)
            proc.stdin.flush()
        except (BrokenPipeError, ValueError) as exc:
            raise GuestExited(f"{self.name}: QEMU's console is closed") from exc
        return time.monotonic()

    def send(self, command: str) -> float:
        """Type *command* on the console without waiting; returns the host monotonic
        time it was sent."""
        return self._write(command.encode() + b"\n")

    def interrupt(self) -> None:
        """Send Ctrl-C to the console."""
        self._write(b"\x03")

    def run(self, command: str, timeout: float = 60, check: bool = True) -> CommandResult:
        """Run a shell *command* (bash, stdin /dev/null, stderr merged into stdout) on
        the serial console and return its exit code and output."""
        with self._cmd_lock:
            token = secrets.token_hex(6)
            script = f"/tmp/.frb-{token}"
            encoded = base64.b64encode(command.encode()).decode()
            # The command travels base64-encoded (no quoting issues), in lines short
            # enough for the tty's canonical-mode buffer; each chunk is acknowledged before
            # the next is typed so that the 4 KiB tty input buffer never overflows.  The
            # markers are glued together by printf, so the typed text never contains them
            # even if the terminal echoes it.
            chunks = [encoded[i:i + 1500] for i in range(0, len(encoded), 1500)] or [""]
            with self._cond:
                first_chunk = len(self._chunks)
            t0 = time.monotonic()
            deadline = t0 + timeout
            seen: list[str] = []
            index = first_chunk

            def find(pattern: re.Pattern[str]) -> tuple[str, re.Match[str]] | None:
                nonlocal index
                if index < len(self._chunks):
                    seen.append("".join(self._chunks[index:]))
                    index = len(self._chunks)
                text = "".join(seen)
                m = pattern.search(text)
                return (text, m) if m else None

            try:
                for n, chunk in enumerate(chunks):
                    redirect = ">" if n == 0 else ">>"
                    self._write(
                        f"printf %s {chunk} {redirect} {script}.b64; "
                        f"printf '%s%s\\n' FRB-ACK- {token}-{n}\n".encode()
                    )
                    self._wait_for(
                        functools.partial(find, re.compile(rf"FRB-ACK-{token}-{n}\n")),
                        max(0.0, deadline - time.monotonic()), f"command {command!r} (typing)",
                    )
                self._write(
                    f"base64 -d {script}.b64 > {script}; printf '%s%s\\n' FRB-BEGIN- {token}; "
                    f"bash {script} </dev/null 2>&1; "
                    f"printf '\\n%s%s rc=%d\\n' FRB-END- {token} $?; "
                    f"rm -f {script} {script}.b64\n".encode()
                )
                text, m = self._wait_for(
                    functools.partial(find, re.compile(rf"FRB-END-{token} rc=(\d+)\n")),
                    max(0.0, deadline - time.monotonic()), f"command {command!r}",
                )
            except GuestTimeout:
                with contextlib.suppress(GuestError):
                    self.interrupt()
                raise
            begin = text.find(f"FRB-BEGIN-{token}\n")
            start = begin + len(f"FRB-BEGIN-{token}\n") if begin >= 0 else 0
            output = text[start:m.start()]
            output = output.removesuffix("\n").removesuffix("\n")
            result = CommandResult(command, int(m.group(1)), output, time.monotonic() - t0)
        if check and not result.ok:
            raise CommandFailed(result)
        return result


def free_port() -> int:
    """A TCP port on the host's loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
