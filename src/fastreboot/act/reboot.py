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
from collections.abc import Iterator, Sequence
from dataclasses import replace

from fastreboot.act import initsystem, records
from fastreboot.act.effects import Effects
from fastreboot.config.debian import read_debian_kexec
from fastreboot.config.own import LoadMethod, RebootMethod
from fastreboot.errors import CommandError, KexecError, KexecRefused, PreflightError
from fastreboot.plan import staged
from fastreboot.plan.checks import Check
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


def load(plan: Plan, effects: Effects, *, origin: LoadOrigin = LoadOrigin.COMMAND) -> LoadMethod:
    """Load the plan's kernel, unless fastreboot already loaded exactly it in this boot."""
    refuse_on_errors(plan.errors)
    if plan.already_loaded is not None:
        if plan.already_loaded.origin != origin:
            # The same kernel, now asked for by a command: no automatic refresh replaces it.
            effects.write_file(
                staged.STATE_FILE, staged.to_text(replace(plan.already_loaded, origin=origin))
            )
        return plan.already_loaded.method
    # A failed load leaves the previous kernel (or none): the state file stays true.
    used = load_kernel(
        effects,
        plan.kernel,
        plan.initrds,
        plan.cmdline,
        plan.load_method,
        fallback=plan.load_fallback,
    )
    _verify_loaded(effects, crash=False)
    loaded = staged.describe_load(
        effects.root, plan.kernel, plan.initrds, plan.cmdline, used, origin=origin
    )
    effects.write_file(staged.STATE_FILE, staged.to_text(loaded))
    return used


def unload(effects: Effects, *, crash: bool = False) -> None:
    effects.kexec_unload(crash=crash)
    if not crash:
        effects.remove_file(staged.STATE_FILE)


@contextlib.contextmanager
def _interrupts_held() -> Iterator[None]:
    """Hold Ctrl-C until the block has ended, then raise it: a load in progress cannot be
    cut short, and one cut short by an exception would leave a kernel nobody unloads.
    Only Python's own handler is replaced: an ignored SIGINT (a background job) stays
    ignored, and a handler someone installed stays theirs."""
    hold = (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    )
    if not hold:
        yield
        return
    interrupted: list[int] = []
    signal.signal(signal.SIGINT, lambda number, _frame: interrupted.append(number))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if interrupted:
        raise KeyboardInterrupt


def fast_reboot(plan: Plan, effects: Effects) -> None:
    """Load, write the downtime record, hand over to the init system. If anything fails
    before the jump, unloads what this call loaded (a kernel that was already loaded stays).
    Nothing that changes the machine happens before the load has succeeded."""
    loaded = False
    try:
        with _interrupts_held():
            load(plan, effects)
            loaded = plan.already_loaded is None
        if plan.consumed_next_entry and plan.grubenv:
            editor = (
                effects.which("grub-editenv") or effects.which("grub2-editenv") or "grub-editenv"
            )
            effects.run([editor, plan.grubenv, "unset", "next_entry"])
        records.write_pending(effects, plan)
        initsystem.request_kexec_reboot(effects, plan.reboot_method)
    except BaseException:
        if loaded:
            unload(effects)
        raise


def soft_reboot(plan: Plan, effects: Effects) -> None:
    """Write the downtime record, then ask systemd for a soft reboot. Nothing is loaded:
    userspace restarts on the running kernel."""
    refuse_on_errors(plan.errors)
    record = records.write_pending(effects, plan)
    try:
        initsystem.request_soft_reboot(effects)
    except BaseException:
        # Nothing happened: a pending soft record would be judged against the next reboot.
        records.discard(effects, record)
        raise


def cold_reboot(
    effects: Effects, method: RebootMethod, *, record: Plan | None = None
) -> list[str]:
    """Unload, disarm every hook that could turn this reboot into a kexec, reboot. Returns steps.
    With *record*, a pending record of kind cold is written first."""
    steps = []
    info = read_system_info(effects.root)
    if info.kexec_loaded is not False:
        unload(effects)
        steps.append("unloaded the kexec kernel")
    effects.write_file(initsystem.COLD_MARKER, "cold reboot requested by fastreboot\n")
    debian = read_debian_kexec(effects.root)
    # kexec-load removes the marker only when it gets that far (LOAD_KEXEC=true); created
    # otherwise, it would linger and silently turn a later reboot cold.
    if effects.root.exists("/etc/init.d/kexec-load") and debian and debian.load_kexec:
        effects.write_file(initsystem.NO_KEXEC_FILE, "")
        steps.append(
            f"created {initsystem.NO_KEXEC_FILE} so Debian's kexec-load does not load a kernel"
        )
    if record is not None:
        records.write_pending(effects, record)
    initsystem.request_cold_reboot(effects, method)
    steps.append("requested a firmware reboot")
    return steps
