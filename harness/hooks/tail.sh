# fastreboot image customize hook, part 'tail' (concatenated by harness/images.py;
# run by mmdebstrap as `sh HOOK "$1"` with set -eu and VARIANT, OLD, NEW, MACHINE_ID,
# CMDLINE set in front).
cat > "$R/etc/fastreboot-image" <<EOF
VARIANT=$VARIANT
OLD_VERSION=$OLD
NEW_VERSION=$NEW
ORIG_VMLINUZ=$ORIG_VMLINUZ
ORIG_INITRD=$ORIG_INITRD
ORIG_LOAD_KEXEC=$ORIG_LOAD_KEXEC
EOF
say "customization done"
