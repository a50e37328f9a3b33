// cl-lsp VS Code client.
//
// Starts `cl-lsp --stdio` and lets vscode-languageclient (v11, LSP 3.18) wire up
// textDocument/inlineCompletion (ghost text), code actions with codeAction/resolve,
// workspace/configuration (section "cl-lsp"), window/showMessage and $/progress.
// On top of that: a status bar item fed by the custom `cl-lsp/status` notification
// and by $/progress (plus the acceptance rate from `cl-lsp.stats`), and the commands
// toggle, showContext, pullModel, restart, showStats and `cl-lsp.accepted` (the command
// the server's inline items carry: VS Code runs it when the user accepts a suggestion).

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as vscode from 'vscode';
import {
	CancellationToken,
	ClientCapabilities,
	DidChangeConfigurationNotification,
	DocumentSelector,
	ExecuteCommandRequest,
	FeatureState,
	LanguageClient,
	LanguageClientOptions,
	ServerCapabilities,
	ServerOptions,
	State,
	StaticFeature,
	WorkDoneProgress,
	WorkDoneProgressBegin,
	WorkDoneProgressCreateParams,
	WorkDoneProgressCreateRequest,
	WorkDoneProgressEnd,
	WorkDoneProgressReport,
} from 'vscode-languageclient/node';

export const SECTION = 'cl-lsp';
/** Commands this extension registers itself; the server may advertise the same ids. */
const CLIENT_COMMANDS = new Set([
	'cl-lsp.toggle',
	'cl-lsp.showContext',
	'cl-lsp.pullModel',
	'cl-lsp.restart',
	'cl-lsp.accepted',
	'cl-lsp.stats',
]);
/** Settings that only take effect when the server process is restarted. */
const RESTART_SETTINGS = ['serverPath', 'serverArgs'];

/** Payload of the custom `cl-lsp/status` notification (server -> client). */
export interface StatusParams {
	state: 'loading' | 'ready' | 'error' | 'indexing';
	model?: string;
	backend?: string;
	message?: string;
	/** 0..100 */
	progress?: number;
}

/** The totals of `cl-lsp.stats` (acceptance statistics kept by the server). */
export interface AcceptanceTotals {
	shown: number;
	accepted: number;
	partial: number;
	acceptance_rate: number;
	accepted_chars: number;
	latency_p50_ms: number;
}

let client: LanguageClient | undefined;
let statusBar: StatusBar | undefined;
let output: vscode.LogOutputChannel | undefined;

// ---------------------------------------------------------------------------
// Settings

export interface ClLspSettings {
	enable: boolean;
	serverPath: string;
	serverArgs: string[];
	defaultModelAlias: string;
}

/** Settings of this extension itself (the rest go to the server, see SERVER_SETTINGS). */
function readSettings(): ClLspSettings {
	const c = vscode.workspace.getConfiguration(SECTION);
	return {
		enable: c.get<boolean>('enable', true),
		serverPath: c.get<string>('serverPath', ''),
		serverArgs: c.get<string[]>('serverArgs', ['--stdio']),
		defaultModelAlias: c.get<string>('defaultModelAlias', 'codellama-7b'),
	};
}

/**
 * VS Code setting `cl-lsp.<key>` -> path in the server's settings tree (cl_lsp/config.py:
 * `model`, `completion`, `context` tables; the server accepts camelCase or snake_case).
 * `convert` returns undefined to leave a key to the server's default.
 */
interface SettingMapping {
	key: string;
	path: string[];
	convert?: (value: unknown) => unknown;
}

