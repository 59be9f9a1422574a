"""What the changing commands do, in order, through an ``Effects`` object.

The order is the safety argument: load while the system is fully up (a failure leaves it
untouched), then ask the init system to reboot; any failure after loading and before the
jump unloads again, so a later plain ``reboot`` is not silently turned into a kexec.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from types import FrameType
from typing import Any

from fastreboot.act import initsystem, records
from fastreboot.act.effects import Effects
from fastreboot.config.debian import read_debian_kexec
from fastreboot.config.own import LoadMethod, RebootMethod
from fastreboot.errors import CommandError, KexecError, KexecRefused, PreflightError
from fastreboot.plan import staged
from fastreboot.plan.checks import Check
from fastreboot.plan.fallback import WayBackKind
from fastreboot.plan.plan import Plan
from fastreboot.plan.staged import LoadOrigin
from fastreboot.plan.sysinfo import read_system_info

log = logging.getLogger(__name__)


def refuse_on_errors(errors: Sequence[Check]) -> None:
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more; see fastreboot check)" if len(errors) > 1 else ""
        raise PreflightError(
            f"preflight check {first.name} failed: {first.message}{more}", first.hint
        )


def kexec_tool_argv(
    kernel: str,
    initrds: Sequence[str],
    cmdline: str,
    *,
    crash: bool,
    file_syscall: bool,
    extra: Sequence[str] = (),
) -> list[str]:
    if len(initrds) > 1:
        raise KexecError(
            "kexec-tools takes one initrd; this entry has several", hint="use kexec_file_load"
        )
    argv = ["kexec", "-p" if crash else "-l", "-s" if file_syscall else "-c", *extra, kernel]
    if initrds:
        argv.append(f"--initrd={initrds[0]}")
    argv.append(f"--command-line={cmdline}")
    return argv


def _kexec_tools_load(
    effects: Effects,
    kernel: str,
    initrds: Sequence[str],
    cmdline: str,
    *,
    crash: bool,
    file_syscall: bool,
    extra_args: Sequence[str],
) -> None:
    if effects.which("kexec") is None:
        raise KexecError(
            "kexec_load needs kexec-tools, which is not installed", hint="apt install kexec-tools"
        )
    argv = kexec_tool_argv(
        kernel, initrds, cmdline, crash=crash, file_syscall=file_syscall, extra=extra_args
    )
    try:
        effects.run(argv)
    except CommandError as error:
        raise KexecError(f"kexec-tools could not load {kernel}: {error.message}") from error


def _load_once(
    effects: Effects,
    kernel: str,
    initrds: Sequence[str],
    cmdline: str,
    method: LoadMethod,
    *,
    crash: bool,
    extra_args: Sequence[str],
) -> None:
    if method is LoadMethod.FILE and not extra_args:
        effects.kexec_file_load(kernel, initrds, cmdline, crash=crash)
        return
    _kexec_tools_load(
        effects,
        kernel,
        initrds,
        cmdline,
        crash=crash,
        file_syscall=method is LoadMethod.FILE,
        extra_args=extra_args,
    )


def load_kernel(
    effects: Effects,
    kernel: str,
    initrds: Sequence[str],
    cmdline: str,
    method: LoadMethod,
    *,
    crash: bool = False,
    extra_args: Sequence[str] = (),
    fallback: bool = False,
) -> LoadMethod:
    """Load; returns the method that worked.

    With ``fallback`` the other call takes over when the chosen one fails: lockdown and IMA
    refuse kexec_load but may accept a signed kernel through kexec_file_load; a kernel
    without kexec_file_load, or without a file loader for this image, still takes
    kexec_load. A policy refusal of kexec_file_load (``KexecRefused``: a signature the
    kernel does not trust) is final: kexec_load must not go around it.
    """
    try:
        _load_once(effects, kernel, initrds, cmdline, method, crash=crash, extra_args=extra_args)
        return method
    except KexecError as error:
        refused = method is LoadMethod.FILE and isinstance(error, KexecRefused)
        if not fallback or extra_args or refused:
            raise
        other = LoadMethod.LEGACY if method is LoadMethod.FILE else LoadMethod.FILE
        log.debug("%s; trying %s", error.message, other)
        try:
            _load_once(effects, kernel, initrds, cmdline, other, crash=crash, extra_args=())
        except KexecError as second:
            message = f"{second.message} (before that, {error.message})"
            raise KexecError(message, second.hint) from second
        return other


def _verify_loaded(effects: Effects, *, crash: bool) -> None:
    flag = "/sys/kernel/kexec_crash_loaded" if crash else "/sys/kernel/kexec_loaded"
    if effects.root.read_first_line(flag) != "1":
        raise KexecError(f"the load reported success but {flag} is not 1")


_HELD_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class _Hold:
    """Signals that arrive while a step that changes the machine runs are acted on between
    steps, never in the middle of one: a load cut short between the system call and its
    state file would leave a kernel that nobody unloads. Only Python-level handlers are
    held (an ignored signal stays ignored); holds nest."""

    def __init__(self) -> None:
        self.depth = 0
        self.pending: list[int] = []
        self.saved: dict[int, Callable[[int, FrameType | None], Any]] = {}

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        if self.depth == 0:
            self.pending.clear()
            for signum in _HELD_SIGNALS:
                handler = signal.getsignal(signum)
                if callable(handler):
                    self.saved[signum] = handler
                    signal.signal(signum, lambda number, _frame: self.pending.append(number))
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
            if self.depth == 0:
                for number, handler in self.saved.items():
                    signal.signal(number, handler)
                self.saved.clear()

    def act_on_pending(self) -> None:
        """Raise what the first held signal's handler raises (Interrupted, KeyboardInterrupt)."""
        if self.pending:
            signum = self.pending.pop(0)
            self.saved[signum](signum, None)

    def drop_pending(self) -> None:
        self.pending.clear()


