"""Stage 2: the boot entries a machine has, and the one its bootloader would start."""
