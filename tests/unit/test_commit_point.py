"""The commit point: before it a signal cancels and nothing changes; after it the command
finishes whatever happens to its terminal, and its outcome is in the system log."""

from __future__ import annotations

import errno
import io
import os
import pty
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from fastreboot.act.effects import Severity
from fastreboot.cli import main
from tests.unit.fakes import RecordingEffects
from tests.unit.sysroots import NEW, debian_systemd


@pytest.fixture
def machine(tmp_path: Path) -> Path:
    debian_systemd(tmp_path)
    return tmp_path


def _signal_self(signum: int) -> None:
    # Delivered to this (the main) thread; Python runs the handler at the next bytecode.
    os.kill(os.getpid(), signum)


class SignalAt(RecordingEffects):
    """Sends a signal to fastreboot at one step: 'load' (during the load), 'record' (between
    the load and the init system's request), 'request' (as the init system takes it)."""

    def __init__(self, root: Path, *, at: str, signum: int) -> None:
        super().__init__(root)
        self.at, self.signum = at, signum

    def kexec_file_load(
        self, kernel: str, initrds: Sequence[str], cmdline: str, *, crash: bool
    ) -> None:
        if self.at == "load":
            _signal_self(self.signum)
        super().kexec_file_load(kernel, initrds, cmdline, crash=crash)

    def write_file(self, path: str, text: str, *, mode: int = 0o644) -> None:
        if self.at == "record" and "/records/" in path:
            _signal_self(self.signum)
        super().write_file(path, text, mode=mode)

    def run(
        self, argv: Sequence[str], *, env: Mapping[str, str] | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = super().run(argv, env=env, check=check)
        if self.at == "request" and list(argv) == ["systemctl", "--no-block", "kexec"]:
            _signal_self(self.signum)
        return result


class HangUpAtPrompt(io.StringIO):
    """The terminal goes away while the question is asked: SIGHUP, then end of input."""

    def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
        _signal_self(signal.SIGHUP)
        return ""


class DeadTerminal(io.StringIO):
    """A stdout or stderr whose terminal has hung up: every write fails with EIO."""

    def write(self, text: str) -> int:
        raise OSError(errno.EIO, os.strerror(errno.EIO))


def _reboot(
    root: Path, fake: RecordingEffects, *extra: str, stdin: io.StringIO | None = None
) -> int:
    return main(
        ["reboot", "--root", str(root), *extra],
        effects_factory=lambda _root: fake,
        stdin=stdin or io.StringIO(""),
    )


def _loaded(root: Path) -> str:
    return (root / "sys/kernel/kexec_loaded").read_text().strip()


def _log(fake: RecordingEffects) -> str:
    return "\n".join(f"{severity}: {message}" for severity, message in fake.events)


def test_hang_up_at_the_question_cancels_and_changes_nothing(
    machine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = signal.getsignal(signal.SIGHUP)  # SIG_IGN when the suite runs under nohup
    fake = RecordingEffects(machine)
    assert _reboot(machine, fake, stdin=HangUpAtPrompt()) == 128 + signal.SIGHUP
    assert fake.names() == ["prefetch"]  # a page-cache hint, nothing on the machine
    assert _loaded(machine) == "0"
    assert "cancelled by SIGHUP: nothing was changed" in capsys.readouterr().err
    assert "cancelled by SIGHUP" in _log(fake)
    assert signal.getsignal(signal.SIGHUP) is before  # the run restores what it changed


@pytest.mark.parametrize("at", ["load", "record", "request"])
def test_hang_up_after_yes_is_ignored_and_the_reboot_happens(machine: Path, at: str) -> None:
    before = signal.getsignal(signal.SIGHUP)
    fake = SignalAt(machine, at=at, signum=signal.SIGHUP)
    assert _reboot(machine, fake, "--yes") == 0
    assert fake.names()[-1] == "run systemctl --no-block kexec"
    assert "kexec_unload" not in fake.names()
    assert _loaded(machine) == "1"
    assert signal.getsignal(signal.SIGHUP) is before  # the run restores what it changed


@pytest.mark.parametrize("at", ["load", "record"])
def test_sigterm_before_the_request_unloads_and_says_so(
    machine: Path, at: str, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = SignalAt(machine, at=at, signum=signal.SIGTERM)
    assert _reboot(machine, fake, "--yes") == 128 + signal.SIGTERM
    assert "run systemctl --no-block kexec" not in fake.names()
    assert fake.names()[-2:] == ["kexec_unload", "remove_file"]
    assert _loaded(machine) == "0"
    err = capsys.readouterr().err
    assert "stopped by SIGTERM before the reboot" in err
    assert "Traceback" not in err
    assert (Severity.WARNING, f"fastreboot reboot --root {machine} --yes: stopped by SIGTERM "
            "before the reboot; nothing this command loaded stays loaded") in fake.events


def test_sigterm_after_the_init_system_took_the_reboot_is_its_own(machine: Path) -> None:
    # systemd sends every process SIGTERM at shutdown: that must not unload the kernel.
    fake = SignalAt(machine, at="request", signum=signal.SIGTERM)
    assert _reboot(machine, fake, "--yes") == 0
    assert "kexec_unload" not in fake.names()
    assert _loaded(machine) == "1"


def test_a_dead_terminal_after_yes_does_not_stop_the_reboot(machine: Path) -> None:
    fake = RecordingEffects(machine)
    code = None

    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = DeadTerminal(), DeadTerminal()
    try:
        code = _reboot(machine, fake, "--yes")
    finally:
        sys.stdout, sys.stderr = saved
    assert code == 0
    assert fake.names()[-1] == "run systemctl --no-block kexec"
    log = _log(fake)
    assert "asked by uid" in log
    assert f"plan: Linux {NEW} from /boot/vmlinuz-{NEW}" in log
    assert f"fast reboot into Linux {NEW} started" in log


def test_a_dead_terminal_before_the_answer_cancels(machine: Path) -> None:

    fake = RecordingEffects(machine)
    saved = sys.stdout
    sys.stdout = DeadTerminal()
    try:
        code = _reboot(machine, fake, stdin=io.StringIO("y\n"))
    finally:
        sys.stdout = saved
    assert code == 1
    assert fake.calls == []  # the plan could not be shown: nothing was asked, nothing done


def test_the_journal_names_who_asked(machine: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSH_CONNECTION", "192.0.2.7 52144 192.0.2.1 22")
    monkeypatch.setenv("SUDO_USER", "alice")
    fake = RecordingEffects(machine)
    assert _reboot(machine, fake, "--yes") == 0
    first = fake.events[0]
    assert first[0] is Severity.NOTICE
    assert f"fastreboot reboot --root {machine} --yes: asked by uid {os.getuid()}" in first[1]
    assert "via sudo from alice" in first[1] and "SSH from 192.0.2.7 port 52144" in first[1]


def test_a_failure_after_the_commit_point_is_logged(machine: Path) -> None:
    fake = RecordingEffects(machine, fail_commands=["systemctl"])
    assert _reboot(machine, fake, "--yes") == 8
    assert any(
        severity is Severity.ERROR and "the init system refused the reboot" in message
        for severity, message in fake.events
    )


class SignalOnSecondMarker(RecordingEffects):
    def write_file(self, path: str, text: str, *, mode: int = 0o644) -> None:
        super().write_file(path, text, mode=mode)
        _signal_self(signal.SIGTERM)


def test_cold_stopped_before_the_request_leaves_no_marker(machine: Path) -> None:
    fake = SignalOnSecondMarker(machine)
    code = main(
        ["cold", "--yes", "--root", str(machine)], effects_factory=lambda _r: fake,
        stdin=io.StringIO(""),
    )
    assert code == 128 + signal.SIGTERM
    assert not (machine / "run/fastreboot/cold").exists()
    assert not any(name.startswith("run systemctl") for name in fake.names())


# ------------------------------------------------------------------ output and errors


class Broken(io.StringIO):
    def __init__(self, number: int) -> None:
        super().__init__()
        self.number = number

    def write(self, text: str) -> int:
        raise OSError(self.number, os.strerror(self.number))


@pytest.mark.parametrize(
    ("number", "code", "message"),
    [
        (errno.EPIPE, 128 + signal.SIGPIPE, ""),
        (errno.ENOSPC, 1, "fastreboot: cannot write to standard output: No space left on device"),
    ],
)
def test_output_that_cannot_be_written_is_one_line_or_silence(
    machine: Path, number: int, code: int, message: str, capsys: pytest.CaptureFixture[str]
) -> None:

    saved = sys.stdout
    sys.stdout = Broken(number)
    try:
        result = main(["plan", "--json", "--root", str(machine)])
    finally:
        sys.stdout = saved
    assert result == code
    assert capsys.readouterr().err.strip() == message


def test_an_os_error_while_reading_is_one_line_naming_the_file(
    machine: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from fastreboot.cli import commands

    def unreadable(*_args: object, **_kwargs: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", "/boot/grub/grub.cfg")

    monkeypatch.setattr(commands, "make_plan", unreadable)
    assert main(["plan", "--root", str(machine)]) == 1
    assert capsys.readouterr().err == "fastreboot: /boot/grub/grub.cfg: Permission denied\n"


def test_a_very_long_kernel_release_is_no_traceback(
    machine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (machine / "proc/sys/kernel/osrelease").write_text("6" * 300 + "\n")
    (machine / "etc/sysconfig").mkdir(parents=True)
    (machine / "etc/sysconfig/kdump").write_text('KDUMP_COMMANDLINE_APPEND="nr_cpus=1"\n')
    for command in (["kdump", "status"], ["status"], ["plan"], ["kernels"]):
        assert main([*command, "--root", str(machine)]) in (0, 4, 5)
    assert "Traceback" not in capsys.readouterr().err


def test_control_characters_from_files_stay_on_one_line(
    machine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", "--root", str(machine), "--kernel", "/boot/vmlinuz-x\x85y\nz"]) == 4
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "\\x85" in err


def _fastreboot_process(machine: Path, stdout: int) -> subprocess.CompletedProcess[str]:
    src = Path(__file__).resolve().parents[2] / "src"
    return subprocess.run(
        [sys.executable, "-m", "fastreboot", "plan", "--json", "--root", str(machine)],
        env={**os.environ, "PYTHONPATH": str(src)},
        stdout=stdout, stderr=subprocess.PIPE, text=True, check=False,
    )


def test_a_real_process_with_a_full_disk_says_so_once(machine: Path) -> None:
    # In a real process the interpreter flushes stdout once more at exit: a stream that is
    # gone must not turn the status into 120 or print a second error.
    with open("/dev/full", "w") as full:
        result = _fastreboot_process(machine, full.fileno())
    assert (result.returncode, result.stderr) == (
        1, "fastreboot: cannot write to standard output: No space left on device\n"
    )


def test_a_real_process_into_a_closed_pipe_is_quiet(machine: Path) -> None:
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first byte, as `| head -0` would
    try:
        result = _fastreboot_process(machine, write)
    finally:
        os.close(write)
    assert (result.returncode, result.stderr) == (128 + signal.SIGPIPE, "")


def test_a_real_process_whose_terminal_hangs_up_at_the_question(machine: Path) -> None:
    # `cold` asks before it builds anything that acts, so no effects are needed here. The
    # terminal is closed at the question, as an SSH session that drops: SIGHUP, then EIO
    # on every write, also on the interpreter's last flush at exit.
    src = Path(__file__).resolve().parents[2] / "src"
    pid, fd = pty.fork()
    if pid == 0:  # the child: a session of its own with the pty as its terminal
        os.environ["PYTHONPATH"] = str(src)
        argv = [sys.executable, "-m", "fastreboot", "cold", "--root", str(machine)]
        os.execv(sys.executable, argv)  # noqa: S606 (an argv list, no shell: what is wanted)
    seen = b""
    while b"[y/N]" not in seen:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(fd)
    status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    assert b"[y/N]" in seen, seen
    # SIGHUP (129) or, when the read fails before the signal is handled, no answer (10):
    # which comes first is the kernel's race; either way nothing was done.
    assert status in (128 + signal.SIGHUP, 10)
    assert not (machine / "run/fastreboot/cold").exists()


class SignalAgainWhileStopping(SignalAt):
    def log_event(self, message: str, *, severity: Severity) -> None:
        if "stopped by" in message:  # main is reporting the first signal
            _signal_self(signal.SIGHUP)  # the terminal's second hang-up signal
            _signal_self(signal.SIGTERM)
        super().log_event(message, severity=severity)


def test_a_repeated_signal_does_not_interrupt_the_cleanup(
    machine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = SignalAgainWhileStopping(machine, at="record", signum=signal.SIGTERM)
    assert _reboot(machine, fake, "--yes") == 128 + signal.SIGTERM
    assert fake.names()[-2:] == ["kexec_unload", "remove_file"]
    assert _loaded(machine) == "0"
    err = capsys.readouterr().err
    assert err.count("fastreboot: ") == 1 and "Traceback" not in err, err


def test_systemctl_stopped_by_the_shutdown_it_started_is_a_taken_request(machine: Path) -> None:
    # systemd stops the session systemctl runs in (SIGTERM) once the kexec has begun:
    # systemctl then fails, yet the request was taken, and the kernel must stay loaded.
    fake = RecordingEffects(
        machine, fail_commands=["systemctl"],
        stdout={"systemctl is-system-running": "stopping\n"},
    )
    assert _reboot(machine, fake, "--yes") == 0
    assert fake.names()[-2:] == [
        "run systemctl --no-block kexec", "run systemctl is-system-running"
    ]
    assert _loaded(machine) == "1"


def test_systemctl_that_fails_while_the_system_runs_is_refused(machine: Path) -> None:
    fake = RecordingEffects(
        machine, fail_commands=["systemctl"],
        stdout={"systemctl is-system-running": "running\n"},
    )
    assert _reboot(machine, fake, "--yes") == 8
    assert _loaded(machine) == "0"


class SystemctlKilledByTheShutdown(RecordingEffects):
    def run(
        self, argv: Sequence[str], *, env: Mapping[str, str] | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = super().run(argv, env=env, check=check)
        if list(argv) == ["systemctl", "--no-block", "kexec"]:
            return subprocess.CompletedProcess(list(argv), -signal.SIGTERM, "", "")
        if argv[:2] == ["systemctl", "is-system-running"]:
            return subprocess.CompletedProcess(list(argv), 1, "running\n", "")
        return result


def test_systemctl_killed_by_a_signal_is_a_taken_request(machine: Path) -> None:
    # The session it ran in was stopped by the shutdown: the kernel must stay loaded.
    fake = SystemctlKilledByTheShutdown(machine)
    assert _reboot(machine, fake, "--yes") == 0
    assert "kexec_unload" not in fake.names()
    assert _loaded(machine) == "1"
