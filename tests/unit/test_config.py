"""Config readers on fake sysroots built from the files distributions ship."""

from __future__ import annotations

from pathlib import Path

import pytest

from fastreboot.config.debian import DebianKexecConfig, read_debian_kexec
from fastreboot.config.own import LoadMethod, OwnConfig, RebootMethod, Target, read_own_config
from fastreboot.config.redhat import KdumpConfig, read_kdump_config
from fastreboot.errors import ConfigError
from fastreboot.sysroot import SysRoot

FIXTURES = Path(__file__).parent.parent / "fixtures" / "config"
# Debian 12 kexec-tools 1:2.0.25-3+deb12u3 postinst text; see tests/fixtures/config/README.
DEBIAN_SHIPPED = (FIXTURES / "debian-bookworm-kexec").read_text()
# RHEL 9 x86_64 /etc/sysconfig/kdump from gen-kdump-sysconfig.sh; see the README.
RHEL9_KDUMP = (FIXTURES / "rhel9-sysconfig-kdump-x86_64").read_text()


def put(root: Path, target: str, text: str, mode: int = 0o644) -> Path:
    """Write a file at its target path under the sysroot, with a fixed mode (not umask's)."""
    path = root / target.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    for parent in [path.parent, *path.parent.parents]:
        if parent == root:
            break
        parent.chmod(0o755)
    path.write_text(text)
    path.chmod(mode)
    return path


def mode_warnings(warnings: tuple[str, ...]) -> list[str]:
    """Warnings other than "not owned by root", which every file has when tests run as a user."""
    return [w for w in warnings if "writable" in w or "owned by uid" not in w]


# --- Debian /etc/default/kexec -------------------------------------------------------------


def test_debian_missing_is_none(tmp_path: Path) -> None:
    (tmp_path / "etc/default").mkdir(parents=True)
    assert read_debian_kexec(SysRoot(tmp_path)) is None


def test_debian_shipped_file(tmp_path: Path) -> None:
    put(tmp_path, "/etc/default/kexec", DEBIAN_SHIPPED)
    config = read_debian_kexec(SysRoot(tmp_path))
    assert config is not None
    assert mode_warnings(config.warnings) == []
    assert config == DebianKexecConfig(
        load_kexec=False,
        kernel_image="/vmlinuz",
        initrd="/initrd.img",
        append="",
        use_grub_config=False,
        files=("/etc/default/kexec",),
        warnings=config.warnings,
    )


def test_debian_fresh_install_answer_enables_kexec(tmp_path: Path) -> None:
    # The postinst's update_param sed with debconf's default answer (true).
    text = DEBIAN_SHIPPED.replace("LOAD_KEXEC=false", "LOAD_KEXEC=true")
    put(tmp_path, "/etc/default/kexec", text)
    config = read_debian_kexec(SysRoot(tmp_path))
    assert config is not None and config.load_kexec is True


def test_debian_snippets_override_in_run_parts_order(tmp_path: Path) -> None:
    put(tmp_path, "/etc/default/kexec", DEBIAN_SHIPPED)
    put(tmp_path, "/etc/default/kexec.d/20-b", 'APPEND="from-20"\nINITRD=""\n')
    put(tmp_path, "/etc/default/kexec.d/10-a", 'APPEND="from-10"\nLOAD_KEXEC=true\n')
    # Byte order, as run-parts sorts: digits, then upper case, then lower case.
    put(tmp_path, "/etc/default/kexec.d/Upper", 'KERNEL_IMAGE="/boot/vmlinuz-upper"\n')
    put(tmp_path, "/etc/default/kexec.d/lower", 'KERNEL_IMAGE="/boot/vmlinuz-lower"\n')
    put(tmp_path, "/srv/shared-snippet", "USE_GRUB_CONFIG=true\n")
    # An absolute link means a path on the target, not on the host running the tests.
    (tmp_path / "etc/default/kexec.d/30_link").symlink_to("/srv/shared-snippet")
    config = read_debian_kexec(SysRoot(tmp_path))
    assert config is not None
    assert config.files == (
        "/etc/default/kexec",
        "/etc/default/kexec.d/10-a",
        "/etc/default/kexec.d/20-b",
        "/etc/default/kexec.d/30_link",
        "/etc/default/kexec.d/Upper",
        "/etc/default/kexec.d/lower",
    )
    assert config.append == "from-20"
    assert config.initrd == ""
    assert config.load_kexec is True
    assert config.use_grub_config is True
    assert config.kernel_image == "/boot/vmlinuz-lower"


