"""Which completion request runs, shares, waits or is cancelled (asyncio, no pygls).

All inference runs on one executor thread, so a request that should not be
served right now must be cancelled before it costs anything. Requests travel in
three lanes per document:

* ``ghost`` - automatic inline completion (ghost text while typing). The
  latency-critical lane: it replaces older ghost requests and any menu request in
  flight, and nothing but an explicit request ever replaces it. One exception keeps
  what is still right: when the new keystroke types what the running ghost request
  already predicts, that request runs on and the new one follows it (the engine then
  answers from the typing-through cache instead of decoding again).
* ``explicit`` - what the user asked for: invoked inline completion,
  ``superpose.drafts``. Replaces everything in flight for the document.
* ``menu`` - ``textDocument/completion``. Never replaces ghost or explicit
  requests; a newer menu request replaces an older one. At a place where ghost
  text or an explicit request is in flight (or has just been answered) the menu
  *shares* those drafts instead of decoding again: editors such as VS Code send a
  completion request beside every inline request, and that must cost nothing.

A replaced request's stop flag is set, so its decoding stops within one token
(or it is skipped if still queued). Automatic ghost requests may be debounced:
they wait ``debounce_s`` before queueing, and a newer one replaces them at no cost.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

from lsp_server.engine import CompletionJob, EngineResult

MAX_TYPED_ALONG = 8  # characters typed along with a running request that may keep it
GHOST = "ghost"
EXPLICIT = "explicit"
MENU = "menu"
SUPERSEDES: dict[str, tuple[str, ...]] = {
    GHOST: (GHOST, MENU),
    EXPLICIT: (GHOST, EXPLICIT, MENU),
    MENU: (MENU,),
}


@dataclass
class Flight:
    """One request on its way through the inference executor."""

    lane: str
    uri: str
    text: str  # the document when the request arrived
    offset: int
    job: CompletionJob
    task: asyncio.Future[EngineResult] | None = None
    result: EngineResult | None = None
    after: Flight | None = None  # a running request this one waits for (it continues it)

    def same_place(self, text: str, offset: int) -> bool:
        return self.offset == offset and (self.text is text or self.text == text)

    def continued_by(self, text: str, offset: int) -> bool:
        """True when the document ``text`` (cursor ``offset``) is this request's document
        with a few characters typed at its cursor that its drafts so far predict."""
        typed_len = offset - self.offset
        if not 0 < typed_len <= MAX_TYPED_ALONG or self.task is None or self.task.done():
            return False
        if len(text) != len(self.text) + typed_len:
            return False
        if (
            text[: self.offset] != self.text[: self.offset]
            or text[offset:] != self.text[self.offset :]
        ):
            return False
        typed = text[self.offset : offset]
        return any(d.startswith(typed) and len(d) > len(typed) for d in self.job.progress)


@dataclass
class Scheduler:
    """Lanes of in-flight requests per document and the results a menu may share."""

    executor: Executor
    run: Callable[[CompletionJob], EngineResult]
    # answers a job on the event loop without queueing it (the typing-through cache)
    cached: Callable[[CompletionJob], EngineResult | None] | None = None
    flights: dict[tuple[str, str], Flight] = field(default_factory=dict)
    arrivals: dict[tuple[str, str], int] = field(default_factory=dict)  # latest ticket per lane
    tickets: int = 0
    recent: dict[str, Flight] = field(default_factory=dict)  # last answered ghost/explicit
    counters: Counter[str] = field(default_factory=Counter)
    last_ghost: dict[str, float] = field(default_factory=dict)  # uri -> monotonic time

    def arrive(self, lane: str, uri: str) -> int:
        """A ticket in arrival order; pass it to :meth:`start` after any waiting."""
        self.tickets += 1
        self.arrivals[(uri, lane)] = self.tickets
        return self.tickets

    def start(
        self,
        lane: str,
        uri: str,
        text: str,
        offset: int,
        job: CompletionJob,
        delay_s: float = 0,
        ticket: int | None = None,
    ) -> Flight:
        """Queue ``job`` in ``lane``, replacing what that lane supersedes for ``uri``.

        With the ``ticket`` of a request that waited (for the model), a request that
        arrived later in a lane superseding this one wins: this one is cancelled.
        """
        flight = Flight(lane, uri, text, offset, job)
        if ticket is not None and any(
            self.arrivals.get((uri, newer), 0) > ticket
            for newer, victims in SUPERSEDES.items()
            if lane in victims
        ):  # stale: never registered, never decoded
            job.cancel.set()
            self.counters[f"{lane}_superseded"] += 1
        else:
            if lane == GHOST:
                self.last_ghost[uri] = time.monotonic()
                running = self.flights.get((uri, GHOST))
                # a request already waiting for a running one is continued through it
                root = running.after if running is not None and running.after else running
                if root is not None and root.continued_by(text, offset):
                    del self.flights[(uri, GHOST)]  # runs on; the new request follows it
                    if running is not root:  # the waiting one is not needed any more
                        running.job.cancel.set()
                        self.counters["ghost_superseded"] += 1
                    flight.after = root
                    self.counters["ghost_typed_along"] += 1
            for victim in SUPERSEDES[lane]:
                old = self.flights.pop((uri, victim), None)
                if old is not None:
                    old.job.cancel.set()
                    if old.after is not None:  # what it was waiting for is not needed now
                        old.after.job.cancel.set()
                    self.counters[f"{victim}_superseded"] += 1
            self.flights[(uri, lane)] = flight
            self.counters[f"{lane}_started"] += 1
        flight.task = asyncio.ensure_future(self._run(flight, delay_s))
        return flight

    async def _run(self, flight: Flight, delay_s: float) -> EngineResult:
        try:
            if flight.after is not None and flight.after.task is not None:
                await asyncio.wait({flight.after.task})  # only its end matters, not its result
            if delay_s > 0:
                await asyncio.sleep(delay_s)
            if flight.job.cancel.is_set():
                result = EngineResult([], cancelled=True, reason="superseded before it ran")
            elif self.cached is not None and (hit := self.cached(flight.job)) is not None:
                result = hit  # no wait behind the decoding thread
            else:
                loop = asyncio.get_running_loop()
                result = await loop.run_in_executor(self.executor, self.run, flight.job)
        finally:
            if self.flights.get((flight.uri, flight.lane)) is flight:
                del self.flights[(flight.uri, flight.lane)]
        flight.result = result
        if flight.lane != MENU and result.drafts and not result.cancelled:
            self.recent[flight.uri] = flight
        return result

    async def wait(self, flight: Flight, owner: bool = True) -> EngineResult:
        """The flight's result. When the owner's request is cancelled the decoding stops;
        a sharer's cancellation leaves the flight running for its owner."""
        assert flight.task is not None
        try:
            return await asyncio.shield(flight.task)
        except asyncio.CancelledError:
            if owner:
                flight.job.cancel.set()
            raise

    def host(self, uri: str, text: str, offset: int) -> Flight | None:
        """A ghost or explicit request at this place (in flight or just answered) to share."""
        for lane in (EXPLICIT, GHOST):
            flight = self.flights.get((uri, lane))
            if flight is not None and flight.same_place(text, offset):
                return flight
        flight = self.recent.get(uri)
        if flight is not None and flight.same_place(text, offset):
            return flight
        return None

    def ghost_traffic(self, uri: str, within_s: float) -> bool:
        """Whether the client asked for ghost text for ``uri`` in the last ``within_s``."""
        last = self.last_ghost.get(uri)
        return last is not None and time.monotonic() - last <= within_s

    def ghost_in_flight(self, uri: str) -> bool:
        return (uri, GHOST) in self.flights

    def replaced_by_menu(self, flight: Flight) -> bool:
        """Whether a newer menu request took ``flight``'s place."""
        newer = self.flights.get((flight.uri, MENU))
        return newer is not None and newer is not flight

    def inflight(self) -> int:
        return len(self.flights)

    def forget(self, uri: str) -> None:
        """Drop what is kept for a closed document (its flights finish on their own)."""
        self.recent.pop(uri, None)
        self.last_ghost.pop(uri, None)
