"""How the kernel gets loaded: which system call, the fall-back, and reusing a staged load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fastreboot.config.own import LoadMethod
from fastreboot.plan.plan import Options, make_plan
from fastreboot.sysroot import SysRoot
from tests.unit.cli_helpers import run_cli
from tests.unit.fakes import RecordingEffects
from tests.unit.staging import (
    STATE,
    WITH_KEXEC,
    debian_with_kexec_tools,
    kexec_tools_loads,
    loads,
    on_emulated_cpu,
    touch_kernel,
)
from tests.unit.sysroots import NEW, Sysroot


@pytest.fixture
def machine(tmp_path: Path) -> Path:
    return debian_with_kexec_tools(tmp_path)


# ---------------------------------------------------------------- which system call


def test_the_file_call_on_a_real_cpu_with_kexec_load_behind_it(machine: Path) -> None:
    plan = make_plan(SysRoot(machine), Options())
    assert plan.load_method is LoadMethod.FILE
    assert "SHA-256 instructions" in plan.load_why
    assert plan.load_fallback


def test_the_file_call_on_an_emulated_cpu_too(machine: Path) -> None:
    """QEMU 7.2's TCG emulated the kernel's SIMD SHA-256 so slowly that kexec_load won there;
    QEMU 10's does not (bench/README.md), and no CPU is special-cased any more."""
    plan = make_plan(SysRoot(on_emulated_cpu(machine)), Options())
    assert plan.load_method is LoadMethod.FILE and plan.load_fallback


@pytest.mark.parametrize(
    ("setup", "why"),
    [
        (
            lambda s: s.set("/sys/kernel/security/lockdown", "none [integrity] confidentiality"),
            "lockdown",
        ),
        (
            lambda s: s.set(
                "/sys/kernel/security/ima/policy", "measure func=KEXEC_KERNEL_CHECK pcr=4"
            ),
            "IMA",
        ),
        (lambda s: s.remove("/usr/sbin/kexec"), "not installed"),
    ],
)
def test_file_call_where_it_is_needed(machine: Path, setup: object, why: str) -> None:
    assert callable(setup)
    setup(Sysroot(machine))
    plan = make_plan(SysRoot(machine), Options())
    assert plan.load_method is LoadMethod.FILE
    assert why in plan.load_why
    assert not plan.load_fallback


def test_several_initrds_need_the_file_call(machine: Path) -> None:
    Sysroot(machine).write(
        "/boot/grub/grub.cfg",
        f"""
menuentry 'Debian' {{
    linux /boot/vmlinuz-{NEW} root=/dev/vda ro
    initrd /boot/intel-ucode.img /boot/initrd.img-{NEW}
}}
""",
    )
    Sysroot(machine).write("/boot/intel-ucode.img", b"070701")
    plan = make_plan(SysRoot(machine), Options())
    assert len(plan.initrds) == 2
    assert plan.load_method is LoadMethod.FILE


def test_an_explicit_method_is_kept_and_never_swapped(machine: Path) -> None:
    plan = make_plan(SysRoot(machine), Options(load_method=LoadMethod.LEGACY))
    assert (plan.load_method, plan.load_fallback) == (LoadMethod.LEGACY, False)
    fake = RecordingEffects(machine, commands=WITH_KEXEC, fail_commands=["kexec"])
    assert (
        run_cli(["load", "--yes", "--load-method", "kexec_load", "--root", str(machine)], fake) == 7
    )
    assert "kexec_file_load" not in fake.names()
    fake = RecordingEffects(machine, commands=WITH_KEXEC, fail_load="failed")
    assert (
        run_cli(["load", "--yes", "--load-method", "kexec_file_load", "--root", str(machine)], fake)
        == 7
    )
    assert kexec_tools_loads(fake) == []


