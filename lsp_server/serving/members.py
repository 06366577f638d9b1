"""The member monitor's knowledge as data: member tables built by the client, read by the service.

Monitor-guided decoding (Agrawal et al. 2023) asks, while a draft grows, "the code so far
ends here and a ``.`` follows: which identifiers may come next?". Locally the analysis
answers any such question (:class:`analysis.context.MemberOracle`); a model service has no
documents and no workspace index, so the client sends, with each request, the answers it
can foresee:

* **at the cursor** (exact): the questions the monitor asks before the draft has any text
  — the receiver whose member is being typed (``obj.ge|``) and a ``.`` right after the
  prompt (``obj|`` then a ``.get`` token) — each with the "new attribute may be assigned"
  flag;
* **receivers** (by name): what may follow ``name.`` for the names a draft is likely to
  write as receivers — ``self``/``cls``/``this`` and the identifiers written just before
  the cursor (at most :data:`MAX_RECEIVERS`), resolved where the draft starts;
* **chains** (by receiver, exact): what may follow ``obj.attr.`` for the members of the
  receiver at the cursor — a draft that finishes ``obj.at|`` often goes on with a member
  of it (``shape.radius.real``). Members written after a ``.`` before the cursor come
  first, then the public ones in order (at most as many as receiver names).

Where a receiver's members are open but its class is known (``__getattr__``), an entry
also carries ``declared``: the names the class certainly has, which the monitor prefers
without masking anything else (an older client sends none; then nothing is preferred).

:class:`TableOracle` answers the monitor on the service from these tables. Its limits
(what the remote monitor loses, said in ``superpose.status``): a receiver that is neither
a plain name nor a member of the receiver at the cursor (``a.b.c``, ``f(x)``), or that
the draft itself binds (``def f(self):``, ``for x in``) is unknown, and so is any
receiver after a quote or comment character in the draft (the service runs no lexer):
unknown means *no constraint*, never a wrong one.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from analysis.context import read_receiver

MAX_RECEIVERS = 24  # names resolved per request
MAX_MEMBERS = 4096  # members per receiver sent
LOOKBACK_CHARS = 2000  # where receiver names are collected, before the cursor
_IDENTIFIER = re.compile(r"[A-Za-z_$][\w$]*")
_MEMBER_USE = re.compile(r"\.([A-Za-z_$][\w$]*)")
_UNSAFE = {"python": re.compile(r"[\"'#\\]"), None: re.compile(r"[\"'`\\]|//|/\*")}
_OWN_LINE = {"python": re.compile(r"[ \t]*(self|cls)"), None: re.compile(r"[ \t]*(this)")}
_IMPORT_LINE = re.compile(r"\s*(from|import)\b")
_CONTINUED = ("(", "[", "{", ",", "\\")


def receiver_key(code: str, language: str | None) -> tuple[str, str, int] | None:
    """Return (key, head name, start) of the receiver ending ``code`` (``a.b().c``), else None.

    The receiver is read as the analysis reads it (:func:`analysis.context.read_receiver`);
    the key spells it ``name`` / ``name()`` parts joined by dots.
    """
    python = language == "python"
    found = read_receiver(code, python)
    if found is None:
        return None
    (parts, new), start = found
    key = ".".join(name + "()" * calls for name, calls in parts)
    return ("new " + key if new else key), parts[0][0], start


@dataclass(frozen=True)
class MemberAnswer:
    members: frozenset[str] | None
    assignable: bool = False
    declared: frozenset[str] | None = None  # open receivers: names to prefer, not a mask


class TableOracle:
    """A :class:`models.monitor.MemberOracle` over tables the client sent (see module doc)."""

    def __init__(
        self,
        language: str | None,
        prompt_tail: str,
        receivers: dict[str, MemberAnswer],
        at_cursor: dict[int, MemberAnswer],
    ) -> None:
        self.language = language
        self.family = "python" if language == "python" else None
        self.prompt_tail = prompt_tail
        self.receivers = receivers
        self.at_cursor = at_cursor
        self.unknown = 0  # questions answered "don't know" (reported in the status)

    def members(self, extra: str, trim: int = 0) -> frozenset[str] | None:
        if not extra and trim in self.at_cursor:
            return self.at_cursor[trim].members
        answer = self._lookup(extra, trim)
        if answer is None:
            self.unknown += 1
            return None
        return answer.members

    def declared(self, extra: str, trim: int = 0) -> frozenset[str] | None:
        if not extra and trim in self.at_cursor:
            return self.at_cursor[trim].declared
        answer = self._lookup(extra, trim)
        return answer.declared if answer is not None and answer.members is None else None

    def assignable(self, extra: str, trim: int = 0) -> bool:
        if not extra and trim in self.at_cursor:
            return self.at_cursor[trim].assignable
        code = self._code(extra, trim)
        if code is None:
            return False
        newline = code.rfind("\n")
        own = _OWN_LINE[self.family].fullmatch(code[newline + 1 :])
        if own is None or code[:newline].rstrip().endswith(_CONTINUED):
            return False  # not alone at a statement start (as far as the text shows)
        entry = self.receivers.get(own.group(1))
        return bool(entry is not None and entry.assignable)

    def _code(self, extra: str, trim: int) -> str | None:
        """The code the question is about, or None when the service cannot read it."""
        if trim > len(self.prompt_tail) or _UNSAFE[self.family].search(extra):
            return None  # before what was sent, or the draft may be in a string/comment
        return self.prompt_tail[: len(self.prompt_tail) - trim] + extra

    def _lookup(self, extra: str, trim: int) -> MemberAnswer | None:
        code = self._code(extra, trim)
        if not code or not (code[-1] == ")" or code[-1].isalnum() or code[-1] in "_$"):
            return None
        found = receiver_key(code, self.language)
        if found is None:
            return None
        key, head, start = found
        if self.family == "python" and keyword.iskeyword(head):
            return None
        if _IMPORT_LINE.match(code[code.rfind("\n", 0, start) + 1 :]):
            return None
        # a name the draft itself binds or uses otherwise (``def f(self):``) is unknown here
        draft_before = extra[: max(0, start - (len(code) - len(extra)))]
        pattern = rf"(?<![\w$.]){re.escape(head)}(?![\w$])(?!\s*\.)"
        if re.search(pattern, draft_before):
            return None
        return self.receivers.get(key)


# ------------------------------------------------------------------ the client's side


def member_tables(
    oracle: Any,
    prompt_tail: str,
    before_cursor: str,
    language: str | None,
    limit: int = MAX_RECEIVERS,
) -> dict[str, Any]:
    """Return the wire form of the member tables for a request (see module doc).

    ``oracle`` is the request's member oracle at the generation point (the one the local
    monitor would ask), ``prompt_tail`` the text the monitor reads before the draft,
    ``before_cursor`` the document text before the generation point; at most ``limit``
    receiver names are resolved (each costs an analysis query, ~1-3 ms warm).
    """
    from models.monitor import trailing_member_access

    trims = [0]
    access = trailing_member_access(prompt_tail)
    if access is not None:
        trims.append(len(prompt_tail) - access[0])
    at_cursor = [_answer({"trim": trim}, oracle, "", trim) for trim in trims]
    indent = re.match(r"[ \t]*", prompt_tail[prompt_tail.rfind("\n") + 1 :]).group(0)
    receivers = []
    for name in receiver_names(before_cursor, language)[:limit]:
        entry = _answer({"receiver": name}, oracle, "\n" + indent + name, 0)
        if entry["members"] or entry.get("declared"):
            receivers.append(entry)
    for entry in at_cursor:
        receivers += _chain_answers(oracle, prompt_tail, entry, before_cursor, language, limit)
    return {"prompt_tail": prompt_tail, "at_cursor": at_cursor, "receivers": receivers}


def _chain_answers(
    oracle: Any,
    prompt_tail: str,
    at_cursor: dict[str, Any],
    before_cursor: str,
    language: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    """The answers for ``receiver.member`` (keyed as :class:`TableOracle` looks them up)
    for at most ``limit`` members of the receiver answered by ``at_cursor``."""
    members = at_cursor["members"]
    trim = at_cursor["trim"]
    if not members or trim > len(prompt_tail):
        return []
    found = receiver_key(prompt_tail[: len(prompt_tail) - trim], language)
    if found is None:
        return []
    key = found[0]
    chains = []
    for member in chain_members(members, before_cursor, limit):
        entry = _answer({"receiver": f"{key}.{member}"}, oracle, "." + member, trim)
        if entry["members"] or entry.get("declared"):
            chains.append(entry)
    return chains


def chain_members(members: Iterable[str], before_cursor: str, limit: int) -> list[str]:
    """Return at most ``limit`` of ``members`` a draft is likely to go on from: those
    written after a ``.`` before the cursor (nearest first), then the public ones sorted,
    then the private ones; dunder names never."""
    names = set(members)
    window = before_cursor[-LOOKBACK_CHARS:]
    used = [m.group(1) for m in reversed(list(_MEMBER_USE.finditer(window)))]
    public = sorted(n for n in names if not n.startswith("_"))
    private = sorted(n for n in names if n.startswith("_") and not n.startswith("__"))
    ordered = dict.fromkeys([*(n for n in used if n in names), *public, *private])
    return [n for n in ordered if not (n.startswith("__") and n.endswith("__"))][:limit]


def receiver_names(before_cursor: str, language: str | None) -> list[str]:
    """Return the names a draft may write as receivers: own object first, then the names
    written just before the cursor, nearest first (at most MAX_RECEIVERS)."""
    own = ["self", "cls"] if language == "python" else ["this"]
    seen: dict[str, None] = dict.fromkeys(own)
    window = before_cursor[-LOOKBACK_CHARS:]
    for match in reversed(list(_IDENTIFIER.finditer(window))):
        name = match.group(0)
        if name[0].isdigit() or keyword.iskeyword(name):
            continue
        seen.setdefault(name)
        if len(seen) >= MAX_RECEIVERS:
            break
    return list(seen)[:MAX_RECEIVERS]


def _answer(entry: dict[str, Any], oracle: Any, extra: str, trim: int) -> dict[str, Any]:
    """``entry`` with the oracle's members (sorted, bounded; None: unknown) and flag; for
    an open receiver, the names its class declares (``declared``, when there are any)."""
    declared = None
    try:
        members = oracle.members(extra, trim)
        ask = getattr(oracle, "assignable", None)
        assignable = bool(ask(extra, trim)) if callable(ask) else False
        ask = getattr(oracle, "declared", None)
        if not members and callable(ask):
            declared = ask(extra, trim)
    except Exception:  # noqa: BLE001 - analysis never breaks a completion
        members, assignable = None, False
    entry["members"] = sorted(members)[:MAX_MEMBERS] if members else None
    entry["assignable"] = assignable
    if declared:
        entry["declared"] = sorted(declared)[:MAX_MEMBERS]
    return entry


def oracle_from_wire(language: str | None, data: dict[str, Any]) -> TableOracle:
    """Return the service's oracle for a request's ``superpose.monitor`` block (validated)."""

    def answer(item: dict[str, Any]) -> MemberAnswer:
        members, declared = item.get("members"), item.get("declared")
        return MemberAnswer(
            frozenset(members) if members else None,
            bool(item.get("assignable")),
            frozenset(declared) if declared and not members else None,
        )

    receivers = {item["receiver"]: answer(item) for item in data.get("receivers", ())}
    at_cursor = {int(item["trim"]): answer(item) for item in data.get("at_cursor", ())}
    return TableOracle(language, data.get("prompt_tail", ""), receivers, at_cursor)


def table_size(data: dict[str, Any]) -> int:
    """Members named in a monitor block (bounded by the service)."""
    items: Iterable[dict[str, Any]] = [*data.get("receivers", ()), *data.get("at_cursor", ())]
    return sum(len(item.get("members") or ()) + len(item.get("declared") or ()) for item in items)