def test_debian_skips_what_run_parts_skips(tmp_path: Path) -> None:
    put(tmp_path, "/etc/default/kexec", DEBIAN_SHIPPED)
    put(tmp_path, "/etc/default/kexec.d/local.conf", "LOAD_KEXEC=true\n")
    (tmp_path / "etc/default/kexec.d/subdir").mkdir()
    (tmp_path / "etc/default/kexec.d/gone").symlink_to("/nowhere")
    config = read_debian_kexec(SysRoot(tmp_path))
    assert config is not None
    assert config.load_kexec is False
    assert config.files == ("/etc/default/kexec",)
    assert mode_warnings(config.warnings) == [
        "/etc/default/kexec.d/gone is a dangling symlink: run-parts skips it",
        "/etc/default/kexec.d/local.conf is ignored: run-parts only lists names of A-Z a-z 0-9 _ -",
    ]


def test_debian_snippets_without_main_file(tmp_path: Path) -> None:
    put(tmp_path, "/etc/default/kexec.d/fastreboot", 'KERNEL_IMAGE="/boot/vmlinuz"\n')
    config = read_debian_kexec(SysRoot(tmp_path))
    assert config is not None
    assert config.files == ("/etc/default/kexec.d/fastreboot",)
    assert config.load_kexec is None and config.initrd is None and config.append is None
    assert config.use_grub_config is False


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("false", False), ("", False)])
def test_debian_booleans(tmp_path: Path, value: str, expected: bool) -> None:
    put(tmp_path, "/etc/default/kexec", f"LOAD_KEXEC={value}\nUSE_GRUB_CONFIG={value}\n")
    config = read_debian_kexec(SysRoot(tmp_path))
    assert config is not None
    assert config.load_kexec is expected and config.use_grub_config is expected


@pytest.mark.parametrize("value", ["yes", "1", "True", "TRUE", '"true "'])
def test_debian_bad_boolean_names_file_and_line(tmp_path: Path, value: str) -> None:
    put(tmp_path, "/etc/default/kexec", DEBIAN_SHIPPED)
    put(tmp_path, "/etc/default/kexec.d/50-mine", f"# mine\nUSE_GRUB_CONFIG={value}\n")
    with pytest.raises(ConfigError, match=r"^/etc/default/kexec\.d/50-mine:2: USE_GRUB_CONFIG="):
        read_debian_kexec(SysRoot(tmp_path))


def test_debian_shell_code_in_a_snippet_is_refused(tmp_path: Path) -> None:
    put(tmp_path, "/etc/default/kexec", DEBIAN_SHIPPED)
    put(tmp_path, "/etc/default/kexec.d/99-x", 'APPEND="$(cat /proc/cmdline) quiet"\n')
    with pytest.raises(ConfigError, match=r"^/etc/default/kexec\.d/99-x:1: command substitution"):
        read_debian_kexec(SysRoot(tmp_path))


def test_debian_old_use_kexec_is_reported(tmp_path: Path) -> None:
    put(tmp_path, "/etc/default/kexec", 'USE_KEXEC=1\nKERNEL_IMAGE="/vmlinuz"\n')
    config = read_debian_kexec(SysRoot(tmp_path))
    assert config is not None and config.load_kexec is None
    assert mode_warnings(config.warnings) == [
        "/etc/default/kexec:1: USE_KEXEC is ignored: kexec-tools' scripts read LOAD_KEXEC"
    ]


