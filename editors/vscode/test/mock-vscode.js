// A minimal fake of the `vscode` API: enough for vscode-languageclient and this extension
// to activate in plain Node, so host-smoke.js can drive the real bundle against a server.
// Environment: EXT_DIR (extension folder), WS_DIR (workspace folder), DOC_FILE (the one
// open document), UNTRUSTED=1 (untrusted workspace), VERBOSE=1 (print the output channel).
const path = require('path');
const rec = { commands: new Map(), providers: [], messages: [], statusItems: [], docsOpened: [], terminals: [], configUpdates: [] };
class Disposable { constructor(fn) { this._fn = fn; } dispose() { this._fn && this._fn(); } static from(...ds) { return new Disposable(() => ds.forEach(d => d && d.dispose && d.dispose())); } }
class EventEmitter { constructor() { this.ls = new Set(); this.event = (l, thisArg) => { const f = l.bind(thisArg); this.ls.add(f); return new Disposable(() => this.ls.delete(f)); }; } fire(e) { for (const l of [...this.ls]) l(e); } dispose() { this.ls.clear(); } }
const noEvent = () => new Disposable();
class Uri {
  constructor(scheme, authority, p, query, fragment) { Object.assign(this, { scheme, authority: authority || '', path: p || '', query: query || '', fragment: fragment || '' }); }
  get fsPath() { return this.path; }
  static file(p) { return new Uri('file', '', p); }
  static parse(s) { const m = /^([a-z]+):\/\/([^/]*)([^?#]*)/.exec(s); return m ? new Uri(m[1], m[2], decodeURIComponent(m[3])) : new Uri('file', '', s); }
  with(c) { return new Uri(c.scheme ?? this.scheme, c.authority ?? this.authority, c.path ?? this.path); }
  toString() { return `${this.scheme}://${this.authority}${encodeURI(this.path)}`; }
  toJSON() { return this.toString(); }
}
class Position { constructor(line, character) { this.line = line; this.character = character; } }
class Range { constructor(a, b, c, d) { if (typeof a === 'number') { this.start = new Position(a, b); this.end = new Position(c, d); } else { this.start = a; this.end = b; } } }
class Generic { constructor(...args) { this.args = args; } }
class InlineCompletionItem { constructor(insertText, range, command) { Object.assign(this, { insertText, range, command }); } }
class InlineCompletionList { constructor(items) { this.items = items; } }
class MarkdownString { constructor(v = '') { this.value = v; } appendMarkdown(s) { this.value += s; return this; } appendText(s) { this.value += s; return this; } }
class CancellationTokenSource { constructor() { this._e = new EventEmitter(); this.token = { isCancellationRequested: false, onCancellationRequested: this._e.event }; } cancel() { this.token.isCancellationRequested = true; this._e.fire(); } dispose() {} }
const enumProxy = (name) => new Proxy({}, { get: (t, k) => (typeof k === 'string' ? `${name}.${k}` : undefined) });
const configStore = {}; // "cl-lsp.key" -> value (global)
const configEmitter = new EventEmitter();
const pkg = require(path.join(process.env.EXT_DIR, 'package.json'));
const defaults = {};
for (const [k, v] of Object.entries(pkg.contributes.configuration.properties)) defaults[k] = v.default;
function getConfiguration(section) {
  const full = (k) => (section ? `${section}.${k}` : k);
  return {
    get(k, d) { const f = full(k); if (f in configStore) return configStore[f]; if (f in defaults) return defaults[f];
      // nested object view (e.g. getConfiguration('cl-lsp') without key)
      return d; },
    has(k) { return full(k) in configStore || full(k) in defaults; },
    inspect(k) { const f = full(k); return { key: f, defaultValue: defaults[f], globalValue: configStore[f] }; },
    async update(k, v) { configStore[full(k)] = v; rec.configUpdates.push([full(k), v]); configEmitter.fire({ affectsConfiguration: (s) => full(k).startsWith(s) }); },
  };
}
const folder = { uri: Uri.file(process.env.WS_DIR), name: 'ws', index: 0 };
const doc = (() => {
  const fs = require('fs'); const file = process.env.DOC_FILE; const text = fs.readFileSync(file, 'utf8');
  const lines = text.split('\n');
  return { uri: Uri.file(file), fileName: file, languageId: process.env.DOC_LANGUAGE || 'python', version: 1, isClosed: false, isUntitled: false, getText: () => text, lineCount: lines.length,
    lineAt: (l) => ({ text: lines[typeof l === 'number' ? l : l.line] }), offsetAt: () => 0, positionAt: () => new Position(0, 0), eol: 1 };
})();
const docOpenEmitter = new EventEmitter();
const vscode = {
  version: '1.95.0',
  env: { appName: 'mock', appRoot: '/', language: 'en', machineId: 'm', sessionId: 's', uriScheme: 'vscode', uiKind: 1, shell: '/bin/sh', openExternal: async () => true, clipboard: { readText: async () => '' } },
  Uri, Position, Range, Disposable, EventEmitter, InlineCompletionItem, InlineCompletionList, MarkdownString, CancellationTokenSource,
  ThemeColor: Generic, Location: Generic, Diagnostic: Generic, TextEdit: Generic, WorkspaceEdit: Generic, CompletionItem: Generic, CompletionList: Generic, CodeAction: Generic, CodeLens: Generic,
  Hover: Generic, SymbolInformation: Generic, DocumentSymbol: Generic, DocumentLink: Generic, Color: Generic, ColorInformation: Generic, ColorPresentation: Generic, FoldingRange: Generic,
  SelectionRange: Generic, CallHierarchyItem: Generic, CallHierarchyIncomingCall: Generic, CallHierarchyOutgoingCall: Generic, SemanticTokens: Generic, SemanticTokensEdit: Generic,
  SemanticTokensEdits: Generic, SemanticTokensLegend: Generic, LinkedEditingRanges: Generic, TypeHierarchyItem: Generic, InlineValueText: Generic, InlineValueVariableLookup: Generic,
  InlineValueEvaluatableExpression: Generic, InlayHint: Generic, InlayHintLabelPart: Generic, SignatureHelp: Generic, SignatureInformation: Generic, ParameterInformation: Generic,
  DiagnosticRelatedInformation: Generic, DocumentHighlight: Generic, SnippetString: Generic, SnippetTextEdit: Generic, RelativePattern: Generic, Command: Generic, CodeActionKind: (() => { class K { constructor(v) { this.value = v; } append(x) { return new K(this.value ? this.value + '.' + x : x); } contains(o) { return o.value === this.value || o.value.startsWith(this.value + '.'); } intersects(o) { return this.contains(o) || o.contains(this); } } const E = new K(''); return { Empty: E, QuickFix: E.append('quickfix'), Refactor: E.append('refactor'), RefactorRewrite: E.append('refactor.rewrite'), Source: E.append('source') }; })(),
  CancellationError: class extends Error {}, TabInputText: Generic, TabInputTextDiff: Generic, TabInputCustom: Generic, TabInputNotebook: Generic, NotebookCellKind: { Markup: 1, Code: 2 },
  StatusBarAlignment: { Left: 1, Right: 2 }, ProgressLocation: { SourceControl: 1, Window: 10, Notification: 15 }, ConfigurationTarget: { Global: 1, Workspace: 2, WorkspaceFolder: 3 },
  ViewColumn: { Beside: -2, Active: -1, One: 1 }, LogLevel: { Off: 0, Trace: 1, Debug: 2, Info: 3, Warning: 4, Error: 5 }, FileType: { File: 1, Directory: 2 },
  DiagnosticSeverity: { Error: 0, Warning: 1, Information: 2, Hint: 3 }, DiagnosticTag: { Unnecessary: 1, Deprecated: 2 }, CompletionItemKind: enumProxy('CIK'), CompletionItemTag: { Deprecated: 1 },
  SymbolKind: enumProxy('SK'), SymbolTag: { Deprecated: 1 }, InlayHintKind: { Type: 1, Parameter: 2 }, FoldingRangeKind: { Comment: 1, Imports: 2, Region: 3 }, DocumentHighlightKind: { Text: 0, Read: 1, Write: 2 },
  CompletionTriggerKind: { Invoke: 0, TriggerCharacter: 1, TriggerForIncompleteCompletions: 2 }, SignatureHelpTriggerKind: { Invoke: 1, TriggerCharacter: 2, ContentChange: 3 },
  CodeActionTriggerKind: { Invoke: 1, Automatic: 2 }, InlineCompletionTriggerKind: { Invoke: 0, Automatic: 1 }, TextDocumentSaveReason: { Manual: 1 },
  workspace: {
    getConfiguration, workspaceFolders: [folder], textDocuments: [doc], notebookDocuments: [], isTrusted: process.env.UNTRUSTED ? false : true, name: 'ws', rootPath: process.env.WS_DIR,
    getWorkspaceFolder: () => folder, onDidChangeConfiguration: configEmitter.event, onDidOpenTextDocument: docOpenEmitter.event,
    createFileSystemWatcher: () => ({ onDidCreate: noEvent, onDidChange: noEvent, onDidDelete: noEvent, dispose() {} }),
    openTextDocument: async (o) => { rec.docsOpened.push(o); return { uri: Uri.parse('untitled://x'), ...o }; },
    applyEdit: async () => true, fs: {}, registerTextDocumentContentProvider: () => new Disposable(),
  },
  window: {
    createOutputChannel: (name) => ({ name, append() {}, appendLine: (s) => process.env.VERBOSE && console.error('[out]', s), replace() {}, clear() {}, show() {}, hide() {}, dispose() {},
      trace() {}, debug() {}, info: (s) => process.env.VERBOSE && console.error('[info]', s), warn: (s) => console.error('[warn]', s), error: (s) => console.error('[error]', s), logLevel: 3, onDidChangeLogLevel: noEvent }),
    createStatusBarItem: (id) => { const it = { id, text: '', show() {}, hide() {}, dispose() {} }; rec.statusItems.push(it); return it; },
    showErrorMessage: async (...a) => { rec.messages.push(['error', a[0]]); }, showWarningMessage: async (...a) => { rec.messages.push(['warn', a[0]]); },
    showInformationMessage: async (...a) => { rec.messages.push(['info', a[0]]); },
    withProgress: async (o, task) => task({ report() {} }, new CancellationTokenSource().token),
    showTextDocument: async () => ({}), createTerminal: (o) => { rec.terminals.push(o); return { show() {} }; }, setStatusBarMessage: () => new Disposable(),
    showInputBox: async (o) => o.value, activeTextEditor: { document: doc, selection: { active: new Position(1, 4) } }, visibleTextEditors: [],
    tabGroups: { all: [], onDidChangeTabs: noEvent, onDidChangeTabGroups: noEvent },
  },
  commands: {
    registerCommand: (id, fn) => { if (rec.commands.has(id)) throw new Error(`command '${id}' already exists`); rec.commands.set(id, fn); return new Disposable(() => rec.commands.delete(id)); },
    executeCommand: async (id, ...a) => rec.commands.get(id)?.(...a),
  },
  languages: {
    match: (sel, d) => 10, createDiagnosticCollection: () => ({ set() {}, delete() {}, clear() {}, dispose() {}, forEach() {} }),
  },
  _rec: rec, _doc: doc, _configEmitter: configEmitter, _configStore: configStore,
};
// Every languages.registerXxxProvider records itself.
vscode.languages = new Proxy(vscode.languages, { get: (t, k) => (k in t ? t[k] : (typeof k === 'string' && k.startsWith('register') ? (...a) => { rec.providers.push([k, a]); return new Disposable(); } : undefined)) });
// Unknown onDidXxx events anywhere.
for (const ns of ['workspace', 'window']) vscode[ns] = new Proxy(vscode[ns], { get: (t, k) => (k in t ? t[k] : (typeof k === 'string' && k.startsWith('onD') ? noEvent : undefined)) });
module.exports = vscode;
