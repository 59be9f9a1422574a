"""fastreboot: reboot Linux servers through kexec, skipping the firmware phase."""

__version__ = "0.1.0"
