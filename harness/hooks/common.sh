# fastreboot image customize hook, part 'common' (concatenated by harness/images.py;
# run by mmdebstrap as `sh HOOK "$1"` with set -eu and VARIANT, OLD, NEW, MACHINE_ID,
# CMDLINE set in front).
say() { echo "[fastreboot-image:$VARIANT] $*" >&2; }
die() { say "ERROR: $*"; exit 1; }
R="$1"
test -d "$R/etc" || die "no root directory given"

for v in "$OLD" "$NEW"; do
    test -f "$R/boot/vmlinuz-$v" || die "kernel $v not installed"
    test -f "$R/boot/initrd.img-$v" || die "initrd for $v not generated"
done

# What Debian's linux-update-symlinks left behind, recorded before anything is fixed.
ORIG_VMLINUZ=$(readlink "$R/vmlinuz" || true)
ORIG_INITRD=$(readlink "$R/initrd.img" || true)
say "after package installation: /vmlinuz -> $ORIG_VMLINUZ, /initrd.img -> $ORIG_INITRD"
ORIG_LOAD_KEXEC=$(sed -n 's/^LOAD_KEXEC=//p' "$R/etc/default/kexec" 2>/dev/null || true)
say "after package installation: LOAD_KEXEC=$ORIG_LOAD_KEXEC"

# The bootloader default is the newer kernel: /vmlinuz and /initrd.img point at it,
# the .old links at the older one (as linux-update-symlinks does after an upgrade).
ln -sfn "boot/vmlinuz-$NEW" "$R/vmlinuz"
ln -sfn "boot/initrd.img-$NEW" "$R/initrd.img"
ln -sfn "boot/vmlinuz-$OLD" "$R/vmlinuz.old"
ln -sfn "boot/initrd.img-$OLD" "$R/initrd.img.old"

# (Debian 13's kexec-tools has no LOAD_KEXEC any more: it never loads on its own.)
if grep -q '^LOAD_KEXEC=' "$R/etc/default/kexec" 2>/dev/null; then
    sed -i 's/^LOAD_KEXEC=.*/LOAD_KEXEC=false/' "$R/etc/default/kexec"
    grep -qx 'LOAD_KEXEC=false' "$R/etc/default/kexec" || die "cannot set LOAD_KEXEC=false"
fi

echo "fr-$VARIANT" > "$R/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tfr-%s\n::1\tlocalhost ip6-localhost\n' \
    "$VARIANT" > "$R/etc/hosts"
echo "$MACHINE_ID" > "$R/etc/machine-id"

cat > "$R/etc/fstab" <<'EOF'
# fastreboot test guest
/dev/vda / ext4 rw 0 1
/dev/vdb /opt/fastreboot ext4 ro,nofail 0 0
EOF
mkdir -p "$R/opt/fastreboot" "$R/var/lib/victim" "$R/usr/local/bin" "$R/usr/local/sbin"

# Keep kernel messages off the serial shell (loglevel=4 is on the command line too).
mkdir -p "$R/etc/sysctl.d"
echo 'kernel.printk = 4 4 1 7' > "$R/etc/sysctl.d/10-fastreboot-printk.conf"

# The product, run from the read-only project disk built from the working tree, by a
# script like the one pip writes for the console entry point (no shell, no runpy).
cat > "$R/usr/local/bin/fastreboot" <<'EOF'
#!/usr/bin/python3
import sys
sys.path.insert(0, "/opt/fastreboot/src")
from fastreboot.cli import main
sys.exit(main())
EOF
chmod 0755 "$R/usr/local/bin/fastreboot"

# The victim: proves that services are stopped cleanly before a reboot.
cat > "$R/usr/local/sbin/victim-stop" <<'EOF'
#!/bin/sh
# Called when the victim service is stopped.
mkdir -p /var/lib/victim
echo "stopped boot_id=$(cat /proc/sys/kernel/random/boot_id)" >> /var/lib/victim/records
sync
EOF
chmod 0755 "$R/usr/local/sbin/victim-stop"

# The ready marker, written at the very end of boot.
cat > "$R/usr/local/sbin/fastreboot-ready" <<'EOF'
#!/bin/sh
line="FASTREBOOT-READY boot_id=$(cat /proc/sys/kernel/random/boot_id) kernel=$(uname -r) uptime=$(cut -d' ' -f1 /proc/uptime)"
echo "<6>$line" > /dev/kmsg 2>/dev/null || true
printf '\r\n%s\r\n' "$line" > /dev/ttyS0
EOF
chmod 0755 "$R/usr/local/sbin/fastreboot-ready"

# A machine-friendly root shell on the serial console (only there).
touch "$R/root/.hushlogin"
cat >> "$R/root/.bashrc" <<'EOF'

# --- fastreboot test harness: machine-friendly shell on the serial console ---
if [ "$(tty 2>/dev/null)" = /dev/ttyS0 ]; then
    set +o emacs
    set +o vi
    stty -echo -ixon cols 250 rows 50 2>/dev/null
    PS1='FRB# '
    PS2=''
    unset PROMPT_COMMAND HISTFILE
    export TERM=dumb PAGER=cat SYSTEMD_PAGER=cat SYSTEMD_COLORS=0 COLUMNS=250
    printf 'FASTREBOOT-SHELL boot_id=%s\n' "$(cat /proc/sys/kernel/random/boot_id)"
fi
EOF
