from fastreboot.cli import main

raise SystemExit(main())
