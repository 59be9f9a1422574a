# fastreboot image customize hook, part 'debpkg' (concatenated by harness/images.py;
# run by mmdebstrap as `sh HOOK "$1"` with set -eu and VARIANT, OLD, NEW, MACHINE_ID,
# CMDLINE set in front).
# fastreboot comes from its Debian package here, never from the working tree: no wrapper,
# and the second disk (which holds the .deb) is mounted at /mnt/packages, not /opt.
rm -f "$R/usr/local/bin/fastreboot"
rmdir "$R/opt/fastreboot"
sed -i 's|^/dev/vdb /opt/fastreboot |/dev/vdb /mnt/packages |' "$R/etc/fstab"
grep -q '^/dev/vdb /mnt/packages ' "$R/etc/fstab" || die "cannot move the second disk's mount"
mkdir -p "$R/mnt/packages"
