/**
 * Superpose VS Code extension: starts (or connects to) `superpose-ls` through
 * vscode-languageclient 11, which registers LSP 3.18 inline completion (ghost text, cycled
 * with the editor's next/previous inline suggestion commands) and completion (menu items,
 * off by default: `superpose.completionMenu`), and adds the command-palette actions, accept
 * word / accept line with feedback to the server, and a status-bar item with a menu. Pure
 * logic lives in `settings.ts`, `launch.ts`, `status.ts` and `drafts.ts`, which are
 * unit-tested under Node.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as vscode from 'vscode';
import {
  type ExecuteCommandParams,
  LanguageClient,
  type LanguageClientOptions,
  type ServerOptions,
  State,
  type StreamInfo,
} from 'vscode-languageclient/node';
import {
  commandsToForward,
  draftPickItems,
  draftsCommandArguments,
  draftsResultFrom,
  executeCommandParams,
  type LspRange,
  SERVER_COMMANDS,
  serverStatusFrom,
  setDraftsArguments,
  statusReport,
  toggleMessage,
} from './drafts';
import { type LaunchEnvironment, resolveServer } from './launch';
import {
  type ClientSettings,
  clientSettingsFrom,
  completionMenuWanted,
  configurationResponse,
  didChangeConfigurationParams,
  ghostTextBlocked,
  needsRestart,
  type ServerLaunch,
  type ServerSettings,
  serverSettingsChanged,
  serverSettingsFrom,
} from './settings';
import {
  type Controls,
  controlsFrom,
  type MenuEntry,
  partialAccept,
  type ShownDraft,
  type StatusView,
  statusBarView,
  statusMenu,
} from './status';

const STATUS_POLL_LOADING_MS = 1000;
const STATUS_POLL_READY_MS = 30000;
const SLOW_MS = 1000;

let client: LanguageClient | undefined;
let clientSettings: ClientSettings;
let serverSettings: ServerSettings;
let statusItem: vscode.StatusBarItem;
let output: vscode.LogOutputChannel;
let server: StatusView['server'] = 'stopped';
let controls: Controls = { state: 'on', snoozedSeconds: 0 };
let modelName: string | undefined;
let lastError: string | undefined;
let lastLatencyMs: number | undefined;
let inflight = 0;
let pollTimer: ReturnType<typeof setTimeout> | undefined;
let forwarded: vscode.Disposable[] = [];
let starting: Promise<void> | undefined;
/** The inline drafts last shown per document, and how much of each was accepted. */
const shownDrafts = new Map<string, ShownDraft[]>();
const acceptedById = new Map<string, string>();

function readSection(scope?: vscode.ConfigurationScope): (key: string) => unknown {
  const config = vscode.workspace.getConfiguration('superpose', scope);
  return (key: string) => config.get(key);
}

function launchEnvironment(): LaunchEnvironment {
  return {
    workspaceFolders: (vscode.workspace.workspaceFolders ?? [])
      .filter((folder) => folder.uri.scheme === 'file')
      .map((folder) => folder.uri.fsPath),
    pathEnv: process.env.PATH ?? '',
    platform: process.platform,
    isExecutable: (file) => {
      try {
        fs.accessSync(file, fs.constants.X_OK);
        return fs.statSync(file).isFile();
      } catch {
        return false;
      }
    },
    importError: (python) => {
      const run = spawnSync(python, ['-c', 'import lsp_server'], { timeout: 20000, encoding: 'utf8' });
      if (run.error !== undefined) {
        return String(run.error.message);
      }
      return run.status === 0 ? undefined : (run.stderr.trim().split('\n').pop() ?? `exit ${run.status}`);
    },
  };
}

function serverOptionsFor(launch: ServerLaunch): ServerOptions {
  if (launch.kind === 'tcp') {
    return () =>
      new Promise<StreamInfo>((resolve, reject) => {
        const socket = net.connect(launch.port, launch.host);
        socket.once('connect', () => resolve({ reader: socket, writer: socket }));
        socket.once('error', reject);
      });
  }
  return { command: launch.command, args: launch.args };
}

function languageOff(document: vscode.TextDocument | undefined): string | undefined {
  if (document === undefined || !clientSettings.languages.includes(document.languageId)) {
    return undefined;
  }
  const enabled = readSection({ languageId: document.languageId, uri: document.uri })('enable');
  const blocked = ghostTextBlocked(
    serverSettings,
    { languageId: document.languageId, enabledForLanguage: enabled !== false },
    false,
  );
  return blocked !== undefined && serverSettings.enable ? document.languageId : undefined;
}