def test_debian_writable_files_and_directory_are_reported(tmp_path: Path) -> None:
    put(tmp_path, "/etc/default/kexec", DEBIAN_SHIPPED, mode=0o664)
    (tmp_path / "etc/default/kexec.d").mkdir(mode=0o777)
    (tmp_path / "etc/default/kexec.d").chmod(0o777)  # empty, but anyone may add a snippet
    config = read_debian_kexec(SysRoot(tmp_path))
    assert config is not None
    found = mode_warnings(config.warnings)
    assert len(found) == 2
    assert found[0].startswith("/etc/default/kexec is writable by group or others (mode 0664)")
    assert found[1].startswith("/etc/default/kexec.d is writable by group or others (mode 0777)")


def test_debian_unreadable_and_undecodable_files(tmp_path: Path) -> None:
    (tmp_path / "etc/default/kexec").mkdir(parents=True)
    with pytest.raises(ConfigError, match=r"^/etc/default/kexec: cannot read"):
        read_debian_kexec(SysRoot(tmp_path))
    (tmp_path / "etc/default/kexec").rmdir()
    (tmp_path / "etc/default/kexec").write_bytes(b"LOAD_KEXEC=true\nAPPEND='caf\xe9'\n")
    with pytest.raises(ConfigError, match=r"^/etc/default/kexec:2: not valid UTF-8"):
        read_debian_kexec(SysRoot(tmp_path))


# --- Red Hat /etc/sysconfig/kdump ----------------------------------------------------------


def test_kdump_missing_is_none(tmp_path: Path) -> None:
    assert read_kdump_config(SysRoot(tmp_path)) is None


def test_kdump_shipped_rhel9_file(tmp_path: Path) -> None:
    put(tmp_path, "/etc/sysconfig/kdump", RHEL9_KDUMP)
    config = read_kdump_config(SysRoot(tmp_path))
    assert config is not None
    assert mode_warnings(config.warnings) == []
    assert config == KdumpConfig(
        kernel_version=None,
        commandline=None,
        commandline_append=(
            "irqpoll nr_cpus=1 reset_devices cgroup_disable=memory mce=off numa=off"
            " udev.children-max=2 panic=10 acpi_no_memhotplug transparent_hugepage=never"
            " nokaslr hest_disable novmcoredd cma=0 hugetlb_cma=0"
        ),
        commandline_remove=(
            "hugepages",
            "hugepagesz",
            "slub_debug",
            "quiet",
            "log_buf_len",
            "swiotlb",
            "cma",
            "hugetlb_cma",
            "ignition.firstboot",
        ),
        kexec_args=("-s",),
        bootdir="/boot",
        img="vmlinuz",
        img_ext="",
        mkdumprd_args="",
        files=("/etc/sysconfig/kdump",),
        warnings=config.warnings,
    )


def test_kdump_edited_values(tmp_path: Path) -> None:
    release = "5.14.0-427.13.1.el9_4.x86_64"
    text = RHEL9_KDUMP.replace('KDUMP_KERNELVER=""', f'KDUMP_KERNELVER="{release}"')
    text = text.replace('KDUMP_COMMANDLINE=""', 'KDUMP_COMMANDLINE="ro root=LABEL=/"')
    text = text.replace('KEXEC_ARGS="-s"', 'KEXEC_ARGS="-s  --elf32-core-headers"')
    text = text.replace('#KDUMP_BOOTDIR="/boot"', 'KDUMP_BOOTDIR="/boot/efi"')
    text += 'KDUMP_IMG_EXT=".gz"\nMKDUMPRD_ARGS="--debug"\n'
    put(tmp_path, "/etc/sysconfig/kdump", text)
    config = read_kdump_config(SysRoot(tmp_path))
    assert config is not None
    assert config.kernel_version == release
    assert config.commandline == "ro root=LABEL=/"
    assert config.kexec_args == ("-s", "--elf32-core-headers")
    assert config.bootdir == "/boot/efi"
    assert config.img_ext == ".gz"
    assert config.mkdumprd_args == "--debug"