export const SERVER_SETTINGS: SettingMapping[] = [
	{ key: 'enable', path: ['completion', 'enabled'] },
	{
		key: 'modelPath',
		path: ['model', 'path'],
		convert: (v) => (typeof v === 'string' && v.trim() !== '' ? expandHome(v.trim()) : undefined),
	},
	{ key: 'maxTokens', path: ['completion', 'maxTokens'] },
	{ key: 'contextBudget', path: ['context', 'budgetTokens'] },
	{ key: 'nGpuLayers', path: ['model', 'nGpuLayers'] },
	{ key: 'threads', path: ['model', 'nThreads'], convert: (v) => (v === 0 ? undefined : v) },
	{ key: 'fimLayout', path: ['completion', 'fimLayout'] },
];

/**
 * The "cl-lsp" section as the server expects it: a nested tree holding only the settings
 * the user set explicitly (user, workspace or folder level), so that a setting left at its
 * default does not override the server's own default or its config.toml.
 * Sent as initializationOptions, as the answer to workspace/configuration {section:
 * "cl-lsp"} and in workspace/didChangeConfiguration {settings: {"cl-lsp": ...}}.
 */
export function serverSettings(scope?: vscode.ConfigurationScope): Record<string, unknown> {
	const config = vscode.workspace.getConfiguration(SECTION, scope);
	const tree: Record<string, unknown> = {};
	for (const m of SERVER_SETTINGS) {
		const inspect = config.inspect(m.key);
		const explicit = inspect?.workspaceFolderValue ?? inspect?.workspaceValue ?? inspect?.globalValue;
		if (explicit === undefined) {
			continue;
		}
		const value = m.convert ? m.convert(explicit) : explicit;
		if (value === undefined) {
			continue;
		}
		let node = tree;
		for (const part of m.path.slice(0, -1)) {
			node = (node[part] ??= {}) as Record<string, unknown>;
		}
		node[m.path[m.path.length - 1]] = value;
	}
	return tree;
}

/** Value of `section` ("cl-lsp" or "cl-lsp.completion"...) in the translated tree. */
function lookupSection(section: string, scope?: vscode.ConfigurationScope): unknown {
	let node: unknown = { [SECTION]: serverSettings(scope) };
	const parts = section.startsWith(SECTION + '.')
		? [SECTION, ...section.slice(SECTION.length + 1).split('.')]
		: [section];
	for (const part of parts) {
		if (node === null || typeof node !== 'object') {
			return null;
		}
		node = (node as Record<string, unknown>)[part];
	}
	return node ?? null;
}

function expandHome(p: string): string {
	if (p === '~') {
		return os.homedir();
	}
	if (p.startsWith('~/') || p.startsWith('~\\')) {
		return path.join(os.homedir(), p.slice(2));
	}
	return p;
}

/** Find an executable on PATH (PATHEXT on Windows). */
export function which(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
	const exts = process.platform === 'win32'
		? (env.PATHEXT ?? '.EXE;.CMD;.BAT;.COM').split(';').concat([''])
		: [''];
	for (const dir of (env.PATH ?? '').split(path.delimiter)) {
		if (!dir) {
			continue;
		}
		for (const ext of exts) {
			const candidate = path.join(dir, name + ext);
			try {
				const st = fs.statSync(candidate);
				if (st.isFile()) {
					if (process.platform !== 'win32') {
						fs.accessSync(candidate, fs.constants.X_OK);
					}
					return candidate;
				}
			} catch {
				// not here
			}
		}
	}
	return undefined;
}

/** The server executable: the setting (absolute, relative to the first workspace folder,
 * or a bare name looked up on PATH), else `cl-lsp` on PATH. */
function resolveServerPath(s: ClLspSettings): string | undefined {
	const configured = expandHome(s.serverPath.trim());
	if (configured === '') {
		return which('cl-lsp');
	}
	if (path.isAbsolute(configured)) {
		return configured;
	}
	if (configured.includes('/') || configured.includes('\\')) {
		const root = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
		return root ? path.join(root, configured) : path.resolve(configured);
	}
	return which(configured) ?? configured;
}

// ---------------------------------------------------------------------------
// Status bar

