/**
 * Draft and status formatting plus `workspace/executeCommand` argument building for the
 * Superpose VS Code extension (pure logic: no `vscode` import, so Node runs its tests).
 *
 * The shapes follow DESIGN.md section 2: `superpose.drafts` answers
 * `{"drafts": [{text, score, rank, id, range, stats}], "timings": {...}}` and
 * `superpose.status` answers `{model, device, state, settings, latency_ms, ...}`.
 */

export interface LspPosition {
  line: number;
  character: number;
}

export interface LspRange {
  start: LspPosition;
  end: LspPosition;
}

export interface Draft {
  text: string;
  score: number;
  rank: number;
  id: string | undefined;
  range: LspRange | undefined;
  stats: Record<string, unknown>;
}

export interface DraftsResult {
  drafts: Draft[];
  timings: Record<string, unknown>;
}

export interface ServerStatus {
  model: string;
  device: string;
  state: 'loading' | 'ready' | 'error' | 'unknown';
  settings: Record<string, unknown>;
  /** Latency percentiles in ms, flattened: "p50" or, per request kind, "invoked p50". */
  latencyMs: Record<string, number>;
  lastLatencyMs: number | undefined;
  raw: Record<string, unknown>;
}

/** Names of the server's `workspace/executeCommand` commands. */
export const SERVER_COMMANDS = Object.freeze({
  drafts: 'superpose.drafts',
  toggleMonitor: 'superpose.toggleMonitor',
  toggleRepetitionPenalty: 'superpose.toggleRepetitionPenalty',
  setDrafts: 'superpose.setDrafts',
  status: 'superpose.status',
  reindex: 'superpose.reindex',
  accept: 'superpose.accept',
  accepted: 'superpose.accepted',
  toggle: 'superpose.toggle',
  snooze: 'superpose.snooze',
});

/** Returns the `superpose.drafts` arguments for a document and a 0-based UTF-16 position. */
export function draftsCommandArguments(
  uri: string,
  position: LspPosition,
): [{ textDocument: { uri: string }; position: LspPosition }] {
  return [{ textDocument: { uri }, position: { line: position.line, character: position.character } }];
}

/** Returns `workspace/executeCommand` params. */
export function executeCommandParams(
  command: string,
  args: unknown[] = [],
): { command: string; arguments: unknown[] } {
  return { command, arguments: args };
}

/** Returns `[k]` for valid input of the "Set Number of Drafts" box, otherwise an error text. */
export function setDraftsArguments(
  input: string,
): { ok: true; args: [number] } | { ok: false; error: string } {
  const trimmed = input.trim();
  if (!/^\d+$/.test(trimmed)) {
    return { ok: false, error: 'Enter a whole number between 1 and 16.' };
  }
  const k = Number.parseInt(trimmed, 10);
  if (k < 1 || k > 16) {
    return { ok: false, error: 'Enter a whole number between 1 and 16.' };
  }
  return { ok: true, args: [k] };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isPosition(value: unknown): value is LspPosition {
  return (
    isRecord(value) &&
    Number.isInteger(value.line) &&
    Number.isInteger(value.character) &&
    (value.line as number) >= 0 &&
    (value.character as number) >= 0
  );
}

function rangeOf(value: unknown): LspRange | undefined {
  return isRecord(value) && isPosition(value.start) && isPosition(value.end)
    ? { start: { ...value.start }, end: { ...value.end } }
    : undefined;
}

/**
 * Returns the drafts of a `superpose.drafts` answer in rank order; entries without text are
 * dropped, a missing rank falls back to the position in the list. Null (model still loading)
 * gives no drafts.
 */
export function draftsResultFrom(raw: unknown): DraftsResult {
  if (!isRecord(raw) || !Array.isArray(raw.drafts)) {
    return { drafts: [], timings: {} };
  }
  const drafts: Draft[] = [];
  raw.drafts.forEach((entry, index) => {
    if (!isRecord(entry) || typeof entry.text !== 'string') {
      return;
    }
    drafts.push({
      text: entry.text,
      score: typeof entry.score === 'number' ? entry.score : Number.NaN,
      rank: Number.isInteger(entry.rank) ? (entry.rank as number) : index,
      id: entry.id === undefined || entry.id === null ? undefined : String(entry.id),
      range: rangeOf(entry.range),
      stats: isRecord(entry.stats) ? entry.stats : {},
    });
  });
  drafts.sort((a, b) => a.rank - b.rank);
  return { drafts, timings: isRecord(raw.timings) ? raw.timings : {} };
}

/** Returns the first non-empty line of a draft, or a visible marker for whitespace-only text. */
export function firstLine(text: string): string {
  const line = text.split(/\r?\n/).find((l) => l.trim().length > 0);
  return line === undefined ? '⏎' : line.trimEnd();
}

/** Returns a one-line preview of a multi-line draft (newlines shown as ⏎, capped in length). */
export function oneLinePreview(text: string, maxLength = 120): string {
  const flat = text.replace(/\r?\n/g, ' ⏎ ').replace(/\t/g, '  ');
  return flat.length <= maxLength ? flat : `${flat.slice(0, maxLength - 1)}…`;
}

/** Returns a short human text for a draft's stats (monitor masks, repetition penalties, tokens). */
export function statsSummary(stats: Record<string, unknown>): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(stats)) {
    if (typeof value === 'number') {
      parts.push(`${key} ${Number.isInteger(value) ? value : value.toFixed(2)}`);
    } else if (typeof value === 'boolean' || typeof value === 'string') {
      parts.push(`${key} ${value}`);
    } else if (isRecord(value)) {
      const nested = statsSummary(value);
      if (nested.length > 0) {
        parts.push(`${key}: ${nested}`);
      }
    }
  }
  return parts.join(' · ');
}