function view(): StatusView {
  return {
    server,
    controls,
    languageOff: languageOff(vscode.window.activeTextEditor?.document),
    inflight,
    lastLatencyMs,
    slowMs: SLOW_MS,
    model: modelName,
    error: lastError,
  };
}

function refreshStatusBar(): void {
  const shown = statusBarView(view());
  statusItem.text = shown.text;
  statusItem.tooltip = shown.tooltip;
  statusItem.backgroundColor = shown.warning
    ? new vscode.ThemeColor('statusBarItem.warningBackground')
    : undefined;
}

function isEmpty(result: unknown): boolean {
  return (
    result === null ||
    result === undefined ||
    (Array.isArray(result) && result.length === 0) ||
    (typeof result === 'object' && 'items' in result && (result.items as unknown[]).length === 0)
  );
}

/** Counts a provider call as in flight (spinner) and records its latency when it answered. */
async function tracked<T>(run: () => vscode.ProviderResult<T>): Promise<T | null | undefined> {
  const started = Date.now();
  inflight += 1;
  refreshStatusBar();
  try {
    const result = await run();
    if (!isEmpty(result)) {
      lastLatencyMs = Date.now() - started;
    }
    return result;
  } finally {
    inflight -= 1;
    refreshStatusBar();
  }
}

function rememberShown(document: vscode.TextDocument, result: unknown): void {
  const items = Array.isArray(result)
    ? result
    : result !== null && typeof result === 'object' && 'items' in result
      ? (result as { items: unknown[] }).items
      : [];
  const drafts: ShownDraft[] = [];
  for (const item of items as vscode.InlineCompletionItem[]) {
    const id = item.command?.arguments?.[0];
    const text = typeof item.insertText === 'string' ? item.insertText : item.insertText?.value;
    if (typeof id === 'string' && typeof text === 'string') {
      drafts.push({ id, text });
    }
  }
  shownDrafts.set(document.uri.toString(), drafts);
}

function clientOptions(): LanguageClientOptions {
  return {
    documentSelector: clientSettings.languages.flatMap((language) => [
      { scheme: 'file', language },
      { scheme: 'untitled', language },
    ]),
    initializationOptions: serverSettings,
    outputChannel: output,
    middleware: {
      provideCompletionItem: (document, position, context, token, next) => {
        const invoked = context.triggerKind === vscode.CompletionTriggerKind.Invoke;
        if (!completionMenuWanted(serverSettings, invoked) || languageOff(document) !== undefined) {
          return null; // no round trip: the drafts are ghost text
        }
        return next(document, position, context, token);
      },
      provideInlineCompletionItems: async (document, position, context, token, next) => {
        if (!clientSettings.inlineCompletion) {
          return null;
        }
        const automatic = context.triggerKind === vscode.InlineCompletionTriggerKind.Automatic;
        const enabled = readSection({ languageId: document.languageId, uri: document.uri })('enable');
        const blocked = ghostTextBlocked(
          serverSettings,
          { languageId: document.languageId, enabledForLanguage: enabled !== false },
          automatic,
        );
        if (blocked !== undefined) {
          return null;
        }
        const result = await tracked(() => next(document, position, context, token));
        rememberShown(document, result);
        return result;
      },
      workspace: {
        // Answer `workspace/configuration` for `superpose` with server keys only.
        configuration: (params, token, next) => {
          const fallbackItems = params.items.filter(
            (item) => !(item.section ?? '').startsWith('superpose'),
          );
          const answer = (fallback: unknown[]) => {
            let index = 0;
            return configurationResponse(params.items, serverSettings, () => fallback[index++]);
          };
          if (fallbackItems.length === 0) {
            return answer([]);
          }
          const rest = next({ items: fallbackItems }, token);
          return Promise.resolve(rest).then((values) =>
            Array.isArray(values) ? answer(values) : values,
          );
        },
      },
    },
  };
}

async function executeServerCommand<T = unknown>(
  command: string,
  args: unknown[] = [],
): Promise<T | undefined> {
  if (client === undefined || client.state !== State.Running) {
    void vscode.window.showWarningMessage('Superpose: the language server is not running.');
    return undefined;
  }
  const params: ExecuteCommandParams = executeCommandParams(command, args);
  return client.sendRequest<T>('workspace/executeCommand', params);
}