class StatusBar implements vscode.Disposable {
	private readonly item: vscode.StatusBarItem;
	private server: StatusParams | undefined;
	private clientState: 'stopped' | 'starting' | 'running' | 'untrusted' | 'missing' = 'stopped';
	private acceptance: AcceptanceTotals | undefined;
	private readonly progress = new Map<string, { title: string; message?: string; percentage?: number }>();

	constructor() {
		this.item = vscode.window.createStatusBarItem('cl-lsp.status', vscode.StatusBarAlignment.Right, 100);
		this.item.name = 'cl-lsp';
		this.item.command = 'cl-lsp.toggle';
		this.render();
		this.item.show();
	}

	setClientState(state: StatusBar['clientState']): void {
		this.clientState = state;
		if (state !== 'running') {
			this.progress.clear();
		}
		this.render();
	}

	setServerStatus(params: StatusParams): void {
		// Keep the last known model/backend when a later notification omits them.
		this.server = {
			...params,
			model: params.model ?? this.server?.model,
			backend: params.backend ?? this.server?.backend,
		};
		this.render();
	}

	setAcceptance(totals: AcceptanceTotals | undefined): void {
		this.acceptance = totals;
		this.render();
	}

	setProgress(token: string, value: { title: string; message?: string; percentage?: number } | undefined): void {
		if (value === undefined) {
			this.progress.delete(token);
		} else {
			this.progress.set(token, value);
		}
		this.render();
	}

	render(): void {
		const enabled = readSettings().enable;
		const model = this.server?.model ? shortModelName(this.server.model) : undefined;
		const backend = this.server?.backend;
		const label = ['cl-lsp', model, backend ? `(${backend})` : undefined].filter(Boolean).join(' ');
		const tooltip = new vscode.MarkdownString(undefined, true);
		tooltip.isTrusted = false;
		tooltip.appendMarkdown('**cl-lsp**\n\n');
		if (this.server?.model) {
			tooltip.appendText(`Model: ${this.server.model}\n\n`);
		}
		if (backend) {
			tooltip.appendText(`Backend: ${backend}\n\n`);
		}
		this.item.backgroundColor = undefined;
		let icon: string;
		let text: string;
		switch (this.clientState) {
			case 'untrusted':
				icon = '$(shield)';
				text = 'cl-lsp';
				tooltip.appendText('Disabled: this workspace is not trusted.\n\n');
				break;
			case 'missing':
				icon = '$(error)';
				text = 'cl-lsp';
				this.item.backgroundColor = new vscode.ThemeColor('statusBarItem.errorBackground');
				tooltip.appendText('The cl-lsp executable was not found. Set cl-lsp.serverPath or install it (pip install cl-lsp).\n\n');
				break;
			case 'stopped':
				icon = '$(debug-stop)';
				text = label;
				tooltip.appendText('Server stopped. Run "cl-lsp: Restart Server".\n\n');
				break;
			case 'starting':
				icon = '$(loading~spin)';
				text = label;
				tooltip.appendText('Starting the server…\n\n');
				break;
			default: {
				const busy = [...this.progress.values()][0];
				const st = this.server?.state;
				if (st === 'error') {
					icon = '$(error)';
					this.item.backgroundColor = new vscode.ThemeColor('statusBarItem.errorBackground');
				} else if (st === 'loading') {
					icon = '$(loading~spin)';
				} else if (st === 'indexing' || busy) {
					icon = '$(sync~spin)';
				} else {
					icon = '$(sparkle)';
				}
				text = label;
				const pct = busy?.percentage ?? (st === 'indexing' || st === 'loading' ? this.server?.progress : undefined);
				if (pct !== undefined) {
					text += ` ${Math.round(pct)}%`;
				}
				if (this.server?.message) {
					tooltip.appendText(`${this.server.message}\n\n`);
				} else if (st) {
					tooltip.appendText(`State: ${st}\n\n`);
				}
				for (const p of this.progress.values()) {
					tooltip.appendText(`${p.title}${p.message ? `: ${p.message}` : ''}${p.percentage !== undefined ? ` (${Math.round(p.percentage)}%)` : ''}\n\n`);
				}
				const acc = this.acceptance;
				if (acc && acc.shown > 0) {
					text += ` $(check)${Math.round(acc.acceptance_rate * 100)}%`;
					tooltip.appendText(`Last 7 days: accepted ${acc.accepted} + ${acc.partial} partly of ${acc.shown} suggestions (${(acc.acceptance_rate * 100).toFixed(1)}%), ${acc.accepted_chars} characters; p50 latency ${Math.round(acc.latency_p50_ms)} ms. Kept on this machine only.\n\n`);
				}
			}
		}
		if (!enabled) {
			icon = '$(circle-slash)';
			tooltip.appendText('Completions are turned off.\n\n');
		}
		tooltip.appendMarkdown(`Click to turn completions ${enabled ? 'off' : 'on'}.`);
		this.item.text = `${icon} ${text}`;
		this.item.tooltip = tooltip;
	}

