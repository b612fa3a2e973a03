"""`python -m nmsim ...` is the `nmsim` console script."""
from nmsim.cli.main import main

raise SystemExit(main())
