"""The package's generated files agree with the code: man pages and completion with the
parser, the conffile with the configuration reader, and `setup`/`enable`/`disable` leave
the package's own files alone."""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from fastreboot.act import units
from fastreboot.cli import dist
from fastreboot.cli.table import build_parser
from fastreboot.config.own import _OWN_KEYS, CONFIG_KEYS, read_own_config
from fastreboot.sysroot import SysRoot
from tests.unit.cli_helpers import run_cli
from tests.unit.fakes import RecordingEffects
from tests.unit.sysroots import debian_systemd, debian_sysv


def _visible(parser: argparse.ArgumentParser) -> tuple[set[str], set[str], set[str]]:
    """Commands, option flags and choices that --help shows, read from argparse itself."""
    commands: set[str] = set()
    flags: set[str] = set()
    choices: set[str] = set()
    pending = [parser]
    while pending:
        current = pending.pop()
        for action in current._actions:
            if isinstance(action, argparse._SubParsersAction):
                commands.update(action.choices)
                pending.extend(action.choices.values())
                continue
            if action.help == argparse.SUPPRESS:
                continue
            flags.update(action.option_strings)
            choices.update(str(c) for c in action.choices or ())
    return commands, flags, choices


def _roff_text(page: str) -> str:
    return page.replace("\\-", "-").replace("\\fB", "").replace("\\fI", "").replace("\\fR", "")


def test_the_man_page_names_every_command_option_and_choice() -> None:
    page = _roff_text(dist.man_page())
    commands, flags, choices = _visible(build_parser())
    assert len(commands) > 10 and "--target" in flags and "kexec_load" in choices
    for command in commands:
        assert f"fastreboot {command}" in page, command
    for word in flags | choices:
        assert re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", page), word
    assert "--on-reboot" not in page  # hidden options stay hidden, as in --help


def test_the_man_page_follows_a_new_option() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    sub.choices["reboot"].add_argument("--new-option", choices=("one", "other"), help="a new one")
    page = _roff_text(dist.man_page(parser))
    assert "--new-option" in page and "other" in page
    assert "--new-option" in dist.bash_completion(parser)


@pytest.mark.skipif(shutil.which("man") is None, reason="needs man (man-db)")
def test_the_man_pages_render_without_warnings(tmp_path: Path) -> None:
    for name, text in (
        ("fastreboot.8", dist.man_page()),
        ("fastreboot.toml.5", dist.toml_man_page()),
    ):
        (tmp_path / name).write_text(text)
        shown = subprocess.run(
            ["man", "--warnings", "-l", str(tmp_path / name)],
            capture_output=True,
            text=True,
            env={"MANWIDTH": "80", "PATH": "/usr/bin:/bin"},
            check=False,
        )
        assert shown.returncode == 0 and not shown.stderr, shown.stderr
        assert "NAME" in shown.stdout


