# fastreboot image customize hook, part 'trixie' (concatenated by harness/images.py;
# run by mmdebstrap as `sh HOOK "$1"` with set -eu and VARIANT, OLD, NEW, MACHINE_ID,
# CMDLINE set in front).
# Debian 13: systemd 257, kexec-tools 2.0.29 (kexec-load-kernel, no init scripts).
test -x "$R/usr/sbin/kexec-load-kernel" || die "kexec-tools has no kexec-load-kernel"
! test -e "$R/etc/init.d/kexec" || die "kexec-tools still ships /etc/init.d/kexec"

# The project disk carries bytecode of the host's Python (3.11); this guest's Python (3.13)
# keeps its own under /var/cache, as Debian's py3compile would have written it at install.
# With a pycache prefix Python looks for *all* bytecode there, the standard library's too:
# compile that now (natively, in the chroot), or every fresh guest would compile argparse,
# dataclasses, json ... from source on its first fastreboot run (~1.3 s under TCG).
cat > "$R/usr/local/bin/fastreboot" <<'EOT'
#!/usr/bin/python3
import sys
sys.path.insert(0, "/opt/fastreboot/src")
sys.pycache_prefix = "/var/cache/fastreboot/pycache"
from fastreboot.cli import main
sys.exit(main())
EOT
chmod 0755 "$R/usr/local/bin/fastreboot"
chroot "$R" env PYTHONPYCACHEPREFIX=/var/cache/fastreboot/pycache \
    python3 -m compileall -q -x 'lib2to3|test|idlelib|tkinter|turtledemo' /usr/lib/python3.13 \
    >/dev/null || die "cannot byte-compile the standard library"
