"""Stage 1: the distributions' kexec configuration and fastreboot's own, read as data."""