	dispose(): void {
		this.item.dispose();
	}
}

function shortModelName(model: string): string {
	const base = (model.split(/[\\/]/).pop() ?? model).replace(/\.gguf$/i, '');
	return base.length > 32 ? `${base.slice(0, 31)}…` : base;
}

// ---------------------------------------------------------------------------
// $/progress: mirror server-initiated work done progress in the status bar.
//
// vscode-languageclient's ProgressFeature owns window/workDoneProgress/create and
// a progress token can have one handler only, so this feature (registered after the
// built-in ones, hence initialized later) replaces that handler with one that shows
// the same notification-area progress *and* updates the status bar item.

class ProgressMirror implements StaticFeature {
	private readonly active = new Map<string, () => void>();

	constructor(private readonly lc: LanguageClient, private readonly bar: StatusBar) {}

	getState(): FeatureState {
		return { kind: 'static' };
	}

	fillClientCapabilities(capabilities: ClientCapabilities): void {
		capabilities.window = capabilities.window ?? {};
		capabilities.window.workDoneProgress = true;
	}

	initialize(_capabilities: ServerCapabilities, _selector: DocumentSelector | undefined): void {
		this.lc.onRequest(WorkDoneProgressCreateRequest.type, (params: WorkDoneProgressCreateParams) => {
			this.track(String(params.token), params.token);
		});
	}

	private track(key: string, token: string | number): void {
		let title = 'cl-lsp';
		let report: ((v: { message?: string; increment?: number }) => void) | undefined;
		let lastPct = 0;
		let finish: () => void = () => undefined;
		const done = new Promise<void>((resolve) => {
			finish = resolve;
		});
		const disposable = this.lc.onProgress(WorkDoneProgress.type, token, (value: WorkDoneProgressBegin | WorkDoneProgressReport | WorkDoneProgressEnd) => {
			switch (value.kind) {
				case 'begin':
					title = value.title;
					lastPct = value.percentage ?? 0;
					this.bar.setProgress(key, { title, message: value.message, percentage: value.percentage });
					void vscode.window.withProgress(
						{
							location: vscode.ProgressLocation.Window,
							title: `cl-lsp: ${value.title}`,
							cancellable: false,
						},
						(p) => {
							report = (v) => p.report(v);
							report({ message: value.message });
							return done;
						},
					);
					break;
				case 'report':
					if (value.percentage !== undefined) {
						report?.({ message: value.message, increment: Math.max(0, value.percentage - lastPct) });
						lastPct = value.percentage;
					} else if (value.message !== undefined) {
						report?.({ message: value.message });
					}
					this.bar.setProgress(key, { title, message: value.message, percentage: value.percentage ?? lastPct });
					break;
				case 'end':
					this.end(key);
					break;
			}
		});
		this.active.set(key, () => {
			disposable.dispose();
			finish();
			this.bar.setProgress(key, undefined);
		});
	}

