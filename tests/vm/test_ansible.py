"""The Ansible collection against three real guests (Debian 12 with SSH on loopback ports,
a key made for the run), driven by ansible-playbook: check mode, a rolling fast reboot
with serial 1, a held package-manager lock, and a host that fails and stops the rollout.

The guests are booted once for the module and shared by the scenarios, in this order.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import Guest, GuestImage
from harness.images import NEW_KERNEL_VERSION as NEW
from harness.qemu import free_port
from tests.vm.summary import record
from tests.vm.test_scenarios import stop_and_keep_logs

pytestmark = pytest.mark.vm
REPO = Path(__file__).resolve().parents[2]
COLLECTION = REPO / "ansible" / "fastreboot" / "fastreboot"
ARTIFACTS = REPO / "artifacts" / "ansible"
NAMES = ("fr1", "fr2", "fr3")


class Fleet:
    def __init__(self, guests: dict[str, Guest], workdir: Path, collections: Path) -> None:
        self.guests = guests
        self.workdir = workdir
        self.collections = collections
        self.inventory = workdir / "inventory.ini"

    def boot_id(self, name: str) -> str:
        return self.guests[name].run("cat /proc/sys/kernel/random/boot_id").output.strip()

    def playbook(self, name: str, text: str, *extra: str,
                 timeout: float = 1500) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
        """Run a playbook; returns the run and what its plays wrote to results/<host>.json."""
        results = self.workdir / "results"
        shutil.rmtree(results, ignore_errors=True)
        results.mkdir()
        path = self.workdir / f"{name}.yml"
        path.write_text(text.replace("RESULTS", str(results)))
        env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(self.collections),
               "ANSIBLE_NOCOLOR": "1", "ANSIBLE_HOST_KEY_CHECKING": "0",
               "ANSIBLE_RETRY_FILES_ENABLED": "0", "ANSIBLE_PIPELINING": "1"}
        ran = subprocess.run(["ansible-playbook", "-i", str(self.inventory), str(path), *extra],
                             capture_output=True, text=True, env=env, timeout=timeout,
                             check=False)
        (ARTIFACTS / f"{name}.log").write_text(ran.stdout + ran.stderr)
        found = {p.stem: json.loads(p.read_text()) for p in results.glob("*.json")}
        return ran, found


ROLLING = """\
- hosts: all
  serial: 1
  max_fail_percentage: 0
  gather_facts: false
  vars:
    fastreboot_gate_delay: 2
  roles:
    - fastreboot.fastreboot.rolling_reboot
  post_tasks:
    - name: Keep the result for the test
      ansible.builtin.copy:
        content: "{{ fastreboot_result | default({}) | to_json }}"
        dest: RESULTS/{{ inventory_hostname }}.json
      delegate_to: localhost
      check_mode: false