/** Returns the score as text with two decimals ("n/a" when missing). */
export function formatScore(score: number): string {
  return Number.isFinite(score) ? score.toFixed(2) : 'n/a';
}

export interface DraftPickItem {
  label: string;
  description: string;
  detail: string;
  draft: Draft;
}

/** Returns one QuickPick entry per draft: label = first line, description = rank and score. */
export function draftPickItems(drafts: readonly Draft[]): DraftPickItem[] {
  return drafts.map((draft, index) => {
    const stats = statsSummary(draft.stats);
    const lines = draft.text.split(/\r?\n/).length;
    const preview = lines > 1 ? oneLinePreview(draft.text) : '';
    return {
      label: firstLine(draft.text),
      description: `#${index + 1} · score ${formatScore(draft.score)}${lines > 1 ? ` · ${lines} lines` : ''}`,
      detail: [preview, stats].filter((part) => part.length > 0).join('  —  '),
      draft,
    };
  });
}

/**
 * Returns the latency percentiles of a status answer, flattened one level: `{p50: 12}` gives
 * `{"p50": 12}` and `{invoked: {p50: 12, count: 3}}` gives `{"invoked p50": 12}` (counts are
 * not durations and are left out).
 */
export function latencyFrom(value: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (!isRecord(value)) {
    return out;
  }
  for (const [key, entry] of Object.entries(value)) {
    if (typeof entry === 'number' && Number.isFinite(entry) && key !== 'count') {
      out[key] = entry;
    } else if (isRecord(entry)) {
      for (const [inner, ms] of Object.entries(entry)) {
        if (typeof ms === 'number' && Number.isFinite(ms) && inner !== 'count') {
          out[`${key} ${inner}`] = ms;
        }
      }
    }
  }
  return out;
}

/** Returns the `superpose.status` answer in a checked shape (unknown parts become defaults). */
export function serverStatusFrom(raw: unknown): ServerStatus {
  const record = isRecord(raw) ? raw : {};
  const state = record.state;
  return {
    model: typeof record.model === 'string' ? record.model : 'unknown',
    device: typeof record.device === 'string' ? record.device : 'unknown',
    state: state === 'loading' || state === 'ready' || state === 'error' ? state : 'unknown',
    settings: isRecord(record.settings) ? record.settings : {},
    latencyMs: latencyFrom(record.latency_ms),
    lastLatencyMs:
      typeof record.last_latency_ms === 'number' && Number.isFinite(record.last_latency_ms)
        ? record.last_latency_ms
        : undefined,
    raw: record,
  };
}

/** Returns milliseconds as a short text ("87 ms", "1.4 s"). */
export function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

/** Returns the lines shown by "Superpose: Show Status". */
export function statusReport(status: ServerStatus): string[] {
  const lines = [`Model: ${status.model}`, `Device: ${status.device}`, `State: ${status.state}`];
  if (status.lastLatencyMs !== undefined) {
    lines.push(`Last completion: ${formatMs(status.lastLatencyMs)}`);
  }
  const latency = Object.entries(status.latencyMs)
    .map(([key, value]) => `${key} ${formatMs(value)}`)
    .join(', ');
  if (latency.length > 0) {
    lines.push(`Latency: ${latency}`);
  }
  const settings = Object.entries(status.settings)
    .map(([key, value]) => `${key}=${JSON.stringify(value)}`)
    .join(', ');
  if (settings.length > 0) {
    lines.push(`Settings: ${settings}`);
  }
  for (const [key, value] of Object.entries(status.raw)) {
    if (['model', 'device', 'state', 'settings', 'latency_ms', 'last_latency_ms'].includes(key)) {
      continue;
    }
    if (value === null || value === undefined) {
      continue;
    }
    lines.push(`${key}: ${typeof value === 'string' ? value : JSON.stringify(value)}`);
  }
  return lines;
}

/** Returns the message shown after a toggle command (`{"monitor": true}` -> "Monitor: on"). */
export function toggleMessage(result: unknown, key: 'monitor' | 'repetitionPenalty'): string {
  const label = key === 'monitor' ? 'Monitor-guided decoding' : 'Repetition penalty';
  if (!isRecord(result) || typeof result[key] !== 'boolean') {
    return `${label}: unexpected answer ${JSON.stringify(result)}`;
  }
  return `${label}: ${result[key] ? 'on' : 'off'}`;
}

/** Returns the server commands the client must forward itself because the server did not list them. */
export function commandsToForward(
  advertised: readonly string[] | undefined,
  wanted: readonly string[] = [SERVER_COMMANDS.accept],
): string[] {
  const known = new Set(advertised ?? []);
  return wanted.filter((command) => !known.has(command));
}
