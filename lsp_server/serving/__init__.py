"""A shared model service: superposed decoding batched across users (issue 19).

Shen et al. 2024 ("Superposed Decoding"): k drafts of one user cost one sequence, so a
replica serving N users runs a batch of N rows (:mod:`models.batched_superposed`), where
every peer that samples k times needs N·k.

* :mod:`lsp_server.serving.protocol` — the wire API (``superpose/1``): OpenAI-shaped
  ``POST /v1/completions`` with token-id prompts and the ``superpose`` extension block;
* :mod:`lsp_server.serving.members` — the member monitor's tables as data (receiver ->
  members), built by the client, answered by the service;
* :mod:`lsp_server.serving.service` — the replica: model, step loop on a background
  asyncio task, workspaces, the HTTP (ASGI) application;
* :mod:`lsp_server.serving.ray_app` — the Ray Serve deployment and
  ``superpose-ls model-server`` (Ray is imported there only: ``pip install
  'superpose-ls[serve]'``).

Nothing here imports pygls; the client side is :mod:`lsp_server.backend`.
"""

API_VERSION = 1
