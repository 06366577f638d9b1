"""Registry of decoders selectable by the ``decoder`` setting / ``--decoder`` flag."""

from __future__ import annotations

from models.decoding import Decoder, greedy_decode

DECODER_NAMES = ("superposed", "greedy", "beam", "sampling")


def get_decoder(name: str) -> Decoder:
    """Return the decoder function called ``name`` (see DECODER_NAMES)."""
    if name == "greedy":
        return greedy_decode
    if name == "superposed":
        from models.superposed import superposed_decode

        return superposed_decode
    if name == "beam":
        from models.baselines import beam_decode

        return beam_decode
    if name == "sampling":
        from models.baselines import sampling_decode

        return sampling_decode
    raise ValueError(f"unknown decoder {name!r} (choose from {', '.join(DECODER_NAMES)})")
