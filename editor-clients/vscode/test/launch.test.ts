/** Unit tests of finding the server (runs under plain Node: `npm test`). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { failureMessage, type LaunchEnvironment, resolveServer, whichOnPath } from '../src/launch';
import { clientSettingsFrom } from '../src/settings';

function environment(files: string[], overrides: Partial<LaunchEnvironment> = {}): LaunchEnvironment {
  const present = new Set(files);
  return {
    workspaceFolders: ['/work/proj'],
    pathEnv: '/usr/local/bin:/usr/bin',
    platform: 'linux',
    isExecutable: (file) => present.has(file),
    importError: () => 'No module named lsp_server',
    ...overrides,
  };
}

const settings = (values: Record<string, unknown> = {}) => clientSettingsFrom((key) => values[key]);

describe('resolveServer', () => {
  it('prefers the workspace .venv that scripts/setup.sh creates', () => {
    const resolved = resolveServer(
      settings(),
      environment(['/work/proj/.venv/bin/superpose-ls', '/usr/bin/superpose-ls']),
    );
    assert.ok(resolved.ok);
    assert.deepEqual(resolved.launch, { kind: 'stdio', command: '/work/proj/.venv/bin/superpose-ls', args: [] });
  });

  it('then superpose-ls on the PATH', () => {
    const resolved = resolveServer(settings(), environment(['/usr/bin/superpose-ls']));
    assert.ok(resolved.ok);
    assert.equal(resolved.launch.kind === 'stdio' && resolved.launch.command, '/usr/bin/superpose-ls');
    assert.deepEqual(resolved.tried, [
      'superpose.serverPath: not set',
      '/work/proj/.venv/bin/superpose-ls: not found',
      'superpose-ls on the PATH: /usr/bin/superpose-ls',
    ]);
  });

  it('then python -m lsp_server when that Python can import it', () => {
    const resolved = resolveServer(
      settings(),
      environment(['/usr/bin/python3'], { importError: () => undefined }),
    );
    assert.ok(resolved.ok);
    assert.deepEqual(resolved.launch, { kind: 'stdio', command: '/usr/bin/python3', args: ['-m', 'lsp_server'] });
  });

  it('fails with every place it tried and what to do', () => {
    const resolved = resolveServer(settings(), environment(['/usr/bin/python3']));
    assert.equal(resolved.ok, false);
    assert.ok(!resolved.ok);
    assert.deepEqual(resolved.tried, [
      'superpose.serverPath: not set',
      '/work/proj/.venv/bin/superpose-ls: not found',
      'superpose-ls on the PATH: not found',
      '/usr/bin/python3 -m lsp_server: No module named lsp_server',
      'python -m lsp_server: no python on the PATH',
    ]);
    assert.match(resolved.message, /cannot find the superpose-ls server/);
    assert.match(resolved.message, /scripts\/setup\.sh/);
    assert.match(resolved.message, /superpose\.serverPath/);
    assert.equal(resolved.message, failureMessage(resolved.tried));
  });

  it('checks an explicit serverPath instead of falling back', () => {
    const missing = resolveServer(settings({ serverPath: '/opt/x/superpose-ls' }), environment([]));
    assert.equal(missing.ok, false);
    assert.deepEqual(missing.tried, ['superpose.serverPath = /opt/x/superpose-ls: not found']);
    const named = resolveServer(settings({ serverPath: 'superpose-ls' }), environment(['/usr/bin/superpose-ls']));
    assert.ok(named.ok);
    assert.equal(named.launch.kind === 'stdio' && named.launch.command, '/usr/bin/superpose-ls');
  });

  it('keeps pythonPath and TCP as they are', () => {
    const python = resolveServer(settings({ pythonPath: '/venv/bin/python' }), environment([]));
    assert.ok(python.ok);
    assert.deepEqual(python.launch, { kind: 'stdio', command: '/venv/bin/python', args: ['-m', 'lsp_server'] });
    const tcp = resolveServer(settings({ tcpPort: 2087 }), environment([]));
    assert.ok(tcp.ok);
    assert.deepEqual(tcp.launch, { kind: 'tcp', host: '127.0.0.1', port: 2087 });
  });

  it('finds Windows executables under .venv\\Scripts', () => {
    const env = environment([], {
      platform: 'win32',
      pathEnv: 'C:\\bin',
      workspaceFolders: ['C:\\proj'],
    });
    const found = whichOnPath('superpose-ls', { ...env, isExecutable: (f) => f.endsWith('superpose-ls.exe') });
    assert.ok(found?.endsWith('superpose-ls.exe'));
  });
});
