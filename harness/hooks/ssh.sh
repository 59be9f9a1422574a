# fastreboot image customize hook, part 'ssh' (concatenated by harness/images.py;
# run by mmdebstrap as `sh HOOK "$1"` with set -eu and VARIANT, OLD, NEW, MACHINE_ID,
# CMDLINE set in front). For guests that Ansible drives over QEMU's user network
# (`-nic user,restrict=on,hostfwd=tcp:127.0.0.1:PORT-:22`); the key is authorized per run.

# QEMU's user network: the guest is always 10.0.2.15. Static, so no DHCP client and no
# wait for a lease in the boot; systemd-networkd is part of systemd.
mkdir -p "$R/etc/systemd/network"
cat > "$R/etc/systemd/network/10-qemu-user.network" <<'NET'
[Match]
Name=en* eth*

[Network]
Address=10.0.2.15/24
Gateway=10.0.2.2
LinkLocalAddressing=no
IPv6AcceptRA=no
NET
mkdir -p "$S/sockets.target.wants"
ln -sf /lib/systemd/system/systemd-networkd.service "$S/multi-user.target.wants/systemd-networkd.service"
ln -sf /lib/systemd/system/systemd-networkd.socket "$S/sockets.target.wants/systemd-networkd.socket"

# Key-only root login, no reverse DNS look-ups (there is no DNS behind restrict=on).
test -x "$R/usr/sbin/sshd" || die "openssh-server is not installed"
test -f "$R/lib/systemd/system/ssh.service" || die "no ssh.service unit"
# openssh-server's maintainer scripts do not enable it inside mmdebstrap's chroot.
ln -sf /lib/systemd/system/ssh.service "$S/multi-user.target.wants/ssh.service"
ln -sf /lib/systemd/system/ssh.service "$S/sshd.service"
ls "$R"/etc/ssh/ssh_host_*_key >/dev/null 2>&1 || die "no SSH host keys generated"
mkdir -p "$R/etc/ssh/sshd_config.d"
cat > "$R/etc/ssh/sshd_config.d/fastreboot-test.conf" <<'SSHD'
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
SSHD
install -d -m 0700 "$R/root/.ssh"

# agetty flushes the serial line when it starts on ttyS0; with three guests booting at once
# under TCG, fastreboot-ready's line was seen to vanish into that flush. Announce after it.
mkdir -p "$S/fastreboot-ready.service.d"
cat > "$S/fastreboot-ready.service.d/after-getty.conf" <<'UNIT'
[Unit]
After=serial-getty@ttyS0.service

[Service]
ExecStartPre=/bin/sleep 2
UNIT
