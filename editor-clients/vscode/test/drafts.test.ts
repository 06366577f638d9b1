/** Unit tests of draft/status formatting and command arguments (plain Node: `npm test`). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  commandsToForward,
  draftPickItems,
  draftsCommandArguments,
  draftsResultFrom,
  executeCommandParams,
  firstLine,
  formatMs,
  oneLinePreview,
  SERVER_COMMANDS,
  serverStatusFrom,
  setDraftsArguments,
  statsSummary,
  statusReport,
  toggleMessage,
} from '../src/drafts';

const range = { start: { line: 3, character: 4 }, end: { line: 3, character: 7 } };

describe('command arguments', () => {
  it('builds the superpose.drafts arguments from uri and position', () => {
    const args = draftsCommandArguments('file:///tmp/a.py', { line: 3, character: 7 });
    assert.deepEqual(args, [{ textDocument: { uri: 'file:///tmp/a.py' }, position: { line: 3, character: 7 } }]);
    assert.deepEqual(executeCommandParams(SERVER_COMMANDS.drafts, args), {
      command: 'superpose.drafts',
      arguments: args,
    });
  });

  it('sends no arguments for the toggles', () => {
    assert.deepEqual(executeCommandParams(SERVER_COMMANDS.toggleMonitor), {
      command: 'superpose.toggleMonitor',
      arguments: [],
    });
  });

  it('validates the number of drafts', () => {
    assert.deepEqual(setDraftsArguments(' 6 '), { ok: true, args: [6] });
    for (const bad of ['0', '17', '-2', '2.5', 'four', '']) {
      assert.equal(setDraftsArguments(bad).ok, false, bad);
    }
  });

  it('forwards superpose.accept only when the server does not list it', () => {
    assert.deepEqual(commandsToForward(undefined), ['superpose.accept']);
    assert.deepEqual(commandsToForward(['superpose.drafts']), ['superpose.accept']);
    assert.deepEqual(commandsToForward(['superpose.accept', 'superpose.drafts']), []);
  });
});

describe('drafts formatting', () => {
  const raw = {
    drafts: [
      { text: 'b = 2\nreturn b', score: -1.5, rank: 1, id: 'c1:1', range, stats: { masked: 2 } },
      { text: 'a = 1', score: -0.25, rank: 0, id: 'c1:0', range, stats: { masked: 0, penalties: 1 } },
      { score: 3 },
      'garbage',
    ],
    timings: { total_ms: 120 },
  };

  it('parses, drops invalid entries and sorts by rank', () => {
    const result = draftsResultFrom(raw);
    assert.deepEqual(
      result.drafts.map((d) => d.text),
      ['a = 1', 'b = 2\nreturn b'],
    );
    assert.deepEqual(result.drafts[0].range, range);
    assert.equal(result.drafts[0].id, 'c1:0');
    assert.deepEqual(result.timings, { total_ms: 120 });
  });

  it('gives no drafts for a null answer (model loading) or a malformed range', () => {
    assert.deepEqual(draftsResultFrom(null).drafts, []);
    const result = draftsResultFrom({ drafts: [{ text: 'x', range: { start: { line: -1, character: 0 } } }] });
    assert.equal(result.drafts[0].range, undefined);
    assert.equal(result.drafts[0].rank, 0);
    assert.ok(Number.isNaN(result.drafts[0].score));
  });

  it('makes one quick-pick item per draft with first line, rank and score', () => {
    const items = draftPickItems(draftsResultFrom(raw).drafts);
    assert.equal(items.length, 2);
    assert.equal(items[0].label, 'a = 1');
    assert.equal(items[0].description, '#1 · score -0.25');
    assert.equal(items[0].detail, 'masked 0 · penalties 1');
    assert.equal(items[1].label, 'b = 2');
    assert.equal(items[1].description, '#2 · score -1.50 · 2 lines');
    assert.equal(items[1].detail, 'b = 2 ⏎ return b  —  masked 2');
    assert.equal(items[1].draft.text, 'b = 2\nreturn b', 'the full draft is what gets inserted');
  });

  it('labels leading-newline drafts by their first non-empty line', () => {
    assert.equal(firstLine('\n    return x\n'), '    return x');
    assert.equal(firstLine('\n\n'), '⏎');
  });

  it('caps long previews', () => {
    const preview = oneLinePreview('x'.repeat(500), 50);
    assert.equal(preview.length, 50);
    assert.ok(preview.endsWith('…'));
  });

  it('summarises nested stats', () => {
    assert.equal(statsSummary({ monitor: { masked_steps: 3 }, ratio: 0.123, ok: true }), 'monitor: masked_steps 3 · ratio 0.12 · ok true');
  });
});

describe('status formatting', () => {
  const raw = {
    model: 'default',
    device: 'cpu',
    state: 'ready',
    settings: { drafts: 4, monitor: true },
    latency_ms: { p50: 85.2, p95: 1450, bogus: 'x' },
    caches: { ngram: 12 },
  };

  it('flattens per-kind latency percentiles as the server reports them', () => {
    const status = serverStatusFrom({
      state: 'ready',
      latency_ms: { invoked: { count: 3, p50: 120, p95: 300 }, automatic: { count: 0 } },
      last_latency_ms: 118.4,
      error: null,
    });
    assert.deepEqual(status.latencyMs, { 'invoked p50': 120, 'invoked p95': 300 });
    assert.equal(status.lastLatencyMs, 118.4);
    assert.deepEqual(statusReport(status), [
      'Model: unknown',
      'Device: unknown',
      'State: ready',
      'Last completion: 118 ms',
      'Latency: invoked p50 120 ms, invoked p95 300 ms',
    ]);
  });

  it('parses the status answer', () => {
    const status = serverStatusFrom(raw);
    assert.equal(status.state, 'ready');
    assert.equal(status.model, 'default');
    assert.deepEqual(status.latencyMs, { p50: 85.2, p95: 1450 });
    assert.equal(serverStatusFrom({ state: 'weird' }).state, 'unknown');
    assert.equal(serverStatusFrom(undefined).model, 'unknown');
  });

  it('renders the status report lines', () => {
    assert.deepEqual(statusReport(serverStatusFrom(raw)), [
      'Model: default',
      'Device: cpu',
      'State: ready',
      'Latency: p50 85 ms, p95 1.4 s',
      'Settings: drafts=4, monitor=true',
      'caches: {"ngram":12}',
    ]);
  });

  it('formats durations', () => {
    assert.equal(formatMs(999.6), '1000 ms');
    assert.equal(formatMs(2500), '2.5 s');
  });

  it('reports toggles', () => {
    assert.equal(toggleMessage({ monitor: false }, 'monitor'), 'Monitor-guided decoding: off');
    assert.equal(toggleMessage({ repetitionPenalty: true }, 'repetitionPenalty'), 'Repetition penalty: on');
    assert.match(toggleMessage({}, 'monitor'), /unexpected answer/);
  });
});
