# fastreboot image customize hook, part 'sysv' (concatenated by harness/images.py;
# run by mmdebstrap as `sh HOOK "$1"` with set -eu and VARIANT, OLD, NEW, MACHINE_ID,
# CMDLINE set in front).
test -e "$R/lib/systemd/systemd" && die "systemd is installed in the sysv image"
grep -q '^T0:' "$R/etc/inittab" && sed -i '/^T0:/d' "$R/etc/inittab"
echo 'T0:2345:respawn:/sbin/getty -a root -L ttyS0 115200 vt100' >> "$R/etc/inittab"

cat > "$R/etc/init.d/victim" <<'EOF'
#!/bin/sh
### BEGIN INIT INFO
# Provides:          victim
# Required-Start:    $local_fs
# Required-Stop:     $local_fs
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: fastreboot test victim (records its clean stop)
### END INIT INFO
case "$1" in
    start) mkdir -p /run/victim && touch /run/victim/running ;;
    stop) /usr/local/sbin/victim-stop; rm -f /run/victim/running ;;
    status) test -e /run/victim/running ;;
    restart|force-reload) "$0" stop; "$0" start ;;
    *) echo "Usage: $0 {start|stop|status}" >&2; exit 3 ;;
esac
exit 0
EOF
cat > "$R/etc/init.d/fastreboot-ready" <<'EOF'
#!/bin/sh
### BEGIN INIT INFO
# Provides:          fastreboot-ready
# Required-Start:    $all
# Required-Stop:
# Default-Start:     2 3 4 5
# Default-Stop:
# Short-Description: fastreboot: announce that boot has finished
### END INIT INFO
case "$1" in
    start) /usr/local/sbin/fastreboot-ready ;;
    stop|status|restart|force-reload) ;;
    *) echo "Usage: $0 start" >&2; exit 3 ;;
esac
exit 0
EOF
chmod 0755 "$R/etc/init.d/victim" "$R/etc/init.d/fastreboot-ready"
chroot "$R" update-rc.d victim defaults
chroot "$R" update-rc.d fastreboot-ready defaults
ls "$R"/etc/rc0.d/K*victim "$R"/etc/rc6.d/K*victim >/dev/null || die "victim has no K links"
say "rc6.d: $(ls "$R/etc/rc6.d" | tr '\n' ' ')"