def _complete(script: str, *words: str) -> list[str]:
    """COMPREPLY for the command line *words*, the last one being completed."""
    line = " ".join(f"'{w}'" for w in words)
    run = subprocess.run(
        [
            "bash",
            "-c",
            f"{script}\nCOMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; "
            '_fastreboot; printf "%s\\n" "${COMPREPLY[@]}"',
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return run.stdout.split()


def test_the_completion_offers_every_command_option_and_choice() -> None:
    script = dist.bash_completion()
    commands, flags, choices = _visible(build_parser())
    assert sorted(_complete(script, "fastreboot", "")) == sorted(commands)
    offered = set(_complete(script, "fastreboot", "-"))
    for command in commands:
        offered |= set(_complete(script, "fastreboot", command, "-"))
    assert flags <= offered, flags - offered
    assert "--on-reboot" not in offered
    assert _complete(script, "fastreboot", "reb") == ["reboot"]
    assert _complete(script, "fastreboot", "--json", "plan", "--target", "n") == ["newest"]
    assert sorted(_complete(script, "fastreboot", "plan", "--load-method", "")) == [
        "kexec_file_load",
        "kexec_load",
    ]
    assert sorted(_complete(script, "fastreboot", "kdump", "")) == sorted(
        ("load", "unload", "status", "enable", "disable", "test", "save")
    )
    assert _complete(script, "fastreboot", "--root", "/", "sta") == ["status"]
    assert {"default", "newest", "running", "kexec_load"} <= choices


def test_the_conffile_documents_every_key_commented_out_with_its_default(tmp_path: Path) -> None:
    text = dist.conffile()
    assert [key.name for key in CONFIG_KEYS] == list(_OWN_KEYS)
    for key in CONFIG_KEYS:
        assert f"\n#{key.name} = {key.value}\n" in text
        assert key.name in _roff_text(dist.toml_man_page())
    conf = tmp_path / "etc/fastreboot.toml"
    conf.parent.mkdir()
    conf.write_text(text)
    assert read_own_config(SysRoot(tmp_path)).target is None  # all commented out
    conf.write_text(
        "".join(
            line[1:] + "\n"
            for line in text.splitlines()
            if line.startswith("#") and not line.startswith("# ")
        )
    )
    uncommented = read_own_config(SysRoot(tmp_path))  # the defaults, as valid TOML
    assert uncommented.target == "default" and uncommented.strip_cmdline == ()


def _install_package_files(root: Path) -> None:
    for path, (text, _mode) in dist.package_files().items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


def test_with_the_package_enable_and_disable_write_no_file(tmp_path: Path) -> None:
    root = debian_systemd(tmp_path).root
    _install_package_files(root)
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    fake = RecordingEffects(root)
    assert run_cli(["setup", "--root", str(root)], fake) == 0
    assert run_cli(["enable", "--root", str(root)], fake) == 0
    names = fake.names()
    assert "run systemctl enable fastreboot-record.service" in names
    assert "run systemctl enable --now fastreboot-auto-load.service" in names
    wants = root / units.WANTS_DIR.lstrip("/")
    wants.mkdir(parents=True)
    (wants / units.AUTO_LOAD_NAME).symlink_to(f"/lib/systemd/system/{units.AUTO_LOAD_NAME}")
    assert run_cli(["enable", "--preload", "--root", str(root)], fake) == 0
    (wants / units.PRELOAD_PATH_NAME).symlink_to(f"/lib/systemd/system/{units.PRELOAD_PATH_NAME}")
    assert run_cli(["disable", "--root", str(root)], fake) == 0
    assert "run systemctl disable --now fastreboot-preload.path fastreboot-preload.service" in (
        fake.names()
    )
    assert "run systemctl disable --now fastreboot-auto-load.service" in fake.names()
    assert not [c for c in fake.calls if c[0] in ("write_file", "remove_file")], fake.calls
    assert before == {p: p.read_bytes() for p in before}


def test_with_the_package_status_reads_enabled_from_the_links(tmp_path: Path) -> None:
    from fastreboot.act.status import system_status

    root = debian_systemd(tmp_path).root
    _install_package_files(root)
    report = system_status(SysRoot(root))
    assert report.reboot_would == "firmware reboot" and report.record_unit_installed is False
    wants = root / units.WANTS_DIR.lstrip("/")
    wants.mkdir(parents=True)
    for name in (units.AUTO_LOAD_NAME, units.RECORD_NAME):
        (wants / name).symlink_to(f"/lib/systemd/system/{name}")
    report = system_status(SysRoot(root))
    assert report.reboot_would.startswith("fast reboot") and report.record_unit_installed


def test_with_the_package_on_sysvinit_disable_keeps_the_script(tmp_path: Path) -> None:
    root = debian_sysv(tmp_path).root
    _install_package_files(root)
    fake = RecordingEffects(root)
    assert run_cli(["enable", "--root", str(root)], fake) == 0
    assert run_cli(["disable", "--root", str(root)], fake) == 0
    assert "run update-rc.d -f fastreboot-auto-load remove" in fake.names()
    assert not [c for c in fake.calls if c[0] in ("write_file", "remove_file")]
    assert (root / units.SYSV_SCRIPT.lstrip("/")).exists()


def test_the_packaged_shutdown_hook_acts_only_while_enabled() -> None:
    hook, _mode = units.package_files()["/lib/systemd/system-shutdown/fastreboot"]
    gate = f"[ -e {units.WANTS_DIR}/{units.AUTO_LOAD_NAME} ] || exit 0"
    assert gate in hook and hook.index(gate) < hook.index("kexec -e")