_held = _Hold()


def load(plan: Plan, effects: Effects, *, origin: LoadOrigin = LoadOrigin.COMMAND) -> LoadMethod:
    """Load the plan's kernel, unless fastreboot already loaded exactly it in this boot.
    A signal during the load unloads it again before the signal's own effect."""
    refuse_on_errors(plan.errors)
    if plan.already_loaded is not None:
        if plan.already_loaded.origin != origin:
            # The same kernel, now asked for by a command: no automatic refresh replaces it.
            effects.write_file(
                staged.STATE_FILE, staged.to_text(replace(plan.already_loaded, origin=origin))
            )
        return plan.already_loaded.method
    with _held():
        # A failed load leaves the previous kernel (or none): the state file stays true.
        used = load_kernel(
            effects,
            plan.kernel,
            plan.initrds,
            plan.cmdline,
            plan.load_method,
            fallback=plan.load_fallback,
        )
        try:
            _verify_loaded(effects, crash=False)
            loaded = staged.describe_load(
                effects.root, plan.kernel, plan.initrds, plan.cmdline, used, origin=origin
            )
            effects.write_file(staged.STATE_FILE, staged.to_text(loaded))
            _held.act_on_pending()
        except BaseException:
            unload(effects)
            raise
    return used


def unload(effects: Effects, *, crash: bool = False) -> None:
    effects.kexec_unload(crash=crash)
    if not crash:
        effects.remove_file(staged.STATE_FILE)


def fast_reboot(
    plan: Plan, effects: Effects, *, handed_over: Callable[[], None] | None = None
) -> None:
    """Load, write the downtime record, hand over to the init system. If anything fails or
    a signal arrives before the hand-over, unloads what this call loaded (a kernel that was
    already loaded stays). Nothing that changes the machine happens before the load has
    succeeded. ``handed_over`` runs as soon as the init system has the reboot, before any
    held signal could be acted on: from then on the init system owns the outcome."""
    loaded = False
    one_shot_changed = False
    way_back = plan.fallback.way_back if plan.fallback else None
    with _held():
        try:
            load(plan, effects)
            loaded = plan.already_loaded is None
            _held.act_on_pending()
            if way_back is not None and way_back.kind is WayBackKind.GRUB_NEXT_ENTRY:
                one_shot_changed = True
                arm_way_back(effects, plan)
            elif plan.consumed_next_entry and plan.grubenv:
                one_shot_changed = True
                _grub_editenv(effects, plan.grubenv, "unset", "next_entry")
            records.write_pending(effects, plan)
            _held.act_on_pending()
            initsystem.request_kexec_reboot(effects, plan.reboot_method)
        except BaseException:
            if one_shot_changed:
                _restore_next_entry(effects, plan)
            if loaded:
                unload(effects)
            raise
        _held.drop_pending()
        if handed_over is not None:
            handed_over()


