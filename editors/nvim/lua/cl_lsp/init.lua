-- cl-lsp client for Neovim (0.7.2 and later).
--
--   require("cl_lsp").setup({
--     cmd = { "cl-lsp", "--stdio" },
--     settings = {                                          -- section "cl-lsp"
--       completion = { maxTokens = 48, fimLayout = "auto" },
--       model = { path = "~/models/codellama-7b.Q4_K_M.gguf" },
--     },
--     filetypes = { "python", "lua" },                      -- or "*" for every filetype
--   })
--
-- Neovim >= 0.12: ghost text through textDocument/inlineCompletion (vim.lsp.inline_completion).
-- Older: omnifunc (<C-x><C-o>) plus :ClLspComplete, which asks textDocument/completion and
-- applies the first item's textEdit at the cursor; :ClLspAcceptWord / :ClLspAcceptLine take
-- only its next word / line. Accepts are reported to the server (`cl-lsp.accepted`) for the
-- local acceptance statistics (:ClLspStats [7d]).
-- Code actions: vim.lsp.buf.code_action() (or :ClLspCodeAction [title substring]).

local M = {}

local NAME = "cl-lsp"
local SECTION = "cl-lsp"

M.default_filetypes = {
  "c", "cpp", "cs", "go", "java", "javascript", "javascriptreact", "typescript",
  "typescriptreact", "lua", "php", "python", "ruby", "rust", "sh", "bash", "zsh",
}

M.config = {
  cmd = { "cl-lsp", "--stdio" },
  settings = {}, -- the "cl-lsp" section, e.g. { completion = { maxTokens = 48 } }
  filetypes = nil, -- nil: M.default_filetypes; "*": every filetype
  root_markers = { ".git", "pyproject.toml", "package.json", "Cargo.toml", "go.mod", ".hg" },
  inline = true, -- use native inline completion when vim.lsp.inline_completion exists
  omnifunc = true, -- set omnifunc=v:lua.vim.lsp.omnifunc on attached buffers
  keymaps = {
    complete = "<C-g><C-l>", -- insert mode: :ClLspComplete (false to disable)
    accept_inline = "<Tab>", -- insert mode, nvim >= 0.12 only: accept ghost text
  },
  on_attach = nil, -- function(client, bufnr)
  capabilities = nil, -- extra client capabilities, deep-merged
  handlers = nil, -- extra handlers
}

-- Last cl-lsp/status notification ({state, model, backend, message, progress}).
M.state = { state = "stopped" }

local has = function(v) return vim.fn.has(v) == 1 end

-- ---------------------------------------------------------------------------
-- Compatibility helpers (0.7 .. 0.12)

local function get_clients(bufnr)
  local out = {}
  if vim.lsp.get_clients then
    out = vim.lsp.get_clients({ name = NAME, bufnr = bufnr })
  else
    local all = bufnr and vim.lsp.buf_get_clients(bufnr) or vim.lsp.get_active_clients()
    for _, c in pairs(all) do
      if c.name == NAME then
        table.insert(out, c)
      end
    end
  end
  return out
end

--- The cl-lsp client attached to bufnr (or any cl-lsp client when bufnr is nil).
function M.client(bufnr)
  return get_clients(bufnr)[1]
end

local function is_stopped(client)
  if client.is_stopped then
    return client.is_stopped()
  end
  return false
end

local function supports(client, method)
  if client.supports_method then
    -- 0.11+ uses client:supports_method(); earlier versions use client.supports_method().
    local ok, res = pcall(client.supports_method, client, method)
    if ok and type(res) == "boolean" then
      return res
    end
    ok, res = pcall(client.supports_method, method)
    if ok then
      return res
    end
  end
  return true
end

local function request(client, method, params, handler, bufnr)
  -- 0.11+: client:request(); earlier: client.request(). Both accept (method, params, handler, bufnr).
  if has("nvim-0.11") then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

local function notify_client(client, method, params)
  if has("nvim-0.11") then
    return client:notify(method, params)
  end
  return client.notify(method, params)
end

