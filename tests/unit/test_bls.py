"""bls.py against entries written by systemd's kernel-install (tests/fixtures/bls)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fastreboot.boot.bls import bls_selection, read_entry_files
from fastreboot.boot.entry import Source
from fastreboot.boot.versions import uapi_compare as version_compare
from fastreboot.sysroot import SysRoot

FIXTURES = Path(__file__).parent.parent / "fixtures" / "bls"
MACHINE_A = "4098b3f648d74c13b1f04ccfba7798e8"
MACHINE_B = "b75451ad92f94feeab50b0b442768dbd"


def make_root(tmp_path: Path, case: str) -> Path:
    """A target system from a fixture: the listed files, with the real entry files."""
    fixture = FIXTURES / case
    root = tmp_path / "root"
    for name in (fixture / "files.txt").read_text().split():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(f"dummy {name}\n")
    for tree in ("boot", "efi"):
        if (fixture / tree).is_dir():
            shutil.copytree(fixture / tree, root / tree, dirs_exist_ok=True)
    return root


def write_entry(root: Path, name: str, **keys: str) -> None:
    """An entry in kernel-install's format: key, padding, value."""
    entry = root / "boot/loader/entries" / f"{name}.conf"
    entry.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{key.replace('_', '-'):<10} {value}" for key, value in keys.items()]
    entry.write_text("\n".join(lines) + "\n")


def test_kernel_install_entries_in_spec_order(tmp_path: Path) -> None:
    selection = bls_selection(SysRoot(make_root(tmp_path, "kernel-install-boot")))
    assert selection is not None
    # sort-key "arch" < "debian"; within debian the newest version first; no sort-key last.
    assert [e.entry_id for e in selection.entries] == [
        f"{MACHINE_B}-6.9.1-arch1-1",
        f"{MACHINE_A}-6.1.0-56-amd64",
        f"{MACHINE_A}-6.1.0-47-amd64",
        f"{MACHINE_B}-6.10.2-custom",
    ]
    assert selection.default == selection.entries[0]
    newest = selection.entries[1]
    assert newest.source is Source.BLS
    assert newest.title == "Debian GNU/Linux 12 (bookworm)"
    assert newest.version == "6.1.0-56-amd64"
    # /boot is a directory of the root file system here: kernel-install wrote /boot/… paths.
    assert newest.kernel == f"/boot/{MACHINE_A}/6.1.0-56-amd64/linux"
    assert newest.initrds == (
        f"/boot/{MACHINE_A}/6.1.0-56-amd64/intel-ucode.img",
        f"/boot/{MACHINE_A}/6.1.0-56-amd64/initrd.img-6.1.0-56-amd64",
    )
    assert newest.cmdline == (
        f"root=UUID=5a0e1b6c-2f3d-4e8a-9b7c-1d2e3f4a5b6c ro quiet systemd.machine_id={MACHINE_A}"
    )
    assert f"/boot/loader/entries/{MACHINE_A}-6.1.0-47-amd64.conf" in selection.config_files


def test_esp_entries_are_relative_to_the_esp_and_loader_conf_picks_the_default(
    tmp_path: Path,
) -> None:
    selection = bls_selection(SysRoot(make_root(tmp_path, "kernel-install-esp")))
    assert selection is not None and selection.default is not None
    assert [e.version for e in selection.entries] == ["6.1.0-56-amd64", "6.1.0-47-amd64"]
    # loader.conf: default 4098…-6.1.0-47*
    assert selection.default.entry_id == f"{MACHINE_A}-6.1.0-47-amd64"
    assert selection.default.kernel == f"/efi/{MACHINE_A}/6.1.0-47-amd64/linux"
    assert selection.config_files[0] == "/efi/loader/loader.conf"


@pytest.mark.parametrize(
    ("default", "expected"),
    [
        (f"{MACHINE_A}-6.1.0-47-amd64.conf", "6.1.0-47-amd64"),  # ids with ".conf" (systemd)
        (f"{MACHINE_A.upper()}-6.1.0-47-AMD64", "6.1.0-47-amd64"),  # case-insensitive
        ("*-6.1.0-4?-amd64", "6.1.0-47-amd64"),
        ("@saved", "6.1.0-56-amd64"),  # EFI variables: not supported, first entry
        ("no-such-entry", "6.1.0-56-amd64"),
    ],
)
def test_loader_conf_default_glob(tmp_path: Path, default: str, expected: str) -> None:
    root = make_root(tmp_path, "kernel-install-esp")
    (root / "efi/loader/loader.conf").write_text(f"timeout 3\ndefault {default}\n")
    selection = bls_selection(SysRoot(root))
    assert selection is not None and selection.default is not None
    assert selection.default.version == expected


def test_saved_entry_wins_over_loader_conf(tmp_path: Path) -> None:
    root = make_root(tmp_path, "kernel-install-esp")
    selection = bls_selection(SysRoot(root), saved_entry=f"{MACHINE_A}-6.1.0-56-amd64")
    assert selection is not None and selection.default is not None
    assert selection.default.version == "6.1.0-56-amd64"
    selection = bls_selection(SysRoot(root), saved_entry="gone")
    assert selection is not None and selection.default is not None
    assert selection.default.version == "6.1.0-47-amd64"


