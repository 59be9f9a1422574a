# fastreboot image customize hook, part 'redhat' (concatenated by harness/images.py;
# run by mmdebstrap as `sh HOOK "$1"` with set -eu and VARIANT, OLD, NEW, MACHINE_ID,
# CMDLINE set in front).
# Red Hat layout: /boot/vmlinuz-V + /boot/initramfs-V.img, BLS type #1 entries, kdump
# sysconfig; no Debian /vmlinuz links, no /etc/default/kexec, no kexec init scripts.
mkdir -p "$R/boot/loader/entries"
for v in "$OLD" "$NEW"; do
    mv "$R/boot/initrd.img-$v" "$R/boot/initramfs-$v.img"
    cat > "$R/boot/loader/entries/$MACHINE_ID-$v.conf" <<EOF
title Debian GNU/Linux 12 (bookworm) ($v)
version $v
linux /boot/vmlinuz-$v
initrd /boot/initramfs-$v.img
options $CMDLINE
grub_users \$grub_users
grub_arg --unrestricted
grub_class debian
EOF
done
rm -f "$R/vmlinuz" "$R/vmlinuz.old" "$R/initrd.img" "$R/initrd.img.old"
rm -f "$R/etc/default/kexec"
for s in kexec kexec-load; do
    chroot "$R" update-rc.d -f "$s" remove >/dev/null 2>&1 || true
    rm -f "$R/etc/init.d/$s"
done
mkdir -p "$R/etc/sysconfig"
cat > "$R/etc/sysconfig/kdump" <<'EOF'
# Kernel Version string for the -kdump kernel, such as 2.6.13-1544.FC5kdump
# If no version is specified, then the init script will try to find a
# kdump kernel with the same version number as the running kernel.
KDUMP_KERNELVER=""

# The kdump commandline is the command line that needs to be passed off to
# the kdump kernel.  This will likely match the contents of the grub kernel
# line.  For example:
#   KDUMP_COMMANDLINE="ro root=LABEL=/"
# Dracut depends on proper root= options, so please make sure that appropriate
# root= options are copied from /proc/cmdline. In general it is best to append
# command line options using "KDUMP_COMMANDLINE_APPEND=".
# If a command line is not specified, the default will be taken from
# /proc/cmdline
KDUMP_COMMANDLINE=""

# This variable lets us remove arguments from the current kdump commandline
# as taken from either KDUMP_COMMANDLINE above, or from /proc/cmdline
# NOTE: some arguments such as crashkernel will always be removed
KDUMP_COMMANDLINE_REMOVE="hugepages hugepagesz slub_debug quiet log_buf_len swiotlb cma hugetlb_cma ignition.firstboot"

# This variable lets us append arguments to the current kdump commandline
# after processed by KDUMP_COMMANDLINE_REMOVE
KDUMP_COMMANDLINE_APPEND="irqpoll nr_cpus=1 reset_devices cgroup_disable=memory mce=0 numa=off udev.children-max=2 panic=10 acpi_no_memhotplug transparent_hugepage=never nokaslr hest_disable novmcoredd cma=0 hugetlb_cma=0"

# Any additional kexec arguments required.  In most situations, this should
# be left empty
#
# Example:
#   KEXEC_ARGS="--elf32-core-headers"
KEXEC_ARGS=""

#Where to find the boot image
#KDUMP_BOOTDIR="/boot"

#What is the image type used for kdump
KDUMP_IMG="vmlinuz"

#What is the images extension.  Relocatable kernels don't have one
KDUMP_IMG_EXT=""

# Logging is controlled by following variables in the first kernel:
#   - @var KDUMP_STDLOGLVL - logging level to standard error (console output)
#   - @var KDUMP_SYSLOGLVL - logging level to syslog (by logger command)
#   - @var KDUMP_KMSGLOGLVL - logging level to /dev/kmsg (only for boot-time)
#KDUMP_STDLOGLVL=3
#KDUMP_SYSLOGLVL=0
#KDUMP_KMSGLOGLVL=0
EOF
