"""``python -m benchmarks [--quick|--smoke] [--model PATH] [--out DIR] [--only a,b]``.

Same as ``superpose-ls bench``: runs every benchmark plug-in of the mode and writes the
report (see :mod:`benchmarks.report`). ``--rerender`` redraws the report from
``OUT/results.json``; ``--readme README.md`` rewrites the README's benchmark summary from it.
"""

from benchmarks.report import main

raise SystemExit(main())
