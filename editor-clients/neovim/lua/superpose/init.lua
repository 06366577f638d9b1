--- superpose.nvim: Neovim client for the superpose-ls language server.
---
--- Registers `superpose-ls` with Neovim's built-in LSP client (vim.lsp.start on 0.8+,
--- vim.lsp.start_client + buf_attach_client on 0.7), draws ghost text while you type
--- (superpose.ghost: extmarks, Neovim 0.7+) with accept / accept-word / accept-line / cycle /
--- dismiss keys, enables completion (vim.lsp.completion on 0.11+, omnifunc otherwise), and
--- adds :SuperposeToggle, :SuperposeSnooze, :SuperposeSuggest, :SuperposeDrafts,
--- :SuperposeToggleMonitor, :SuperposeToggleRepetitionPenalty, :SuperposeSetDrafts,
--- :SuperposeStatus, :SuperposeReindex and a statusline component. The command shapes
--- follow DESIGN.md section 2.
local M = {}

local NAME = 'superpose'
local ghost = require('superpose.ghost')
M.ghost = ghost

---@class superpose.Keymaps  insert-mode keys (false disables one); they act only while
---ghost text is shown and otherwise do what the key did before
---@field accept string|false       accept the whole draft
---@field accept_word string|false  accept the next word
---@field accept_line string|false  accept the next line
---@field next string|false         next draft
---@field prev string|false         previous draft
---@field dismiss string|false      hide the ghost text
---@field suggest string|false      ask for ghost text now (also in manual mode)
---@field drafts string|false       normal/insert-mode key for :SuperposeDrafts

---@class superpose.Config
---@field cmd string[]|fun(...): table  server command (or an RPC factory such as vim.lsp.rpc.connect)
---@field tcp {host: string?, port: integer}|nil  connect to `superpose-ls serve --tcp --port N`
---@field filetypes string[]
---@field root_markers string[]
---@field settings table  server settings (DESIGN.md section 2), sent as initializationOptions
---@field completion boolean  enable LSP completion (vim.lsp.completion or omnifunc)
---@field autotrigger boolean  vim.lsp.completion autotrigger (Neovim >= 0.11)
---@field ghost_text boolean  draw ghost text while typing (superpose.ghost)
---@field keymaps superpose.Keymaps
---@field slow_ms integer  the statusline says "slow" when ghost text took longer than this
---@field request_timeout_ms integer  warn when :SuperposeDrafts gets no answer in this time
---@field on_attach fun(client: table, bufnr: integer)|nil
M.defaults = {
  cmd = { 'superpose-ls' },
  tcp = nil,
  -- the shipped model is trained on Python; add javascript/typescript with a bigger model
  filetypes = { 'python' },
  root_markers = { '.git', 'pyproject.toml', 'setup.py', 'package.json', 'tsconfig.json' },
  settings = {},
  completion = true,
  autotrigger = false,
  ghost_text = true,
  keymaps = {
    accept = '<M-l>',
    accept_word = '<M-Right>',
    accept_line = '<M-C-Right>',
    next = '<M-n>',
    prev = '<M-p>',
    dismiss = '<C-]>',
    suggest = '<M-\\>',
    drafts = '<M-d>',
  },
  slow_ms = 1000,
  request_timeout_ms = 30000,
  on_attach = nil,
}

M.config = vim.deepcopy(M.defaults)

-- Compatibility helpers (Neovim 0.7 .. 0.12) ---------------------------------------------

local function has(feature)
  return vim.fn.has(feature) == 1
end

local function notify(message, level)
  vim.notify('[superpose] ' .. message, level or vim.log.levels.INFO)
end

