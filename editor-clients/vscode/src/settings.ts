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
}

/** Options that only the client reads. */
export interface ClientSettings {
  serverPath: string;
  pythonPath: string;
  tcpPort: number | undefined;
  tcpHost: string;
  inlineCompletion: boolean;
}

/** Defaults of DESIGN.md section 2 (the server applies the same ones). */
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
});

export const CLIENT_DEFAULTS: Readonly<ClientSettings> = Object.freeze({
  serverPath: 'superpose-ls',
  pythonPath: '',
  tcpPort: undefined,
  tcpHost: '127.0.0.1',
  inlineCompletion: true,
});

export const SERVER_KEYS = Object.keys(SERVER_DEFAULTS) as (keyof ServerSettings)[];
export const CLIENT_KEYS = Object.keys(CLIENT_DEFAULTS) as (keyof ClientSettings)[];

const ENUMS: Partial<Record<keyof ServerSettings, readonly string[]>> = {
  device: ['auto', 'cpu', 'cuda'],
  decoder: ['superposed', 'greedy', 'beam', 'sampling'],
  multiline: ['auto', 'never', 'always'],
};

/** Reads one key of the `superpose` section; undefined when unset. */
export type SettingGetter = (key: string) => unknown;

function isPositiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1;
}

/** Returns the value when it fits the default's type (and enum), otherwise the default. */
function validServerValue<K extends keyof ServerSettings>(
  key: K,
  value: unknown,
): ServerSettings[K] {
  const fallback = SERVER_DEFAULTS[key];
  if (value === undefined || value === null) {
    return fallback;
  }
  if (typeof fallback === 'number') {
    return (isPositiveInteger(value) ? value : fallback) as ServerSettings[K];
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
  const settings = { ...SERVER_DEFAULTS } as ServerSettings;
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
  };
}

/** How to reach the server: spawn a process over stdio, or connect to a TCP port. */
export type ServerLaunch =
  | { kind: 'stdio'; command: string; args: string[] }
  | { kind: 'tcp'; host: string; port: number };

/** Returns the launch plan for the client settings (TCP wins, then pythonPath, then serverPath). */
export function serverLaunchFor(client: ClientSettings): ServerLaunch {
  if (client.tcpPort !== undefined) {
    return { kind: 'tcp', host: client.tcpHost, port: client.tcpPort };
  }
  if (client.pythonPath.length > 0) {
    return { kind: 'stdio', command: client.pythonPath, args: ['-m', 'lsp_server'] };
  }
  return { kind: 'stdio', command: client.serverPath, args: [] };
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
    before.tcpHost !== after.tcpHost
  );
}

/** Returns true when two server settings objects differ in any key. */
export function serverSettingsChanged(before: ServerSettings, after: ServerSettings): boolean {
  return SERVER_KEYS.some((key) => before[key] !== after[key]);
}
