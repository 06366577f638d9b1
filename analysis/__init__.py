"""Static analysis of source code with tree-sitter (no torch, no LSP).

Incremental documents, a workspace symbol index, member resolution for
monitor-guided decoding (Agrawal et al. 2023, "Guiding Language Models of Code
with Global Context using Monitors") and cursor context for prompt building.
Only plain data (strings, sets, ints, dataclasses) leaves this package.
"""
