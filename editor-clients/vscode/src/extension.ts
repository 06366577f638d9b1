/**
 * Superpose VS Code extension: starts (or connects to) `superpose-ls` through
 * vscode-languageclient 11, which registers completion and LSP 3.18 inline completion
 * (ghost text, cycled with the editor's next/previous inline suggestion commands), and
 * adds the command-palette actions and a status-bar item. Pure logic lives in
 * `settings.ts` and `drafts.ts`, which are unit-tested under Node.
 */
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
  type ServerStatus,
  serverStatusFrom,
  setDraftsArguments,
  statusBarView,
  statusReport,
  toggleMessage,
} from './drafts';
import {
  type ClientSettings,
  clientSettingsFrom,
  configurationResponse,
  didChangeConfigurationParams,
  needsRestart,
  type ServerSettings,
  serverLaunchFor,
  serverSettingsChanged,
  serverSettingsFrom,
} from './settings';

const LANGUAGES = ['python', 'javascript', 'typescript', 'javascriptreact', 'typescriptreact'];
const STATUS_POLL_LOADING_MS = 2000;
const STATUS_POLL_READY_MS = 30000;

let client: LanguageClient | undefined;
let clientSettings: ClientSettings;
let serverSettings: ServerSettings;
let statusItem: vscode.StatusBarItem;
let output: vscode.LogOutputChannel;
let serverState: ServerStatus['state'] | 'starting' | 'stopped' = 'stopped';
let modelName: string | undefined;
let lastLatencyMs: number | undefined;
let pollTimer: ReturnType<typeof setTimeout> | undefined;
let forwarded: vscode.Disposable[] = [];

function readSection(): (key: string) => unknown {
  const config = vscode.workspace.getConfiguration('superpose');
  return (key: string) => config.get(key);
}

function serverOptionsFor(settings: ClientSettings): ServerOptions {
  const launch = serverLaunchFor(settings);
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

function refreshStatusBar(): void {
  const view = statusBarView(serverState, lastLatencyMs, modelName);
  statusItem.text = view.text;
  statusItem.tooltip = view.tooltip;
}

/** Times a provider call and records the latency when it produced something. */
async function timed<T>(run: () => vscode.ProviderResult<T>): Promise<T | null | undefined> {
  const started = Date.now();
  const result = await run();
  const empty =
    result === null ||
    result === undefined ||
    (Array.isArray(result) && result.length === 0) ||
    (typeof result === 'object' && 'items' in result && (result.items as unknown[]).length === 0);
  if (!empty) {
    lastLatencyMs = Date.now() - started;
    refreshStatusBar();
  }
  return result;
}

function clientOptions(): LanguageClientOptions {
  return {
    documentSelector: LANGUAGES.flatMap((language) => [
      { scheme: 'file', language },
      { scheme: 'untitled', language },
    ]),
    initializationOptions: serverSettings,
    outputChannel: output,
    middleware: {
      provideCompletionItem: (document, position, context, token, next) =>
        timed(() => next(document, position, context, token)),
      provideInlineCompletionItems: (document, position, context, token, next) =>
        clientSettings.inlineCompletion
          ? timed(() => next(document, position, context, token))
          : null,
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
  pollTimer = undefined;
  if (client === undefined || client.state !== State.Running) {
    return;
  }
  try {
    const status = serverStatusFrom(
      await client.sendRequest('workspace/executeCommand', executeCommandParams(SERVER_COMMANDS.status)),
    );
    serverState = status.state;
    modelName = status.model;
    lastLatencyMs ??= status.lastLatencyMs;
  } catch (error) {
    output.warn(`superpose.status failed: ${String(error)}`);
    serverState = 'unknown';
  }
  refreshStatusBar();
  pollTimer = setTimeout(
    () => void pollStatus(),
    serverState === 'ready' ? STATUS_POLL_READY_MS : STATUS_POLL_LOADING_MS,
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
  client = new LanguageClient(
    'superpose',
    'Superpose',
    serverOptionsFor(clientSettings),
    clientOptions(),
  );
  client.onDidChangeState((event) => {
    if (event.newState === State.Stopped) {
      serverState = 'stopped';
      refreshStatusBar();
    }
  });
  serverState = 'starting';
  refreshStatusBar();
  try {
    await client.start();
  } catch (error) {
    serverState = 'error';
    refreshStatusBar();
    void vscode.window.showErrorMessage(`Superpose: could not start the server: ${String(error)}`);
    return;
  }
  registerForwardedCommands();
  serverState = 'loading';
  refreshStatusBar();
  void pollStatus();
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
  if (running !== undefined) {
    await running.stop();
  }
}

async function onConfigurationChanged(event: vscode.ConfigurationChangeEvent): Promise<void> {
  if (!event.affectsConfiguration('superpose')) {
    return;
  }
  const nextClient = clientSettingsFrom(readSection());
  const nextServer = serverSettingsFrom(readSection());
  if (needsRestart(clientSettings, nextClient)) {
    await stopClient();
    await startClient();
    return;
  }
  clientSettings = nextClient;
  if (serverSettingsChanged(serverSettings, nextServer)) {
    serverSettings = nextServer;
    await client?.sendNotification(
      'workspace/didChangeConfiguration',
      didChangeConfigurationParams(serverSettings),
    );
  }
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
      serverState === 'ready'
        ? 'Superpose: no drafts at this position.'
        : `Superpose: no drafts yet (server ${serverState}).`,
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
  const result = await executeServerCommand<{ drafts?: number }>(SERVER_COMMANDS.setDrafts, parsed.args);
  if (result !== undefined) {
    void vscode.window.showInformationMessage(`Superpose: drafts = ${result.drafts ?? parsed.args[0]}`);
  }
}

async function showStatus(): Promise<void> {
  const status = serverStatusFrom(await executeServerCommand(SERVER_COMMANDS.status));
  serverState = status.state;
  modelName = status.model;
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
  statusItem.command = 'superpose.client.showStatus';
  statusItem.show();
  context.subscriptions.push(
    output,
    statusItem,
    vscode.commands.registerCommand('superpose.client.showDrafts', guarded(showDrafts)),
    vscode.commands.registerCommand('superpose.client.toggleMonitor', guarded(() => toggle('monitor'))),
    vscode.commands.registerCommand(
      'superpose.client.toggleRepetitionPenalty',
      guarded(() => toggle('repetitionPenalty')),
    ),
    vscode.commands.registerCommand('superpose.client.setDrafts', guarded(setDrafts)),
    vscode.commands.registerCommand('superpose.client.showStatus', guarded(showStatus)),
    vscode.commands.registerCommand('superpose.client.reindex', guarded(reindex)),
    vscode.commands.registerCommand(
      'superpose.client.restartServer',
      guarded(async () => {
        await stopClient();
        await startClient();
      }),
    ),
    vscode.workspace.onDidChangeConfiguration((event) => void onConfigurationChanged(event)),
  );
  await startClient();
}

export async function deactivate(): Promise<void> {
  await stopClient();
}