async function pollStatus(): Promise<void> {
  if (pollTimer !== undefined) {
    clearTimeout(pollTimer);
    pollTimer = undefined;
  }
  if (client === undefined || client.state !== State.Running) {
    return;
  }
  try {
    const raw = await client.sendRequest(
      'workspace/executeCommand',
      executeCommandParams(SERVER_COMMANDS.status),
    );
    const status = serverStatusFrom(raw);
    server = status.state === 'unknown' ? 'unknown' : status.state;
    modelName = status.model;
    controls = controlsFrom((raw as Record<string, unknown> | null)?.controls);
    lastError = typeof status.raw.error === 'string' ? status.raw.error : undefined;
  } catch (error) {
    output.warn(`superpose.status failed: ${String(error)}`);
    server = 'unknown';
  }
  refreshStatusBar();
  pollTimer = setTimeout(
    () => void pollStatus(),
    server === 'ready' && controls.state !== 'snoozed' ? STATUS_POLL_READY_MS : STATUS_POLL_LOADING_MS,
  );
}

function registerForwardedCommands(): void {
  for (const disposable of forwarded) {
    disposable.dispose();
  }
  const advertised = client?.initializeResult?.capabilities.executeCommandProvider?.commands;
  // Completion items carry `superpose.accept`; forward it ourselves if the server did not list it.
  forwarded = commandsToForward(advertised).map((command) =>
    vscode.commands.registerCommand(command, (...args: unknown[]) =>
      executeServerCommand(command, args),
    ),
  );
}

async function startClient(): Promise<void> {
  clientSettings = clientSettingsFrom(readSection());
  serverSettings = serverSettingsFrom(readSection());
  const resolved = resolveServer(clientSettings, launchEnvironment());
  for (const line of resolved.tried) {
    output.info(`[server] ${line}`);
  }
  if (!resolved.ok) {
    server = 'error';
    lastError = resolved.message;
    refreshStatusBar();
    output.error(resolved.message);
    const choice = await vscode.window.showErrorMessage(resolved.message, 'Open Settings', 'Show Log');
    if (choice === 'Open Settings') {
      void vscode.commands.executeCommand('workbench.action.openSettings', 'superpose.serverPath');
    } else if (choice === 'Show Log') {
      output.show(true);
    }
    return;
  }
  client = new LanguageClient(
    'superpose',
    'Superpose',
    serverOptionsFor(resolved.launch),
    clientOptions(),
  );
  client.onDidChangeState((event) => {
    if (event.newState === State.Stopped) {
      server = 'stopped';
      refreshStatusBar();
    }
  });
  server = 'starting';
  refreshStatusBar();
  try {
    await client.start();
  } catch (error) {
    server = 'error';
    lastError = String(error);
    refreshStatusBar();
    void vscode.window.showErrorMessage(`Superpose: could not start the server: ${String(error)}`);
    return;
  }
  registerForwardedCommands();
  server = 'loading';
  refreshStatusBar();
  void pollStatus();
}

/** Starts the client once a document of a served language is open (lazily). */
function ensureStarted(): Promise<void> {
  if (starting === undefined) {
    starting = startClient();
  }
  return starting;
}

function servesOpenDocument(): boolean {
  const languages = clientSettingsFrom(readSection()).languages;
  return vscode.workspace.textDocuments.some((document) => languages.includes(document.languageId));
}

async function stopClient(): Promise<void> {
  if (pollTimer !== undefined) {
    clearTimeout(pollTimer);
    pollTimer = undefined;
  }
  for (const disposable of forwarded) {
    disposable.dispose();
  }
  forwarded = [];
  const running = client;
  client = undefined;
  starting = undefined;
  if (running !== undefined) {
    await running.stop();
  }
}

async function restartClient(): Promise<void> {
  await stopClient();
  await ensureStarted();
}

async function onConfigurationChanged(event: vscode.ConfigurationChangeEvent): Promise<void> {
  if (!event.affectsConfiguration('superpose')) {
    return;
  }
  const nextClient = clientSettingsFrom(readSection());
  const nextServer = serverSettingsFrom(readSection());
  if (clientSettings !== undefined && needsRestart(clientSettings, nextClient)) {
    await restartClient();
    return;
  }
  clientSettings = nextClient;
  if (serverSettings === undefined || serverSettingsChanged(serverSettings, nextServer)) {
    serverSettings = nextServer;
    await client?.sendNotification(
      'workspace/didChangeConfiguration',
      didChangeConfigurationParams(serverSettings),
    );
    void pollStatus();
  }
  refreshStatusBar();
}

function toVsRange(range: LspRange): vscode.Range {
  return new vscode.Range(
    range.start.line,
    range.start.character,
    range.end.line,
    range.end.character,
  );
}

