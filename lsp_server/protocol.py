"""Translation between engine objects and LSP types (the only place building them).

Handlers call ``lsp_*`` helpers and never construct protocol types inline, in the
style of jedi-language-server's ``jedi_utils``.
"""

from __future__ import annotations

from typing import Any

from lsprotocol import types

from lsp_server.engine import EngineDraft, EngineResult
from lsp_server.positions import offset_to_position

ACCEPT_COMMAND = "superpose.accept"


def lsp_range(text: str, start: int, end: int) -> types.Range:
    """Return the LSP range of code-point offsets [start, end) of ``text``."""
    s_line, s_char = offset_to_position(text, start)
    e_line, e_char = offset_to_position(text, end)
    return types.Range(types.Position(s_line, s_char), types.Position(e_line, e_char))


def _word_start(text: str, offset: int) -> int:
    """Return where the identifier being typed at ``offset`` starts."""
    start = offset
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"):
        start -= 1
    return start


def lsp_accept_command(draft: EngineDraft) -> types.Command:
    return types.Command(title="accept draft", command=ACCEPT_COMMAND, arguments=[draft.id])


def lsp_completion_item(text: str, draft: EngineDraft) -> types.CompletionItem:
    """Return a completion item whose edit replaces the typed word prefix by the word + draft."""
    word_start = _word_start(text, draft.start)
    typed = text[word_start : draft.start]
    insert = typed + draft.text
    first_line = insert.split("\n", 1)[0] or insert.strip()
    return types.CompletionItem(
        label=first_line.strip() or "(draft)",
        kind=types.CompletionItemKind.Snippet,
        detail=f"superpose draft {draft.rank + 1} · score {draft.score:.2f}",
        documentation=types.MarkupContent(
            kind=types.MarkupKind.Markdown, value=f"```\n{insert}\n```"
        ),
        sort_text=f"{draft.rank:04d}",
        filter_text=typed + first_line.strip() if typed else None,
        insert_text_format=types.InsertTextFormat.PlainText,
        text_edit=types.TextEdit(range=lsp_range(text, word_start, draft.end), new_text=insert),
        data=draft.id,
        command=lsp_accept_command(draft),
    )


def lsp_completion_list(
    text: str, result: EngineResult, incomplete: bool = True
) -> types.CompletionList:
    """Menu items of ``result``; ``incomplete`` makes the editor ask again as the user types."""
    items = [lsp_completion_item(text, d) for d in result.drafts]
    return types.CompletionList(is_incomplete=incomplete, items=items)


def lsp_inline_item(text: str, draft: EngineDraft) -> types.InlineCompletionItem:
    return types.InlineCompletionItem(
        insert_text=draft.text,
        range=lsp_range(text, draft.start, draft.end),
        command=lsp_accept_command(draft),
    )


def lsp_inline_list(text: str, result: EngineResult) -> types.InlineCompletionList:
    return types.InlineCompletionList(items=[lsp_inline_item(text, d) for d in result.drafts])


def lsp_draft_dict(text: str, draft: EngineDraft) -> dict[str, Any]:
    """Return the JSON object of one draft for ``superpose.drafts``."""
    rng = lsp_range(text, draft.start, draft.end)
    return {
        "id": draft.id,
        "rank": draft.rank,
        "text": draft.text,
        "score": draft.score,
        "finish": draft.finish,
        "range": {
            "start": {"line": rng.start.line, "character": rng.start.character},
            "end": {"line": rng.end.line, "character": rng.end.character},
        },
        "stats": draft.stats,
    }


def lsp_drafts_payload(text: str, result: EngineResult) -> dict[str, Any]:
    return {
        "drafts": [lsp_draft_dict(text, d) for d in result.drafts],
        "timings": result.timings,
        "cached": result.cached,
        "reason": result.reason,
    }


def lsp_progress_begin(title: str, message: str) -> types.WorkDoneProgressBegin:
    return types.WorkDoneProgressBegin(title=title, message=message, percentage=0)


def lsp_progress_report(message: str, percentage: int | None) -> types.WorkDoneProgressReport:
    return types.WorkDoneProgressReport(message=message, percentage=percentage)


def lsp_progress_end(message: str) -> types.WorkDoneProgressEnd:
    return types.WorkDoneProgressEnd(message=message)


def lsp_message(message: str, error: bool = False) -> types.ShowMessageParams:
    kind = types.MessageType.Error if error else types.MessageType.Warning
    return types.ShowMessageParams(type=kind, message=f"superpose-ls: {message}")
