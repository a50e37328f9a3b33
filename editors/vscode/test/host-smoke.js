// Headless smoke test of the bundled extension (dist/extension.js) against a cl-lsp server,
// with a fake `vscode` module (test/mock-vscode.js). No VS Code needed.
//
//   npm run compile && npm test
//   CL_LSP_TEST_SERVER=/path/to/cl-lsp CL_LSP_TEST_ARGS="--stdio" npm test
//
// Checks: activation, the client reaching Running, the LSP 3.18 inline completion provider
// registered from the server's capabilities, our commands registered (no clash with the
// server's executeCommandProvider), an inline completion at the end of a function header
// (retried while the model loads; CL_LSP_TEST_ALLOW_EMPTY=1 accepts none), the toggle
// suppressing requests, cl-lsp.showContext, and a clean shutdown. The `cl-lsp/status`
// status bar update is reported but optional. The accept path: the item carries the
// server's `cl-lsp.accepted` command, running it as VS Code does on accept reaches the
// server's statistics (`cl-lsp.stats`: 1 accepted) and the status bar's acceptance rate.
// The server keeps those statistics in a temporary folder (CL_LSP_DATA_DIR).
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const Module = require('module');
const { execFileSync } = require('child_process');

const EXT_DIR = path.resolve(__dirname, '..');
const timeoutMs = Number(process.env.CL_LSP_TEST_TIMEOUT_MS || 120000);
const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-lsp-vscode-'));
const docFile = path.join(ws, 'fib.py');
fs.writeFileSync(docFile, 'def fibonacci(n):\n    \n');
Object.assign(process.env, { EXT_DIR, WS_DIR: ws, DOC_FILE: docFile });
// The server inherits this: the test's statistics never mix with the user's.
process.env.CL_LSP_DATA_DIR = process.env.CL_LSP_DATA_DIR || path.join(ws, 'data');

function findServer() {
	if (process.env.CL_LSP_TEST_SERVER) {
		return process.env.CL_LSP_TEST_SERVER;
	}
	try {
		return execFileSync('sh', ['-c', 'command -v cl-lsp'], { encoding: 'utf8' }).trim();
	} catch {
		return undefined;
	}
}

const mock = require('./mock-vscode.js');
const originalLoad = Module._load;
Module._load = function (request) {
	return request === 'vscode' ? mock : originalLoad.apply(this, arguments);
};