def arm_way_back(effects: Effects, plan: Plan) -> bool:
    """Make the next firmware boot (a watchdog or panic reset) start the running kernel:
    GRUB's one-shot next_entry, as grub-reboot sets it; the saved default stays. It
    replaces a consumed next_entry, which GRUB would have cleared anyway. Returns whether
    there was a way back to arm."""
    way_back = plan.fallback.way_back if plan.fallback else None
    if way_back is None or way_back.kind is not WayBackKind.GRUB_NEXT_ENTRY:
        return False
    _grub_editenv(effects, way_back.grubenv, "set", f"next_entry={way_back.entry}")
    return True


def _grub_editenv(effects: Effects, grubenv: str | None, *args: str) -> None:
    editor = effects.which("grub-editenv") or effects.which("grub2-editenv") or "grub-editenv"
    effects.run([editor, grubenv or "/boot/grub/grubenv", *args])


def _restore_next_entry(effects: Effects, plan: Plan) -> None:
    """Put GRUB's one-shot entry back as it was before this command: the machine stays up,
    so a one-shot entry set for a reboot that did not happen must not outlive it."""
    grubenv = plan.grubenv or (
        plan.fallback.way_back.grubenv if plan.fallback and plan.fallback.way_back else None
    )
    try:
        if plan.consumed_next_entry:
            _grub_editenv(effects, grubenv, "set", f"next_entry={plan.consumed_next_entry}")
        else:
            _grub_editenv(effects, grubenv, "unset", "next_entry")
    except CommandError as error:
        log.warning("could not restore GRUB's next_entry: %s", error.message)


def soft_reboot(
    plan: Plan, effects: Effects, *, handed_over: Callable[[], None] | None = None
) -> None:
    """Write the downtime record, then ask systemd for a soft reboot. Nothing is loaded:
    userspace restarts on the running kernel."""
    refuse_on_errors(plan.errors)
    with _held():
        record = records.write_pending(effects, plan)
        try:
            _held.act_on_pending()
            initsystem.request_soft_reboot(effects)
        except BaseException:
            # Nothing happened: a pending soft record would be judged against the next reboot.
            records.discard(effects, record)
            raise
        _held.drop_pending()
        if handed_over is not None:
            handed_over()


def cold_reboot(
    effects: Effects,
    method: RebootMethod,
    *,
    record: Plan | None = None,
    handed_over: Callable[[], None] | None = None,
) -> list[str]:
    """Unload, disarm every hook that could turn this reboot into a kexec, reboot. Returns
    steps. With *record*, a pending record of kind cold is written first. A failure or a
    signal before the hand-over removes the markers again, so that they cannot silently
    turn a later reboot cold."""
    steps = []
    info = read_system_info(effects.root)
    markers: list[str] = []
    with _held():
        try:
            if info.kexec_loaded is not False:
                unload(effects)
                steps.append("unloaded the kexec kernel")
            markers.append(initsystem.COLD_MARKER)
            effects.write_file(initsystem.COLD_MARKER, "cold reboot requested by fastreboot\n")
            debian = read_debian_kexec(effects.root)
            # kexec-load removes the marker only when it gets that far (LOAD_KEXEC=true);
            # created otherwise, it would linger and silently turn a later reboot cold.
            if effects.root.exists("/etc/init.d/kexec-load") and debian and debian.load_kexec:
                markers.append(initsystem.NO_KEXEC_FILE)
                effects.write_file(initsystem.NO_KEXEC_FILE, "")
                steps.append(
                    f"created {initsystem.NO_KEXEC_FILE} so Debian's kexec-load does not load"
                    " a kernel"
                )
            if record is not None:
                records.write_pending(effects, record)
            _held.act_on_pending()
            initsystem.request_cold_reboot(effects, method)
        except BaseException:
            for marker in markers:
                effects.remove_file(marker)
            raise
        _held.drop_pending()
        if handed_over is not None:
            handed_over()
    steps.append("requested a firmware reboot")
    return steps
