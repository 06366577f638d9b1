"""Model side of superpose-ls: loading, decoders, n-grams, constraints, training.

Imports torch/transformers only; never tree-sitter or LSP (see DESIGN.md).
"""
