--- superpose.nvim: Neovim client for the superpose-ls language server.
---
--- Registers `superpose-ls` with Neovim's built-in LSP client (vim.lsp.start on 0.8+,
--- vim.lsp.start_client + buf_attach_client on 0.7), enables completion
--- (vim.lsp.completion on 0.11+, omnifunc otherwise) and inline ghost-text completion on
--- Neovim >= 0.12 (vim.lsp.inline_completion), and adds :SuperposeDrafts,
--- :SuperposeToggleMonitor, :SuperposeToggleRepetitionPenalty, :SuperposeSetDrafts,
--- :SuperposeStatus and :SuperposeReindex. The command shapes follow DESIGN.md section 2.
local M = {}

local NAME = 'superpose'

---@class superpose.Keymaps
---@field accept string|false  insert-mode key accepting the inline draft (Neovim >= 0.12)
---@field next string|false    next inline draft
---@field prev string|false    previous inline draft
---@field drafts string|false  normal/insert-mode key for :SuperposeDrafts

---@class superpose.Config
---@field cmd string[]|fun(...): table  server command (or an RPC factory such as vim.lsp.rpc.connect)
---@field tcp {host: string?, port: integer}|nil  connect to `superpose-ls serve --tcp --port N`
---@field filetypes string[]
---@field root_markers string[]
---@field settings table  server settings (DESIGN.md section 2), sent as initializationOptions
---@field completion boolean  enable LSP completion (vim.lsp.completion or omnifunc)
---@field autotrigger boolean  vim.lsp.completion autotrigger (Neovim >= 0.11)
---@field inline boolean  enable inline completion when Neovim supports it (>= 0.12)
---@field keymaps superpose.Keymaps
---@field request_timeout_ms integer  warn when :SuperposeDrafts gets no answer in this time
---@field on_attach fun(client: table, bufnr: integer)|nil
M.defaults = {
  cmd = { 'superpose-ls' },
  tcp = nil,
  filetypes = { 'python', 'javascript', 'typescript', 'javascriptreact', 'typescriptreact' },
  root_markers = { '.git', 'pyproject.toml', 'setup.py', 'package.json', 'tsconfig.json' },
  settings = {},
  completion = true,
  autotrigger = false,
  inline = true,
  keymaps = { accept = '<M-l>', next = '<M-n>', prev = '<M-p>', drafts = '<M-d>' },
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

--- Enables completion and inline completion for a buffer the client attached to.
local function on_attach(client, bufnr)
  if M.config.completion then
    if vim.lsp.completion and vim.lsp.completion.enable then
      vim.lsp.completion.enable(true, client.id, bufnr, { autotrigger = M.config.autotrigger })
    else
      vim.bo[bufnr].omnifunc = 'v:lua.vim.lsp.omnifunc'
    end
  end
  local inline = vim.lsp.inline_completion
  if M.config.inline and inline and inline.enable then
    inline.enable(true, { bufnr = bufnr })
    local keys = M.config.keymaps
    local cycle = inline.select or inline.jump
    map(bufnr, 'i', keys.accept, function()
      inline.get({ bufnr = bufnr })
    end, 'Superpose: accept inline draft')
    if cycle then
      map(bufnr, 'i', keys.next, function()
        cycle({ bufnr = bufnr, count = 1 })
      end, 'Superpose: next inline draft')
      map(bufnr, 'i', keys.prev, function()
        cycle({ bufnr = bufnr, count = -1 })
      end, 'Superpose: previous inline draft')
    end
  end
  map(bufnr, { 'n', 'i' }, M.config.keymaps.drafts, function()
    M.drafts()
  end, 'Superpose: pick a draft')
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
    init_options = settings,
    settings = { superpose = settings },
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
  local payload = { settings = { superpose = M.config.settings } }
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
  create_commands()
  local group = vim.api.nvim_create_augroup('superpose', { clear = true })
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
