"""``python -m lsp_server`` == ``superpose-ls``."""

from lsp_server.cli import main

raise SystemExit(main())