async function showDrafts(): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (editor === undefined) {
    void vscode.window.showInformationMessage('Superpose: open a file first.');
    return;
  }
  const document = editor.document;
  const position = editor.selection.active;
  const version = document.version;
  const raw = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Window, title: 'Superpose: computing drafts' },
    () =>
      executeServerCommand(
        SERVER_COMMANDS.drafts,
        draftsCommandArguments(document.uri.toString(), position),
      ),
  );
  const result = draftsResultFrom(raw);
  if (result.drafts.length === 0) {
    void vscode.window.showInformationMessage(
      server === 'ready'
        ? 'Superpose: no drafts at this position.'
        : `Superpose: no drafts yet (server ${server}).`,
    );
    return;
  }
  const picked = await vscode.window.showQuickPick(draftPickItems(result.drafts), {
    title: `Superpose drafts (${result.drafts.length})`,
    placeHolder: 'Pick a draft to insert',
    matchOnDetail: true,
  });
  if (picked === undefined) {
    return;
  }
  if (document.version !== version) {
    void vscode.window.showWarningMessage('Superpose: the document changed; ask for drafts again.');
    return;
  }
  const range = picked.draft.range ? toVsRange(picked.draft.range) : new vscode.Range(position, position);
  const applied = await editor.edit((builder) => builder.replace(range, picked.draft.text));
  if (applied && picked.draft.id !== undefined) {
    void executeServerCommand(SERVER_COMMANDS.accept, [picked.draft.id]);
  }
}

/**
 * Accepts the next word or line of the ghost text with VS Code's own commands and reports
 * what was inserted to the server (`superpose.accepted`) when it came from our drafts.
 */
async function acceptPart(kind: 'word' | 'line'): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (editor === undefined) {
    return;
  }
  const document = editor.document;
  const inserted: string[] = [];
  const listener = vscode.workspace.onDidChangeTextDocument((event) => {
    if (event.document === document) {
      inserted.push(...event.contentChanges.map((change) => change.text));
    }
  });
  try {
    await vscode.commands.executeCommand(
      kind === 'word'
        ? 'editor.action.inlineSuggest.acceptNextWord'
        : 'editor.action.inlineSuggest.acceptNextLine',
    );
  } finally {
    listener.dispose();
  }
  const piece = inserted.join('');
  const match = partialAccept(shownDrafts.get(document.uri.toString()) ?? [], acceptedById, piece);
  if (match === undefined || client === undefined) {
    return;
  }
  acceptedById.set(match.id, match.prefix);
  void executeServerCommand(SERVER_COMMANDS.accepted, [
    { id: match.id, chars: match.chars, lines: match.lines, kind },
  ]).catch((error) => output.warn(`superpose.accepted failed: ${String(error)}`));
}

async function toggle(key: 'monitor' | 'repetitionPenalty'): Promise<void> {
  const command =
    key === 'monitor' ? SERVER_COMMANDS.toggleMonitor : SERVER_COMMANDS.toggleRepetitionPenalty;
  const result = await executeServerCommand(command);
  if (result !== undefined) {
    void vscode.window.showInformationMessage(`Superpose: ${toggleMessage(result, key)}`);
  }
}

async function setDrafts(): Promise<void> {
  const input = await vscode.window.showInputBox({
    title: 'Superpose: number of drafts',
    value: String(serverSettings.drafts),
    validateInput: (value) => {
      const parsed = setDraftsArguments(value);
      return parsed.ok ? undefined : parsed.error;
    },
  });
  if (input === undefined) {
    return;
  }
  const parsed = setDraftsArguments(input);
  if (!parsed.ok) {
    return;
  }
  await vscode.workspace
    .getConfiguration('superpose')
    .update('drafts', parsed.args[0], vscode.ConfigurationTarget.Global);
  void vscode.window.showInformationMessage(`Superpose: drafts = ${parsed.args[0]}`);
}

async function showStatus(): Promise<void> {
  const raw = await executeServerCommand(SERVER_COMMANDS.status);
  const status = serverStatusFrom(raw);
  server = status.state === 'unknown' ? 'unknown' : status.state;
  modelName = status.model;
  controls = controlsFrom((raw as Record<string, unknown> | null | undefined)?.controls);
  refreshStatusBar();
  const lines = statusReport(status);
  output.info(`[status] ${lines.join(' | ')}`);
  const choice = await vscode.window.showInformationMessage(
    `Superpose: ${lines.slice(0, 4).join(' · ')}`,
    'Show Details',
  );
  if (choice === 'Show Details') {
    output.info(lines.join('\n'));
    output.show(true);
  }
}

async function reindex(): Promise<void> {
  const result = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Window, title: 'Superpose: reindexing workspace' },
    () => executeServerCommand(SERVER_COMMANDS.reindex),
  );
  if (result !== undefined) {
    void vscode.window.showInformationMessage(`Superpose: reindexed ${JSON.stringify(result)}`);
  }
}

