"""Stage 3: the plan (which kernel, initrd and command line; how to load and reboot), its
preflight checks, and the facts about the running system they rest on. Changes nothing."""