const results = [];
const check = (name, ok, detail = '') => {
	results.push({ name, ok, detail });
	console.log(`${ok === true ? 'PASS' : ok === 'warn' ? 'WARN' : 'FAIL'} ${name}${detail ? `: ${String(detail).slice(0, 300)}` : ''}`);
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(fn, ms) {
	const end = Date.now() + ms;
	while (Date.now() < end) {
		const v = await fn();
		if (v) {
			return v;
		}
		await sleep(100);
	}
	return undefined;
}

async function main() {
	const server = findServer();
	if (!server) {
		console.log('SKIP: no cl-lsp on PATH and CL_LSP_TEST_SERVER unset');
		return 0;
	}
	const dist = path.join(EXT_DIR, 'dist', 'extension.js');
	if (!fs.existsSync(dist)) {
		console.log('FAIL: dist/extension.js missing: run `npm run compile` first');
		return 1;
	}
	mock._configStore['cl-lsp.serverPath'] = server;
	if (process.env.CL_LSP_TEST_ARGS) {
		mock._configStore['cl-lsp.serverArgs'] = process.env.CL_LSP_TEST_ARGS.split(/\s+/).filter(Boolean);
	}
	const rec = mock._rec;
	const ext = require(dist);
	await ext.activate({ subscriptions: [], extensionPath: EXT_DIR });
	const bar = rec.statusItems[0];
	check('activate creates the status bar item', !!bar, bar && bar.text);

	// Providers are registered once the initialize handshake is done.
	const running = await until(() => rec.providers.length > 0 || rec.messages.some(([k]) => k === 'error'), 30000);
	check('client running (initialize handshake done)', !!running && !rec.messages.some(([k]) => k === 'error'),
		`${bar.text} ${JSON.stringify(rec.messages)}`);

	for (const id of ['cl-lsp.toggle', 'cl-lsp.showContext', 'cl-lsp.pullModel', 'cl-lsp.restart']) {
		check(`command ${id}`, rec.commands.has(id));
	}
	const inline = await until(() => rec.providers.find(([k]) => k === 'registerInlineCompletionItemProvider'), 5000);
	check('inline completion provider registered (server announces inlineCompletionProvider)', !!inline,
		rec.providers.map(([k]) => k).join(', '));

	if (inline) {
		const provider = inline[1][1];
		const ask = async () => {
			const token = new mock.CancellationTokenSource().token;
			const res = await provider.provideInlineCompletionItems(mock._doc, new mock.Position(1, 4), { triggerKind: 0 }, token);
			return Array.isArray(res) ? res : res && res.items;
		};
		const items = await until(async () => {
			const got = await ask().catch((e) => {
				check('inline request', false, e && e.message);
				return [];
			});
			return got && got.length > 0 ? got : undefined;
		}, timeoutMs);
		const allowEmpty = process.env.CL_LSP_TEST_ALLOW_EMPTY === '1';
		check('inline completion returned items', items ? true : allowEmpty ? 'warn' : false,
			items ? JSON.stringify(items[0].insertText) : 'none before the timeout');

		if (items) {
			// The accept path: VS Code runs the item's command when the user takes it.
			const cmd = items[0].command;
			check('inline item carries the accept command', !!cmd && cmd.command === 'cl-lsp.accepted', JSON.stringify(cmd));
			if (cmd && rec.commands.has(cmd.command)) {
				await rec.commands.get(cmd.command)(...(cmd.arguments || []));
				const rate = await until(() => /\$\(check\)\d+%/.test(bar.text) && bar.text, 10000);
				check('status bar shows the acceptance rate after an accept', !!rate, bar.text);
				rec.messages.length = 0;
				await rec.commands.get('cl-lsp.stats')();
				const message = rec.messages.find(([k]) => k === 'info');
				const m = message && /(\d+) suggestions shown, (\d+) accepted/.exec(message[1]);
				check('cl-lsp.stats counts the accept (server statistics)', !!m && Number(m[2]) === 1 && Number(m[1]) >= 1,
					message && message[1]);
			} else {
				check('accept command registered in the client', false, cmd && cmd.command);
			}
		}

		await rec.commands.get('cl-lsp.toggle')();
		const off = await ask();
		check('toggle off suppresses requests', off === undefined, JSON.stringify(off));
		await rec.commands.get('cl-lsp.toggle')();
	}

	// "$(icon) cl-lsp <model> (<backend>)" once a cl-lsp/status notification named a model.
	const status = await until(() => /^\$\([a-z~-]+\) cl-lsp \S/.test(bar.text) && bar.text, 3000);
	check('status bar shows model/backend from cl-lsp/status', status ? true : 'warn', bar.text);

	rec.docsOpened.length = 0;
	await rec.commands.get('cl-lsp.showContext')();
	const shown = rec.docsOpened[0];
	const showErr = rec.messages.find(([, m]) => /showContext/.test(String(m)));
	check('cl-lsp.showContext opens a document', shown ? true : 'warn', shown ? JSON.stringify(shown.content).slice(0, 120) : showErr && showErr[1]);

	await ext.deactivate();
	check('deactivate stops the client', /debug-stop/.test(bar.text), bar.text);
	return results.some((r) => r.ok === false) ? 1 : 0;
}

main()
	.then((code) => {
		fs.rmSync(ws, { recursive: true, force: true });
		process.exit(code);
	})
	.catch((err) => {
		console.error('FAIL', err);
		process.exit(1);
	});
