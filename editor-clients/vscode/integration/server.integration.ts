/**
 * Contract check of the extension's pure logic against the real superpose-ls (no VS Code):
 * speaks LSP over stdio with the same messages the extension builds (initializationOptions
 * from settings.ts, executeCommand arguments from drafts.ts) and parses the answers with the
 * extension's own parsers. Prints a JSON report on stdout; exits non-zero on failure.
 *
 * Usage: node out/integration/server.integration.js '<server command as JSON list>' FILE LINE CHARACTER
 * (run by tests/editors/test_vscode_extension.py).
 */
import { spawn } from 'node:child_process';
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
import { didChangeConfigurationParams, serverSettingsFrom } from '../src/settings';

const READY_TIMEOUT_MS = 120_000;

async function main(): Promise<void> {
  const [commandJson, file, lineText, characterText] = process.argv.slice(2);
  const command = JSON.parse(commandJson) as string[];
  const position = { line: Number(lineText), character: Number(characterText) };
  const uri = pathToFileURL(file).toString();
  const report: Record<string, unknown> = {};

  const server = spawn(command[0], command.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
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
    const settings = serverSettingsFrom((key) => ({ drafts: 3, maxNewTokens: 16 })[key]);
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
