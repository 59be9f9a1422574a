"""The Ansible role with `fastreboot_kind: auto` on a Debian 13 guest (systemd 257) whose
planned kernel is the running one: the plan decides soft, the module runs `fastreboot
reboot --kind soft`, nothing is loaded, and the role waits for and verifies a soft reboot
(same boot id and kernel, SoftRebootsCount one up, the record soft and ok)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from harness import Guest, GuestImage
from harness.images import TRIXIE
from harness.qemu import free_port
from tests.vm.summary import record
from tests.vm.test_ansible import ARTIFACTS, COLLECTION, ROLLING, Fleet
from tests.vm.test_scenarios import stop_and_keep_logs

pytestmark = pytest.mark.vm

SOFT_ROLLING = ROLLING.replace("""    fastreboot_gate_delay: 2
""", """    fastreboot_gate_delay: 2
    fastreboot_kind: auto
    fastreboot_selection: {target: running}
""")


def test_role_auto_soft_reboots_a_host_whose_kernel_stays(
    trixiessh_image: GuestImage, project_disk: Path, tmp_path: Path
) -> None:
    if shutil.which("ansible-playbook") is None:
        pytest.fail("ansible-core is not installed (pip install -e '.[test]')")
    assert SOFT_ROLLING != ROLLING
    image = trixiessh_image
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    collections = tmp_path / "collections"
    subprocess.run(["ansible-galaxy", "collection", "install", str(COLLECTION),
                    "-p", str(collections)], check=True, capture_output=True, timeout=300)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    port = free_port()
    guest = Guest(image, tmp_path / "soft1", name="soft1", project_disk=project_disk, smp=1,
                  ssh_port=port)
    try:
        guest.start()
        before = guest.wait_ready(timeout=400)
        guest.authorize_ssh_key(key.with_suffix(".pub").read_text())
        count = int(guest.run("systemctl show -P SoftRebootsCount").output.strip())
        fleet = Fleet({"soft1": guest}, tmp_path, collections)
        fleet.inventory.write_text(
            "[fleet]\n"
            f"soft1 ansible_host=127.0.0.1 ansible_port={port} ansible_user=root "
            f"ansible_ssh_private_key_file={key} ansible_python_interpreter=/usr/bin/python3 "
            "ansible_ssh_common_args='-o StrictHostKeyChecking=no "
            "-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR'\n")
        ran, results = fleet.playbook("soft", SOFT_ROLLING)
        assert ran.returncode == 0, ran.stdout[-4000:]
        res = results["soft1"]
        assert res["kind"] == "soft" and res["kind_why"].startswith("auto:"), res
        assert res["rebooted"] is True and res["loaded"] is False
        assert res["boot_id_before"] == before.boot_id == res["boot_id_after"]
        assert res["kernel"] == TRIXIE.old_version == before.kernel
        assert res["soft_state_before"]["soft_reboots"] == count
        assert res["soft_state_after"]["soft_reboots"] == count + 1
        rec = res["record"]
        assert rec["kind"] == "soft" and rec["state"] == "ok" and rec["boot_id"] == before.boot_id
        assert res["downtime_s"] == rec["downtime_s"] > 0
        after = guest.wait_reboot(timeout=120)  # the console's new shell
        assert after.boot_id == before.boot_id and not guest.resets
        assert guest.run("systemctl show -P SoftRebootsCount").output.strip() == str(count + 1)
        assert guest.run("cat /sys/kernel/kexec_loaded").output.strip() == "0"
        record("ansible soft (auto, Debian 13)",
               f"soft reboot, down {res['downtime_s']} s, back {res['wait_s']} s after launch")
    finally:
        stop_and_keep_logs(guest, ARTIFACTS)
