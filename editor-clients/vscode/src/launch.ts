/**
 * Finding the superpose-ls server to start (pure logic: no `vscode` import; the file system
 * and Python checks are passed in, so Node runs the tests).
 *
 * Order: `superpose.tcpPort`, `superpose.pythonPath`, an explicit `superpose.serverPath`;
 * otherwise `.venv/bin/superpose-ls` in each workspace folder (what `bash scripts/setup.sh`
 * creates in a superpose-ls checkout), `superpose-ls` on the PATH, then `python3 -m
 * lsp_server` (or `python`) when that Python can import it. When nothing works the error
 * names every place that was tried and what to do.
 */
import * as path from 'node:path';
import { type ClientSettings, type ServerLaunch, serverLaunchFor } from './settings';

export interface LaunchEnvironment {
  workspaceFolders: readonly string[];
  /** The PATH variable. */
  pathEnv: string;
  platform: NodeJS.Platform;
  /** Whether `file` exists and can be run. */
  isExecutable: (file: string) => boolean;
  /** Undefined when `python -c "import lsp_server"` works, else why it does not. */
  importError: (python: string) => string | undefined;
}

export type LaunchResolution =
  | { ok: true; launch: ServerLaunch; tried: string[] }
  | { ok: false; tried: string[]; message: string };

function executableNames(name: string, platform: NodeJS.Platform): string[] {
  return platform === 'win32' ? [`${name}.exe`, `${name}.cmd`, name] : [name];
}

/** Returns the first `name` on `pathEnv` that can be run, or undefined. */
export function whichOnPath(name: string, env: LaunchEnvironment): string | undefined {
  const separator = env.platform === 'win32' ? ';' : ':';
  for (const dir of env.pathEnv.split(separator)) {
    if (dir.length === 0) {
      continue;
    }
    for (const file of executableNames(name, env.platform)) {
      const candidate = path.join(dir, file);
      if (env.isExecutable(candidate)) {
        return candidate;
      }
    }
  }
  return undefined;
}

/** Returns how to start the server, or an actionable error listing what was tried. */
export function resolveServer(client: ClientSettings, env: LaunchEnvironment): LaunchResolution {
  const fixed = serverLaunchFor(client);
  if (fixed !== undefined) {
    if (fixed.kind === 'stdio' && client.pythonPath.length === 0) {
      // an explicit serverPath: a path must exist, a bare name must be on the PATH
      const explicit = fixed.command;
      const found = explicit.includes('/') || explicit.includes('\\')
        ? (env.isExecutable(explicit) ? explicit : undefined)
        : whichOnPath(explicit, env);
      const tried = [`superpose.serverPath = ${explicit}: ${found ? 'found' : 'not found'}`];
      if (found === undefined) {
        return { ok: false, tried, message: failureMessage(tried) };
      }
      return { ok: true, launch: { kind: 'stdio', command: found, args: [] }, tried };
    }
    return { ok: true, launch: fixed, tried: [] };
  }
  const tried = ['superpose.serverPath: not set'];
  const bin = env.platform === 'win32' ? path.join('.venv', 'Scripts') : path.join('.venv', 'bin');
  for (const folder of env.workspaceFolders) {
    for (const file of executableNames('superpose-ls', env.platform)) {
      const candidate = path.join(folder, bin, file);
      if (env.isExecutable(candidate)) {
        tried.push(`${candidate}: found`);
        return { ok: true, launch: { kind: 'stdio', command: candidate, args: [] }, tried };
      }
    }
    tried.push(`${path.join(folder, bin, 'superpose-ls')}: not found`);
  }
  const onPath = whichOnPath('superpose-ls', env);
  if (onPath !== undefined) {
    tried.push(`superpose-ls on the PATH: ${onPath}`);
    return { ok: true, launch: { kind: 'stdio', command: onPath, args: [] }, tried };
  }
  tried.push('superpose-ls on the PATH: not found');
  for (const name of ['python3', 'python']) {
    const python = whichOnPath(name, env);
    if (python === undefined) {
      tried.push(`${name} -m lsp_server: no ${name} on the PATH`);
      continue;
    }
    const problem = env.importError(python);
    if (problem === undefined) {
      tried.push(`${python} -m lsp_server: importable`);
      return { ok: true, launch: { kind: 'stdio', command: python, args: ['-m', 'lsp_server'] }, tried };
    }
    tried.push(`${python} -m lsp_server: ${problem}`);
  }
  return { ok: false, tried, message: failureMessage(tried) };
}

/** The error shown when no server was found. */
export function failureMessage(tried: readonly string[]): string {
  return (
    'Superpose: cannot find the superpose-ls server. Tried: ' +
    tried.join('; ') +
    '. Set it up (`bash scripts/setup.sh` in a superpose-ls checkout) and set ' +
    '`superpose.serverPath` to its `.venv/bin/superpose-ls`, or open that checkout as the ' +
    'workspace.'
  );
}
