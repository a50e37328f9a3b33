-- Headless end-to-end driver for the cl-lsp Neovim client. Run it through run.sh.
--
-- Environment (all read here):
--   CL_LSP_CMD         server command, split on whitespace (default "cl-lsp --stdio")
--   CL_LSP_FILE        file to open (required)
--   CL_LSP_LINE        1-based line of the request position (required)
--   CL_LSP_COL         0-based byte column of the request position (required; may equal
--                      the line's length, i.e. end of line)
--   CL_LSP_OUT         where to write the buffer text afterwards (required)
--   CL_LSP_ACTION      optional: apply the first code action whose title contains this
--                      plain substring (resolving it with codeAction/resolve when it has
--                      no edit) instead of completing
--   CL_LSP_METHOD      optional: "auto" (default: completion when the server offers
--                      textDocument/completion, else inline), "completion" (first item's
--                      textEdit) or "inline" (textDocument/inlineCompletion, first item's
--                      insertText over its range; works on any Neovim version)
--   CL_LSP_RETRY       optional: "0" = one attempt; by default an empty answer (model still
--                      loading) is retried every 0.5 s until the timeout
--   CL_LSP_SETTINGS    optional: JSON object, the "cl-lsp" settings section
--   CL_LSP_ITEM_OUT    optional: write the applied completion item / code action as JSON
--   CL_LSP_PARTIAL     optional: "word" or "line": apply only that much (a partial accept)
--   CL_LSP_STATS_OUT   optional: afterwards, write the server's `cl-lsp.stats` (all kept) as JSON
--   CL_LSP_TIMEOUT_MS  optional: per-phase timeout (attach, request), default 60000
-- Exit status: 0 when the edit was applied and CL_LSP_OUT written, 1 otherwise.

local uv = vim.uv or vim.loop

local function log(msg)
  io.stderr:write("cl-lsp smoke: " .. msg .. "\n")
end

local function all_clients()
  return vim.lsp.get_clients and vim.lsp.get_clients() or vim.lsp.get_active_clients()
end

local function finish(code)
  for _, c in ipairs(all_clients()) do
    if vim.fn.has("nvim-0.11") == 1 then c:stop() else c.stop() end
  end
  vim.wait(3000, function() return #all_clients() == 0 end, 50)
  if code == 0 then
    vim.cmd("qall!")
  else
    vim.cmd("cquit " .. code)
  end
end

local function lsp_log_path()
  local log = require("vim.lsp.log")
  if log.get_filename then
    return log.get_filename()
  end
  return vim.lsp.get_log_path()
end

local function fail(msg)
  log("FAIL: " .. msg)
  -- The client's log holds the server's stderr: show its tail (the file is in a temp dir).
  local ok, path = pcall(lsp_log_path)
  local f = ok and io.open(path, "rb")
  if f then
    local lines = vim.split(f:read("*a"), "\n", true)
    f:close()
    log("last lines of " .. path .. ":")
    for i = math.max(1, #lines - 30), #lines do
      io.stderr:write("  " .. lines[i]:sub(1, 400) .. "\n")
    end
  end
  finish(1)
end

local function main()
  local env = function(k) local v = os.getenv(k); return (v ~= nil and v ~= "") and v or nil end
  local file, out = env("CL_LSP_FILE"), env("CL_LSP_OUT")
  local line, col = tonumber(env("CL_LSP_LINE") or ""), tonumber(env("CL_LSP_COL") or "")
  if not file or not out or not line or not col then
    return fail("CL_LSP_FILE, CL_LSP_LINE, CL_LSP_COL and CL_LSP_OUT are required")
  end
  if vim.fn.filereadable(file) ~= 1 then
    return fail("cannot read " .. file)
  end
  local timeout = tonumber(env("CL_LSP_TIMEOUT_MS") or "") or 60000
  local cmd = vim.split(env("CL_LSP_CMD") or "cl-lsp --stdio", "%s+", false)
  cmd = vim.tbl_filter(function(s) return s ~= "" end, cmd)
  local settings = {}
  if env("CL_LSP_SETTINGS") then
    local ok, decoded = pcall(vim.json.decode, env("CL_LSP_SETTINGS"))
    if not ok or type(decoded) ~= "table" then
      return fail("CL_LSP_SETTINGS is not a JSON object")
    end
    settings = decoded
  end
  if vim.fn.executable(cmd[1]) ~= 1 then
    return fail("server command not executable: " .. cmd[1])
  end

  vim.cmd("filetype on")
  local cl = require("cl_lsp")
  -- Record window/showMessage errors (e.g. the model failed to load) to fail fast.
  local server_error
  local show = vim.lsp.handlers["window/showMessage"]
  local handlers = {
    ["window/showMessage"] = function(err, result, ctx, config)
      if type(result) == "table" then
        log("server message (type " .. tostring(result.type) .. "): " .. tostring(result.message))
        if result.type == 1 then
          server_error = result.message
        end
      end
      return show(err, result, ctx, config)
    end,
  }
  cl.setup({
    cmd = cmd,
    settings = settings,
    filetypes = "*",
    handlers = handlers,
    keymaps = { complete = false, accept_inline = false },
  })

  vim.cmd("edit " .. vim.fn.fnameescape(file))
  local bufnr = vim.api.nvim_get_current_buf()
  if not cl.client(bufnr) then
    cl.attach(bufnr) -- unknown filetype: attach anyway
  end

  local attached = vim.wait(timeout, function()
    local c = cl.client(bufnr)
    return (c ~= nil and c.initialized == true) or cl.state.state == "stopped"
  end, 20)
  if cl.state.state == "stopped" then
    return fail(string.format("server exited (code %s, signal %s): %s", tostring(cl.state.exit_code),
      tostring(cl.state.exit_signal), table.concat(cmd, " ")))
  end
  if not attached then
    return fail("client did not attach/initialize within " .. timeout .. " ms (" .. table.concat(cmd, " ") .. ")")
  end
  log("attached: " .. table.concat(cmd, " ") .. " (" .. (cl.client(bufnr).offset_encoding or "?") .. ")")

  local nlines = vim.api.nvim_buf_line_count(bufnr)
  if line < 1 or line > nlines then
    return fail(string.format("CL_LSP_LINE %d outside 1..%d", line, nlines))
  end
  local text = vim.api.nvim_buf_get_lines(bufnr, line - 1, line, false)[1]
  if col < 0 or col > #text then
    return fail(string.format("CL_LSP_COL %d outside 0..%d on line %d", col, #text, line))
  end

  local action = env("CL_LSP_ACTION")
  local method = env("CL_LSP_METHOD") or "auto"
  if method == "auto" then
    -- Servers drop completionProvider for clients with inline completion (Neovim 0.12+).
    local caps = cl.client(bufnr).server_capabilities or {}
    method = caps.completionProvider and "completion" or (caps.inlineCompletionProvider and "inline") or "completion"
  end
  if method ~= "completion" and method ~= "inline" then
    return fail("CL_LSP_METHOD must be auto, completion or inline")
  end
  local retry = env("CL_LSP_RETRY") ~= "0"
  local deadline = uv.now() + timeout
  local ok, info
  local attempts = 0
  while true do
    attempts = attempts + 1
    local done = false
    local cb = function(o, i) done, ok, info = true, o, i end
    if action then
      cl.code_action({ bufnr = bufnr, line = line - 1, col = col, title = action, callback = cb })
    else
      cl.complete({ bufnr = bufnr, line = line - 1, col = col, method = method, callback = cb,
        partial = env("CL_LSP_PARTIAL") })
    end
    if not vim.wait(math.max(0, deadline - uv.now()), function() return done end, 20) then
      return fail((action and "code action" or method) .. " timed out after " .. timeout .. " ms")
    end
    if server_error then
      return fail("server error message: " .. server_error)
    end
    if cl.state.state == "error" then
      return fail("server reported an error: " .. tostring(cl.state.message))
    end
    -- An empty answer while the model loads: ask again until the deadline.
    local empty = info == "no completion" or (type(info) == "string" and info:find("^no code action matching"))
    if ok or not empty or not retry or uv.now() + 500 >= deadline then
      break
    end
    vim.wait(500, function() return false end)
  end
  log(string.format("%s after %d attempt(s)", action and "code action" or method, attempts))
  if not ok then
    return fail(tostring(info))
  end
  -- Let edits queued with vim.schedule land (workspace/applyEdit, command side effects).
  vim.wait(50, function() return false end)

  local lines = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
  local content = table.concat(lines, "\n")
  if vim.bo[bufnr].eol or vim.bo[bufnr].fixeol then
    content = content .. "\n"
  end
  local f, err = io.open(out, "wb")
  if not f then
    return fail("cannot write " .. out .. ": " .. tostring(err))
  end
  f:write(content)
  f:close()
  if env("CL_LSP_ITEM_OUT") then
    local jf = io.open(env("CL_LSP_ITEM_OUT"), "wb")
    if jf then
      jf:write(vim.json.encode(info))
      jf:close()
    end
  end
  if env("CL_LSP_STATS_OUT") then
    local got, stats_err, stats
    cl.stats("all", function(e, r) got, stats_err, stats = true, e, r end)
    if not vim.wait(timeout, function() return got end, 20) or stats_err then
      return fail("cl-lsp.stats failed: " .. vim.inspect(stats_err))
    end
    local sf = io.open(env("CL_LSP_STATS_OUT"), "wb")
    if sf then
      sf:write(vim.json.encode(stats))
      sf:close()
    end
  end
  log("OK: applied " .. (action and ("code action '" .. tostring(info.title) .. "'") or ("completion '" .. tostring(info.label or info.insertText) .. "'")))
  finish(0)
end

local ok, err = xpcall(main, debug.traceback)
if not ok then
  fail("error: " .. tostring(err))
end
