/**
 * Status bar text and the status bar's click menu (pure logic: no `vscode` import).
 *
 * States, most important first: the server (starting, loading the model, error, stopped),
 * then the switches (off, off for this language, manual, snoozed), then activity (a spinner
 * while ghost text is being computed), then the last latency (ready, or slow past `slowMs`).
 */
import { formatMs } from './drafts';

/** The `controls` part of `superpose.status` and the answer of toggle/snooze. */
export interface Controls {
  state: 'on' | 'off' | 'manual' | 'snoozed';
  snoozedSeconds: number;
}

export interface StatusView {
  server: 'starting' | 'loading' | 'ready' | 'error' | 'stopped' | 'unknown';
  controls: Controls;
  /** The active editor's language is switched off (setting or language override). */
  languageOff: string | undefined;
  inflight: number;
  lastLatencyMs: number | undefined;
  slowMs: number;
  model: string | undefined;
  error: string | undefined;
}

/** Returns the `controls` of a status/toggle answer (defaults: on, not snoozed). */
export function controlsFrom(raw: unknown): Controls {
  const record = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>) : {};
  const state = record.state;
  return {
    state: state === 'off' || state === 'manual' || state === 'snoozed' ? state : 'on',
    snoozedSeconds:
      typeof record.snoozedSeconds === 'number' && record.snoozedSeconds > 0
        ? record.snoozedSeconds
        : 0,
  };
}

/** Returns the status bar text, tooltip and whether it shows a warning background. */
export function statusBarView(view: StatusView): { text: string; tooltip: string; warning: boolean } {
  let text: string;
  let warning = false;
  if (view.server === 'starting' || view.server === 'loading') {
    text = `$(sync~spin) Superpose: ${view.server === 'loading' ? 'loading model' : 'starting'}`;
  } else if (view.server === 'error' || view.server === 'stopped' || view.server === 'unknown') {
    text = `$(error) Superpose: ${view.server}`;
    warning = view.server === 'error';
  } else if (view.controls.state === 'off') {
    text = '$(circle-slash) Superpose: off';
  } else if (view.languageOff !== undefined) {
    text = `$(circle-slash) Superpose: off for ${view.languageOff}`;
  } else if (view.controls.state === 'snoozed') {
    text = `$(clock) Superpose: snoozed ${Math.ceil(view.controls.snoozedSeconds / 60)} min`;
  } else if (view.controls.state === 'manual') {
    text = '$(debug-pause) Superpose: manual';
  } else if (view.inflight > 0) {
    text = '$(loading~spin) Superpose';
  } else if (view.lastLatencyMs !== undefined && view.lastLatencyMs > view.slowMs) {
    text = `$(warning) Superpose: slow ${formatMs(view.lastLatencyMs)}`;
  } else {
    text = `$(check) Superpose${view.lastLatencyMs === undefined ? '' : ` ${formatMs(view.lastLatencyMs)}`}`;
  }
  const tooltip = [`Superpose language server: ${view.server}`, `ghost text: ${view.controls.state}`];
  if (view.model !== undefined) {
    tooltip.push(`model: ${view.model}`);
  }
  if (view.lastLatencyMs !== undefined) {
    tooltip.push(`last ghost text: ${formatMs(view.lastLatencyMs)}`);
  }
  if (view.error !== undefined) {
    tooltip.push(view.error);
  }
  tooltip.push('Click for the Superpose menu');
  return { text, tooltip: tooltip.join('\n'), warning };
}

/** An entry of the status bar menu: what it shows and what it does. */
export interface MenuEntry {
  label: string;
  description?: string;
  action:
    | { kind: 'setting'; key: string; value: unknown }
    | { kind: 'snooze'; minutes: number }
    | { kind: 'toggleLanguage'; languageId: string; disable: boolean }
    | { kind: 'command'; command: string };
}