def test_order_as_systemds_own_test(tmp_path: Path) -> None:
    """src/test/test-bootspec.c of systemd: the same six entries, the same order."""
    root = tmp_path
    write_entry(root, "a-10", title="A", version="10", machine_id=MACHINE_A, linux="/a")
    write_entry(root, "a-5", title="A", version="5", machine_id=MACHINE_A, linux="/a")
    write_entry(root, "b", title="B", version="3", machine_id=MACHINE_B, linux="/b")
    c = "309de666fd5044268a9a26541ac93176"
    write_entry(root, "c", title="C", sort_key="xxxx", version="5", machine_id=c, linux="/c")
    write_entry(root, "cx", title="C", sort_key="xxxx", version="10", machine_id=c, linux="/c")
    d = "81c6e3147cf544c19006af023e22b292"
    write_entry(root, "d", title="D", sort_key="kkkk", version="100", machine_id=d, linux="/d")
    selection = bls_selection(SysRoot(root))
    assert selection is not None
    assert [e.entry_id for e in selection.entries] == ["d", "cx", "c", "b", "a-10", "a-5"]


def test_machine_id_then_version_then_bad_entries_last(tmp_path: Path) -> None:
    root = tmp_path
    write_entry(root, "z-1", sort_key="os", machine_id=MACHINE_B, version="2", linux="/k")
    write_entry(root, "y-1", sort_key="os", machine_id=MACHINE_A, version="1.9", linux="/k")
    write_entry(root, "x-1", sort_key="os", machine_id=MACHINE_A, version="1.10", linux="/k")
    write_entry(root, "w-1", sort_key="os", version="9", linux="/k")  # no machine-id: lower
    write_entry(root, "v-1+0-3", sort_key="os", machine_id=MACHINE_A, version="5", linux="/k")
    write_entry(root, "u-1+2", sort_key="os", machine_id=MACHINE_A, version="1.1", linux="/k")
    selection = bls_selection(SysRoot(root))
    assert selection is not None
    assert [e.entry_id for e in selection.entries] == ["w-1", "x-1", "y-1", "u-1", "z-1", "v-1"]


def test_entries_without_linux_or_for_another_architecture_are_hidden(tmp_path: Path) -> None:
    write_entry(tmp_path, "efi-only", title="Shell", efi="/shell.efi")
    write_entry(tmp_path, "other-arch", title="Other", linux="/k", architecture="some-arch")
    write_entry(tmp_path, "plain", title="Plain", linux="k", initrd="i1 i2", options="a=1")
    with (tmp_path / "boot/loader/entries/plain.conf").open("a") as entry:
        entry.write("options b=2\n")
    selection = bls_selection(SysRoot(tmp_path))
    assert selection is not None
    assert [e.entry_id for e in selection.entries] == ["plain"]
    plain = selection.entries[0]
    assert (plain.kernel, plain.initrds) == ("/boot/k", ("/boot/i1", "/boot/i2"))
    assert plain.cmdline == "a=1 b=2"


def test_no_entries_directory_means_no_selection(tmp_path: Path) -> None:
    assert bls_selection(SysRoot(tmp_path)) is None
    (tmp_path / "boot/loader/entries").mkdir(parents=True)
    empty = bls_selection(SysRoot(tmp_path))
    assert empty is not None and empty.default is None and empty.entries == ()


def test_grub_rules_stop_at_a_blank_line(tmp_path: Path) -> None:
    entries = tmp_path / "boot/loader/entries"
    entries.mkdir(parents=True)
    (entries / "x.conf").write_text("title X\nlinux /k\n\noptions quiet\n")
    assert read_entry_files(SysRoot(tmp_path), "/boot/loader/entries")[0].all("options") == (
        "quiet",
    )
    grub = read_entry_files(SysRoot(tmp_path), "/boot/loader/entries", grub_rules=True)[0]
    assert (grub.entry_id, grub.path) == ("x", "/boot/loader/entries/x.conf")
    assert grub.all("options") == ()


# Checked against `systemd-analyze compare-versions` (systemd 252), which sd-boot sorts with.
@pytest.mark.parametrize(
    ("a", "b", "result"),
    [
        ("6.1.0-56-amd64", "6.1.0-47-amd64", 1),
        ("6.10.2-custom", "6.9.1-arch1-1", 1),
        ("5.14.0-427.el9", "5.14.0-70.el9", 1),
        ("1.0~rc1", "1.0", -1),
        ("123-1", "123.1-1", -1),
        ("123^post1", "123.a-1", -1),
        ("123a", "123.a", 1),
        ("0.", "0", 1),
        ("1_2_3", "1.3.3", 1),
        ("1+", "1.2", -1),
        ("a-10", "b", -1),
        ("A", "a", -1),
        ("abc", "abcd", -1),
        ("11\u03b1", "11\u03b2", 0),  # non-ASCII letters are skipped
        ("00123", "123", 0),
        ("", "0", -1),
        ("", "~", 1),
        (None, "1", -1),
    ],
)
def test_version_compare(a: str | None, b: str, result: int) -> None:
    assert version_compare(a, b) == result
    assert version_compare(b, a) == -result