async function updateSetting(key: string, value: unknown): Promise<void> {
  await vscode.workspace.getConfiguration('superpose').update(key, value, vscode.ConfigurationTarget.Global);
}

async function snooze(minutes: number): Promise<void> {
  const result = await executeServerCommand(SERVER_COMMANDS.snooze, [minutes]);
  if (result !== undefined) {
    controls = controlsFrom(result);
    refreshStatusBar();
    void pollStatus();
  }
}

async function runMenuEntry(entry: MenuEntry): Promise<void> {
  const action = entry.action;
  if (action.kind === 'setting') {
    await updateSetting(action.key, action.value);
  } else if (action.kind === 'snooze') {
    await snooze(action.minutes);
  } else if (action.kind === 'toggleLanguage') {
    const disabled = new Set(serverSettings.disabledLanguages);
    if (action.disable) {
      disabled.add(action.languageId);
    } else {
      disabled.delete(action.languageId);
    }
    await updateSetting('disabledLanguages', [...disabled]);
  } else {
    await vscode.commands.executeCommand(action.command);
  }
}

async function showMenu(): Promise<void> {
  const document = vscode.window.activeTextEditor?.document;
  const languageId =
    document !== undefined && clientSettings.languages.includes(document.languageId)
      ? document.languageId
      : undefined;
  const entries = statusMenu(view(), serverSettings, languageId);
  const picked = await vscode.window.showQuickPick(
    entries.map((entry) => ({ label: entry.label, description: entry.description, entry })),
    { title: `Superpose: ${statusBarView(view()).text.replace(/\$\([^)]*\)\s*/g, '')}` },
  );
  if (picked !== undefined) {
    await runMenuEntry(picked.entry);
  }
}

/** Wraps a command so that a failing server request shows an error instead of failing silently. */
function guarded(run: () => Promise<void>): () => Promise<void> {
  return async () => {
    try {
      await run();
    } catch (error) {
      void vscode.window.showErrorMessage(`Superpose: ${String(error)}`);
    }
  };
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  output = vscode.window.createOutputChannel('Superpose', { log: true });
  statusItem = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Right, 100);
  statusItem.command = 'superpose.client.menu';
  clientSettings = clientSettingsFrom(readSection());
  serverSettings = serverSettingsFrom(readSection());
  refreshStatusBar();
  statusItem.show();
  context.subscriptions.push(
    output,
    statusItem,
    vscode.commands.registerCommand('superpose.client.menu', guarded(showMenu)),
    vscode.commands.registerCommand('superpose.client.showDrafts', guarded(showDrafts)),
    vscode.commands.registerCommand('superpose.client.acceptWord', guarded(() => acceptPart('word'))),
    vscode.commands.registerCommand('superpose.client.acceptLine', guarded(() => acceptPart('line'))),
    vscode.commands.registerCommand(
      'superpose.client.toggle',
      guarded(() => updateSetting('enable', !serverSettings.enable)),
    ),
    vscode.commands.registerCommand(
      'superpose.client.toggleMode',
      guarded(() => updateSetting('mode', serverSettings.mode === 'manual' ? 'automatic' : 'manual')),
    ),
    vscode.commands.registerCommand(
      'superpose.client.snooze',
      guarded(() => snooze(controls.state === 'snoozed' ? 0 : 15)),
    ),
    vscode.commands.registerCommand('superpose.client.toggleMonitor', guarded(() => toggle('monitor'))),
    vscode.commands.registerCommand(
      'superpose.client.toggleRepetitionPenalty',
      guarded(() => toggle('repetitionPenalty')),
    ),
    vscode.commands.registerCommand('superpose.client.setDrafts', guarded(setDrafts)),
    vscode.commands.registerCommand('superpose.client.showStatus', guarded(showStatus)),
    vscode.commands.registerCommand('superpose.client.reindex', guarded(reindex)),
    vscode.commands.registerCommand('superpose.client.openLog', () => output.show(true)),
    vscode.commands.registerCommand('superpose.client.restartServer', guarded(restartClient)),
    vscode.workspace.onDidChangeConfiguration((event) => void onConfigurationChanged(event)),
    vscode.window.onDidChangeActiveTextEditor(() => refreshStatusBar()),
    vscode.workspace.onDidOpenTextDocument(() => {
      if (servesOpenDocument()) {
        void ensureStarted();
      }
    }),
    vscode.workspace.onDidCloseTextDocument((document) => shownDrafts.delete(document.uri.toString())),
  );
  if (servesOpenDocument()) {
    await ensureStarted();
  }
}

export async function deactivate(): Promise<void> {
  await stopClient();
}
