"""A small boot disk with GRUB on it, for guests that boot the way a real server does.

``-kernel`` makes QEMU's firmware load the kernel from fw_cfg and skip the disk
bootloader, which no real machine does. For a firmware reboot measured like a real one,
the guest boots instead from a second disk holding only GRUB:

- ``grub-bios``: SeaBIOS loads GRUB's ``boot.img`` from the MBR, which loads ``core.img``
  from the sectors after it (a disk without partitions, as before any partition starts);
- ``grub-uefi``: OVMF starts ``EFI/BOOT/BOOTX64.EFI`` from a FAT file system (the removable
  media path, no boot entry needed).

Either GRUB image carries its configuration built in: timeout 0, no menu; find the root
file system by its label, ``linux /vmlinuz`` with the guest's command line, ``initrd
/initrd.img``, ``boot``. That is the bootloader default a Debian system keeps at
``/vmlinuz``, the kernel the fast reboots also go to. Built without root or loop devices:
``grub-mkimage`` and, for UEFI, mtools.

- ``grub-menu``: the BIOS disk above, but its built-in configuration only finds the root
  file system by its label and points ``$prefix`` at its ``/boot/grub``; GRUB's normal mode
  then runs the guest's own ``grub.cfg`` (menu entries with ids, ``load_env``,
  ``next_entry``, ``save_env`` into ``/boot/grub/grubenv``), as ``grub-install`` sets a
  real machine up. The modules that ``grub.cfg`` loads are built into ``core.img`` (the
  guest has no ``/boot/grub/i386-pc``), so a host GRUB never loads a guest's module.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

GRUB_LIB = Path("/usr/lib/grub")
KINDS = ("grub-bios", "grub-uefi", "grub-menu")
SECTOR = 512
BIOS_DISK_BYTES = 1024 * 1024  # boot.img + core.img (~280 sectors)
ESP_SECTORS = 8192  # a 4 MiB FAT file system; BOOTX64.EFI is ~0.3 MB
MODULES = ("ext2", "search", "search_label", "linux", "boot", "echo")
#: What grub-menu's normal mode and a Debian grub.cfg need besides. all_video too: an
#: entry whose insmod fails makes GRUB wait at "Press any key to continue..." (~19 s).
MENU_MODULES = ("normal", "configfile", "loadenv", "test", "gzio", "search_fs_uuid",
                "part_msdos", "part_gpt", "sleep", "all_video")


def grub_config(kind: str, root_label: str, cmdline: str) -> str:
    # SeaBIOS has no console of its own on the serial port for GRUB to write to; OVMF has.
    serial = ""
    if kind in ("grub-bios", "grub-menu"):
        serial = "serial --unit=0 --speed=115200\nterminal_output serial\n"
    if kind == "grub-menu":
        # After this, GRUB's normal mode runs $prefix/grub.cfg.
        return (
            serial
            + 'echo "GRUB: the root file system\'s /boot/grub/grub.cfg"\n'
            f"search --no-floppy --label --set=root {root_label}\n"
            "set prefix=($root)/boot/grub\n"
        )
    return (
        serial
        + 'echo "GRUB: booting /vmlinuz"\n'
        f"search --no-floppy --label --set=root {root_label}\n"
        f"linux /vmlinuz {cmdline}\n"
        "initrd /initrd.img\n"
        "boot\n"
    )


def build(dest: Path, kind: str, root_label: str, cmdline: str) -> Path:
    """Write a raw boot disk of *kind* to *dest*; returns *dest*."""
    if kind not in KINDS:
        raise ValueError(f"unknown boot disk kind {kind!r}")
    work = dest.parent / f".{dest.name}.d"
    work.mkdir(parents=True, exist_ok=True)
    config = work / "grub.cfg"
    config.write_text(grub_config(kind, root_label, cmdline))
    if kind == "grub-bios":
        _bios_disk(dest, work, config)
    elif kind == "grub-menu":
        _bios_disk(dest, work, config, *MENU_MODULES)
    else:
        _uefi_disk(dest, work, config)
    return dest


def _mkimage(format_: str, output: Path, config: Path, *extra: str) -> None:
    subprocess.run(
        ["grub-mkimage", "-O", format_, "-o", str(output), "-c", str(config), "-p", "/boot/grub",
         *extra, *MODULES],
        check=True, capture_output=True, timeout=60,
    )


def _bios_disk(dest: Path, work: Path, config: Path, *modules: str) -> None:
    core = work / "core.img"
    _mkimage("i386-pc", core, config, "biosdisk", "serial", "terminal", *modules)
    boot = (GRUB_LIB / "i386-pc" / "boot.img").read_bytes()
    data = core.read_bytes()
    if SECTOR + len(data) > BIOS_DISK_BYTES:
        raise RuntimeError(f"core.img is {len(data)} bytes, too large for the boot disk")
    disk = bytearray(BIOS_DISK_BYTES)
    # boot.img's code and its 0x55aa signature; no partition table. Its defaults already
    # point at what follows: core.img from sector 1, whose first sector (diskboot) loads the
    # rest from sector 2 on, a length grub-mkimage writes in.
    disk[:440] = boot[:440]
    disk[510:512] = boot[510:512]
    disk[SECTOR : SECTOR + len(data)] = data
    dest.write_bytes(bytes(disk))


def _uefi_disk(dest: Path, work: Path, config: Path) -> None:
    efi = work / "BOOTX64.EFI"
    _mkimage("x86_64-efi", efi, config)
    dest.unlink(missing_ok=True)
    image = str(dest)
    for argv in (
        ["mformat", "-i", image, "-C", "-T", str(ESP_SECTORS), "-h", "2", "-s", "16", "::"],
        ["mmd", "-i", image, "::/EFI", "::/EFI/BOOT"],
        ["mcopy", "-i", image, str(efi), "::/EFI/BOOT/BOOTX64.EFI"],
    ):
        subprocess.run(argv, check=True, capture_output=True, timeout=60)
