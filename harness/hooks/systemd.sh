# fastreboot image customize hook, part 'systemd' (concatenated by harness/images.py;
# run by mmdebstrap as `sh HOOK "$1"` with set -eu and VARIANT, OLD, NEW, MACHINE_ID,
# CMDLINE set in front).
S="$R/etc/systemd/system"
mkdir -p "$S/serial-getty@ttyS0.service.d" "$S/multi-user.target.wants"
cat > "$S/serial-getty@ttyS0.service.d/autologin.conf" <<'EOF'
[Service]
ExecStart=
ExecStart=-/sbin/agetty --autologin root --keep-baud 115200,57600,38400,9600 - $TERM
EOF

cat > "$S/victim.service" <<'EOF'
[Unit]
Description=fastreboot test victim (records its clean stop)
RequiresMountsFor=/var/lib/victim

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/true
ExecStop=/usr/local/sbin/victim-stop

[Install]
WantedBy=multi-user.target
EOF

# Ordered after multi-user.target but pulled in by it: no ordering cycle (Wants= does not
# order), exactly like systemd-update-utmp-runlevel.service.  default.target stays
# multi-user.target.
cat > "$S/fastreboot-ready.service" <<'EOF'
[Unit]
Description=fastreboot: announce that boot has finished
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/fastreboot-ready

[Install]
WantedBy=multi-user.target
EOF
ln -sf ../victim.service "$S/multi-user.target.wants/victim.service"
ln -sf ../fastreboot-ready.service "$S/multi-user.target.wants/fastreboot-ready.service"

# No background jobs that could disturb timing measurements; no gettys on the (absent)
# virtual terminals: getty-static.service alone costs ~3 s of boot under TCG.
for u in getty-static.service apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service \
         fstrim.timer; do
    ln -sf /dev/null "$S/$u"
done
test "$(readlink "$R/sbin/init")" = "/lib/systemd/systemd" \
    || test "$(readlink "$R/sbin/init")" = "../lib/systemd/systemd" \
    || die "PID 1 is not systemd: $(readlink "$R/sbin/init")"