	private end(key: string): void {
		const stop = this.active.get(key);
		this.active.delete(key);
		stop?.();
	}

	clear(): void {
		for (const key of [...this.active.keys()]) {
			this.end(key);
		}
	}
}

// ---------------------------------------------------------------------------
// Client lifecycle

function documentSelector(): DocumentSelector {
	return [
		{ scheme: 'file' },
		{ scheme: 'untitled' },
	];
}

function createClient(context: vscode.ExtensionContext, bar: StatusBar): LanguageClient | undefined {
	const settings = readSettings();
	const command = resolveServerPath(settings);
	if (command === undefined) {
		bar.setClientState('missing');
		void vscode.window
			.showErrorMessage(
				'cl-lsp: the `cl-lsp` executable was not found on PATH. Install it (`pip install cl-lsp`) or set `cl-lsp.serverPath`.',
				'Open Settings',
			)
			.then((choice) => {
				if (choice === 'Open Settings') {
					void vscode.commands.executeCommand('workbench.action.openSettings', 'cl-lsp.serverPath');
				}
			});
		return undefined;
	}

	const serverOptions: ServerOptions = {
		command,
		// No `transport`: the client then spawns the command with exactly these args and
		// talks LSP over its stdin/stdout (TransportKind.stdio would append another --stdio).
		args: settings.serverArgs.length > 0 ? settings.serverArgs : ['--stdio'],
		options: {
			cwd: vscode.workspace.workspaceFolders?.[0]?.uri.fsPath,
			env: { ...process.env, PYTHONUNBUFFERED: '1' },
		},
	};

	let lcRef: LanguageClient | undefined; // set below; used by the middleware
	const clientOptions: LanguageClientOptions = {
		documentSelector: documentSelector(),
		// Push didChangeConfiguration for section "cl-lsp"; the server can also pull it
		// with workspace/configuration {section: "cl-lsp"} (answered by the client).
		synchronize: {
			configurationSection: SECTION,
		},
		initializationOptions: serverSettings(),
		outputChannel: output,
		traceOutputChannel: output,
		progressOnInitialization: true,
		markdown: { isTrusted: false, supportHtml: false },
		middleware: {
			provideInlineCompletionItems: (document, position, ctx, token, next) => {
				if (!readSettings().enable) {
					return undefined;
				}
				return next(document, position, ctx, token);
			},
			provideCompletionItem: (document, position, ctx, token, next) => {
				// cl-lsp offers textDocument/completion only to clients without inline
				// completion, so this rarely runs in VS Code; honour the toggle anyway.
				if (!readSettings().enable) {
					return undefined;
				}
				return next(document, position, ctx, token);
			},
			provideCodeActions: (document, range, ctx, token, next) => {
				if (!readSettings().enable) {
					return undefined;
				}
				return next(document, range, ctx, token);
			},
			workspace: {
				// workspace/configuration: answer "cl-lsp" (and "cl-lsp.<table>") with the
				// server's settings tree instead of VS Code's flat setting names.
				configuration: async (params, token, next) => {
					const result = await next(params, token);
					if (!Array.isArray(result)) {
						return result;
					}
					return result.map((value, i) => {
						const item = params.items[i];
						const section = item?.section;
						if (section === SECTION || section?.startsWith(SECTION + '.')) {
							const scope = item.scopeUri ? vscode.Uri.parse(item.scopeUri) : undefined;
							return lookupSection(section, scope);
						}
						return value;
					});
				},
				// workspace/didChangeConfiguration: same translation for the pushed settings.
				didChangeConfiguration: async (sections, next) => {
					if (!lcRef || sections === undefined || !sections.includes(SECTION)) {
						return next(sections);
					}
					await lcRef.sendNotification(DidChangeConfigurationNotification.type, {
						settings: { [SECTION]: serverSettings() },
					});
				},
			},
		},
	};

	const lc = new LanguageClient('cl-lsp', 'cl-lsp', serverOptions, clientOptions);
	lcRef = lc;

	// The server may advertise `cl-lsp.showContext` (and friends) in
	// executeCommandProvider.commands. vscode-languageclient would then register a VS Code
	// command with the same id and fail ("command already exists"), so skip the ids this
	// extension registers itself; ours call workspace/executeCommand explicitly.
	const exec = lc.getFeature(ExecuteCommandRequest.method);
	const originalRegister = exec.register.bind(exec);
	exec.register = (data) => {
		const commands = (data.registerOptions.commands ?? []).filter((c) => !CLIENT_COMMANDS.has(c));
		originalRegister({ ...data, registerOptions: { ...data.registerOptions, commands } });
	};

	const mirror = new ProgressMirror(lc, bar);
	lc.registerFeature(mirror);

	// Servers that push `cl-lsp/status` drive the status bar; for the others, poll the
	// `cl-lsp.status` workspace command (same payload) until the model is ready or failed.
	let statusPushed = false;
	lc.onNotification('cl-lsp/status', (params: StatusParams) => {
		statusPushed = true;
		bar.setServerStatus(params);
		if (params.state === 'ready') {
			void refreshAcceptance();
		}
	});
	const pollStatus = async (): Promise<void> => {
		const commands = lc.initializeResult?.capabilities.executeCommandProvider?.commands ?? [];
		if (!commands.includes('cl-lsp.status')) {
			return;
		}
		for (let i = 0; i < 600 && !statusPushed && client === lc && lc.isRunning(); i++) {
			try {
				const st = (await lc.sendRequest(ExecuteCommandRequest.type, { command: 'cl-lsp.status', arguments: [] })) as StatusParams | null;
				if (statusPushed) {
					return;
				}
				if (st && typeof st.state === 'string') {
					bar.setServerStatus(st);
					if (st.state === 'ready') {
						void refreshAcceptance();
					}
					if (st.state === 'ready' || st.state === 'error') {
						return;
					}
				}
			} catch {
				return;
			}
			await new Promise((r) => setTimeout(r, 1000));
		}
	};
	lc.onDidChangeState((e) => {
		if (e.newState === State.Running) {
			bar.setClientState('running');
			void pollStatus();
		} else if (e.newState === State.Starting) {
			bar.setClientState('starting');
		} else {
			mirror.clear();
			bar.setClientState('stopped');
		}
	});
	context.subscriptions.push({ dispose: () => mirror.clear() });
	return lc;
}