--- Byte column -> LSP character offset in `encoding`.
local function to_lsp_col(line, byte_col, encoding)
  if encoding == "utf-8" then
    return byte_col
  end
  byte_col = math.min(byte_col, #line)
  if has("nvim-0.11") then
    return vim.str_utfindex(line, encoding == "utf-32" and "utf-32" or "utf-16", byte_col, false)
  end
  local u32, u16 = vim.str_utfindex(line, byte_col)
  return encoding == "utf-32" and u32 or u16
end

--- LSP character offset in `encoding` -> byte column.
local function to_byte_col(line, col, encoding)
  if encoding == "utf-8" then
    return col
  end
  if has("nvim-0.11") then
    return vim.str_byteindex(line, encoding == "utf-32" and "utf-32" or "utf-16", col, false)
  end
  local ok, res = pcall(vim.str_byteindex, line, col, encoding ~= "utf-32")
  return ok and res or #line
end

local function get_line(bufnr, lnum0)
  return vim.api.nvim_buf_get_lines(bufnr, lnum0, lnum0 + 1, false)[1] or ""
end

local function encoding_of(client)
  return client.offset_encoding or "utf-16"
end

-- M.config.settings is the "cl-lsp" section ({ completion = { maxTokens = 48 }, ... }).
local function section_settings()
  local s = M.config.settings or {}
  return next(s) ~= nil and s or vim.empty_dict()
end

local function settings_table()
  return { [SECTION] = section_settings() }
end

local function find_root(bufnr)
  local fname = vim.api.nvim_buf_get_name(bufnr)
  local dir = fname ~= "" and vim.fn.fnamemodify(fname, ":p:h") or vim.fn.getcwd()
  for _, marker in ipairs(M.config.root_markers or {}) do
    local hit = vim.fn.finddir(marker, dir .. ";")
    if hit ~= "" then
      return vim.fn.fnamemodify(vim.fn.fnamemodify(hit, ":p"):gsub("/+$", ""), ":h")
    end
    hit = vim.fn.findfile(marker, dir .. ";")
    if hit ~= "" then
      return vim.fn.fnamemodify(hit, ":p:h")
    end
  end
  return dir
end

-- ---------------------------------------------------------------------------
-- Handlers

local function fire_status()
  pcall(vim.api.nvim_exec_autocmds, "User", { pattern = "ClLspStatus", modeline = false })
end

local status_pushed = false -- a cl-lsp/status notification arrived: no polling needed

local function set_status(params)
  local prev = M.state
  M.state = params
  M.state.model = params.model or prev.model
  M.state.backend = params.backend or prev.backend
  if params.state == "error" and params.message and prev.state ~= "error" then
    vim.schedule(function()
      vim.notify("cl-lsp: " .. params.message, vim.log.levels.ERROR)
    end)
  end
  fire_status()
end

--- Servers without the notification: poll the `cl-lsp.status` command (same payload)
--- every second until the model is ready or failed.
local function poll_status(client, tries)
  local caps = client.server_capabilities or {}
  local commands = caps.executeCommandProvider and caps.executeCommandProvider.commands or {}
  if status_pushed or tries <= 0 or is_stopped(client) or not vim.tbl_contains(commands, "cl-lsp.status") then
    return
  end
  request(client, "workspace/executeCommand", { command = "cl-lsp.status", arguments = {} }, function(err, st)
    if err or status_pushed or type(st) ~= "table" or type(st.state) ~= "string" then
      return
    end
    set_status(st)
    if st.state ~= "ready" and st.state ~= "error" then
      vim.defer_fn(function()
        poll_status(client, tries - 1)
      end, 1000)
    end
  end)
end

local handlers = {
  ["cl-lsp/status"] = function(_, params)
    if type(params) == "table" then
      status_pushed = true
      set_status(params)
    end
  end,
  -- Robust against items without `section` (0.7's default handler drops them).
  ["workspace/configuration"] = function(_, result)
    local settings = settings_table()
    local response = {}
    for _, item in ipairs((result and result.items) or {}) do
      local value
      if item.section == nil or item.section == "" then
        value = settings
      else
        value = settings
        for part in vim.gsplit(item.section, ".", true) do
          value = type(value) == "table" and value[part] or nil
        end
      end
      if value == nil then
        value = vim.NIL
      end
      table.insert(response, value)
    end
    return response
  end,
}

-- ---------------------------------------------------------------------------
-- Completion: textDocument/completion, apply the first item's edit

local function item_edit(item, pos)
  local te = item.textEdit
  if te then
    local range = te.range or te.insert -- InsertReplaceEdit: use the insert range
    return { range = range, newText = te.newText }
  end
  local text = item.insertText or item.label
  return { range = { start = pos, ["end"] = pos }, newText = text }
end

local function inline_edit(item, pos)
  local text = item.insertText
  if type(text) == "table" then
    text = text.value or "" -- StringValue (snippet): inserted literally
  end
  return { range = item.range or { start = pos, ["end"] = pos }, newText = text or "" }
end

--- Cursor position (row 1-based, byte col) just after `edit` was applied.
local function end_of_edit(bufnr, edit, encoding)
  local lines = vim.split(edit.newText, "\n", true)
  local start = edit.range.start
  local row0 = start.line + #lines - 1
  local text = get_line(bufnr, row0)
  local col
  if #lines == 1 then
    local start_byte = to_byte_col(get_line(bufnr, start.line), start.character, encoding)
    col = start_byte + #lines[1]
  else
    col = #lines[#lines]
  end
  return row0 + 1, math.min(col, #text)
end

--- The part of a suggestion a partial accept takes: "word" (leading blanks plus one
--- identifier or one run of punctuation) or "line" (up to the end of its first line).
function M.partial_text(text, kind)
  if kind == "line" then
    return text:match("^\n?[^\n]*") or text
  end
  return text:match("^%s*[%w_]+") or text:match("^%s*[^%w_%s]+") or text
end

--- Tell the server the user took an item (its `cl-lsp.accepted` command): whole, or
--- `chars` characters of it (a partial accept). `done` runs after the server's answer.
local function report_accept(client, item, bufnr, chars, done)
  local command = type(item.command) == "table" and item.command or nil
  if not command or not command.command then
    return done()
  end
  local arguments = command.arguments or {}
  if chars ~= nil and command.command == "cl-lsp.accepted" then
    arguments = { arguments[1], { chars = chars } }
  end
  request(client, "workspace/executeCommand", { command = command.command, arguments = arguments },
    function() done() end, bufnr)
end

--- Ask for completions at a position and apply the first item.
--- opts: bufnr, line (0-based), col (0-based byte col; default cursor),
---       method ("completion" (default): textDocument/completion, first item's textEdit;
---               "inline": textDocument/inlineCompletion, first item's insertText/range),
---       partial ("word" | "line": apply only that much of it, reported as a partial accept),
---       callback(ok, err_or_item), move_cursor (default true when using the cursor).
--- The applied item's command (`cl-lsp.accepted`) is run: acceptance statistics.
function M.complete(opts)
  opts = opts or {}
  local bufnr = opts.bufnr or vim.api.nvim_get_current_buf()
  if bufnr == 0 then
    bufnr = vim.api.nvim_get_current_buf()
  end
  local cb = opts.callback or function(ok, info)
    if not ok then
      vim.notify("cl-lsp: " .. tostring(info), vim.log.levels.WARN)
    end
  end
  local client = M.client(bufnr)
  if not client then
    return cb(false, "no cl-lsp client attached to this buffer")
  end
  local line0, col = opts.line, opts.col
  local use_cursor = line0 == nil
  if use_cursor then
    local cur = vim.api.nvim_win_get_cursor(0)
    line0, col = cur[1] - 1, cur[2]
    -- In insert mode the cursor sits *before* col; in normal mode complete after the char.
    if vim.api.nvim_get_mode().mode:sub(1, 1) ~= "i" and #get_line(bufnr, line0) > 0 then
      col = col + 1
    end
  end
  local encoding = encoding_of(client)
  local pos = { line = line0, character = to_lsp_col(get_line(bufnr, line0), col, encoding) }
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    position = pos,
    context = { triggerKind = 1 }, -- Invoked (same value for both methods)
  }
  local inline = opts.method == "inline"
  local method = inline and "textDocument/inlineCompletion" or "textDocument/completion"
  local tick = vim.api.nvim_buf_get_changedtick(bufnr)
  request(client, method, params, function(err, result)
    if err then
      return cb(false, err.message or vim.inspect(err))
    end
    local items = result and (result.items or result) or {}
    local item = items[1]
    if not item then
      return cb(false, "no completion")
    end
    if vim.api.nvim_buf_get_changedtick(bufnr) ~= tick then
      return cb(false, "buffer changed while waiting for the completion")
    end
    local edit = inline and inline_edit(item, pos) or item_edit(item, pos)
    local taken
    if opts.partial then
      -- Only the beginning: insert it, leave what the full edit would have replaced.
      local part = M.partial_text(edit.newText, opts.partial)
      if part ~= edit.newText then
        taken = vim.fn.strchars(part)
        edit = { range = { start = edit.range.start, ["end"] = edit.range.start }, newText = part }
      end
    end
    local edits = { edit }
    for _, e in ipairs(item.additionalTextEdits or {}) do
      table.insert(edits, e)
    end
    vim.lsp.util.apply_text_edits(edits, bufnr, encoding)
    if opts.move_cursor ~= false and use_cursor and vim.api.nvim_get_current_buf() == bufnr then
      local row, c = end_of_edit(bufnr, edit, encoding)
      pcall(vim.api.nvim_win_set_cursor, 0, { row, c })
    end
    report_accept(client, item, bufnr, taken, function() cb(true, item) end)
  end, bufnr)
end

--- Acceptance statistics (`cl-lsp.stats`) for a period ("7d", "12h", "all"): callback(err, stats).
function M.stats(since, callback)
  local bufnr = vim.api.nvim_get_current_buf()
  local client = M.client(bufnr)
  if not client then
    return callback("no cl-lsp client attached to this buffer")
  end
  request(client, "workspace/executeCommand", { command = "cl-lsp.stats", arguments = { { since = since or "7d" } } },
    function(err, result) callback(err, result) end, bufnr)
end

--- Omnifunc (vim.lsp.omnifunc) accepts: run the chosen cl-lsp item's accept command.
local function on_complete_done(bufnr)
  local done = vim.v.completed_item
  local data = type(done) == "table" and done.user_data
  if type(data) == "string" and data ~= "" then
    local ok, decoded = pcall(vim.json.decode, data)
    data = ok and decoded or nil
  end
  local nvim = type(data) == "table" and data.nvim
  local lsp = type(nvim) == "table" and nvim.lsp
  local item = type(lsp) == "table" and lsp.completion_item or nil
  local client = M.client(bufnr)
  if item and client and type(item.command) == "table" and item.command.command == "cl-lsp.accepted" then
    report_accept(client, item, bufnr, nil, function() end)
  end
end

-- ---------------------------------------------------------------------------
-- Code actions

local function apply_action(client, action, bufnr, cb)
  local function run_command(command)
    if not command then
      return cb(true, action)
    end
    local cmd = type(command) == "table" and command or action
    request(client, "workspace/executeCommand", { command = cmd.command, arguments = cmd.arguments }, function(err)
      if err then
        return cb(false, err.message or vim.inspect(err))
      end
      cb(true, action)
    end, bufnr)
  end
  if type(action.command) == "string" and action.edit == nil and action.kind == nil then
    return run_command(action) -- a bare Command
  end
  if action.edit then
    vim.lsp.util.apply_workspace_edit(action.edit, encoding_of(client))
  end
  run_command(action.command)
end

--- Request code actions at a position and apply the first whose title contains `title`.
--- opts: bufnr, line (0-based), col (0-based byte col), title (plain substring),
---       callback(ok, action_or_err). Without `title` it defers to vim.lsp.buf.code_action().
function M.code_action(opts)
  opts = opts or {}
  if not opts.title then
    return vim.lsp.buf.code_action()
  end
  local bufnr = opts.bufnr or vim.api.nvim_get_current_buf()
  local cb = opts.callback or function(ok, info)
    if not ok then
      vim.notify("cl-lsp: " .. tostring(info), vim.log.levels.WARN)
    end
  end
  local client = M.client(bufnr)
  if not client then
    return cb(false, "no cl-lsp client attached to this buffer")
  end
  local line0, col = opts.line, opts.col
  if line0 == nil then
    local cur = vim.api.nvim_win_get_cursor(0)
    line0, col = cur[1] - 1, cur[2]
  end
  local encoding = encoding_of(client)
  local character = to_lsp_col(get_line(bufnr, line0), col or 0, encoding)
  -- All diagnostics on the line (any source), as LSP diagnostics, like VS Code sends.
  local diagnostics = {}
  if vim.lsp.diagnostic.from then -- 0.10+
    diagnostics = vim.lsp.diagnostic.from(vim.diagnostic.get(bufnr, { lnum = line0 }))
  elseif vim.lsp.diagnostic.get_line_diagnostics then
    local ok, d = pcall(vim.lsp.diagnostic.get_line_diagnostics, bufnr, line0)
    if ok and d then
      diagnostics = d
    end
  end
  local pos = { line = line0, character = character }
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    range = { start = pos, ["end"] = pos },
    context = { diagnostics = diagnostics },
  }
  request(client, "textDocument/codeAction", params, function(err, actions)
    if err then
      return cb(false, err.message or vim.inspect(err))
    end
    local chosen
    for _, a in ipairs(actions or {}) do
      if a.title and a.title:find(opts.title, 1, true) then
        chosen = a
        break
      end
    end
    if not chosen then
      local titles = {}
      for _, a in ipairs(actions or {}) do
        table.insert(titles, a.title)
      end
      return cb(false, "no code action matching '" .. opts.title .. "' (got: " .. table.concat(titles, ", ") .. ")")
    end
    local caps = client.server_capabilities or {}
    local resolvable = type(caps.codeActionProvider) == "table" and caps.codeActionProvider.resolveProvider
    if not chosen.edit and resolvable and type(chosen.command) ~= "string" then
      request(client, "codeAction/resolve", chosen, function(rerr, resolved)
        if rerr then
          return cb(false, rerr.message or vim.inspect(rerr))
        end
        apply_action(client, resolved or chosen, bufnr, cb)
      end, bufnr)
    else
      apply_action(client, chosen, bufnr, cb)
    end
  end, bufnr)
end

-- ---------------------------------------------------------------------------
-- Show context (workspace/executeCommand cl-lsp.showContext)

function M.show_context()
  local bufnr = vim.api.nvim_get_current_buf()
  local client = M.client(bufnr)
  if not client then
    return vim.notify("cl-lsp: no client attached", vim.log.levels.WARN)
  end
  local cur = vim.api.nvim_win_get_cursor(0)
  local encoding = encoding_of(client)
  -- cl-lsp.showContext(uri, {line, character}): two positional arguments.
  local args = {
    vim.uri_from_bufnr(bufnr),
    { line = cur[1] - 1, character = to_lsp_col(get_line(bufnr, cur[1] - 1), cur[2], encoding) },
  }
  request(client, "workspace/executeCommand", { command = "cl-lsp.showContext", arguments = args }, function(err, result)
    if err then
      return vim.notify("cl-lsp.showContext: " .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
    end
    local text = type(result) == "string" and result
      or (type(result) == "table" and type(result.text) == "string" and result.text)
      or vim.inspect(result)
    vim.cmd("botright new")
    local buf = vim.api.nvim_get_current_buf()
    vim.bo[buf].buftype = "nofile"
    vim.bo[buf].bufhidden = "wipe"
    vim.bo[buf].swapfile = false
    vim.api.nvim_buf_set_lines(buf, 0, -1, false, vim.split(text, "\n", true))
    vim.bo[buf].modifiable = false
    pcall(vim.api.nvim_buf_set_name, buf, "cl-lsp://context")
  end, bufnr)
end

-- ---------------------------------------------------------------------------
-- Enable / disable

function M.is_enabled()
  local c = (M.config.settings or {}).completion
  return not (type(c) == "table" and c.enabled == false)
end

--- Turn completions on/off: sets completion.enabled and tells the server.
function M.set_enabled(enabled)
  M.config.settings = M.config.settings or {}
  if type(M.config.settings.completion) ~= "table" then
    M.config.settings.completion = {}
  end
  M.config.settings.completion.enabled = enabled
  for _, client in ipairs(get_clients(nil)) do
    client.config.settings = settings_table()
    notify_client(client, "workspace/didChangeConfiguration", { settings = settings_table() })
  end
  if vim.lsp.inline_completion and M.config.inline then
    pcall(vim.lsp.inline_completion.enable, enabled)
  end
  vim.notify("cl-lsp completions " .. (enabled and "on" or "off"))
end

function M.toggle()
  M.set_enabled(not M.is_enabled())
end

--- Short status string for a statusline: "cl-lsp: ready codellama-7b (cpu)".
function M.statusline()
  local s = M.state
  local parts = { "cl-lsp:", s.state or "?" }
  if s.model then
    local name = s.model:gsub("^.*[/\\]", ""):gsub("%.gguf$", "")
    if #name > 32 then
      name = name:sub(1, 31) .. "…"
    end
    table.insert(parts, name)
  end
  if s.backend then
    table.insert(parts, "(" .. s.backend .. ")")
  end
  if s.progress then
    table.insert(parts, string.format("%d%%", s.progress))
  end
  return table.concat(parts, " ")
end

-- ---------------------------------------------------------------------------
-- Attach

local function on_attach(client, bufnr)
  if M.config.omnifunc then
    vim.bo[bufnr].omnifunc = "v:lua.vim.lsp.omnifunc"
  end
  if M.config.inline and vim.lsp.inline_completion and supports(client, "textDocument/inlineCompletion") then
    pcall(vim.lsp.inline_completion.enable, M.is_enabled(), { bufnr = bufnr })
    local key = M.config.keymaps and M.config.keymaps.accept_inline
    if key then
      vim.keymap.set("i", key, function()
        if not vim.lsp.inline_completion.get() then
          return key
        end
      end, { buffer = bufnr, expr = true, replace_keycodes = true, desc = "cl-lsp: accept inline completion" })
    end
  end
  vim.api.nvim_create_autocmd("CompleteDone", {
    buffer = bufnr,
    callback = function() pcall(on_complete_done, bufnr) end,
  })
  local ck = M.config.keymaps and M.config.keymaps.complete
  if ck then
    vim.keymap.set("i", ck, function()
      M.complete({ bufnr = bufnr })
    end, { buffer = bufnr, desc = "cl-lsp: complete at cursor" })
  end
  if M.config.on_attach then
    M.config.on_attach(client, bufnr)
  end
end

local function make_config(bufnr)
  local capabilities = vim.lsp.protocol.make_client_capabilities()
  if M.config.capabilities then
    capabilities = vim.tbl_deep_extend("force", capabilities, M.config.capabilities)
  end
  local root = find_root(bufnr)
  return {
    name = NAME,
    cmd = M.config.cmd,
    root_dir = root,
    workspace_folders = { { uri = vim.uri_from_fname(root), name = root } },
    settings = settings_table(),
    init_options = section_settings(),
    capabilities = capabilities,
    handlers = vim.tbl_extend("force", handlers, M.config.handlers or {}),
    on_init = function(client)
      if not status_pushed then
        M.state = { state = "running" }
        fire_status()
      end
      notify_client(client, "workspace/didChangeConfiguration", { settings = settings_table() })
      vim.defer_fn(function()
        poll_status(client, 600)
      end, 0)
    end,
    on_exit = function(code, signal)
      M.state = { state = "stopped", exit_code = code, exit_signal = signal }
      vim.schedule(fire_status)
    end,
    on_attach = on_attach,
  }
end

local legacy_clients = {} -- root_dir -> client_id (Neovim < 0.8)

--- Start (or reuse) the client for this buffer's root and attach the buffer.
function M.attach(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  if vim.bo[bufnr].buftype ~= "" then
    return nil
  end
  local config = make_config(bufnr)
  if not M.client(nil) then
    M.state = { state = "starting" }
  end
  if vim.lsp.start then
    return vim.lsp.start(config, { bufnr = bufnr })
  end
  local id = legacy_clients[config.root_dir]
  local client = id and vim.lsp.get_client_by_id(id)
  if not client or is_stopped(client) then
    id = vim.lsp.start_client(config)
    if not id then
      vim.notify("cl-lsp: failed to start " .. table.concat(config.cmd, " "), vim.log.levels.ERROR)
      return nil
    end
    legacy_clients[config.root_dir] = id
  end
  vim.lsp.buf_attach_client(bufnr, id)
  return id
end

local function filetype_matches(ft)
  local fts = M.config.filetypes or M.default_filetypes
  if fts == "*" then
    return ft ~= ""
  end
  for _, f in ipairs(fts) do
    if f == "*" or f == ft then
      return true
    end
  end
  return false
end

function M.setup(opts)
  opts = opts or {}
  local settings = opts.settings
  if settings and settings[SECTION] ~= nil then
    settings = settings[SECTION] -- accept { ["cl-lsp"] = { ... } } too
  end
  M.config = vim.tbl_deep_extend("force", M.config, opts)
  M.config.settings = settings and vim.deepcopy(settings) or M.config.settings
  if opts.filetypes then
    M.config.filetypes = opts.filetypes -- lists replace, not merge
  end
  if opts.cmd then
    M.config.cmd = opts.cmd
  end

  local group = vim.api.nvim_create_augroup("cl_lsp", { clear = true })
  vim.api.nvim_create_autocmd("FileType", {
    group = group,
    callback = function(args)
      if filetype_matches(vim.bo[args.buf].filetype) then
        M.attach(args.buf)
      end
    end,
  })

  vim.api.nvim_create_user_command("ClLspComplete", function(a)
    M.complete({ method = a.args == "inline" and "inline" or "completion" })
  end, {
    nargs = "?",
    complete = function() return { "completion", "inline" } end,
    desc = "cl-lsp: complete at cursor and apply the first item ([inline]: use textDocument/inlineCompletion)",
  })
  vim.api.nvim_create_user_command("ClLspAcceptWord", function()
    M.complete({ partial = "word" })
  end, { desc = "cl-lsp: insert the next word of the suggestion at the cursor" })
  vim.api.nvim_create_user_command("ClLspAcceptLine", function()
    M.complete({ partial = "line" })
  end, { desc = "cl-lsp: insert the first line of the suggestion at the cursor" })
  vim.api.nvim_create_user_command("ClLspStats", function(a)
    M.stats(a.args ~= "" and a.args or "7d", function(err, st)
      if err or type(st) ~= "table" or not st.total then
        return vim.notify("cl-lsp stats: " .. vim.inspect(err or st), vim.log.levels.WARN)
      end
      local t = st.total
      print(string.format("cl-lsp: %d shown, %d accepted + %d partly (%.1f%%), %d characters, p50 %.0f ms",
        t.shown, t.accepted, t.partial, 100 * t.acceptance_rate, t.accepted_chars, t.latency_p50_ms))
    end)
  end, { nargs = "?", desc = "cl-lsp: acceptance statistics ([period]: 7d, 12h, all)" })
  vim.api.nvim_create_user_command("ClLspCodeAction", function(a)
    M.code_action({ title = a.args ~= "" and a.args or nil })
  end, { nargs = "?", desc = "cl-lsp: code actions (optionally apply the one whose title contains ARG)" })
  vim.api.nvim_create_user_command("ClLspShowContext", M.show_context, { desc = "cl-lsp: show the prompt context" })
  vim.api.nvim_create_user_command("ClLspToggle", M.toggle, { desc = "cl-lsp: completions on/off" })
  vim.api.nvim_create_user_command("ClLspStatus", function()
    print(M.statusline())
  end, { desc = "cl-lsp: show status" })

  -- Buffers already open when setup() runs.
  for _, buf in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(buf) and filetype_matches(vim.bo[buf].filetype) then
      M.attach(buf)
    end
  end
end

return M
