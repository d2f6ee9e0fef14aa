from dev_system.cli import main

raise SystemExit(main())
