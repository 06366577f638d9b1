"""``python -m benchmarks [--quick|--smoke] [--model PATH] [--out DIR] [--only a,b]``.

Same as ``superpose-ls bench``: runs every benchmark and writes the report
(see :mod:`benchmarks.report`).
"""

from benchmarks.report import main

raise SystemExit(main())