--- Returns the superpose clients attached to `bufnr` (0 = current buffer).
function M.clients(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  if vim.lsp.get_clients then
    return vim.lsp.get_clients({ bufnr = bufnr, name = NAME })
  end
  local out = {}
  for _, client in pairs(vim.lsp.buf_get_clients(bufnr)) do
    if client.name == NAME then
      table.insert(out, client)
    end
  end
  return out
end

--- Returns the superpose client of `bufnr`, or nil with a message.
function M.client(bufnr)
  local client = M.clients(bufnr)[1]
  if client == nil then
    notify('no superpose-ls client attached to this buffer', vim.log.levels.WARN)
  end
  return client
end

--- Sends a request through a client object (method-call style on 0.11+, field style before).
local function client_request(client, method, params, handler, bufnr)
  if has('nvim-0.11') then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

local function client_notify(client, method, params)
  if has('nvim-0.11') then
    return client:notify(method, params)
  end
  return client.notify(method, params)
end

--- Returns the project root of a file: the nearest directory holding a root marker.
local function root_dir_of(bufnr)
  local path = vim.api.nvim_buf_get_name(bufnr)
  local dir = path ~= '' and vim.fn.fnamemodify(path, ':p:h') or vim.fn.getcwd()
  local current = dir
  while current ~= nil and current ~= '' do
    for _, marker in ipairs(M.config.root_markers) do
      if vim.fn.isdirectory(current .. '/' .. marker) == 1 or vim.fn.filereadable(current .. '/' .. marker) == 1 then
        return current
      end
    end
    local parent = vim.fn.fnamemodify(current, ':h')
    if parent == current then
      break
    end
    current = parent
  end
  return dir
end

--- Returns the settings table with the nested `superpose` form unwrapped.
local function server_settings()
  local settings = M.config.settings or {}
  if type(settings.superpose) == 'table' then
    return settings.superpose
  end
  return settings
end

--- An empty Lua table is encoded as a JSON list ([]): send an empty object instead.
local function json_object(tbl)
  if next(tbl) == nil then
    return vim.empty_dict()
  end
  return tbl
end

local function server_cmd()
  local tcp = M.config.tcp
  if tcp ~= nil then
    if not (vim.lsp.rpc and vim.lsp.rpc.connect) then
      error('superpose: TCP needs Neovim >= 0.8 (vim.lsp.rpc.connect)')
    end
    return vim.lsp.rpc.connect(tcp.host or '127.0.0.1', tcp.port)
  end
  return M.config.cmd
end

-- Attaching ------------------------------------------------------------------------------

local function map(bufnr, mode, lhs, rhs, desc)
  if lhs and lhs ~= '' then
    vim.keymap.set(mode, lhs, rhs, { buffer = bufnr, desc = desc, silent = true })
  end
end

--- An insert-mode key that acts on the ghost text when one is shown and otherwise does
--- what it did before (the mapping is an expression returning <Cmd>… or the key itself).
local function ghost_map(bufnr, lhs, action, desc)
  if not lhs or lhs == '' then
    return
  end
  -- key notation, translated by replace_keycodes (pre-translated codes would be escaped)
  local rhs = string.format('<Cmd>lua require("superpose").ghost_action(%q)<CR>', action)
  vim.keymap.set('i', lhs, function()
    if action == 'suggest' or ghost.visible(bufnr) then
      return rhs
    end
    return lhs
  end, { buffer = bufnr, expr = true, silent = true, desc = desc, replace_keycodes = true })
end

--- Runs a ghost-text key's action (called from the insert-mode mappings).
function M.ghost_action(action)
  local bufnr = vim.api.nvim_get_current_buf()
  if action == 'accept' then
    ghost.accept(bufnr, 'full')
  elseif action == 'accept_word' then
    ghost.accept(bufnr, 'word')
  elseif action == 'accept_line' then
    ghost.accept(bufnr, 'line')
  elseif action == 'next' then
    ghost.cycle(bufnr, 1)
  elseif action == 'prev' then
    ghost.cycle(bufnr, -1)
  elseif action == 'dismiss' then
    ghost.dismiss(bufnr)
  elseif action == 'suggest' then
    ghost.request(bufnr, 'invoked')
  end
end

--- Enables completion and ghost text for a buffer the client attached to.
local function on_attach(client, bufnr)
  if M.config.completion then
    if vim.lsp.completion and vim.lsp.completion.enable then
      vim.lsp.completion.enable(true, client.id, bufnr, { autotrigger = M.config.autotrigger })
    else
      vim.bo[bufnr].omnifunc = 'v:lua.vim.lsp.omnifunc'
    end
  end
  if M.config.ghost_text then
    ghost.attach(bufnr)
    local keys = M.config.keymaps
    ghost_map(bufnr, keys.accept, 'accept', 'Superpose: accept the draft')
    ghost_map(bufnr, keys.accept_word, 'accept_word', 'Superpose: accept the next word')
    ghost_map(bufnr, keys.accept_line, 'accept_line', 'Superpose: accept the next line')
    ghost_map(bufnr, keys.next, 'next', 'Superpose: next draft')
    ghost_map(bufnr, keys.prev, 'prev', 'Superpose: previous draft')
    ghost_map(bufnr, keys.dismiss, 'dismiss', 'Superpose: hide the ghost text')
    ghost_map(bufnr, keys.suggest, 'suggest', 'Superpose: ghost text now')
  end
  map(bufnr, { 'n', 'i' }, M.config.keymaps.drafts, function()
    M.drafts()
  end, 'Superpose: pick a draft')
  M.watch_status(client, bufnr)
  if M.config.on_attach then
    M.config.on_attach(client, bufnr)
  end
end

--- Returns the vim.lsp client config for superpose-ls (usable with vim.lsp.config / lspconfig).
function M.client_config(bufnr)
  local settings = server_settings()
  return {
    name = NAME,
    cmd = server_cmd(),
    root_dir = root_dir_of(bufnr or vim.api.nvim_get_current_buf()),
    init_options = json_object(settings),
    settings = { superpose = json_object(settings) },
    on_attach = on_attach,
  }
end

local legacy_client_ids = {}

--- Starts (or reuses) the server for `bufnr` and attaches it; returns the client id.
function M.attach(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local config = M.client_config(bufnr)
  if vim.lsp.start then
    return vim.lsp.start(config, { bufnr = bufnr })
  end
  -- Neovim 0.7: one client per root directory.
  local id = legacy_client_ids[config.root_dir]
  if id == nil or vim.lsp.client_is_stopped(id) then
    id = vim.lsp.start_client(config)
    legacy_client_ids[config.root_dir] = id
  end
  if id then
    vim.lsp.buf_attach_client(bufnr, id)
  end
  return id
end

-- Server commands ------------------------------------------------------------------------

--- Runs `workspace/executeCommand` on the buffer's superpose client; `callback(err, result)`.
function M.execute(command, arguments, callback, bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local client = M.client(bufnr)
  if client == nil then
    return false
  end
  client_request(client, 'workspace/executeCommand', { command = command, arguments = arguments or {} }, function(err, result)
    if callback then
      callback(err, result, client)
    end
  end, bufnr)
  return true
end

--- Runs `workspace/executeCommand` and waits up to `timeout_ms`; returns result, err.
function M.execute_sync(command, arguments, timeout_ms, bufnr)
  local done, result, err = false, nil, nil
  local sent = M.execute(command, arguments, function(e, r)
    done, err, result = true, e, r
  end, bufnr)
  if not sent then
    return nil, 'no client'
  end
  local ok = vim.wait(timeout_ms or 10000, function()
    return done
  end, 20)
  if not ok then
    return nil, 'timeout'
  end
  return result, err
end

--- Returns the `superpose.drafts` arguments for the cursor of the current window.
function M.drafts_arguments(client)
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  return { { textDocument = params.textDocument, position = params.position } }
end

--- Returns the first non-empty line of a draft (what the picker shows).
function M.first_line(text)
  for _, line in ipairs(vim.split(text, '\n', { plain = true })) do
    if line:match('%S') then
      return line
    end
  end
  return '⏎'
end

--- Returns the picker line for a draft: "<first line>  [score -0.42, 3 lines]" (vim.ui.select
--- numbers the entries itself).
function M.format_draft(draft)
  local lines = #vim.split(draft.text, '\n', { plain = true })
  local score = type(draft.score) == 'number' and string.format('%.2f', draft.score) or 'n/a'
  local extra = lines > 1 and string.format(', %d lines', lines) or ''
  return string.format('%s  [score %s%s]', M.first_line(draft.text), score, extra)
end

--- Inserts `draft` into `bufnr` at its LSP range (or at `fallback_position`) and moves the cursor
--- to the end of the inserted text.
function M.insert_draft(bufnr, draft, encoding, fallback_position)
  local range = draft.range or { start = fallback_position, ['end'] = fallback_position }
  local start_col = vim.lsp.util._get_line_byte_from_position(bufnr, range.start, encoding)
  vim.lsp.util.apply_text_edits({ { range = range, newText = draft.text } }, bufnr, encoding)
  local lines = vim.split(draft.text, '\n', { plain = true })
  local row = range.start.line + #lines -- 1-based row of the last inserted line
  local col = #lines == 1 and start_col + #lines[1] or #lines[#lines]
  for _, win in ipairs(vim.fn.win_findbuf(bufnr)) do
    pcall(vim.api.nvim_win_set_cursor, win, { row, col })
  end
end

--- :SuperposeDrafts — asks for the drafts at the cursor, lets the user pick one with
--- vim.ui.select and inserts it. Fires `User SuperposeDraftInserted` with the draft as data.
function M.drafts()
  local bufnr = vim.api.nvim_get_current_buf()
  local client = M.client(bufnr)
  if client == nil then
    return
  end
  local arguments = M.drafts_arguments(client)
  local tick = vim.api.nvim_buf_get_changedtick(bufnr)
  local answered = false
  -- Neovim drops answers with code RequestCancelled (e.g. a request the server superseded):
  -- tell the user instead of waiting silently.
  vim.defer_fn(function()
    if not answered then
      notify('superpose.drafts got no answer (superseded or still running); try again', vim.log.levels.WARN)
    end
  end, M.config.request_timeout_ms)
  client_request(client, 'workspace/executeCommand', { command = 'superpose.drafts', arguments = arguments }, function(err, result)
    answered = true
    if err then
      notify('superpose.drafts failed: ' .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
      return
    end
    local drafts = result and result.drafts or {}
    if #drafts == 0 then
      notify('no drafts (the model may still be loading; see :SuperposeStatus)')
      return
    end
    table.sort(drafts, function(a, b)
      return (a.rank or 0) < (b.rank or 0)
    end)
    vim.ui.select(drafts, {
      prompt = string.format('Superpose drafts (%d):', #drafts),
      format_item = M.format_draft,
      kind = 'superpose.draft',
    }, function(choice)
      if choice == nil then
        return
      end
      if vim.api.nvim_buf_get_changedtick(bufnr) ~= tick then
        notify('the buffer changed; run :SuperposeDrafts again', vim.log.levels.WARN)
        return
      end
      M.insert_draft(bufnr, choice, client.offset_encoding, arguments[1].position)
      if choice.id ~= nil then
        client_request(client, 'workspace/executeCommand', { command = 'superpose.accept', arguments = { choice.id } }, function() end, bufnr)
      end
      M.last_inserted = choice
      -- `data` needs Neovim >= 0.8; 0.7 fires the event without it.
      if not pcall(vim.api.nvim_exec_autocmds, 'User', { pattern = 'SuperposeDraftInserted', data = choice }) then
        vim.api.nvim_exec_autocmds('User', { pattern = 'SuperposeDraftInserted' })
      end
    end)
  end, bufnr)
end

local function toggle(command, key, label)
  M.execute(command, {}, function(err, result)
    if err then
      notify(command .. ' failed: ' .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
    elseif type(result) == 'table' and type(result[key]) == 'boolean' then
      notify(label .. ': ' .. (result[key] and 'on' or 'off'))
    else
      notify(command .. ': ' .. vim.inspect(result))
    end
  end)
end

function M.toggle_monitor()
  toggle('superpose.toggleMonitor', 'monitor', 'monitor-guided decoding')
end

function M.toggle_repetition_penalty()
  toggle('superpose.toggleRepetitionPenalty', 'repetitionPenalty', 'repetition penalty')
end

function M.set_drafts(k)
  k = tonumber(k)
  if k == nil or k < 1 or k ~= math.floor(k) then
    notify('usage: :SuperposeSetDrafts K (a whole number >= 1)', vim.log.levels.WARN)
    return
  end
  M.execute('superpose.setDrafts', { k }, function(err, result)
    if err then
      notify('superpose.setDrafts failed: ' .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
    else
      notify('drafts = ' .. tostring(type(result) == 'table' and result.drafts or k))
    end
  end)
end

--- Returns the lines shown by :SuperposeStatus for a `superpose.status` answer.
function M.status_lines(status)
  if type(status) ~= 'table' then
    return { 'no status: ' .. vim.inspect(status) }
  end
  local lines = {
    'model:  ' .. tostring(status.model),
    'device: ' .. tostring(status.device),
    'state:  ' .. tostring(status.state),
  }
  if type(status.last_latency_ms) == 'number' then
    table.insert(lines, string.format('last completion: %d ms', math.floor(status.last_latency_ms + 0.5)))
  end
  -- latency_ms is either {p50 = .., p95 = ..} or per request kind {invoked = {p50 = ..}, ...}.
  if type(status.latency_ms) == 'table' then
    local parts = {}
    for key, value in pairs(status.latency_ms) do
      if type(value) == 'number' and key ~= 'count' then
        table.insert(parts, string.format('%s %s ms', key, tostring(value)))
      elseif type(value) == 'table' then
        for inner, ms in pairs(value) do
          if type(ms) == 'number' and inner ~= 'count' then
            table.insert(parts, string.format('%s %s %s ms', key, inner, tostring(ms)))
          end
        end
      end
    end
    table.sort(parts)
    if #parts > 0 then
      table.insert(lines, 'latency: ' .. table.concat(parts, ', '))
    end
  end
  if type(status.settings) == 'table' then
    table.insert(lines, 'settings: ' .. vim.inspect(status.settings, { newline = ' ', indent = '' }))
  end
  return lines
end

function M.status()
  M.execute('superpose.status', {}, function(err, result)
    if err then
      notify('superpose.status failed: ' .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
      return
    end
    notify(table.concat(M.status_lines(result), '\n'))
  end)
end

function M.reindex()
  M.execute('superpose.reindex', {}, function(err, result)
    if err then
      notify('superpose.reindex failed: ' .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
    else
      notify('reindexed: ' .. vim.inspect(result, { newline = ' ', indent = '' }))
    end
  end)
end

--- Changes server settings at run time (sent as workspace/didChangeConfiguration).
function M.update_settings(settings)
  M.config.settings = vim.tbl_deep_extend('force', server_settings(), settings or {})
  local payload = { settings = { superpose = json_object(M.config.settings) } }
  local seen = {}
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    for _, client in ipairs(M.clients(bufnr)) do
      if not seen[client.id] then
        seen[client.id] = true
        client.config.settings = payload.settings
        client_notify(client, 'workspace/didChangeConfiguration', payload)
      end
    end
  end
end

-- On/off, snooze, status --------------------------------------------------------------------

--- What the plugin knows of the server: model state, controls, activity, last latency.
M.state = {
  server = 'stopped', -- stopped | starting | loading | ready | error
  controls = { state = 'on' }, -- superpose.toggle / superpose.snooze answer
  inflight = 0,
  last_ms = nil,
}

local function changed_state()
  pcall(vim.cmd, 'redrawstatus')
  pcall(vim.api.nvim_exec_autocmds, 'User', { pattern = 'SuperposeStatusChanged', modeline = false })
end

--- Whether automatic ghost-text requests may leave for `bufnr` (the server decides too).
function M.automatic_allowed(bufnr)
  if vim.b[bufnr].superpose_enabled == false or vim.g.superpose_enabled == false then
    return false
  end
  if M.state.controls.state ~= 'on' then
    return false
  end
  local disabled = server_settings().disabledLanguages or {}
  return not vim.tbl_contains(disabled, vim.bo[bufnr].filetype)
end

function M.on_activity(event, data)
  if event == 'start' then
    M.state.inflight = M.state.inflight + 1
  else
    M.state.inflight = math.max(0, M.state.inflight - 1)
    if data.ms and not data.err then
      M.state.last_ms = data.ms
    end
  end
  changed_state()
end

local function take_status(status)
  if type(status) ~= 'table' then
    return
  end
  if type(status.state) == 'string' then
    M.state.server = status.state
  end
  if type(status.controls) == 'table' then
    M.state.controls = status.controls
  end
  changed_state()
end

local watching = {}

--- Polls superpose.status after attaching until the model is ready (or failed).
function M.watch_status(client, bufnr)
  if watching[client.id] then
    return
  end
  watching[client.id] = true
  M.state.server = 'loading'
  local timer = (vim.uv or vim.loop).new_timer()
  local busy = false
  timer:start(0, 500, vim.schedule_wrap(function()
    if busy then
      return
    end
    local stopped = vim.fn.has('nvim-0.11') == 1 and client:is_stopped() or
      vim.fn.has('nvim-0.11') == 0 and client.is_stopped()
    if stopped then
      timer:stop()
      timer:close()
      watching[client.id] = nil
      M.state.server = 'stopped'
      changed_state()
      return
    end
    busy = true
    client_request(client, 'workspace/executeCommand', { command = 'superpose.status', arguments = {} }, function(err, status)
      busy = false
      if err == nil then
        take_status(status)
      end
      if M.state.server == 'ready' or M.state.server == 'error' then
        if not timer:is_closing() then
          timer:stop()
          timer:close()
        end
      end
    end, bufnr)
  end))
end

--- The statusline component: `%{v:lua.require'superpose'.statusline()}` (empty when no
--- superpose client is attached to the current buffer).
function M.statusline()
  if #M.clients(0) == 0 then
    return ''
  end
  local st = M.state
  if st.server ~= 'ready' then
    return 'superpose: ' .. st.server
  end
  local controls = st.controls.state or 'on'
  if controls ~= 'on' then
    return 'superpose: ' .. controls
  end
  if vim.b.superpose_enabled == false then
    return 'superpose: off (buffer)'
  end
  if st.inflight > 0 then
    return 'superpose: …'
  end
  if st.last_ms then
    local ms = math.floor(st.last_ms + 0.5)
    if ms > M.config.slow_ms then
      return string.format('superpose: slow %d ms', ms)
    end
    return string.format('superpose %d ms', ms)
  end
  return 'superpose'
end

local function report_controls(err, result, what)
  if err then
    notify(what .. ' failed: ' .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
    return
  end
  if type(result) == 'table' then
    M.state.controls = result
    changed_state()
    local extra = ''
    if result.state == 'snoozed' then
      extra = string.format(' for %d min', math.ceil((result.snoozedSeconds or 0) / 60))
    end
    notify('ghost text: ' .. tostring(result.state) .. extra)
  end
end

--- :SuperposeToggle [on|off|manual|automatic] — no argument flips on/off. `manual`: ghost
--- text only when asked for (the suggest key). Applies to every buffer of the server.
function M.toggle(target)
  if target == '' then
    target = nil
  end
  local arguments = target and { target } or {}
  M.execute('superpose.toggle', arguments, function(err, result)
    report_controls(err, result, 'superpose.toggle')
    ghost.dismiss(0)
  end)
end

--- :SuperposeSnooze [minutes] — no automatic ghost text for a while (0 resumes; default 15).
function M.snooze(minutes)
  local n = tonumber(minutes ~= '' and minutes or nil) or 15
  M.execute('superpose.snooze', { n }, function(err, result)
    report_controls(err, result, 'superpose.snooze')
    ghost.dismiss(0)
  end)
end

-- Setup ----------------------------------------------------------------------------------

local function create_commands()
  local command = vim.api.nvim_create_user_command
  command('SuperposeDrafts', function()
    M.drafts()
  end, { desc = 'Pick one of the superpose drafts at the cursor and insert it' })
  command('SuperposeToggleMonitor', function()
    M.toggle_monitor()
  end, { desc = 'Toggle monitor-guided decoding' })
  command('SuperposeToggleRepetitionPenalty', function()
    M.toggle_repetition_penalty()
  end, { desc = 'Toggle the grammar-based repetition penalty' })
  command('SuperposeSetDrafts', function(opts)
    M.set_drafts(opts.args)
  end, { nargs = 1, desc = 'Set the number of drafts k' })
  command('SuperposeStatus', function()
    M.status()
  end, { desc = 'Show model, device, state and latency' })
  command('SuperposeReindex', function()
    M.reindex()
  end, { desc = 'Rebuild the workspace index' })
  command('SuperposeToggle', function(opts)
    M.toggle(opts.args)
  end, {
    nargs = '?',
    complete = function()
      return { 'on', 'off', 'manual', 'automatic' }
    end,
    desc = 'Ghost text on/off (or manual: only when asked for)',
  })
  command('SuperposeSnooze', function(opts)
    M.snooze(opts.args)
  end, { nargs = '?', desc = 'No automatic ghost text for N minutes (default 15; 0 resumes)' })
  command('SuperposeSuggest', function()
    ghost.request(0, 'invoked')
  end, { desc = 'Ask for ghost text at the cursor now' })
end

--- Configures the plugin: `setup({cmd = {...}, settings = {drafts = 4, ...}, ...})`.
function M.setup(opts)
  if vim.fn.has('nvim-0.7') == 0 then
    notify('needs Neovim >= 0.7', vim.log.levels.ERROR)
    return
  end
  M.config = vim.tbl_deep_extend('force', vim.deepcopy(M.defaults), opts or {})
  if opts and opts.cmd then
    M.config.cmd = opts.cmd -- lists are replaced, not merged
  end
  if opts and opts.filetypes then
    M.config.filetypes = opts.filetypes
  end
  if opts and opts.keymaps then
    M.config.keymaps = vim.tbl_extend('force', vim.deepcopy(M.defaults.keymaps), opts.keymaps)
  end
  ghost.client_for = function(bufnr)
    return M.clients(bufnr)[1]
  end
  ghost.automatic_allowed = M.automatic_allowed
  ghost.on_activity = M.on_activity
  ghost.define_highlights()
  create_commands()
  local group = vim.api.nvim_create_augroup('superpose', { clear = true })
  vim.api.nvim_create_autocmd('ColorScheme', { group = group, callback = ghost.define_highlights })
  vim.api.nvim_create_autocmd('FileType', {
    group = group,
    pattern = M.config.filetypes,
    callback = function(args)
      if vim.bo[args.buf].buftype == '' then
        M.attach(args.buf)
      end
    end,
  })
  -- Buffers opened before setup() ran.
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(bufnr) and vim.tbl_contains(M.config.filetypes, vim.bo[bufnr].filetype) then
      M.attach(bufnr)
    end
  end
end

return M