"""


@pytest.fixture(scope="module")
def fleet(
    ssh_image: GuestImage, project_disk: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fleet]:
    if shutil.which("ansible-playbook") is None:
        pytest.fail("ansible-core is not installed (pip install -e '.[test]')")
    image = ssh_image
    workdir = tmp_path_factory.mktemp("fleet")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    key = workdir / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    collections = workdir / "collections"
    subprocess.run(["ansible-galaxy", "collection", "install", str(COLLECTION),
                    "-p", str(collections)], check=True, capture_output=True, timeout=300)
    guests: dict[str, Guest] = {}
    lines = ["[fleet]"]
    try:
        for name in NAMES:  # one after another: three TCG boots at once crowd two cores
            port = free_port()
            guest = Guest(image, workdir / name, name=name, project_disk=project_disk,
                          smp=1, ssh_port=port)
            guests[name] = guest
            guest.start()
            guest.wait_ready(timeout=400)
            guest.authorize_ssh_key(key.with_suffix(".pub").read_text())
            lines.append(
                f"{name} ansible_host=127.0.0.1 ansible_port={port} ansible_user=root "
                f"ansible_ssh_private_key_file={key} ansible_python_interpreter=/usr/bin/python3 "
                "ansible_ssh_common_args='-o StrictHostKeyChecking=no "
                "-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR'")
        fl = Fleet(guests, workdir, collections)
        fl.inventory.write_text("\n".join(lines) + "\n")
        yield fl
    finally:
        for guest in guests.values():
            stop_and_keep_logs(guest, ARTIFACTS)


def test_a_check_mode_changes_nothing_and_names_the_hosts(fleet: Fleet) -> None:
    before = {name: fleet.boot_id(name) for name in NAMES}
    ran, results = fleet.playbook("check", ROLLING, "--check")
    assert ran.returncode == 0, ran.stdout[-4000:]
    assert sorted(results) == list(NAMES)
    for name in NAMES:
        assert results[name]["changed"] is True, results[name]
        assert results[name].get("rebooted") is False
        assert results[name]["plan"]["kernel_version"] == NEW
        assert fleet.boot_id(name) == before[name]
        assert fleet.guests[name].run("cat /sys/kernel/kexec_loaded").output.strip() == "0"
    record("ansible check mode", f"would reboot {', '.join(sorted(results))}; nothing changed")


def test_b_rolling_fast_reboot_one_host_at_a_time(fleet: Fleet) -> None:
    before = {name: fleet.boot_id(name) for name in NAMES}
    ran, results = fleet.playbook("rolling", ROLLING)
    assert ran.returncode == 0, ran.stdout[-4000:]
    windows = []
    for name in NAMES:
        res = results[name]
        assert res["rebooted"] is True and res["cold"] is False, res
        assert res["boot_id_before"] == before[name] != res["boot_id_after"]
        assert res["kernel"] == NEW
        assert res["record"]["state"] == "ok" and res["record"]["via_kexec"] is True
        assert res["downtime_s"] == res["record"]["downtime_s"] > 0
        assert res["ansible_facts"]["fastreboot_record"]["from_boot_id"] == before[name]
        guest = fleet.guests[name]
        assert not guest.exited and guest.resets == [], "a firmware reset happened"
        assert fleet.boot_id(name) == res["boot_id_after"]
        windows.append((res["launched_at"], res["back_at"], name))
    windows.sort()
    for (_, end, first), (start, _, second) in itertools.pairwise(windows):
        assert end <= start, f"{first} and {second} were down at the same time"
    record("ansible rolling serial 1", ", ".join(
        f"{n}: down {results[n]['downtime_s']} s, back {results[n]['wait_s']} s after launch"
        for n in NAMES))


def test_c_a_held_package_lock_holds_the_reboot(fleet: Fleet) -> None:
    guest = fleet.guests["fr1"]
    holder = textwrap.dedent("""\
        import fcntl, time
        f = open("/var/lib/dpkg/lock-frontend", "w")
        fcntl.lockf(f, fcntl.LOCK_EX)
        open("/root/lock-held", "w").write(str(time.time()))
        time.sleep(25)
        open("/root/lock-released", "w").write(str(time.time()))
    """)
    guest.run("rm -f /root/lock-held /root/lock-released; cat > /root/hold.py <<'EOF'\n"
              f"{holder}EOF\nsetsid nohup python3 /root/hold.py >/dev/null 2>&1 &\n"
              "for i in $(seq 50); do [ -e /root/lock-held ] && break; sleep 0.2; done; "
              "test -e /root/lock-held")
    ran, results = fleet.playbook("lock", ROLLING, "--limit", "fr1")
    assert ran.returncode == 0, ran.stdout[-4000:]
    # The gate said "not safe" at least once (its reasons show only with -v).
    assert "FAILED - RETRYING: [fr1]: Wait until nothing blocks a reboot" in ran.stdout
    released = float(guest.run("cat /root/lock-released").output)
    requested = results["fr1"]["record"]["requested_at"]
    assert requested >= released, "rebooted while the lock was held"
    record("ansible gate", f"reboot requested {requested - released:.1f} s after the lock went")


def test_d_a_failing_host_stops_the_rollout(fleet: Fleet) -> None:
    before = {name: fleet.boot_id(name) for name in NAMES}
    # fr2's configured kernel is no kernel at all: fastreboot refuses it.
    fleet.guests["fr2"].run("head -c 65536 /dev/urandom > /root/vmlinuz-bogus")
    ran, results = fleet.playbook(
        "failing", ROLLING, "-e", "@" + str(_host_vars(fleet)))
    assert ran.returncode != 0, ran.stdout[-4000:]
    assert results["fr1"]["rebooted"] is True
    assert "fr2" not in results or not results["fr2"].get("rebooted")
    assert "fr3" not in results
    assert fleet.boot_id("fr1") != before["fr1"]
    assert fleet.boot_id("fr2") == before["fr2"]
    assert fleet.boot_id("fr3") == before["fr3"]
    assert fleet.guests["fr2"].run("cat /sys/kernel/kexec_loaded").output.strip() == "0"
    record("ansible failing host", "fr1 rebooted, fr2 refused, fr3 untouched")


def _host_vars(fleet: Fleet) -> Path:
    """Extra vars giving fr2 (only) a kernel fastreboot refuses."""
    path = fleet.workdir / "failing-vars.yml"
    path.write_text(
        "fastreboot_selection: \"{{ {'kernel': '/root/vmlinuz-bogus'} "
        "if inventory_hostname == 'fr2' else {} }}\"\n")
    return path