def test_a_file_call_that_cannot_take_the_image_falls_back_to_kexec_load(
    machine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = RecordingEffects(machine, commands=WITH_KEXEC, fail_load="failed")
    assert run_cli(["load", "--yes", "--debug", "--root", str(machine)], fake) == 0
    assert "image format (not a bootable kernel?); trying kexec_load" in capsys.readouterr().err
    assert fake.names()[:2] == ["kexec_file_load", kexec_tools_loads(fake)[0]]
    assert kexec_tools_loads(fake)[0].startswith("run kexec -l -c ")
    assert json.loads((machine / STATE).read_text())["method"] == "kexec_load"


def test_both_failures_are_reported(machine: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake = RecordingEffects(
        machine, commands=WITH_KEXEC, fail_load="failed", fail_commands=["kexec"]
    )
    assert run_cli(["load", "--yes", "--root", str(machine)], fake) == 7
    err = capsys.readouterr().err
    assert "kexec-tools could not load" in err
    assert "(before that, kexec_file_load failed: the running kernel does not accept" in err
    assert not (machine / STATE).exists()


def test_a_kernel_without_the_file_call_gets_kexec_load(machine: Path) -> None:
    fake = RecordingEffects(machine, commands=WITH_KEXEC, fail_load="unsupported")
    assert run_cli(["load", "--yes", "--root", str(machine)], fake) == 0
    assert json.loads((machine / STATE).read_text())["method"] == "kexec_load"


def test_a_signature_refusal_is_final(machine: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The kernel's verdict on the image's signature: kexec_load must not go around it.
    fake = RecordingEffects(machine, commands=WITH_KEXEC, fail_load="rejected")
    assert run_cli(["load", "--yes", "--root", str(machine)], fake) == 7
    assert "refused by kernel lockdown" in capsys.readouterr().err
    assert kexec_tools_loads(fake) == []
    assert not (machine / STATE).exists()


# ------------------------------------------------------------- reusing a staged load


def test_load_then_reboot_does_not_load_again(
    machine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = RecordingEffects(machine, commands=WITH_KEXEC)
    assert run_cli(["load", "--yes", "--root", str(machine)], fake) == 0
    assert len(loads(fake)) == 1
    state = json.loads((machine / STATE).read_text())
    assert state["kernel"] == f"/boot/vmlinuz-{NEW}" and state["method"] == "kexec_file_load"
    capsys.readouterr()

    assert run_cli(["reboot", "--yes", "--root", str(machine)], fake) == 0
    out = capsys.readouterr().out
    assert "load:     already loaded by fastreboot at" in out
    assert len(loads(fake)) == 1  # not loaded a second time
    assert fake.names()[-1] == "run systemctl --no-block kexec"


def staged_then(machine: Path, change: object, *reboot_args: str) -> int:
    """Load, apply *change* to the machine, reboot; how many times kexec-tools loaded."""
    fake = RecordingEffects(machine, commands=WITH_KEXEC)
    assert run_cli(["load", "--yes", "--root", str(machine)], fake) == 0
    assert callable(change)
    change(machine)
    assert run_cli(["reboot", "--yes", "--root", str(machine), *reboot_args], fake) == 0
    return len(loads(fake))


def _replace_initrd(machine: Path) -> None:
    initrd = machine / f"boot/initrd.img-{NEW}"
    initrd.unlink()
    initrd.write_bytes(b"070701" + b"\1" * 64)


@pytest.mark.parametrize(
    ("change", "args", "loads"),
    [
        (lambda m: None, (), 1),
        (lambda m: None, ("--reload",), 2),
        (lambda m: None, ("--append", "quiet=0"), 2),
        (touch_kernel, (), 2),
        (_replace_initrd, (), 2),
        (lambda m: Sysroot(m).set("/proc/sys/kernel/random/boot_id", "another-boot"), (), 2),
        (lambda m: Sysroot(m).set("/sys/kernel/kexec_loaded", "0"), (), 2),
        (lambda m: Sysroot(m).write(STATE, "{not json"), (), 2),
    ],
    ids=[
        "same",
        "reload",
        "other-cmdline",
        "kernel-touched",
        "initrd-replaced",
        "other-boot",
        "nothing-loaded",
        "broken-state",
    ],
)
def test_a_staged_load_is_reused_only_when_nothing_changed(
    machine: Path, change: object, args: tuple[str, ...], loads: int
) -> None:
    assert staged_then(machine, change, *args) == loads


def test_unload_forgets_the_staged_load(machine: Path) -> None:
    fake = RecordingEffects(machine, commands=WITH_KEXEC)
    assert run_cli(["load", "--yes", "--root", str(machine)], fake) == 0
    assert run_cli(["unload", "--root", str(machine)], fake) == 0
    assert not (machine / STATE).exists()


def test_plan_json_says_what_is_already_loaded(
    machine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        run_cli(
            ["load", "--yes", "--root", str(machine)],
            RecordingEffects(machine, commands=WITH_KEXEC),
        )
        == 0
    )
    capsys.readouterr()
    assert run_cli(["plan", "--json", "--root", str(machine)]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["already_loaded"]["method"] == "kexec_file_load"
    assert {c["name"]: c["level"] for c in plan["checks"]}["already-loaded"] == "ok"