async function startClient(context: vscode.ExtensionContext): Promise<void> {
	if (!statusBar) {
		return;
	}
	if (!vscode.workspace.isTrusted) {
		statusBar.setClientState('untrusted');
		return;
	}
	if (client) {
		return;
	}
	const lc = createClient(context, statusBar);
	if (!lc) {
		return;
	}
	client = lc;
	statusBar.setClientState('starting');
	try {
		await lc.start();
	} catch (err) {
		output?.appendLine(`cl-lsp failed to start: ${String(err)}`);
		statusBar.setClientState('stopped');
		void vscode.window.showErrorMessage(`cl-lsp failed to start: ${errorMessage(err)}`);
	}
}

async function stopClient(): Promise<void> {
	const lc = client;
	client = undefined;
	if (lc) {
		try {
			await lc.stop(5000);
		} catch (err) {
			output?.appendLine(`cl-lsp stop: ${String(err)}`);
		}
		await lc.dispose().catch(() => undefined);
	}
	statusBar?.setClientState('stopped');
}

function errorMessage(err: unknown): string {
	return err instanceof Error ? err.message : String(err);
}

// ---------------------------------------------------------------------------
// Commands

async function toggle(): Promise<void> {
	const config = vscode.workspace.getConfiguration(SECTION);
	const inspect = config.inspect<boolean>('enable');
	const enabled = config.get<boolean>('enable', true);
	// Write where the effective value comes from, so the toggle actually flips it.
	const target = inspect?.workspaceFolderValue !== undefined
		? vscode.ConfigurationTarget.WorkspaceFolder
		: inspect?.workspaceValue !== undefined
			? vscode.ConfigurationTarget.Workspace
			: vscode.ConfigurationTarget.Global;
	await config.update('enable', !enabled, target);
	vscode.window.setStatusBarMessage(`cl-lsp completions ${enabled ? 'off' : 'on'}`, 2500);
}

