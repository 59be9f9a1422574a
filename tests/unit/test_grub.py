"""grub.py against grub.cfg files written by Debian's grub-mkconfig (tests/fixtures/grub)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fastreboot.boot.entry import Source
from fastreboot.boot.grub import grub_selection, read_grubenv
from fastreboot.boot.locate import find_grub_cfg
from fastreboot.errors import BootConfigError
from fastreboot.sysroot import SysRoot

FIXTURES = Path(__file__).parent.parent / "fixtures" / "grub"
UUID = "5a0e1b6c-2f3d-4e8a-9b7c-1d2e3f4a5b6c"
ADVANCED = "Advanced options for Debian GNU/Linux"
NEW, OLD = "6.1.0-56-amd64", "6.1.0-47-amd64"
FEDORA_ID = "4098b3f648d74c13b1f04ccfba7798e8"


def make_root(tmp_path: Path, case: str, grub_dir: str = "boot/grub") -> Path:
    """A target system from a fixture: its /boot files, grub.cfg and grubenv."""
    fixture = FIXTURES / case
    root = tmp_path / "root"
    for name in (fixture / "files.txt").read_text().split():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(f"dummy {name}\n")
    for tree in ("boot", "etc"):
        if (fixture / tree).is_dir():
            shutil.copytree(fixture / tree, root / tree, dirs_exist_ok=True)
    (root / grub_dir).mkdir(parents=True, exist_ok=True)
    shutil.copy(fixture / "grub.cfg", root / grub_dir / "grub.cfg")
    if (fixture / "grubenv").exists():
        shutil.copy(fixture / "grubenv", root / grub_dir / "grubenv")
    return root


def write_grubenv(path: Path, **values: str) -> None:
    """An environment block as grub-editenv writes it: 1024 bytes padded with '#'."""
    body = "# GRUB Environment Block\n" + "".join(f"{k}={v}\n" for k, v in values.items())
    path.write_text(body + "#" * (1024 - len(body)))


def write_cfg(root: Path, text: str) -> Path:
    cfg = root / "boot/grub/grub.cfg"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(text)
    return cfg


def test_default_zero_boots_the_first_entry_with_its_kernel_initrd_and_cmdline(
    tmp_path: Path,
) -> None:
    selection = grub_selection(SysRoot(make_root(tmp_path, "debian-default")))
    assert selection is not None
    assert selection.via == "default=0"
    assert selection.next_entry is None
    assert selection.config_files == ("/boot/grub/grub.cfg",)
    default = selection.default
    assert default is not None
    assert default.title == "Debian GNU/Linux"
    assert default.kernel == f"/boot/vmlinuz-{NEW}"
    assert default.initrds == (f"/boot/initrd.img-{NEW}",)
    assert default.cmdline == f"root=UUID={UUID} ro quiet"
    assert default.version == NEW
    assert default.entry_id == f"gnulinux-simple-{UUID}"
    assert default.source is Source.GRUB


def test_entries_list_every_kernel_in_menu_order_with_submenu_prefixes(tmp_path: Path) -> None:
    selection = grub_selection(SysRoot(make_root(tmp_path, "debian-default")))
    assert selection is not None
    assert [e.title for e in selection.entries] == [
        "Debian GNU/Linux",
        f"{ADVANCED}>Debian GNU/Linux, with Linux {NEW}",
        f"{ADVANCED}>Debian GNU/Linux, with Linux {NEW} (recovery mode)",
        f"{ADVANCED}>Debian GNU/Linux, with Linux {OLD}",
        f"{ADVANCED}>Debian GNU/Linux, with Linux {OLD} (recovery mode)",
    ]
    assert selection.entries[2].cmdline == f"root=UUID={UUID} ro single"
    assert selection.entries[3].entry_id == f"gnulinux-{OLD}-advanced-{UUID}"


@pytest.mark.parametrize(
    ("saved_entry", "title", "via"),
    [
        pytest.param("0", "Debian GNU/Linux", "saved_entry", id="index"),
        pytest.param("Debian GNU/Linux", "Debian GNU/Linux", "saved_entry", id="title"),
        pytest.param(f"gnulinux-simple-{UUID}", "Debian GNU/Linux", "saved_entry", id="id"),
        pytest.param(
            f"gnulinux-advanced-{UUID}>gnulinux-{OLD}-advanced-{UUID}",
            f"{ADVANCED}>Debian GNU/Linux, with Linux {OLD}",
            "saved_entry",
            id="submenu-path-by-id",
        ),
        pytest.param(
            f"{ADVANCED}>Debian GNU/Linux, with Linux {OLD}",
            f"{ADVANCED}>Debian GNU/Linux, with Linux {OLD}",
            "saved_entry",
            id="submenu-path-by-title",
        ),
        pytest.param(
            "1>2", f"{ADVANCED}>Debian GNU/Linux, with Linux {OLD}", "saved_entry", id="by-index"
        ),
        pytest.param(
            f"1>gnulinux-{OLD}-recovery-{UUID}",
            f"{ADVANCED}>Debian GNU/Linux, with Linux {OLD} (recovery mode)",
            "saved_entry",
            id="index-then-id",
        ),
        # A default naming a submenu: GRUB opens it with timeout 0 and boots its entry 0.
        pytest.param(
            "1", f"{ADVANCED}>Debian GNU/Linux, with Linux {NEW}", "saved_entry", id="submenu"
        ),
        pytest.param(
            f"gnulinux-{OLD}-advanced-{UUID}",  # not at top level: GRUB does not search submenus
            "Debian GNU/Linux",
            "fallback-to-0",
            id="entry-id-without-its-submenu",
        ),
        pytest.param("gnulinux-6.1.0-99-amd64", "Debian GNU/Linux", "fallback-to-0", id="missing"),
        pytest.param("", "Debian GNU/Linux", "fallback-to-0", id="empty"),
        pytest.param("7", "Debian GNU/Linux", "fallback-to-0", id="index-out-of-range"),
        pytest.param(
            f"{ADVANCED}>no such kernel",
            f"{ADVANCED}>Debian GNU/Linux, with Linux {NEW}",
            "fallback-to-0",
            id="missing-inside-submenu",
        ),
    ],
)
def test_saved_entry_forms(tmp_path: Path, saved_entry: str, title: str, via: str) -> None:
    root = make_root(tmp_path, "debian-saved")
    write_grubenv(root / "boot/grub/grubenv", saved_entry=saved_entry)
    selection = grub_selection(SysRoot(root))
    assert selection is not None
    assert selection.default is not None
    assert (selection.default.title, selection.via) == (title, via)
    assert selection.config_files == ("/boot/grub/grub.cfg", "/boot/grub/grubenv")


def test_saved_entry_set_by_grub_set_default(tmp_path: Path) -> None:
    selection = grub_selection(SysRoot(make_root(tmp_path, "debian-saved")))
    assert selection is not None and selection.default is not None
    assert selection.default.kernel == f"/boot/vmlinuz-{OLD}"
    assert selection.via == "saved_entry"


def test_grub_default_as_a_submenu_id_path(tmp_path: Path) -> None:
    selection = grub_selection(SysRoot(make_root(tmp_path, "debian-id-path")))
    assert selection is not None and selection.default is not None
    assert selection.default.title == f"{ADVANCED}>Debian GNU/Linux, with Linux {OLD}"
    assert selection.via == f"default=gnulinux-advanced-{UUID}>gnulinux-{OLD}-advanced-{UUID}"


def test_without_submenu_the_index_counts_every_entry(tmp_path: Path) -> None:
    selection = grub_selection(SysRoot(make_root(tmp_path, "debian-no-submenu")))
    assert selection is not None and selection.default is not None
    assert selection.default.title == f"Debian GNU/Linux, with Linux {OLD}"
    assert selection.via == "default=2"
    assert not any(">" in entry.title for entry in selection.entries)


def test_next_entry_wins_once_and_is_reported(tmp_path: Path) -> None:
    selection = grub_selection(SysRoot(make_root(tmp_path, "debian-next-entry")))
    assert selection is not None and selection.default is not None
    assert selection.default.title == f"{ADVANCED}>Debian GNU/Linux, with Linux {OLD}"
    assert (selection.via, selection.next_entry) == ("next_entry", "1>2")
    assert "/boot/grub/grubenv" in selection.config_files


def test_next_entry_not_consumed_without_the_header_that_reads_it(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write_cfg(root, "load_env\nset default=0\nmenuentry 'A' { linux /vmlinuz-1 }\n")
    write_grubenv(root / "boot/grub/grubenv", next_entry="1")
    selection = grub_selection(SysRoot(root))
    assert selection is not None
    assert (selection.via, selection.next_entry) == ("default=0", None)


def test_microcode_images_come_first(tmp_path: Path) -> None:
    selection = grub_selection(SysRoot(make_root(tmp_path, "debian-microcode")))
    assert selection is not None and selection.default is not None
    assert selection.default.initrds == (
        "/boot/intel-ucode.img",
        "/boot/amd-ucode.img",
        f"/boot/initrd.img-{NEW}",
    )


def test_separate_boot_partition_paths_map_into_boot(tmp_path: Path) -> None:
    root = make_root(tmp_path, "debian-separate-boot")
    assert "linux\t/vmlinuz-" in (root / "boot/grub/grub.cfg").read_text()
    selection = grub_selection(SysRoot(root))
    assert selection is not None and selection.default is not None
    assert selection.default.kernel == f"/boot/vmlinuz-{NEW}"
    assert selection.default.initrds == (f"/boot/initrd.img-{NEW}",)
    assert {e.kernel for e in selection.entries} == {f"/boot/vmlinuz-{NEW}", f"/boot/vmlinuz-{OLD}"}


def test_efi_stub_on_the_esp_configfiles_the_real_grub_cfg(tmp_path: Path) -> None:
    root = make_root(tmp_path, "debian-saved")
    esp = root / "boot/efi/EFI/debian"
    esp.mkdir(parents=True)
    shutil.copy(FIXTURES / "efi-stub/grub.cfg", esp / "grub.cfg")
    assert find_grub_cfg(SysRoot(root)) == "/boot/grub/grub.cfg"  # BIOS boot ignores the ESP
    (root / "sys/firmware/efi").mkdir(parents=True)
    assert find_grub_cfg(SysRoot(root)) == "/boot/efi/EFI/debian/grub.cfg"
    selection = grub_selection(SysRoot(root))
    assert selection is not None and selection.default is not None
    assert selection.config_files == (
        "/boot/efi/EFI/debian/grub.cfg",
        "/boot/grub/grub.cfg",
        "/boot/grub/grubenv",
    )
    assert selection.default.kernel == f"/boot/vmlinuz-{OLD}"
    assert selection.via == "saved_entry"


def test_no_grub_cfg_means_no_selection(tmp_path: Path) -> None:
    assert find_grub_cfg(SysRoot(tmp_path)) is None
    assert grub_selection(SysRoot(tmp_path)) is None


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("set a=1\nmenuentry 'A' {\n  linux /vmlinuz\n", 2, "'{' is never closed"),
        ("set a=1\n\nmenuentry 'A {\n  linux /vmlinuz\n}\n", 3, "unterminated ' quote"),
        ('echo "abc\n\n', 1, 'unterminated " quote'),
        ("if [ a ]; then\n  set b=1\n", 1, "'if' is never closed"),
        ("set a=1\n}\n", 2, "unexpected '}'"),
        ("fi\n", 1, "unexpected 'fi'"),
        ("echo a | cat\n", 1, "not GRUB script"),
    ],
)
def test_unparsable_grub_cfg_names_file_and_line(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    write_cfg(tmp_path, text)
    with pytest.raises(BootConfigError) as error:
        grub_selection(SysRoot(tmp_path))
    assert error.value.message.startswith(f"/boot/grub/grub.cfg:{line}: ")
    assert message in error.value.message


def test_read_grubenv(tmp_path: Path) -> None:
    env = read_grubenv(FIXTURES / "debian-next-entry/grubenv")
    assert env == {"saved_entry": "0", "next_entry": "1>2"}
    escaped = tmp_path / "grubenv"
    write_grubenv(escaped, a="x\\\\y", b="1")
    assert read_grubenv(escaped) == {"a": "x\\y", "b": "1"}
    escaped.write_text("saved_entry=0\n")
    with pytest.raises(BootConfigError, match="not a GRUB environment block"):
        read_grubenv(escaped)


def test_broken_grubenv_is_skipped_as_grub_does(tmp_path: Path) -> None:
    root = make_root(tmp_path, "debian-saved")
    (root / "boot/grub/grubenv").write_text("saved_entry=1>2\n")
    selection = grub_selection(SysRoot(root))
    assert selection is not None and selection.default is not None
    assert (selection.default.title, selection.via) == ("Debian GNU/Linux", "fallback-to-0")


def test_fedora_blscfg_uses_saved_entry_and_kernelopts(tmp_path: Path) -> None:
    root = make_root(tmp_path, "fedora-blscfg", grub_dir="boot/grub2")
    selection = grub_selection(SysRoot(root))
    assert selection is not None and selection.default is not None
    default = selection.default
    assert selection.via == "blscfg:saved_entry"
    assert default.entry_id == f"{FEDORA_ID}-6.5.6-300.fc39.x86_64"
    assert default.kernel == "/boot/vmlinuz-6.5.6-300.fc39.x86_64"
    assert default.initrds == ("/boot/initramfs-6.5.6-300.fc39.x86_64.img",)
    assert default.cmdline == "root=/dev/mapper/fedora-root ro rd.lvm.lv=fedora/root rhgb quiet"
    assert default.version == "6.5.6-300.fc39.x86_64"
    # blscfg's order: rpm version comparison, newest first.
    assert [e.version for e in selection.entries] == [
        "6.7.4-200.fc39.x86_64",
        "6.5.6-300.fc39.x86_64",
        f"0-rescue-{FEDORA_ID}",
    ]
    assert f"/boot/loader/entries/{FEDORA_ID}-0-rescue.conf" in selection.config_files


def test_fedora_blscfg_kernelopts_fallback_and_default_index(tmp_path: Path) -> None:
    root = make_root(tmp_path, "fedora-blscfg", grub_dir="boot/grub2")
    write_grubenv(root / "boot/grub2/grubenv", saved_entry="1")
    selection = grub_selection(SysRoot(root))
    assert selection is not None and selection.default is not None
    assert selection.default.version == "6.5.6-300.fc39.x86_64"
    assert selection.default.cmdline == "root=/dev/mapper/fedora-root ro rd.lvm.lv=fedora/root"


@pytest.mark.parametrize(
    ("os_release", "expected"),
    [
        ("ID=debian\n", "B"),  # upstream: the leading number 1 wins
        ('ID="rocky"\nID_LIKE="rhel centos fedora"\n', "1abc"),  # rhboot: titles before numbers
    ],
)
def test_number_or_title_depends_on_the_grub_build(
    tmp_path: Path, os_release: str, expected: str
) -> None:
    write_cfg(
        tmp_path,
        "set default=1abc\n"
        "menuentry A { linux /vmlinuz-a }\nmenuentry B { linux /vmlinuz-b }\n"
        "menuentry 1abc { linux /vmlinuz-c }\n",
    )
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/os-release").write_text(os_release)
    selection = grub_selection(SysRoot(tmp_path))
    assert selection is not None and selection.default is not None
    assert selection.default.title == expected


def test_script_features(tmp_path: Path) -> None:
    write_cfg(
        tmp_path,
        r"""# variables, quoting, functions, tests and loops as GRUB runs them
