/**
 * Settings mapping for the Superpose VS Code extension (pure logic: no `vscode` import).
 *
 * VS Code keeps every option under the `superpose.*` section. Some of them steer the
 * client (how to start or reach the server); the rest are the server settings of
 * DESIGN.md section 2, which travel as `initializationOptions` at start-up and as
 * `workspace/didChangeConfiguration` / `workspace/configuration` answers later. The
 * server reports unknown keys, so client-only keys must never reach it.
 */

/** Server settings exactly as DESIGN.md section 2 names them. */
export interface ServerSettings {
  model: string;
  device: 'auto' | 'cpu' | 'cuda';
  drafts: number;
  decoder: 'superposed' | 'greedy' | 'beam' | 'sampling';
  maxNewTokens: number;
  monitor: boolean;
  repetitionPenalty: boolean;
  ngram: boolean;
  verify: boolean;
  multiline: 'auto' | 'never' | 'always';
  enable: boolean;
  mode: 'automatic' | 'manual';
  completionMenu: 'always' | 'invoked' | 'off';
  disabledLanguages: string[];
  disabledGlobs: string[];
  debounceMs: number;
  /** Ghost text only as far as its calibrated chance of being right stays at or above this
   * (0..1); null: the model's calibrated default. */
  ghostConfidence: number | null;
  /** What one wrong ghost text costs, in keystrokes (0..100): ghost text shows the prefix
   * with the most expected keystrokes saved net of it; null: the model's calibrated value. */
  ghostWrongCost: number | null;
}

/** Options that only the client reads. */
export interface ClientSettings {
  serverPath: string;
  pythonPath: string;
  tcpPort: number | undefined;
  tcpHost: string;
  inlineCompletion: boolean;
  languages: string[];
}

/**
 * Defaults sent to the server: those of DESIGN.md section 2, except `completionMenu`, which
 * is `off` here (the server's own default is `always`): VS Code asks for completion items on
 * nearly every keystroke (quick suggestions arrive as invoked requests), and the drafts are
 * already shown as ghost text.
 */
export const SERVER_DEFAULTS: Readonly<ServerSettings> = Object.freeze({
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
  completionMenu: 'off',
  disabledLanguages: [] as string[],
  disabledGlobs: [] as string[],
  debounceMs: 0,
  ghostConfidence: null,
  ghostWrongCost: null,
});

/** serverPath '' = find it: workspace .venv, then PATH, then `python -m lsp_server`. */
export const CLIENT_DEFAULTS: Readonly<ClientSettings> = Object.freeze({
  serverPath: '',
  pythonPath: '',
  tcpPort: undefined,
  tcpHost: '127.0.0.1',
  inlineCompletion: true,
  // the shipped model is trained on Python; add languages when you use a bigger model
  languages: ['python'],
});

export const SERVER_KEYS = Object.keys(SERVER_DEFAULTS) as (keyof ServerSettings)[];
export const CLIENT_KEYS = Object.keys(CLIENT_DEFAULTS) as (keyof ClientSettings)[];

const ENUMS: Partial<Record<keyof ServerSettings, readonly string[]>> = {
  device: ['auto', 'cpu', 'cuda'],
  decoder: ['superposed', 'greedy', 'beam', 'sampling'],
  multiline: ['auto', 'never', 'always'],
  mode: ['automatic', 'manual'],
  completionMenu: ['always', 'invoked', 'off'],
};

/** Inclusive ranges of the numeric settings (the server checks the same ones). */
const RANGES: Partial<Record<keyof ServerSettings, readonly [number, number]>> = {
  drafts: [1, 16],
  maxNewTokens: [1, 512],
  debounceMs: [0, 2000],
};

function stringList(value: unknown): string[] | undefined {
  if (typeof value === 'string' && value.length > 0) {
    return [value];
  }
  return Array.isArray(value) && value.every((item) => typeof item === 'string' && item.length > 0)
    ? [...(value as string[])]
    : undefined;
}

/** Reads one key of the `superpose` section; undefined when unset. */
export type SettingGetter = (key: string) => unknown;

/** Returns the value when it fits the default's type (and enum), otherwise the default. */
function validServerValue<K extends keyof ServerSettings>(
  key: K,
  value: unknown,
): ServerSettings[K] {
  const fallback = SERVER_DEFAULTS[key];
  if (value === undefined || value === null) {
    return (Array.isArray(fallback) ? [...fallback] : fallback) as ServerSettings[K];
  }
  if (key === 'ghostConfidence' || key === 'ghostWrongCost') {
    const hi = key === 'ghostConfidence' ? 1 : 100;
    const ok = typeof value === 'number' && Number.isFinite(value) && value >= 0 && value <= hi;
    return (ok ? value : fallback) as ServerSettings[K];
  }
  if (Array.isArray(fallback)) {
    return (stringList(value) ?? [...fallback]) as ServerSettings[K];
  }
  if (typeof fallback === 'number') {
    const [lo, hi] = RANGES[key] ?? [1, Number.MAX_SAFE_INTEGER];
    const ok = typeof value === 'number' && Number.isInteger(value) && value >= lo && value <= hi;
    return (ok ? value : fallback) as ServerSettings[K];
  }
  if (typeof fallback === 'boolean') {
    return (typeof value === 'boolean' ? value : fallback) as ServerSettings[K];
  }
  if (typeof value !== 'string' || value.length === 0) {
    return fallback;
  }
  const allowed = ENUMS[key];
  return (allowed === undefined || allowed.includes(value) ? value : fallback) as ServerSettings[K];
}

