"""Request lanes: ghost text is never replaced or delayed by menu requests; menus share.

The engine is replaced by a function that records the jobs it runs and waits for the
test's go-ahead, so which job runs, is skipped or is cancelled is observed directly
(no timing): the real engine behind the real server is covered in
tests/e2e/test_priority.py.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from lsp_server.engine import CompletionJob, EngineDraft, EngineResult
from lsp_server.scheduler import EXPLICIT, GHOST, MENU, Scheduler

URI = "file:///a.py"
TEXT = "x = 1\nx."


class Gate:
    """An engine stand-in: each job blocks until released, or returns when cancelled."""

    def __init__(self) -> None:
        self.ran: list[CompletionJob] = []
        self.release = threading.Event()
        self.started = threading.Event()

    def __call__(self, job: CompletionJob) -> EngineResult:
        if job.cancel.is_set():
            return EngineResult([], cancelled=True, reason="cancelled before start")
        self.ran.append(job)
        self.started.set()
        while not self.release.wait(0.01):
            if job.cancel.is_set():
                return EngineResult([], cancelled=True, reason="cancelled")
        draft = EngineDraft(f"d{len(self.ran)}", 0, "real", -0.1, job.offset, job.offset, "eos")
        return EngineResult([draft])


@pytest.fixture
def executor():
    pool = ThreadPoolExecutor(max_workers=1)
    yield pool
    pool.shutdown(wait=True, cancel_futures=True)


def job(automatic: bool = False) -> CompletionJob:
    return CompletionJob(uri=URI, offset=len(TEXT), automatic=automatic)


async def started(gate: Gate) -> None:
    await asyncio.get_running_loop().run_in_executor(None, gate.started.wait, 10)
    gate.started.clear()


async def test_menu_never_replaces_ghost_and_shares_its_drafts(executor):
    gate = Gate()
    scheduler = Scheduler(executor, gate)
    ghost = scheduler.start(GHOST, URI, TEXT, len(TEXT), job(automatic=True))
    await started(gate)
    # a completion request at the same place arrives while the ghost text decodes
    host = scheduler.host(URI, TEXT, len(TEXT))
    assert host is ghost
    menu = scheduler.start(MENU, URI, TEXT + " ", len(TEXT) + 1, job())
    assert not ghost.job.cancel.is_set()
    gate.release.set()
    shared = await scheduler.wait(host, owner=False)
    own = await scheduler.wait(menu)
    assert shared.drafts and not shared.cancelled
    assert own.drafts  # the menu at another place ran after the ghost text, not instead
    assert [j.automatic for j in gate.ran] == [True, False]
    # the answered ghost text stays shareable at its place
    assert scheduler.host(URI, TEXT, len(TEXT)) is ghost
    assert scheduler.host(URI, TEXT + "y", len(TEXT)) is None


async def test_ghost_replaces_a_running_menu_request(executor):
    gate = Gate()
    scheduler = Scheduler(executor, gate)
    menu = scheduler.start(MENU, URI, TEXT, len(TEXT), job())
    await started(gate)
    ghost = scheduler.start(GHOST, URI, TEXT, len(TEXT), job(automatic=True))
    assert menu.job.cancel.is_set()
    assert (await scheduler.wait(menu)).cancelled
    assert not scheduler.replaced_by_menu(menu)  # replaced by ghost text, not by a menu
    gate.release.set()
    assert (await scheduler.wait(ghost)).drafts
    assert scheduler.counters["menu_superseded"] == 1


async def test_newer_menu_replaces_older_menu_and_explicit_replaces_all(executor):
    gate = Gate()
    scheduler = Scheduler(executor, gate)
    first = scheduler.start(MENU, URI, TEXT, len(TEXT), job())
    await started(gate)
    second = scheduler.start(MENU, URI, TEXT, len(TEXT), job())
    assert (await scheduler.wait(first)).cancelled
    assert scheduler.replaced_by_menu(first)
    await started(gate)
    ghost = scheduler.start(GHOST, URI, TEXT, len(TEXT), job(automatic=True))
    explicit = scheduler.start(EXPLICIT, URI, TEXT, len(TEXT), job())
    assert second.job.cancel.is_set() and ghost.job.cancel.is_set()
    gate.release.set()
    assert (await scheduler.wait(explicit)).drafts
    assert (await scheduler.wait(ghost)).cancelled
    # the ghost request was replaced while queued: it never reached the engine
    assert all(j is not ghost.job for j in gate.ran)


async def test_debounced_ghost_replaced_while_waiting_costs_nothing(executor):
    gate = Gate()
    gate.release.set()
    scheduler = Scheduler(executor, gate)
    first = scheduler.start(GHOST, URI, TEXT, len(TEXT), job(automatic=True), delay_s=5)
    second = scheduler.start(GHOST, URI, TEXT, len(TEXT), job(automatic=True), delay_s=0)
    assert (await scheduler.wait(second)).drafts
    assert (await scheduler.wait(first)).cancelled
    assert gate.ran == [second.job]


async def test_a_sharer_cancelled_leaves_the_host_running(executor):
    gate = Gate()
    scheduler = Scheduler(executor, gate)
    ghost = scheduler.start(GHOST, URI, TEXT, len(TEXT), job(automatic=True))
    await started(gate)
    sharer = asyncio.ensure_future(scheduler.wait(ghost, owner=False))
    await asyncio.sleep(0)
    sharer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sharer
    assert not ghost.job.cancel.is_set()
    gate.release.set()
    assert (await scheduler.wait(ghost)).drafts


async def test_a_request_that_waited_loses_to_a_newer_one(executor):
    gate = Gate()
    gate.release.set()
    scheduler = Scheduler(executor, gate)
    older = scheduler.arrive(EXPLICIT, URI)
    newer = scheduler.arrive(EXPLICIT, URI)
    # the newer request starts first, the older one after its wait: the older one is stale
    second = scheduler.start(EXPLICIT, URI, TEXT, len(TEXT), job(), ticket=newer)
    first = scheduler.start(EXPLICIT, URI, TEXT, len(TEXT), job(), ticket=older)
    assert not second.job.cancel.is_set()
    assert (await scheduler.wait(first)).cancelled
    assert (await scheduler.wait(second)).drafts
    assert gate.ran == [second.job]
    # a menu that waited loses to ghost text that arrived meanwhile, not the reverse
    menu = scheduler.arrive(MENU, URI)
    scheduler.arrive(GHOST, URI)
    stale = scheduler.start(MENU, URI, TEXT, len(TEXT), job(), ticket=menu)
    assert (await scheduler.wait(stale)).cancelled


def ghost_at(text: str) -> CompletionJob:
    return CompletionJob(uri=URI, offset=len(text), automatic=True)


async def test_typing_what_the_running_ghost_request_predicts_keeps_it(executor):
    gate = Gate()
    scheduler = Scheduler(executor, gate)
    first = scheduler.start(GHOST, URI, TEXT, len(TEXT), ghost_at(TEXT))
    await started(gate)
    first.job.progress = ["alpha", "beta"]  # what the decode predicts so far
    typed = TEXT + "a"
    second = scheduler.start(GHOST, URI, typed, len(typed), ghost_at(typed))
    assert not first.job.cancel.is_set()  # "a" is what it predicted: it runs on
    assert second.after is first and scheduler.counters["ghost_typed_along"] == 1
    gate.release.set()
    assert (await scheduler.wait(first)).drafts
    assert (await scheduler.wait(second)).drafts
    assert gate.ran == [first.job, second.job]  # the second followed the first


async def test_typing_something_else_replaces_the_running_ghost_request(executor):
    gate = Gate()
    scheduler = Scheduler(executor, gate)
    first = scheduler.start(GHOST, URI, TEXT, len(TEXT), ghost_at(TEXT))
    await started(gate)
    first.job.progress = ["alpha"]
    typed = TEXT + "z"
    second = scheduler.start(GHOST, URI, typed, len(typed), ghost_at(typed))
    assert first.job.cancel.is_set() and second.after is None
    moved = "y" + TEXT  # an edit elsewhere, even with the predicted text typed
    third = scheduler.start(GHOST, URI, moved + "a", len(moved) + 1, ghost_at(moved + "a"))
    assert second.job.cancel.is_set() and third.after is None
    assert (await scheduler.wait(first)).cancelled  # stops without the gate's release
    gate.release.set()
    assert (await scheduler.wait(third)).drafts


async def test_a_key_that_breaks_the_chain_cancels_the_request_it_waited_for(executor):
    gate = Gate()
    scheduler = Scheduler(executor, gate)
    first = scheduler.start(GHOST, URI, TEXT, len(TEXT), ghost_at(TEXT))
    await started(gate)
    first.job.progress = ["alpha"]
    typed = TEXT + "a"
    second = scheduler.start(GHOST, URI, typed, len(typed), ghost_at(typed))
    assert second.after is first
    other = typed + "x"  # "x" was not predicted by the waiting request (it has no drafts)
    third = scheduler.start(GHOST, URI, other, len(other), ghost_at(other))
    assert second.job.cancel.is_set() and first.job.cancel.is_set()
    gate.release.set()
    assert (await scheduler.wait(third)).drafts
    assert (await scheduler.wait(second)).cancelled


async def test_a_second_predicted_key_follows_the_running_request_too(executor):
    gate = Gate()
    scheduler = Scheduler(executor, gate)
    first = scheduler.start(GHOST, URI, TEXT, len(TEXT), ghost_at(TEXT))
    await started(gate)
    first.job.progress = ["alpha"]
    one, two = TEXT + "a", TEXT + "al"
    second = scheduler.start(GHOST, URI, one, len(one), ghost_at(one))
    third = scheduler.start(GHOST, URI, two, len(two), ghost_at(two))
    assert not first.job.cancel.is_set()  # "al" is still what it predicts
    assert third.after is first and second.job.cancel.is_set()
    assert scheduler.counters["ghost_typed_along"] == 2
    gate.release.set()
    assert (await scheduler.wait(third)).drafts
    assert (await scheduler.wait(second)).cancelled
    assert gate.ran == [first.job, third.job]


async def test_a_cache_answer_does_not_wait_behind_the_decoding_thread(executor):
    gate = Gate()
    hit = EngineResult([EngineDraft("c1", 0, "pha", -0.1, 0, 0, "eos")], cached=True)
    scheduler = Scheduler(executor, gate, cached=lambda j: hit if j.offset > len(TEXT) else None)
    explicit = scheduler.start(EXPLICIT, URI, TEXT, len(TEXT), job())
    await started(gate)  # the decoding thread is busy and stays busy
    typed = TEXT + "al"
    ghost = scheduler.start(GHOST, URI, typed, len(typed), ghost_at(typed))
    assert await asyncio.wait_for(scheduler.wait(ghost), 5) is hit
    assert gate.ran == [explicit.job]  # answered without the engine's thread
    gate.release.set()
    assert (await scheduler.wait(explicit)).drafts
