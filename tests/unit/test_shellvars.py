"""Shell-variable files parsed as data: values as dash/bash give them, shell code refused."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from fastreboot.config.files import permission_problem, permission_warnings
from fastreboot.config.shellvars import ShellVar, parse_shell_vars
from fastreboot.errors import ConfigError
from fastreboot.sysroot import SysRoot

FIXTURES = Path(__file__).parent.parent / "fixtures" / "config"


def values(text: str) -> dict[str, str]:
    return {name: var.value for name, var in parse_shell_vars(text, "/etc/x").items()}


# Each expected value is what `. file; printf %s "$A"` prints in dash 0.5.12 and bash 5.2.
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A=plain", "plain"),
        ('A="a b"', "a b"),
        ("A='a b'", "a b"),
        ("A=", ""),
        ('A=""', ""),
        ("A=''", ""),
        ("A=\"x\"'y'z", "xyz"),
        ("A=a\\ b", "a b"),
        ("A=a\\xb", "axb"),
        ('A="a\\xb"', "a\\xb"),
        ('A="a\\$b\\`c\\"d\\\\e"', 'a$b`c"d\\e'),
        ("A='a$b`c\\d'", "a$b`c\\d"),
        ('A="line1\nline2"', "line1\nline2"),
        ("A='l1\nl2'", "l1\nl2"),
        ("A=x\\\ny", "xy"),
        ('A="x\\\ny"', "xy"),
        ('A="a\\\\\nb"', "a\\\nb"),
        ("A=#x", "#x"),
        ("A=a#b", "a#b"),
        ("A=x #comment", "x"),
        ("A=$", "$"),
        ('A="$"', "$"),
        ("A=a$/b", "a$/b"),
        ('A="a$ b"', "a$ b"),
        ("A=x\\", "x\\"),
        ("A=*", "*"),
        ("A=a=b", "a=b"),
        ("A==", "="),
        ("A='~'", "~"),
        ("A=a~", "a~"),
        ('A="ü ö"', "ü ö"),
        ('A=a"b c"d', "ab cd"),
        ("  A=indented", "indented"),
        ("export A=exported", "exported"),
    ],
)
def test_values_match_the_shell(text: str, expected: str) -> None:
    assert values(text) == {"A": expected}


def test_later_assignment_overrides_and_keeps_its_line() -> None:
    result = parse_shell_vars("A=1\n# c\n\nA=2\n", "/etc/default/kexec")
    assert result == {"A": ShellVar("2", "/etc/default/kexec", 4)}
    assert result["A"].where == "/etc/default/kexec:4"


def test_several_assignments_on_a_line_and_bare_export() -> None:
    text = 'A=1 B="x y"\tC=3\nexport B\nexport\n'
    assert values(text) == {"A": "1", "B": "x y", "C": "3"}


def test_line_numbers_count_quoted_and_continued_newlines() -> None:
    text = "A='one\ntwo'\nB=x\\\ny\nC=\"p\nq\"\nD=4\n"
    lines = {name: var.line for name, var in parse_shell_vars(text, "f").items()}
    assert lines == {"A": 1, "B": 3, "C": 5, "D": 7}


def test_shipped_debian_file() -> None:
    text = (FIXTURES / "debian-bookworm-kexec").read_text()
    assert values(text) == {
        "LOAD_KEXEC": "false",
        "KERNEL_IMAGE": "/vmlinuz",
        "INITRD": "/initrd.img",
        "APPEND": "",
        "USE_GRUB_CONFIG": "false",
    }


@pytest.mark.parametrize(
    ("text", "where", "found"),
    [
        ("A=$(reboot)", ":1:", "command substitution '$('"),
        ("A=`reboot`", ":1:", "command substitution '`'"),
        ('A="`reboot`"', ":1:", "command substitution '`'"),
        ("A=ok\nB=$((1+1))", ":2:", "arithmetic expansion '$(('"),
        ("A=$HOME", ":1:", "variable reference '$HOME'"),
        ('A="x\n$HOME"', ":2:", "variable reference '$HOME'"),
        ("A=${HOME}", ":1:", "parameter expansion '${'"),
        ("A=$1", ":1:", "variable reference '$1'"),
        ("A=$?", ":1:", "special parameter '$?'"),
        ("A=$'x'", ":1:", "quoting found"),
        ('A=$"x"', ":1:", "quoting found"),
        ("A=~/x", ":1:", "tilde expansion"),
        ("A=x:~/y", ":1:", "tilde expansion"),
        ("A=1\nif true\n", ":2:", "'if' is a command"),
        ("if x\nA=$(reboot)", ":1:", "'if' is a command"),
        (". /etc/other", ":1:", "'.' is a command"),
        ("source /etc/other", ":1:", "'source' is a command"),
        ("reboot", ":1:", "'reboot' is a command"),
        ("A=1 reboot", ":1:", "'reboot' is a command"),
        ('"A"=1', ":1:", "'A=1' is a command"),
        ("A-B=1", ":1:", "'A-B=1' is a command"),
        ("export -n A", ":1:", "'-n' is a command"),
        ("A=1; B=2", ":1:", "shell operator ';'"),
        ("A=1 && reboot", ":1:", "shell operator '&'"),
        ("A=x > /etc/passwd", ":1:", "shell operator '>'"),
        ("A=1\nB='open\nC=2", ":2:", "unterminated single quote"),
        ('A="open\n\n', ":1:", "unterminated double quote"),
    ],
)
def test_shell_code_is_refused(text: str, where: str, found: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_shell_vars(text, "/etc/default/kexec")
    assert raised.value.message.startswith(f"/etc/default/kexec{where} ")
    assert found in raised.value.message
    assert raised.value.hint


def test_permission_problem_names_mode_and_owner() -> None:
    assert permission_problem("/etc/x", stat.S_IFREG | 0o644, 0) is None
    assert permission_problem("/etc/x", stat.S_IFREG | 0o600, 0) is None
    group = permission_problem("/etc/x", stat.S_IFREG | 0o664, 0)
    assert group is not None and "/etc/x" in group and "0664" in group
    other = permission_problem("/etc/x", stat.S_IFREG | 0o646, 0)
    assert other is not None and "0646" in other
    owner = permission_problem("/etc/x", stat.S_IFREG | 0o644, 1000)
    assert owner is not None and "uid 1000" in owner and "writable" not in owner


def test_permission_warnings_read_the_file_mode(tmp_path: Path) -> None:
    path = tmp_path / "etc/default/kexec"
    path.parent.mkdir(parents=True)
    path.write_text("A=1\n")
    path.chmod(0o644)
    owned_by_root = os.stat(path).st_uid == 0
    root = SysRoot(tmp_path)
    assert (permission_warnings(root, ["/etc/default/kexec"]) == ()) == owned_by_root
    path.chmod(0o666)
    (warning,) = permission_warnings(root, ["/etc/default/kexec"])
    assert warning.startswith("/etc/default/kexec is writable by group or others (mode 0666)")