/** Returns the server settings object (initializationOptions) read through `get`. */
export function serverSettingsFrom(get: SettingGetter): ServerSettings {
  const settings = {} as ServerSettings;
  for (const key of SERVER_KEYS) {
    (settings as unknown as Record<string, unknown>)[key] = validServerValue(key, get(key));
  }
  return settings;
}

/** Returns the client-only settings read through `get`. */
export function clientSettingsFrom(get: SettingGetter): ClientSettings {
  const str = (key: keyof ClientSettings, fallback: string): string => {
    const value = get(key);
    return typeof value === 'string' && value.trim().length > 0 ? value.trim() : fallback;
  };
  const port = get('tcpPort');
  const inline = get('inlineCompletion');
  return {
    serverPath: str('serverPath', CLIENT_DEFAULTS.serverPath),
    pythonPath: str('pythonPath', CLIENT_DEFAULTS.pythonPath),
    tcpPort:
      typeof port === 'number' && Number.isInteger(port) && port > 0 && port < 65536
        ? port
        : undefined,
    tcpHost: str('tcpHost', CLIENT_DEFAULTS.tcpHost),
    inlineCompletion: typeof inline === 'boolean' ? inline : CLIENT_DEFAULTS.inlineCompletion,
    languages: stringList(get('languages')) ?? [...CLIENT_DEFAULTS.languages],
  };
}

/** How to reach the server: spawn a process over stdio, or connect to a TCP port. */
export type ServerLaunch =
  | { kind: 'stdio'; command: string; args: string[] }
  | { kind: 'tcp'; host: string; port: number };

/**
 * Returns the launch plan the settings fix on their own (TCP wins, then pythonPath, then an
 * explicit serverPath), or undefined when the server must be found (see launch.ts).
 */
export function serverLaunchFor(client: ClientSettings): ServerLaunch | undefined {
  if (client.tcpPort !== undefined) {
    return { kind: 'tcp', host: client.tcpHost, port: client.tcpPort };
  }
  if (client.pythonPath.length > 0) {
    return { kind: 'stdio', command: client.pythonPath, args: ['-m', 'lsp_server'] };
  }
  if (client.serverPath.length > 0) {
    return { kind: 'stdio', command: client.serverPath, args: [] };
  }
  return undefined;
}

/** Returns the `workspace/didChangeConfiguration` params carrying only server settings. */
export function didChangeConfigurationParams(settings: ServerSettings): {
  settings: { superpose: ServerSettings };
} {
  return { settings: { superpose: settings } };
}

/**
 * Returns the answer to a `workspace/configuration` request: the server settings for the
 * `superpose` section, a single server key for `superpose.<key>`, and `fallback(item)` for
 * every other section.
 */
export function configurationResponse(
  items: readonly { section?: string; scopeUri?: string }[],
  settings: ServerSettings,
  fallback: (item: { section?: string; scopeUri?: string }) => unknown = () => null,
): unknown[] {
  return items.map((item) => {
    if (item.section === 'superpose') {
      return { ...settings };
    }
    if (item.section !== undefined && item.section.startsWith('superpose.')) {
      const key = item.section.slice('superpose.'.length);
      return (SERVER_KEYS as string[]).includes(key)
        ? (settings as unknown as Record<string, unknown>)[key]
        : null;
    }
    return fallback(item);
  });
}

/** Returns true when a change of these client keys needs the server to be restarted. */
export function needsRestart(before: ClientSettings, after: ClientSettings): boolean {
  return (
    before.serverPath !== after.serverPath ||
    before.pythonPath !== after.pythonPath ||
    before.tcpPort !== after.tcpPort ||
    before.tcpHost !== after.tcpHost ||
    before.languages.join('\n') !== after.languages.join('\n')
  );
}

/** Returns true when two server settings objects differ in any key. */
export function serverSettingsChanged(before: ServerSettings, after: ServerSettings): boolean {
  return SERVER_KEYS.some((key) => JSON.stringify(before[key]) !== JSON.stringify(after[key]));
}

/** What the client knows of a document when it decides whether to ask for ghost text. */
export interface DocumentFacts {
  languageId: string;
  /** `superpose.enable` read for this document's language (language-overridable). */
  enabledForLanguage: boolean;
}

/**
 * Returns why the client does not ask the server for ghost text here (undefined: ask). The
 * server applies the same switches (and `disabledGlobs`); checking them here saves the
 * round trip. `automatic` is false when the user asked for it (Alt+\\).
 */
export function ghostTextBlocked(
  settings: ServerSettings,
  document: DocumentFacts,
  automatic: boolean,
): string | undefined {
  if (!settings.enable || !document.enabledForLanguage) {
    return 'disabled';
  }
  if (settings.disabledLanguages.includes(document.languageId)) {
    return `disabled for ${document.languageId}`;
  }
  if (automatic && settings.mode === 'manual') {
    return 'manual mode';
  }
  return undefined;
}

/** Returns whether a completion-menu request goes to the server under `completionMenu`. */
export function completionMenuWanted(settings: ServerSettings, invoked: boolean): boolean {
  return settings.completionMenu === 'always' || (settings.completionMenu === 'invoked' && invoked);
}
