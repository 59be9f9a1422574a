"""Stage 4: acting on the machine. Every change goes through an ``Effects`` object
(effects.py); the modules here decide the order of changes, never make one directly."""
