/**
 * Contract check of the extension's pure logic against the real superpose-ls (no VS Code):
 * speaks LSP over stdio with the same messages the extension builds (initializationOptions
 * from settings.ts, executeCommand arguments from drafts.ts) and parses the answers with the
 * extension's own parsers. Prints a JSON report on stdout; exits non-zero on failure.
 *
 * The server is found the way the extension finds it (launch.ts: the workspace's
 * `.venv/bin/superpose-ls`, then the PATH, then `python -m lsp_server`) with WORKSPACE as the
 * workspace folder; the extension's default settings go out as initializationOptions, and the
 * ghost-text path is walked as the extension does: automatic inline items, accept-word
 * feedback (`partialAccept` -> superpose.accepted), the status bar from superpose.status, the
 * switches (settings change, snooze) and the completion menu left off.
 *
 * Usage: node out/integration/server.integration.js WORKSPACE FILE LINE CHARACTER
 * (run by tests/editors/test_vscode_extension.py).
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import {
  createMessageConnection,
  StreamMessageReader,
  StreamMessageWriter,
} from 'vscode-languageserver-protocol/node';
import {
  commandsToForward,
  draftPickItems,
  draftsCommandArguments,
  draftsResultFrom,
  executeCommandParams,
  SERVER_COMMANDS,
  serverStatusFrom,
  setDraftsArguments,
  toggleMessage,
} from '../src/drafts';
import { resolveServer } from '../src/launch';
import { clientSettingsFrom, didChangeConfigurationParams, serverSettingsFrom } from '../src/settings';
import { controlsFrom, partialAccept, statusBarView } from '../src/status';

const READY_TIMEOUT_MS = 120_000;

async function main(): Promise<void> {
  const [workspace, file, lineText, characterText] = process.argv.slice(2);
  const position = { line: Number(lineText), character: Number(characterText) };
  const uri = pathToFileURL(file).toString();
  const report: Record<string, unknown> = {};

  // 0. find the server as the extension does, with default client settings
  const resolved = resolveServer(clientSettingsFrom(() => undefined), {
    workspaceFolders: [workspace],
    pathEnv: process.env.PATH ?? '',
    platform: process.platform,
    isExecutable: (candidate) => {
      try {
        fs.accessSync(candidate, fs.constants.X_OK);
        return fs.statSync(candidate).isFile();
      } catch {
        return false;
      }
    },
    importError: (python) =>
      spawnSync(python, ['-c', 'import lsp_server']).status === 0 ? undefined : 'not importable',
  });
  report.resolved = resolved;
  if (!resolved.ok || resolved.launch.kind !== 'stdio') {
    process.stdout.write(`${JSON.stringify({ ...report, ok: false, error: 'server not found' })}\n`);
    process.exit(1);
  }
  const server = spawn(resolved.launch.command, resolved.launch.args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const connection = createMessageConnection(
    new StreamMessageReader(server.stdout),
    new StreamMessageWriter(server.stdin),
  );
  connection.onRequest('workspace/configuration', () => []);
  connection.onRequest('window/workDoneProgress/create', () => null);
  connection.onNotification(() => undefined);
  connection.listen();
  const execute = (name: string, args: unknown[] = []) =>
    connection.sendRequest('workspace/executeCommand', executeCommandParams(name, args));

  try {
    // 1. initialize with the settings the extension derives from `superpose.*`.
    // whole drafts as ghost text: this run checks the plumbing, not the model's confidence
    const userSettings: Record<string, unknown> = { drafts: 3, maxNewTokens: 16, ghostConfidence: 0 };
    const settings = serverSettingsFrom((key) => userSettings[key]);
    const init = (await connection.sendRequest('initialize', {
      processId: process.pid,
      rootUri: pathToFileURL(process.cwd()).toString(),
      capabilities: { textDocument: { inlineCompletion: { dynamicRegistration: false } } },
      initializationOptions: settings,
    })) as { capabilities: Record<string, any> };
    await connection.sendNotification('initialized', {});
    report.inlineCompletionProvider = init.capabilities.inlineCompletionProvider !== undefined;
    report.commandsToForward = commandsToForward(
      init.capabilities.executeCommandProvider?.commands,
    );
    await connection.sendNotification('textDocument/didOpen', {
      textDocument: { uri, languageId: 'python', version: 1, text: readFileSync(file, 'utf8') },
    });

    // 2. status until ready, parsed by the extension's parser.
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let status = serverStatusFrom(await execute(SERVER_COMMANDS.status));
    while (status.state !== 'ready' && status.state !== 'error' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 300));
      status = serverStatusFrom(await execute(SERVER_COMMANDS.status));
    }
    report.status = { state: status.state, model: status.model, settings: status.settings };
    const bar = async () => {
      const raw = (await execute(SERVER_COMMANDS.status)) as Record<string, unknown>;
      const parsed = serverStatusFrom(raw);
      return statusBarView({
        server: parsed.state,
        controls: controlsFrom(raw.controls),
        languageOff: undefined,
        inflight: 0,
        lastLatencyMs: 120,
        slowMs: 1000,
        model: parsed.model,
        error: undefined,
      }).text;
    };
    report.statusBarReady = await bar();

    // 1b. the completion menu stays off (the extension's default), whatever VS Code asks
    report.completionWithMenuOff = await connection.sendRequest('textDocument/completion', {
      textDocument: { uri },
      position,
      context: { triggerKind: 1 },
    });

    // 1c. ghost text while typing: automatic inline items, then accept-word feedback
    const ghost = (await connection.sendRequest('textDocument/inlineCompletion', {
      textDocument: { uri },
      position,
      context: { triggerKind: 2 },
    })) as { items: { insertText: string; command: { arguments: string[] } }[] };
    report.ghost = ghost.items;
    const shown = ghost.items.map((item) => ({ id: item.command.arguments[0], text: item.insertText }));
    const word = /^\s*[^\w\s]*\w*/.exec(shown[0]?.text ?? '')?.[0] ?? '';
    const match = partialAccept(shown, new Map(), word);
    report.partialMatch = match ?? null;
    if (match !== undefined) {
      await execute(SERVER_COMMANDS.accepted, [
        { id: match.id, chars: match.chars, lines: match.lines, kind: 'word' },
      ]);
    }
    report.feedback = ((await execute(SERVER_COMMANDS.status)) as Record<string, unknown>).feedback;

    // 1d. the switches as the status-bar menu sets them: settings, then snooze
    const change = async (values: Record<string, unknown>) => {
      Object.assign(userSettings, values);
      await connection.sendNotification(
        'workspace/didChangeConfiguration',
        didChangeConfigurationParams(serverSettingsFrom((key) => userSettings[key])),
      );
    };
    await change({ enable: false });
    report.ghostWhileOff = await connection.sendRequest('textDocument/inlineCompletion', {
      textDocument: { uri },
      position,
      context: { triggerKind: 2 },
    });
    report.statusBarOff = await bar();
    await change({ enable: true, mode: 'manual' });
    report.statusBarManual = await bar();
    await change({ mode: 'automatic' });
    report.snooze = controlsFrom(await execute(SERVER_COMMANDS.snooze, [15]));
    report.statusBarSnoozed = await bar();
    await execute(SERVER_COMMANDS.snooze, [0]);
    report.statusBarResumed = await bar();

    // 3. "Show Drafts": the quick-pick items the extension would show.
    const drafts = draftsResultFrom(
      await execute(SERVER_COMMANDS.drafts, draftsCommandArguments(uri, position)),
    );
    report.drafts = drafts.drafts;
    report.pickItems = draftPickItems(drafts.drafts).map(({ label, description }) => ({
      label,
      description,
    }));

    // 4. inline completion, as the language client requests it.
    const inline = (await connection.sendRequest('textDocument/inlineCompletion', {
      textDocument: { uri },
      position,
      context: { triggerKind: 1 },
    })) as any;
    report.inline = Array.isArray(inline) ? inline : (inline?.items ?? null);

    // 5. toggles, set drafts, settings change.
    report.toggleMonitor = [
      toggleMessage(await execute(SERVER_COMMANDS.toggleMonitor), 'monitor'),
      toggleMessage(await execute(SERVER_COMMANDS.toggleMonitor), 'monitor'),
    ];
    report.toggleRepetitionPenalty = [
      toggleMessage(await execute(SERVER_COMMANDS.toggleRepetitionPenalty), 'repetitionPenalty'),
      toggleMessage(await execute(SERVER_COMMANDS.toggleRepetitionPenalty), 'repetitionPenalty'),
    ];
    const k = setDraftsArguments('2');
    report.setDrafts = k.ok ? await execute(SERVER_COMMANDS.setDrafts, k.args) : null;
    await connection.sendNotification(
      'workspace/didChangeConfiguration',
      didChangeConfigurationParams(serverSettingsFrom((key) => ({ drafts: 4, maxNewTokens: 16 })[key])),
    );
    report.statusAfterChange = serverStatusFrom(await execute(SERVER_COMMANDS.status)).settings;
    report.reindex = await execute(SERVER_COMMANDS.reindex);
    const first = drafts.drafts[0];
    report.accept = first?.id !== undefined ? await execute(SERVER_COMMANDS.accept, [first.id]) : null;

    await connection.sendRequest('shutdown');
    await connection.sendNotification('exit');
    report.ok = true;
  } catch (error) {
    report.ok = false;
    report.error = String(error instanceof Error ? (error.stack ?? error.message) : error);
  } finally {
    process.stdout.write(`${JSON.stringify(report)}\n`);
    setTimeout(() => {
      server.kill();
      process.exit(report.ok ? 0 : 1);
    }, 500);
  }
}

void main();