/** Returns the status bar menu for the current state. */
export function statusMenu(
  view: StatusView,
  settings: { enable: boolean; mode: string; completionMenu: string; drafts: number },
  languageId: string | undefined,
): MenuEntry[] {
  const entries: MenuEntry[] = [];
  entries.push(
    settings.enable
      ? { label: '$(circle-slash) Turn ghost text off', action: { kind: 'setting', key: 'enable', value: false } }
      : { label: '$(check) Turn ghost text on', action: { kind: 'setting', key: 'enable', value: true } },
  );
  entries.push(
    settings.mode === 'manual'
      ? {
          label: '$(zap) Automatic: ghost text while typing',
          action: { kind: 'setting', key: 'mode', value: 'automatic' },
        }
      : {
          label: '$(debug-pause) Manual: ghost text only on Alt+\\',
          action: { kind: 'setting', key: 'mode', value: 'manual' },
        },
  );
  entries.push(
    view.controls.state === 'snoozed'
      ? { label: '$(play) Resume (end snooze)', action: { kind: 'snooze', minutes: 0 } }
      : { label: '$(clock) Snooze for 15 minutes', action: { kind: 'snooze', minutes: 15 } },
  );
  if (languageId !== undefined) {
    const off = view.languageOff === languageId;
    entries.push({
      label: off ? `$(check) Turn on for ${languageId}` : `$(circle-slash) Turn off for ${languageId}`,
      action: { kind: 'toggleLanguage', languageId, disable: !off },
    });
  }
  entries.push(
    settings.completionMenu === 'off'
      ? {
          label: '$(list-unordered) Show drafts in the completion menu too',
          description: 'more work per keystroke',
          action: { kind: 'setting', key: 'completionMenu', value: 'invoked' },
        }
      : {
          label: '$(list-unordered) Drafts as ghost text only (no completion menu)',
          action: { kind: 'setting', key: 'completionMenu', value: 'off' },
        },
  );
  entries.push(
    {
      label: `$(versions) Number of drafts: ${settings.drafts}`,
      action: { kind: 'command', command: 'superpose.client.setDrafts' },
    },
    { label: '$(list-selection) Show drafts here', action: { kind: 'command', command: 'superpose.client.showDrafts' } },
    { label: '$(info) Show status', action: { kind: 'command', command: 'superpose.client.showStatus' } },
    { label: '$(output) Open log', action: { kind: 'command', command: 'superpose.client.openLog' } },
    { label: '$(debug-restart) Restart server', action: { kind: 'command', command: 'superpose.client.restartServer' } },
  );
  return entries;
}

/** An inline item the extension showed: its draft id and text (for partial-accept feedback). */
export interface ShownDraft {
  id: string;
  text: string;
}

/**
 * Finds which shown draft a partial accept took `piece` from, given how much of each draft
 * was already accepted or typed (`acceptedById`: the draft's prefix up to there); returns
 * the draft, the counts to report and the new prefix, or undefined when the piece belongs to
 * none of them (e.g. another extension's suggestion). Characters the user typed through
 * before accepting are skipped (the piece may start later in the draft).
 */
export function partialAccept(
  shown: readonly ShownDraft[],
  acceptedById: ReadonlyMap<string, string>,
  piece: string,
): { id: string; chars: number; lines: number; complete: boolean; prefix: string } | undefined {
  if (piece.length === 0) {
    return undefined;
  }
  for (const draft of shown) {
    const before = acceptedById.get(draft.id) ?? '';
    if (!draft.text.startsWith(before)) {
      continue;
    }
    const at = draft.text.indexOf(piece, before.length);
    if (at < 0) {
      continue;
    }
    const prefix = draft.text.slice(0, at + piece.length);
    const complete = prefix.length === draft.text.length;
    const breaks = piece.split('\n').length - 1;
    return { id: draft.id, chars: [...piece].length, lines: breaks + (complete ? 1 : 0), complete, prefix };
  }
  return undefined;
}
