/** Unit tests of the status bar and its menu (runs under plain Node: `npm test`). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { controlsFrom, partialAccept, type StatusView, statusBarView, statusMenu } from '../src/status';

const ready: StatusView = {
  server: 'ready',
  controls: { state: 'on', snoozedSeconds: 0 },
  languageOff: undefined,
  inflight: 0,
  lastLatencyMs: 142,
  slowMs: 1000,
  model: 'default',
  error: undefined,
};

describe('statusBarView', () => {
  it('shows every state, the most important first', () => {
    const text = (changes: Partial<StatusView>) => statusBarView({ ...ready, ...changes }).text;
    assert.equal(text({}), '$(check) Superpose 142 ms');
    assert.equal(text({ lastLatencyMs: undefined }), '$(check) Superpose');
    assert.equal(text({ inflight: 1 }), '$(loading~spin) Superpose');
    assert.equal(text({ lastLatencyMs: 1500 }), '$(warning) Superpose: slow 1.5 s');
    assert.equal(text({ server: 'loading' }), '$(sync~spin) Superpose: loading model');
    assert.equal(text({ server: 'starting' }), '$(sync~spin) Superpose: starting');
    assert.equal(text({ server: 'error', inflight: 2 }), '$(error) Superpose: error');
    assert.equal(text({ controls: { state: 'off', snoozedSeconds: 0 }, inflight: 1 }), '$(circle-slash) Superpose: off');
    assert.equal(text({ languageOff: 'python' }), '$(circle-slash) Superpose: off for python');
    assert.equal(text({ controls: { state: 'manual', snoozedSeconds: 0 } }), '$(debug-pause) Superpose: manual');
    assert.equal(text({ controls: { state: 'snoozed', snoozedSeconds: 61 } }), '$(clock) Superpose: snoozed 2 min');
    assert.equal(statusBarView({ ...ready, server: 'error' }).warning, true);
    assert.match(statusBarView({ ...ready, error: 'cannot find' }).tooltip, /cannot find/);
  });

  it('reads controls from status and toggle answers', () => {
    assert.deepEqual(controlsFrom({ state: 'snoozed', snoozedSeconds: 90 }), { state: 'snoozed', snoozedSeconds: 90 });
    assert.deepEqual(controlsFrom(undefined), { state: 'on', snoozedSeconds: 0 });
    assert.deepEqual(controlsFrom({ state: 'weird' }), { state: 'on', snoozedSeconds: 0 });
  });
});

describe('statusMenu', () => {
  const settings = { enable: true, mode: 'automatic', completionMenu: 'off', drafts: 4 };

  it('offers the switch that changes the current state', () => {
    const labels = statusMenu(ready, settings, 'python').map((entry) => entry.label);
    assert.ok(labels.includes('$(circle-slash) Turn ghost text off'));
    assert.ok(labels.includes('$(debug-pause) Manual: ghost text only on Alt+\\'));
    assert.ok(labels.includes('$(clock) Snooze for 15 minutes'));
    assert.ok(labels.includes('$(circle-slash) Turn off for python'));
    assert.ok(labels.includes('$(versions) Number of drafts: 4'));
    assert.ok(labels.includes('$(output) Open log'));
    const off = statusMenu(
      { ...ready, controls: { state: 'snoozed', snoozedSeconds: 30 }, languageOff: 'python' },
      { ...settings, enable: false, mode: 'manual', completionMenu: 'invoked' },
      'python',
    );
    assert.deepEqual(
      off.slice(0, 5).map((entry) => entry.action),
      [
        { kind: 'setting', key: 'enable', value: true },
        { kind: 'setting', key: 'mode', value: 'automatic' },
        { kind: 'snooze', minutes: 0 },
        { kind: 'toggleLanguage', languageId: 'python', disable: false },
        { kind: 'setting', key: 'completionMenu', value: 'off' },
      ],
    );
  });
});

describe('partialAccept', () => {
  const shown = [
    { id: 'c1', text: 'count = 1' },
    { id: 'c2', text: 'history.append(step)\nreturn x' },
  ];

  it('finds the draft a word or line came from and counts it', () => {
    const accepted = new Map<string, string>();
    const word = partialAccept(shown, accepted, 'history');
    assert.deepEqual(word, { id: 'c2', chars: 7, lines: 0, complete: false, prefix: 'history' });
    accepted.set('c2', 'history');
    const line = partialAccept(shown, accepted, '.append(step)\n');
    assert.deepEqual(line?.lines, 1);
    accepted.set('c2', line!.prefix);
    const last = partialAccept(shown, accepted, 'return x');
    assert.deepEqual(last, { id: 'c2', chars: 8, lines: 1, complete: true, prefix: shown[1].text });
  });

  it('skips what the user typed through, and ignores other suggestions', () => {
    const typed = partialAccept(shown, new Map(), ' = 1');
    assert.equal(typed?.id, 'c1');
    assert.equal(typed?.complete, true);
    assert.equal(partialAccept(shown, new Map(), 'something else'), undefined);
    assert.equal(partialAccept(shown, new Map(), ''), undefined);
  });
});
