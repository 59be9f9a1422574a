"""The CLI against fake sysroots and recording effects: output, prompts, exit codes, commands."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from fastreboot.cli.prompt import FAST_PROMPT
from fastreboot.sysroot import SysRoot
from tests.unit.cli_helpers import run_cli
from tests.unit.fakes import RecordingEffects
from tests.unit.staging import REBOOT_JOBS
from tests.unit.sysroots import NEW, OLD, Sysroot, debian_systemd, debian_sysv


@pytest.fixture
def machine(tmp_path: Path) -> Path:
    debian_systemd(tmp_path)
    return tmp_path


def test_plan_json_global_options_before_or_after(
    machine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["plan", "--root", str(machine), "--json"]) == 0
    after = json.loads(capsys.readouterr().out)
    assert run_cli(["--root", str(machine), "--json", "plan"]) == 0
    before = json.loads(capsys.readouterr().out)
    assert after == before
    assert after["kernel"] == f"/boot/vmlinuz-{NEW}"


def test_plan_human_output(machine: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["plan", "--root", str(machine)]) == 0
    out = capsys.readouterr().out
    assert f"kernel:   /boot/vmlinuz-{NEW} (Linux {NEW})" in out
    assert "reboot:   systemd (systemctl kexec)" in out


def test_reboot_answer_no_does_nothing(machine: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake = RecordingEffects(machine)
    assert run_cli(["reboot", "--root", str(machine)], fake, answer="n\n") == 10
    captured = capsys.readouterr()
    assert FAST_PROMPT in captured.err
    assert "cancelled" in captured.err
    # Only the page-cache hint, made before the question: nothing on the machine changed.
    assert fake.calls == [("prefetch", (f"/boot/vmlinuz-{NEW}", f"/boot/initrd.img-{NEW}"))]
    assert (machine / "sys/kernel/kexec_loaded").read_text().strip() == "0"


def test_reboot_with_no_stdin_is_no(machine: Path) -> None:
    fake = RecordingEffects(machine)
    assert run_cli(["reboot", "--root", str(machine)], fake, answer="") == 10
    assert fake.names() == ["prefetch"]


def test_reboot_yes_loads_then_asks_systemd(machine: Path) -> None:
    fake = RecordingEffects(machine)
    assert (
        run_cli(["reboot", "--root", str(machine), "--append", "marker=1"], fake, answer="y\n") == 0
    )
    files = (f"/boot/vmlinuz-{NEW}", f"/boot/initrd.img-{NEW}")
    assert fake.calls[:2] == [
        ("prefetch", files),
        (
            "kexec_file_load",
            files[0],
            files[1:],
            "root=UUID=0b5f3c5e-1111-4a4a-9c9c-123456789abc ro quiet marker=1",
            False,
        ),
    ]
    assert fake.names()[-1] == "run systemctl --no-block kexec"
    assert "write_file" in fake.names()  # the downtime record, before the jump


def test_reboot_whose_load_fails_changes_nothing(
    machine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The load runs on a second thread: its error still ends the command, before any
    # record, init system call or unload.
    fake = RecordingEffects(machine, fail_load="rejected")
    assert run_cli(["reboot", "--yes", "--root", str(machine)], fake) == 7
    assert "lockdown" in capsys.readouterr().err
    assert fake.names() == ["prefetch", "kexec_file_load"]
    assert not (machine / "var/lib/fastreboot/records").exists()


class InterruptedDuringLoad(RecordingEffects):
    """Ctrl-C reaches fastreboot while the kernel is still loading the image."""

    def kexec_file_load(
        self, kernel: str, initrds: Sequence[str], cmdline: str, *, crash: bool
    ) -> None:
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
        time.sleep(0.2)  # the main thread handles the interrupt while this call goes on
        super().kexec_file_load(kernel, initrds, cmdline, crash=crash)


def test_interrupted_reboot_waits_for_the_load_and_unloads(machine: Path) -> None:
    from fastreboot.act import reboot as actions
    from fastreboot.plan.plan import Options, make_plan

    fake = InterruptedDuringLoad(machine)
    # Python's own Ctrl-C handler, as in a terminal: a test run started in the background
    # (CI under `&`) inherits SIGINT ignored.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            actions.fast_reboot(make_plan(SysRoot(machine), Options()), fake)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert fake.names() == ["kexec_file_load", "write_file", "kexec_unload", "remove_file"]
    assert (machine / "sys/kernel/kexec_loaded").read_text().strip() == "0"
    assert not (machine / "var/lib/fastreboot/records").exists()


def test_an_ignored_sigint_stays_ignored_during_the_load(machine: Path) -> None:
    # A reboot started as a background job (SIGINT ignored) is not cancelled by one.
    from fastreboot.act import reboot as actions
    from fastreboot.plan.plan import Options, make_plan

    fake = InterruptedDuringLoad(machine)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        actions.fast_reboot(make_plan(SysRoot(machine), Options()), fake)
    except KeyboardInterrupt:
        pytest.fail("an ignored SIGINT cancelled the reboot")
    finally:
        signal.signal(signal.SIGINT, previous)
    assert fake.names()[-1] == "run systemctl --no-block kexec"
    assert signal.getsignal(signal.SIGINT) is previous


def test_reboot_on_sysv_goes_through_runlevel_6(tmp_path: Path) -> None:
    debian_sysv(tmp_path)
    fake = RecordingEffects(tmp_path)
    assert run_cli(["reboot", "--yes", "--root", str(tmp_path)], fake) == 0
    assert fake.names()[-1] == "run telinit 6"


def test_reboot_force_syncs_then_jumps(machine: Path) -> None:
    fake = RecordingEffects(machine)
    # A real jump never returns; the fake's does, which is the "jump failed" case:
    # fastreboot must then unload again and say so.
    assert run_cli(["reboot", "-f", "--yes", "--root", str(machine)], fake) == 8
    assert fake.names()[-4:] == ["sync", "jump", "kexec_unload", "remove_file"]
    assert "run systemctl --no-block kexec" not in fake.names()


def test_failed_init_request_unloads_again(
    machine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = RecordingEffects(machine, fail_commands=["systemctl"])
    assert run_cli(["reboot", "--yes", "--root", str(machine)], fake) == 8
    assert fake.names()[-2:] == ["kexec_unload", "remove_file"]
    assert fake.calls[-1] == ("remove_file", "/run/fastreboot/loaded.json")
    assert (machine / "sys/kernel/kexec_loaded").read_text().strip() == "0"
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("fastreboot: the init system refused")


def test_dry_run_changes_nothing(machine: Path) -> None:
    fake = RecordingEffects(machine)
    assert run_cli(["reboot", "--dry-run", "--yes", "--root", str(machine)], fake) == 0
    assert fake.calls == []


def test_preflight_error_blocks_load(machine: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (machine / f"boot/initrd.img-{NEW}").unlink()
    fake = RecordingEffects(machine)
    assert run_cli(["reboot", "--yes", "--root", str(machine)], fake) == 5
    assert fake.calls == []
    err = capsys.readouterr().err
    assert f"initrd /boot/initrd.img-{NEW} does not exist" in err


def test_no_file_interface_and_no_kexec_tools_is_exit_7(
    machine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = RecordingEffects(machine, commands=["systemctl"], fail_load="unsupported")
    assert run_cli(["load", "--root", str(machine)], fake) == 7
    assert "no support" in capsys.readouterr().err
    assert fake.names() == ["kexec_file_load"]


def test_load_rejected_is_exit_7_and_nothing_loaded(
    machine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = RecordingEffects(machine, commands=["kexec"], fail_load="rejected")
    assert run_cli(["load", "--root", str(machine)], fake) == 7
    assert "lockdown" in capsys.readouterr().err
    assert (machine / "sys/kernel/kexec_loaded").read_text().strip() == "0"


def test_grub_next_entry_is_cleared_before_the_jump(machine: Path) -> None:
    fake = RecordingEffects(machine)
    from fastreboot.act import reboot as actions
    from fastreboot.plan.plan import Options, make_plan

    plan = make_plan(SysRoot(machine), Options())
    one_shot = dataclasses.replace(
        plan, consumed_next_entry="1>2", grubenv="/boot/grub/grubenv"
    )
    actions.fast_reboot(one_shot, fake)
    assert "run /usr/sbin/grub-editenv /boot/grub/grubenv unset next_entry" in fake.names()


def with_debian_kexec_load(machine: Path, load_kexec: str) -> None:
    Sysroot(machine).write("/etc/init.d/kexec-load", "#!/bin/sh\n", mode=0o755)
    Sysroot(machine).write("/etc/default/kexec", f"LOAD_KEXEC={load_kexec}\n")


def test_cold_unloads_disarms_debian_and_skips_auto_kexec(machine: Path) -> None:
    (machine / "sys/kernel/kexec_loaded").write_text("1\n")
    with_debian_kexec_load(machine, "true")
    fake = RecordingEffects(machine)
    assert run_cli(["cold", "--yes", "--root", str(machine)], fake) == 0
    assert fake.names() == [
        "kexec_unload",
        "remove_file",
        "write_file",
        "write_file",
        "run systemctl --no-block reboot",
    ]
    assert fake.calls[-1][2] == {"SYSTEMCTL_SKIP_AUTO_KEXEC": "1"}
    assert (machine / "no-kexec-reboot").exists()


def test_cold_leaves_no_marker_when_debian_would_not_load(machine: Path) -> None:
    with_debian_kexec_load(machine, "false")
    fake = RecordingEffects(machine)
    assert run_cli(["cold", "--yes", "--root", str(machine)], fake) == 0
    assert not (machine / "no-kexec-reboot").exists()
    assert fake.names()[-1] == "run systemctl --no-block reboot"


def test_cold_answer_no(machine: Path) -> None:
    fake = RecordingEffects(machine)
    assert run_cli(["cold", "--root", str(machine)], fake, answer="no\n") == 10
    assert fake.calls == []


def test_changing_commands_refuse_a_foreign_root_on_the_host(
    machine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # No fake: HostEffects is asked for, and refuses (test-suite lock, then --root rule).
    assert run_cli(["load", "--root", str(machine)]) != 0
    assert "refusing" in capsys.readouterr().err


def test_kernels_lists_default_and_running(
    machine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["kernels", "--json", "--root", str(machine)]) == 0
    rows = json.loads(capsys.readouterr().out)
    default = [r for r in rows if r["default"]]
    running = [r for r in rows if r["running"]]
    assert default and default[0]["version"] == NEW
    assert running and running[0]["version"] == OLD


def test_check_exit_codes(machine: Path) -> None:
    assert run_cli(["check", "--root", str(machine)]) == 0
    (machine / "proc/sys/kernel/kexec_load_disabled").write_text("1\n")
    assert run_cli(["check", "--root", str(machine)]) == 5


def test_status_json(machine: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["status", "--json", "--root", str(machine)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["init_system"] == "systemd"
    assert report["systemd_version"] == 252
    assert report["reboot_would"] == "firmware reboot"


def test_status_says_when_nothing_completes_the_records(
    machine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["reboot", "--yes", "--root", str(machine)], RecordingEffects(machine)) == 0
    capsys.readouterr()
    assert run_cli(["status", "--root", str(machine)]) == 0
    assert "`fastreboot setup` installs fastreboot-record" in capsys.readouterr().out
    assert run_cli(["setup", "--root", str(machine)], RecordingEffects(machine)) == 0
    capsys.readouterr()
    assert run_cli(["status", "--json", "--root", str(machine)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["record_unit_installed"] is True and report["records"], report
    assert run_cli(["status", "--root", str(machine)]) == 0
    assert "fastreboot setup" not in capsys.readouterr().out


@pytest.fixture
def system_bus(machine: Path) -> Iterator[None]:
    """A listening D-Bus system bus socket in the fake machine (nothing answers on it)."""
    path = machine / "run/dbus/system_bus_socket"
    path.parent.mkdir(parents=True)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
        server.listen()
        yield


@pytest.mark.parametrize(
    ("systemd", "enabled", "bus", "would"),
    [
        # systemd 252 (seen in the guest, with and without the system bus, VM scenario 10):
        # `reboot` kexecs, `systemctl reboot` does not.
        ("252", False, False, "kexec into the loaded kernel on `reboot`; `systemctl reboot`"),
        ("252", False, True, "kexec into the loaded kernel on `reboot`; `systemctl reboot`"),
        ("252", True, False, "kexec into the loaded kernel (fastreboot auto-kexec hook)"),
        # systemd 257 (seen in the trixie guest): both kexec through logind, neither without
        # the system bus, unless fastreboot's hook jumps.
        ("257", False, True, "kexec into the loaded kernel (systemd 257 kexecs a loaded kernel"),
        ("257", False, False, "firmware reboot: systemd 257 kexecs a loaded kernel on reboot"),
        ("257", True, False, "kexec into the loaded kernel (fastreboot auto-kexec hook)"),
        (None, False, True, "kexec into the loaded kernel on `systemctl kexec`; whether"),
    ],
)
def test_status_with_a_kernel_loaded(
    machine: Path,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
    *,
    systemd: str | None,
    enabled: bool,
    bus: bool,
    would: str,
) -> None:
    library = machine / "usr/lib/systemd/libsystemd-shared-252.so"
    if systemd is None:
        library.unlink()
    else:
        library.rename(library.with_name(f"libsystemd-shared-{systemd}.so"))
    if bus:
        request.getfixturevalue("system_bus")
    (machine / "sys/kernel/kexec_loaded").write_text("1\n")
    if enabled:
        assert run_cli(["enable", "--root", str(machine)], RecordingEffects(machine)) == 0
    capsys.readouterr()
    assert run_cli(["status", "--json", "--root", str(machine)]) == 0
    assert json.loads(capsys.readouterr().out)["reboot_would"].startswith(would)


def test_status_reads_the_systemd_version_from_debian_13s_multiarch_directory(
    machine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    multiarch = machine / "usr/lib/x86_64-linux-gnu/systemd"
    multiarch.mkdir(parents=True)
    (machine / "usr/lib/systemd/libsystemd-shared-252.so").unlink()
    (multiarch / "libsystemd-shared-257.so").write_bytes(b"")
    assert run_cli(["status", "--json", "--root", str(machine)]) == 0
    assert json.loads(capsys.readouterr().out)["systemd_version"] == 257


def test_config_with_shell_code_is_exit_3_naming_file_and_line(
    machine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (machine / "etc/default").mkdir(parents=True)
    (machine / "etc/default/kexec").write_text('LOAD_KEXEC=true\nAPPEND="$(cat /proc/cmdline)"\n')
    fake = RecordingEffects(machine)
    assert run_cli(["reboot", "--yes", "--root", str(machine)], fake) == 3
    err = capsys.readouterr().err
    assert "/etc/default/kexec:2" in err
    assert fake.calls == []


def test_debug_shows_the_traceback(machine: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["plan", "--root", str(machine), "--kernel", "9.9"]) == 4
    assert "Traceback" not in capsys.readouterr().err
    assert run_cli(["--debug", "plan", "--root", str(machine), "--kernel", "9.9"]) == 4
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "SelectionError" in err
    assert err.strip().splitlines()[-1].startswith("fastreboot: no kernel version 9.9")


def test_debug_logs_the_commands_run(capsys: pytest.CaptureFixture[str]) -> None:
    from fastreboot.act.run import run
    from fastreboot.cli.main import _log_to_stderr

    _log_to_stderr(debug=False)
    run(["true", "a b"])
    assert capsys.readouterr().err == ""
    _log_to_stderr(debug=True)
    run(["true", "a b"])
    assert capsys.readouterr().err == "+ true 'a b'\n"


def test_usage_error_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["frobnicate"]) == 2
    assert "invalid choice: 'frobnicate' (choose from 'plan', 'kernels'," in capsys.readouterr().err


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(f"\n    {name}" in out for name in ("plan", "reboot", "record-boot", "kdump"))
    assert run_cli(["--root", "/x", "reboot", "--help"]) == 0
    assert "--dry-run" in capsys.readouterr().out


def test_global_options_go_before_or_after_the_command() -> None:
    from fastreboot.cli import build_parser

    args = build_parser().parse_args(
        ["--root=/x", "--debug", "reboot", "-f", "--dry-run", "--root", "/y"]
    )
    assert (args.root, args.debug, args.force, args.dry_run) == (Path("/y"), True, True, True)
    args = build_parser().parse_args(["--root", "plan", "kernels"])  # "plan" is the root here
    assert (args.command, args.root) == ("kernels", Path("plan"))
    args = build_parser().parse_args(["--yes", "kdump", "status"])
    assert (args.yes, args.action) == (True, "status")


def test_installed_console_script_runs_in_a_subprocess(machine: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    result = subprocess.run(
        [sys.executable, "-m", "fastreboot", "plan", "--json", "--root", str(machine)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["kernel_version"] == NEW
    # and the lock reaches subprocesses too: a changing command cannot act on the host
    result = subprocess.run(
        [sys.executable, "-m", "fastreboot", "unload"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode != 0 and "refusing to act on this machine" in result.stderr


def test_auto_load_acts_only_on_a_plain_reboot(machine: Path) -> None:
    poweroff = RecordingEffects(
        machine, stdout={"systemctl list-jobs": "9 poweroff.target start waiting\n"}
    )
    assert (
        run_cli(["load", "--yes", "--record", "--on-reboot", "--root", str(machine)], poweroff) == 0
    )
    assert "kexec_file_load" not in poweroff.names()

    reboot = RecordingEffects(machine, stdout={"systemctl list-jobs": REBOOT_JOBS})
    assert (
        run_cli(["load", "--yes", "--record", "--on-reboot", "--root", str(machine)], reboot) == 0
    )
    assert "kexec_file_load" in reboot.names()
    assert any(c[0] == "write_file" and "records" in str(c[1]) for c in reboot.calls)


def test_auto_load_keeps_an_already_loaded_kernel_and_steps_aside_for_cold(machine: Path) -> None:
    (machine / "sys/kernel/kexec_loaded").write_text("1\n")
    fake = RecordingEffects(machine, stdout={"systemctl list-jobs": REBOOT_JOBS})
    assert run_cli(["load", "--on-reboot", "--root", str(machine)], fake) == 0
    assert "kexec_file_load" not in fake.names()
    (machine / "sys/kernel/kexec_loaded").write_text("0\n")
    (machine / "run/fastreboot").mkdir(parents=True)
    (machine / "run/fastreboot/cold").write_text("")
    assert run_cli(["load", "--on-reboot", "--root", str(machine)], fake) == 0
    assert "kexec_file_load" not in fake.names()


def test_enable_installs_and_starts_the_hooks(machine: Path) -> None:
    from fastreboot.act import units

    fake = RecordingEffects(machine)
    assert run_cli(["enable", "--root", str(machine)], fake) == 0
    assert "run systemctl enable --now fastreboot-auto-load.service" in fake.names()
    unit = (machine / units.AUTO_LOAD_UNIT.lstrip("/")).read_text()
    assert "ExecStop=" in unit and "--on-reboot" in unit and "WantedBy=multi-user.target" in unit
    hook = machine / units.SHUTDOWN_HOOK.lstrip("/")
    assert hook.read_text().startswith("#!/bin/sh") and '[ "$1" = reboot ]' in hook.read_text()
    assert run_cli(["disable", "--root", str(machine)], fake) == 0
    assert not hook.exists()
    assert "run systemctl disable --now fastreboot-auto-load.service" in fake.names()