set opts="quiet  splash"
set empty=
function add_console { set opts="${opts} console=$1"; }
add_console ttyS0,115200
if [ -f /boot/grub/missing.cfg ]; then set default=9
elif [ "x${grub_platform}" = xpc -a ! -z "$opts" ]; then set default=fedora
else set default=7; fi
if loadfont unicode; then set opts=broken; fi
for i in 1 2; do set last=$i; done
menuentry 'Other' --class os { chainloader +1 }
menuentry "It's \"ours\"" --id=fedora --unrestricted {
    linux ($root)/vmlinuz-6.9 root=/dev/sda1 $opts $empty "a b" 'c\d' x\ y last=$last
    initrd /ucode.img /initrd-6.9.img
    initrd /initrd-6.9.img
}
""",
    )
    selection = grub_selection(SysRoot(tmp_path))
    assert selection is not None and selection.default is not None
    default = selection.default
    assert default.title == 'It\'s "ours"'
    assert default.entry_id == "fedora"
    assert default.cmdline == (
        'root=/dev/sda1 quiet splash console=ttyS0,115200 "a b" c\\\\d "x y" last=2'
    )
    assert default.initrds == ("/initrd-6.9.img",)  # a second initrd command replaces the first
    assert default.kernel == "/vmlinuz-6.9"
    assert default.version == "6.9"
    assert [e.title for e in selection.entries] == ['It\'s "ours"']  # chainloader: no kernel


def test_default_that_is_not_linux_boots_nothing_we_can_load(tmp_path: Path) -> None:
    write_cfg(
        tmp_path,
        "set default=1\nmenuentry L { linux /vmlinuz-1 }\nmenuentry W { chainloader +1 }\n",
    )
    selection = grub_selection(SysRoot(tmp_path))
    assert selection is not None
    assert selection.default is None
    assert selection.via == "default=1"
    assert [e.title for e in selection.entries] == ["L"]


def test_submenu_sees_only_exported_variables(tmp_path: Path) -> None:
    write_cfg(
        tmp_path,
        "set kept=1\nset lost=2\nexport kept\n"
        "submenu S { menuentry E { linux /vmlinuz-1 k=$kept l=$lost } }\n",
    )
    selection = grub_selection(SysRoot(tmp_path))
    assert selection is not None and selection.default is not None
    assert selection.default.title == "S>E"
    assert selection.default.cmdline == "k=1 l="


def test_links_in_the_target_resolve_inside_root(tmp_path: Path) -> None:
    write_cfg(tmp_path, "menuentry D { linux /vmlinuz root=/dev/sda1\n initrd /initrd.img }\n")
    (tmp_path / "boot/vmlinuz-6.9").write_text("kernel")
    (tmp_path / "boot/vmlinuz").write_text("another kernel, on a separate /boot")
    (tmp_path / "vmlinuz").symlink_to("/boot/vmlinuz-6.9")  # absolute, as Debian makes it
    (tmp_path / "boot/initrd.img").write_text("initrd")
    selection = grub_selection(SysRoot(tmp_path))
    assert selection is not None and selection.default is not None
    assert selection.default.kernel == "/vmlinuz"  # exists in the target, though not on the host
    assert selection.default.initrds == ("/boot/initrd.img",)
