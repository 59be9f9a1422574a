"""Kernel command line rules on command lines as bootloaders really pass them."""

from __future__ import annotations

import pytest

from fastreboot.plan.cmdline import (
    build_cmdline,
    cmdline_has,
    cmdline_key,
    join_cmdline,
    split_cmdline,
)

# /proc/cmdline of a Debian 12 cloud image booted by GRUB, and of RHEL 9 on BIOS.
DEBIAN = (
    "BOOT_IMAGE=/boot/vmlinuz-6.1.0-47-cloud-amd64 root=PARTUUID=3c1b9a7e-01 ro"
    " console=tty0 console=ttyS0,115200 earlyprintk=ttyS0,115200 consoleblank=0"
)
RHEL = (
    "BOOT_IMAGE=(hd0,msdos1)/vmlinuz-5.14.0-427.13.1.el9_4.x86_64 root=/dev/mapper/rhel-root ro"
    " crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M resume=/dev/mapper/rhel-swap"
    " rd.lvm.lv=rhel/root rd.lvm.lv=rhel/swap rhgb quiet"
)


def test_split_keeps_double_quoted_values_in_one_word() -> None:
    line = ' root=/dev/sda1  dyndbg="file drivers/usb/* +p"\tquiet "opt=a b" tail="x'
    assert split_cmdline(line) == [
        "root=/dev/sda1",
        'dyndbg="file drivers/usb/* +p"',
        "quiet",
        '"opt=a b"',
        'tail="x',
    ]
    assert split_cmdline("  \n") == []


def test_join_is_the_inverse_of_split_up_to_blanks() -> None:
    words = split_cmdline(RHEL)
    assert join_cmdline(words) == RHEL
    assert join_cmdline(["a", 'b="c d"']) == 'a b="c d"'


@pytest.mark.parametrize(
    ("word", "key"),
    [
        ("quiet", "quiet"),
        ("root=UUID=x", "root"),
        ('dyndbg="a=b c"', "dyndbg"),
        ('"opt=a b"', "opt"),
    ],
)
def test_cmdline_key(word: str, key: str) -> None:
    assert cmdline_key(word) == key


def test_cmdline_has() -> None:
    words = split_cmdline(RHEL)
    assert cmdline_has(words, "crashkernel")
    assert cmdline_has(words, "rhgb")
    assert cmdline_has(words, "rd.lvm.lv=rhel/swap")
    assert not cmdline_has(words, "rd.lvm.lv=rhel/home")
    assert not cmdline_has(words, "rd")
    assert not cmdline_has(words, "nokaslr")


def test_bootloader_words_are_always_dropped() -> None:
    assert build_cmdline(DEBIAN) == (
        "root=PARTUUID=3c1b9a7e-01 ro console=tty0 console=ttyS0,115200"
        " earlyprintk=ttyS0,115200 consoleblank=0"
    )
    assert build_cmdline("initrd=\\initramfs.img root=/dev/vda1 BOOT_IMAGE=x") == "root=/dev/vda1"


def test_strip_and_remove_by_key() -> None:
    result = build_cmdline(RHEL, strip=["rhgb", "quiet"], remove=["crashkernel", "rd.lvm.lv"])
    assert result == "root=/dev/mapper/rhel-root ro resume=/dev/mapper/rhel-swap"


def test_remove_with_a_value_drops_only_that_word() -> None:
    result = build_cmdline(DEBIAN, remove=["console=tty0"])
    assert "console=tty0 " not in result and "console=ttyS0,115200" in result


def test_kdump_commandline_remove_semantics() -> None:
    # KDUMP_COMMANDLINE_REMOVE from RHEL 9's /etc/sysconfig/kdump removes by key.
    remove = ["hugepages", "hugepagesz", "slub_debug", "quiet", "log_buf_len", "swiotlb", "cma"]
    base = "ro hugepagesz=1G hugepages=16 quiet log_buf_len=1M cma=64M cmaX=1 root=/dev/sda"
    assert build_cmdline(base, remove=remove) == "ro cmaX=1 root=/dev/sda"


def test_append_replaces_same_key_and_does_not_repeat_words() -> None:
    base = "root=/dev/sda1 ro console=tty0 console=ttyS0,9600 nokaslr"
    result = build_cmdline(base, append="console=ttyS0,115200 nokaslr  ro  panic=10")
    assert result == "root=/dev/sda1 ro nokaslr console=ttyS0,115200 panic=10"


def test_append_keeps_several_values_it_gives_for_one_key() -> None:
    result = build_cmdline("root=/dev/sda1 console=tty1", append="console=tty0 console=ttyS0")
    assert result == "root=/dev/sda1 console=tty0 console=ttyS0"


def test_append_quoted_value_replaces_by_key() -> None:
    result = build_cmdline('root=/dev/sda1 dyndbg="module a +p"', append='dyndbg="module b +p"')
    assert result == 'root=/dev/sda1 dyndbg="module b +p"'


def test_init_arguments_after_double_dash_stay_last() -> None:
    base = "BOOT_IMAGE=/vmlinuz root=/dev/sda1 quiet -- single quiet"
    result = build_cmdline(base, strip=["quiet"], append="nomodeset")
    assert result == "root=/dev/sda1 nomodeset -- single quiet"


def test_result_is_deterministic_and_idempotent() -> None:
    once = build_cmdline(RHEL, strip=["rhgb"], append="quiet console=ttyS0 panic=10")
    assert once == build_cmdline(RHEL, strip=["rhgb"], append="quiet console=ttyS0 panic=10")
    assert build_cmdline(once, strip=["rhgb"], append="quiet console=ttyS0 panic=10") == once
    assert "  " not in once and once == once.strip()


def test_appended_init_arguments_go_after_double_dash() -> None:
    assert build_cmdline("root=/dev/sda1 quiet", append="nomodeset -- single") == (
        "root=/dev/sda1 quiet nomodeset -- single"
    )
    assert build_cmdline("root=/dev/sda1 -- emergency", append="-- single") == (
        "root=/dev/sda1 -- emergency single"
    )