async function showContext(): Promise<void> {
	const editor = vscode.window.activeTextEditor;
	if (!editor) {
		void vscode.window.showInformationMessage('cl-lsp: open a file and place the cursor first.');
		return;
	}
	if (!client || !client.isRunning()) {
		void vscode.window.showWarningMessage('cl-lsp: the server is not running.');
		return;
	}
	const pos = editor.selection.active;
	// cl-lsp.showContext(uri, {line, character}): two positional arguments.
	const args = [
		client.code2ProtocolConverter.asUri(editor.document.uri),
		{ line: pos.line, character: pos.character },
	];
	const result = await vscode.window.withProgress(
		{ location: vscode.ProgressLocation.Window, title: 'cl-lsp: building context' },
		(_p, token: CancellationToken) =>
			client!.sendRequest(ExecuteCommandRequest.type, { command: 'cl-lsp.showContext', arguments: args }, token),
	).then(undefined, (err: unknown) => {
		void vscode.window.showErrorMessage(`cl-lsp.showContext failed: ${errorMessage(err)}`);
		return undefined;
	});
	if (result === undefined || result === null) {
		return;
	}
	const content = typeof result === 'string'
		? result
		: typeof (result as { text?: unknown }).text === 'string'
			? (result as { text: string }).text
			: JSON.stringify(result, null, 2);
	const doc = await vscode.workspace.openTextDocument({
		content,
		language: typeof result === 'string' || typeof (result as { text?: unknown }).text === 'string' ? 'plaintext' : 'json',
	});
	await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.Beside, preview: true });
}

/** Ask the server for the last 7 days' acceptance totals and show the rate. */
async function refreshAcceptance(): Promise<AcceptanceTotals | undefined> {
	const lc = client;
	if (!lc || !lc.isRunning()) {
		return undefined;
	}
	try {
		const stats = (await lc.sendRequest(ExecuteCommandRequest.type, {
			command: 'cl-lsp.stats',
			arguments: [{ since: '7d' }],
		})) as { enabled?: boolean; total?: AcceptanceTotals } | null;
		const totals = stats?.enabled ? stats.total : undefined;
		statusBar?.setAcceptance(totals);
		return totals;
	} catch {
		return undefined;
	}
}

/** `cl-lsp.accepted`: VS Code runs an inline item's command when the user accepts it; pass
 *  it on to the server (statistics) and refresh the status bar's acceptance rate. */
async function accepted(...args: unknown[]): Promise<void> {
	const lc = client;
	if (!lc || !lc.isRunning()) {
		return;
	}
	try {
		await lc.sendRequest(ExecuteCommandRequest.type, { command: 'cl-lsp.accepted', arguments: args });
	} catch (err) {
		output?.warn(`cl-lsp.accepted failed: ${errorMessage(err)}`);
		return;
	}
	await refreshAcceptance();
}

async function showStats(): Promise<void> {
	const totals = await refreshAcceptance();
	if (!totals) {
		void vscode.window.showInformationMessage('cl-lsp: no acceptance statistics (server not running, or stats.enabled is false).');
		return;
	}
	void vscode.window.showInformationMessage(
		`cl-lsp, last 7 days: ${totals.shown} suggestions shown, ${totals.accepted} accepted + ${totals.partial} partly (${(totals.acceptance_rate * 100).toFixed(1)}%), ${totals.accepted_chars} characters, p50 ${Math.round(totals.latency_p50_ms)} ms. \`cl-lsp stats\` prints more.`,
	);
}

