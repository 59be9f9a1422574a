"""``python -m harness [--prune] [VARIANT ...]``: build (or show) the cached guest images."""

from harness.images import main

raise SystemExit(main())