def test_kdump_empty_file_gives_defaults(tmp_path: Path) -> None:
    put(tmp_path, "/etc/sysconfig/kdump", 'KDUMP_BOOTDIR=""\nKDUMP_IMG=""\n')
    config = read_kdump_config(SysRoot(tmp_path))
    assert config is not None
    assert (config.bootdir, config.img, config.img_ext) == ("/boot", "vmlinuz", "")
    assert config.commandline_remove == () and config.kexec_args == ()


# --- /etc/fastreboot.toml ------------------------------------------------------------------


def test_own_config_missing_gives_defaults(tmp_path: Path) -> None:
    assert read_own_config(SysRoot(tmp_path)) == OwnConfig()
    assert OwnConfig().target is None and OwnConfig().strip_cmdline == ()


def test_own_config_all_keys(tmp_path: Path) -> None:
    put(
        tmp_path,
        "/etc/fastreboot.toml",
        "# fastreboot settings\n"
        'target = "newest"\n'
        'reboot_method = "systemd"\n'
        'load_method = "kexec_file_load"\n'
        'strip_cmdline = ["rhgb", "quiet"]\n'
        'append = "console=ttyS0,115200"\n'
        "auto_kexec = true\n",
    )
    config = read_own_config(SysRoot(tmp_path))
    assert mode_warnings(config.warnings) == []
    assert config == OwnConfig(
        target=Target.NEWEST,
        reboot_method=RebootMethod.SYSTEMD,
        load_method=LoadMethod.FILE,
        strip_cmdline=("rhgb", "quiet"),
        append="console=ttyS0,115200",
        auto_kexec=True,
        files=("/etc/fastreboot.toml",),
        warnings=config.warnings,
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('target = "default"\ntimeout = 5\n', r"^/etc/fastreboot\.toml:2: unknown key 'timeout'"),
        ('append = ""\n[extra]\nx = 1\n', r"^/etc/fastreboot\.toml:2: unknown key 'extra'"),
        ('\n\ntarget = "latest"\n', r"^/etc/fastreboot\.toml:3: target must be one of 'default'"),
        ("target = 1\n", r"^/etc/fastreboot\.toml:1: target must be one of"),
        ('load_method = "file"\n', r":1: load_method must be one of .*'kexec_file_load'"),
        ('reboot_method = "kexec"\n', r":1: reboot_method must be one of 'auto', 'systemd'"),
        ('auto_kexec = "yes"\n', r":1: auto_kexec must be true or false, not 'yes'"),
        ("append = 1\n", r":1: append must be a string, not 1"),
        ('strip_cmdline = "quiet"\n', r":1: strip_cmdline must be a list of single words"),
        ('strip_cmdline = ["a b"]\n', r":1: strip_cmdline must be a list of single words"),
        ("strip_cmdline = [1]\n", r":1: strip_cmdline must be a list of single words"),
        ('target = "newest"\nappend = \n', r"^/etc/fastreboot\.toml:2: invalid TOML"),
    ],
)
def test_own_config_errors_name_the_key_and_line(tmp_path: Path, text: str, message: str) -> None:
    put(tmp_path, "/etc/fastreboot.toml", text)
    with pytest.raises(ConfigError, match=message):
        read_own_config(SysRoot(tmp_path))


def test_own_config_writable_file_is_reported(tmp_path: Path) -> None:
    put(tmp_path, "/etc/fastreboot.toml", "auto_kexec = false\n", mode=0o646)
    config = read_own_config(SysRoot(tmp_path))
    assert config.auto_kexec is False
    (warning,) = mode_warnings(config.warnings)
    assert warning.startswith("/etc/fastreboot.toml is writable by group or others (mode 0646)")
