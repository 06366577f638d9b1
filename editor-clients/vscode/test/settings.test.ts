/** Unit tests of the settings mapping (runs under plain Node: `npm test`). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CLIENT_KEYS,
  clientSettingsFrom,
  completionMenuWanted,
  ghostTextBlocked,
  configurationResponse,
  didChangeConfigurationParams,
  needsRestart,
  SERVER_DEFAULTS,
  SERVER_KEYS,
  serverLaunchFor,
  serverSettingsChanged,
  serverSettingsFrom,
} from '../src/settings';

const getterOf =
  (values: Record<string, unknown>) =>
  (key: string): unknown =>
    values[key];

describe('serverSettingsFrom', () => {
  it('returns the DESIGN defaults when nothing is set', () => {
    assert.deepEqual(serverSettingsFrom(getterOf({})), {
      model: 'default',
      device: 'auto',
      drafts: 4,
      decoder: 'superposed',
      maxNewTokens: 48,
      monitor: true,
      repetitionPenalty: true,
      ngram: true,
      verify: true,
      multiline: 'auto',
      enable: true,
      mode: 'automatic',
      // the extension's own default: drafts as ghost text only (the server's is `always`)
      completionMenu: 'off',
      disabledLanguages: [],
      disabledGlobs: [],
      debounceMs: 0,
      ghostConfidence: null,
      ghostWrongCost: null,
    });
  });

  it('takes a ghost-text confidence between 0 and 1, or null for the model default', () => {
    assert.equal(serverSettingsFrom(getterOf({ ghostConfidence: 0.35 })).ghostConfidence, 0.35);
    assert.equal(serverSettingsFrom(getterOf({ ghostConfidence: 0 })).ghostConfidence, 0);
    for (const bad of [1.5, -0.2, 'high', true]) {
      assert.equal(serverSettingsFrom(getterOf({ ghostConfidence: bad })).ghostConfidence, null);
    }
  });

  it('takes a wrong-ghost-text cost between 0 and 100 keystrokes, or null', () => {
    assert.equal(serverSettingsFrom(getterOf({ ghostWrongCost: 4 })).ghostWrongCost, 4);
    assert.equal(serverSettingsFrom(getterOf({ ghostWrongCost: 0 })).ghostWrongCost, 0);
    for (const bad of [-1, 101, Infinity, 'many', true]) {
      assert.equal(serverSettingsFrom(getterOf({ ghostWrongCost: bad })).ghostWrongCost, null);
    }
  });

  it('checks the controls: enums, string lists, the debounce range', () => {
    const settings = serverSettingsFrom(
      getterOf({
        mode: 'manual',
        completionMenu: 'invoked',
        disabledLanguages: ['markdown'],
        disabledGlobs: '**/gen/**',
        debounceMs: 150,
      }),
    );
    assert.equal(settings.mode, 'manual');
    assert.equal(settings.completionMenu, 'invoked');
    assert.deepEqual(settings.disabledLanguages, ['markdown']);
    assert.deepEqual(settings.disabledGlobs, ['**/gen/**']);
    assert.equal(settings.debounceMs, 150);
    const bad = serverSettingsFrom(
      getterOf({ mode: 'sometimes', completionMenu: 'never', disabledLanguages: [3], debounceMs: 5000 }),
    );
    assert.equal(bad.mode, 'automatic');
    assert.equal(bad.completionMenu, 'off');
    assert.deepEqual(bad.disabledLanguages, []);
    assert.equal(bad.debounceMs, 0);
    assert.notEqual(
      serverSettingsFrom(getterOf({})).disabledLanguages,
      serverSettingsFrom(getterOf({})).disabledLanguages,
      'each settings object has its own lists',
    );
  });

  it('decides when the client asks for ghost text and menu items', () => {
    const on = serverSettingsFrom(getterOf({}));
    const python = { languageId: 'python', enabledForLanguage: true };
    assert.equal(ghostTextBlocked(on, python, true), undefined);
    assert.equal(ghostTextBlocked({ ...on, enable: false }, python, false), 'disabled');
    assert.equal(ghostTextBlocked(on, { ...python, enabledForLanguage: false }, true), 'disabled');
    assert.equal(ghostTextBlocked({ ...on, disabledLanguages: ['python'] }, python, false), 'disabled for python');
    assert.equal(ghostTextBlocked({ ...on, mode: 'manual' }, python, true), 'manual mode');
    assert.equal(ghostTextBlocked({ ...on, mode: 'manual' }, python, false), undefined, 'asked for');
    assert.equal(completionMenuWanted(on, true), false, 'off by default in VS Code');
    assert.equal(completionMenuWanted({ ...on, completionMenu: 'invoked' }, true), true);
    assert.equal(completionMenuWanted({ ...on, completionMenu: 'invoked' }, false), false);
    assert.equal(completionMenuWanted({ ...on, completionMenu: 'always' }, false), true);
  });

  it('keeps valid user values', () => {
    const settings = serverSettingsFrom(
      getterOf({ drafts: 7, decoder: 'beam', monitor: false, model: '/models/x', multiline: 'never' }),
    );
    assert.equal(settings.drafts, 7);
    assert.equal(settings.decoder, 'beam');
    assert.equal(settings.monitor, false);
    assert.equal(settings.model, '/models/x');
    assert.equal(settings.multiline, 'never');
  });

  it('replaces values of the wrong type or outside the enum with the default', () => {
    const settings = serverSettingsFrom(
      getterOf({ drafts: 0, maxNewTokens: 2.5, decoder: 'nucleus', device: 'tpu', ngram: 'yes', model: '' }),
    );
    assert.equal(settings.drafts, SERVER_DEFAULTS.drafts);
    assert.equal(settings.maxNewTokens, SERVER_DEFAULTS.maxNewTokens);
    assert.equal(settings.decoder, SERVER_DEFAULTS.decoder);
    assert.equal(settings.device, SERVER_DEFAULTS.device);
    assert.equal(settings.ngram, SERVER_DEFAULTS.ngram);
    assert.equal(settings.model, SERVER_DEFAULTS.model);
  });

  it('never carries client-only keys to the server', () => {
    const settings = serverSettingsFrom(
      getterOf({ serverPath: '/bin/x', pythonPath: '/usr/bin/python3', tcpPort: 9000, drafts: 3 }),
    );
    assert.deepEqual(Object.keys(settings).sort(), [...SERVER_KEYS].sort());
    for (const key of CLIENT_KEYS) {
      assert.equal(key in settings, false, key);
    }
  });
});

describe('clientSettingsFrom and serverLaunchFor', () => {
  it('leaves finding the server to launch.ts by default', () => {
    assert.equal(serverLaunchFor(clientSettingsFrom(getterOf({}))), undefined);
    assert.deepEqual(clientSettingsFrom(getterOf({})).languages, ['python']);
  });

  it('uses the serverPath when given', () => {
    const launch = serverLaunchFor(clientSettingsFrom(getterOf({ serverPath: ' /opt/sp/bin/superpose-ls ' })));
    assert.deepEqual(launch, { kind: 'stdio', command: '/opt/sp/bin/superpose-ls', args: [] });
  });

  it('runs `python -m lsp_server` when pythonPath is set', () => {
    const launch = serverLaunchFor(
      clientSettingsFrom(getterOf({ serverPath: '/x/superpose-ls', pythonPath: '/venv/bin/python' })),
    );
    assert.deepEqual(launch, { kind: 'stdio', command: '/venv/bin/python', args: ['-m', 'lsp_server'] });
  });

  it('connects over TCP when a valid port is set', () => {
    assert.deepEqual(serverLaunchFor(clientSettingsFrom(getterOf({ tcpPort: 2087 }))), {
      kind: 'tcp',
      host: '127.0.0.1',
      port: 2087,
    });
    assert.deepEqual(
      serverLaunchFor(clientSettingsFrom(getterOf({ tcpPort: 2087, tcpHost: 'localhost' }))),
      { kind: 'tcp', host: 'localhost', port: 2087 },
    );
  });

  it('ignores invalid ports', () => {
    for (const port of [0, 70000, 20.5, '2087', null]) {
      assert.equal(clientSettingsFrom(getterOf({ tcpPort: port })).tcpPort, undefined, String(port));
    }
  });

  it('restarts only when the way to reach the server changes', () => {
    const base = clientSettingsFrom(getterOf({}));
    assert.equal(needsRestart(base, { ...base, inlineCompletion: false }), false);
    assert.equal(needsRestart(base, { ...base, serverPath: '/other' }), true);
    assert.equal(needsRestart(base, { ...base, tcpPort: 4000 }), true);
    assert.equal(needsRestart(base, { ...base, pythonPath: 'python3' }), true);
    assert.equal(needsRestart(base, { ...base, languages: ['python', 'typescript'] }), true);
  });
});

describe('configuration messages', () => {
  it('wraps the settings under `superpose` for didChangeConfiguration', () => {
    const settings = serverSettingsFrom(getterOf({ drafts: 2 }));
    const params = didChangeConfigurationParams(settings);
    assert.deepEqual(params, { settings: { superpose: settings } });
    assert.equal(params.settings.superpose.drafts, 2);
  });

  it('answers workspace/configuration with server keys only and falls back for other sections', () => {
    const settings = serverSettingsFrom(getterOf({ drafts: 5 }));
    const answer = configurationResponse(
      [{ section: 'superpose' }, { section: 'superpose.drafts' }, { section: 'superpose.serverPath' }, { section: 'editor' }],
      settings,
      (item) => `fallback:${item.section}`,
    );
    assert.deepEqual(answer[0], settings);
    assert.notEqual(answer[0], settings, 'a copy, not the live object');
    assert.equal(answer[1], 5);
    assert.equal(answer[2], null);
    assert.equal(answer[3], 'fallback:editor');
  });

  it('detects changed server settings', () => {
    const a = serverSettingsFrom(getterOf({}));
    assert.equal(serverSettingsChanged(a, { ...a }), false);
    assert.equal(serverSettingsChanged(a, { ...a, verify: false }), true);
  });
});