const ALIAS_RE = /^[A-Za-z0-9][A-Za-z0-9._:\/@+-]*$/;

async function pullModel(): Promise<void> {
	if (!vscode.workspace.isTrusted) {
		void vscode.window.showWarningMessage('cl-lsp: pulling models is disabled in untrusted workspaces.');
		return;
	}
	const settings = readSettings();
	const alias = await vscode.window.showInputBox({
		title: 'cl-lsp: Pull Model',
		prompt: 'Model alias to download (see `cl-lsp model list`)',
		value: settings.defaultModelAlias,
		validateInput: (v) => (ALIAS_RE.test(v.trim()) ? undefined : 'Letters, digits and . _ : / @ + - only'),
	});
	if (!alias) {
		return;
	}
	const running = client;
	if (running && running.state === State.Running) {
		// The server downloads it and reports $/progress, which the client shows.
		const answer = (await running.sendRequest(ExecuteCommandRequest.type, {
			command: 'cl-lsp.pullModel',
			arguments: [alias.trim()],
		})) as { path?: string; error?: string; fix?: string } | null;
		if (!answer || answer.error || !answer.path) {
			void vscode.window.showErrorMessage(`cl-lsp: ${answer?.error ?? 'the pull failed'} ${answer?.fix ?? ''}`);
			return;
		}
		const choice = await vscode.window.showInformationMessage(`cl-lsp: downloaded ${answer.path}`, 'Use this model');
		if (choice === 'Use this model') {
			await vscode.workspace.getConfiguration(SECTION).update('modelPath', answer.path, vscode.ConfigurationTarget.Global);
		}
		return;
	}
	const exe = resolveServerPath(settings);
	if (!exe) {
		void vscode.window.showErrorMessage('cl-lsp: the `cl-lsp` executable was not found. Set cl-lsp.serverPath.');
		return;
	}
	// No server running: run the executable directly (no shell): nothing in the alias or path is interpreted.
	const terminal = vscode.window.createTerminal({
		name: `cl-lsp model pull ${alias.trim()}`,
		shellPath: exe,
		shellArgs: ['model', 'pull', alias.trim()],
	});
	terminal.show();
}

/** Stop and start a fresh client, so changed serverPath/serverArgs take effect. */
async function restart(context: vscode.ExtensionContext): Promise<void> {
	statusBar?.setClientState('starting');
	await stopClient();
	await startClient(context);
}

// ---------------------------------------------------------------------------
// Activation

export async function activate(context: vscode.ExtensionContext): Promise<void> {
	output = vscode.window.createOutputChannel('cl-lsp', { log: true });
	statusBar = new StatusBar();
	context.subscriptions.push(output, statusBar);

	context.subscriptions.push(
		vscode.commands.registerCommand('cl-lsp.toggle', toggle),
		vscode.commands.registerCommand('cl-lsp.showContext', showContext),
		vscode.commands.registerCommand('cl-lsp.pullModel', pullModel),
		vscode.commands.registerCommand('cl-lsp.restart', () => restart(context)),
		vscode.commands.registerCommand('cl-lsp.accepted', accepted),
		vscode.commands.registerCommand('cl-lsp.stats', showStats),
		vscode.workspace.onDidGrantWorkspaceTrust(() => {
			void startClient(context);
		}),
		vscode.workspace.onDidChangeConfiguration((e) => {
			if (!e.affectsConfiguration(SECTION)) {
				return;
			}
			statusBar?.render();
			if (RESTART_SETTINGS.some((k) => e.affectsConfiguration(`${SECTION}.${k}`))) {
				void vscode.window
					.showInformationMessage('cl-lsp: restart the server to use the new executable settings?', 'Restart')
					.then((choice) => {
						if (choice === 'Restart') {
							void restart(context);
						}
					});
			}
		}),
	);

	await startClient(context);
}

export async function deactivate(): Promise<void> {
	await stopClient();
}
