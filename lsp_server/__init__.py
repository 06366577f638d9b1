"""superpose-ls: the LSP side (pygls/lsprotocol live only in this package)."""

__version__ = "0.1.0"
