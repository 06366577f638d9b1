--- superpose.ghost: ghost text drawn by the plugin with extmarks (Neovim 0.7+).
---
--- While you type in insert mode the plugin asks superpose-ls for drafts
--- (`textDocument/inlineCompletion`, triggerKind Automatic) and draws the current one after
--- the cursor: the first line as overlay virtual text at the cursor column (followed by the
--- rest of the real line, as copilot.vim does, so it works on 0.7 where inline virtual text
--- does not exist), further lines as virtual lines. Typing what the ghost text shows keeps
--- it (trimmed, no new request); anything else replaces it. Accept all, the next word or
--- the next line; cycle through the k drafts; dismiss. Accepts are reported to the server
--- (`superpose.accept` / `superpose.accepted`).
local M = {}

local api = vim.api

M.ns = api.nvim_create_namespace('superpose_ghost')
M.hl = 'SuperposeGhostText'
M.hl_annotation = 'SuperposeGhostAnnotation'

--- Counters for the statusline and tests: requests sent, answers shown, accepts.
M.stats = { requests = 0, answers = 0, shown = 0, accepts = 0, partial_accepts = 0, changes = 0 }

--- Set by init.lua: returns the superpose client of a buffer (or nil).
M.client_for = function(_)
  return nil
end
--- Set by init.lua: whether automatic requests may be sent for a buffer.
M.automatic_allowed = function(_)
  return true
end
--- Set by init.lua: called with (event, data) on request start/finish (statusline).
M.on_activity = function(_, _) end

local buffers = {} -- bufnr -> state

local function has(feature)
  return vim.fn.has(feature) == 1
end

local function state(bufnr)
  local st = buffers[bufnr]
  if st == nil then
    st = { seq = 0, items = nil, index = 1 }
    buffers[bufnr] = st
  end
  return st
end

local function call(client, method, ...)
  if has('nvim-0.11') then
    return client[method](client, ...)
  end
  return client[method](...)
end

local function cursor(bufnr)
  for _, win in ipairs(vim.fn.win_findbuf(bufnr)) do
    if win == api.nvim_get_current_win() then
      local pos = api.nvim_win_get_cursor(win)
      return pos[1] - 1, pos[2]
    end
  end
  return nil
end

local function in_insert_mode()
  local mode = api.nvim_get_mode().mode
  return mode:sub(1, 1) == 'i' or mode:sub(1, 1) == 'R'
end

-- Text pieces ------------------------------------------------------------------------------

--- The next word of a ghost text: leading blanks (newlines too), then punctuation, then an
--- identifier (`.history` -> `.history`; `(step)` -> `(step`, then `)`).
function M.word_part(text)
  local part = text:match('^%s*[^%w%s_]*[%w_]*') or ''
  if part:match('^%s*$') then
    part = text:match('^%s*.?') or text -- blanks only: take them and one more character
  end
  return part ~= '' and part or text
end

--- The next line of a ghost text: up to its first line break; when it starts with a line
--- break, that break and the next line.
function M.line_part(text)
  local first = text:match('^[^\n]*')
  if first ~= '' then
    return first
  end
  return text:match('^\n[^\n]*') or text
end

--- Lines an accepted piece counts for (see superpose.accepted): its line breaks, plus one
--- when it reaches the end of the draft.
function M.accepted_lines(part, rest)
  local _, breaks = part:gsub('\n', '')
  return breaks + (rest == '' and 1 or 0)
end

-- Rendering --------------------------------------------------------------------------------

function M.clear(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and api.nvim_get_current_buf() or bufnr
  if api.nvim_buf_is_valid(bufnr) then
    api.nvim_buf_clear_namespace(bufnr, M.ns, 0, -1)
  end
  local st = buffers[bufnr]
  if st ~= nil then
    st.items = nil
    st.index = 1
  end
end

--- Cancels the buffer's request in flight (the server stops decoding within one token).
function M.cancel(bufnr)
  local st = buffers[bufnr]
  if st == nil or st.request == nil then
    return
  end
  local request = st.request
  st.request = nil
  st.seq = st.seq + 1
  pcall(call, request.client, 'cancel_request', request.id)
  M.on_activity('done', { bufnr = bufnr })
end

local function render(bufnr, st)
  api.nvim_buf_clear_namespace(bufnr, M.ns, 0, -1)
  local item = st.items and st.items[st.index]
  if item == nil then
    return
  end
  local lines = vim.split(item.ghost, '\n', { plain = true })
  local line = api.nvim_buf_get_lines(bufnr, st.row, st.row + 1, false)[1] or ''
  local before = line:sub(1, st.col)
  local tail = line:sub(st.col + 1)
  local rest = line:sub(st.col + 1 + item.overwrite)
  local first = { { lines[1], M.hl } }
  if rest ~= '' then
    table.insert(first, { rest, 'Normal' })
  end
  -- cover what is left of the real line when the overlay is shorter (overwritten closers)
  local shown = vim.fn.strdisplaywidth(lines[1] .. rest)
  local real = vim.fn.strdisplaywidth(tail)
  if real > shown then
    table.insert(first, { string.rep(' ', real - shown), 'Normal' })
  end
  local virt_lines = {}
  for i = 2, #lines do
    table.insert(virt_lines, { { lines[i], M.hl } })
  end
  if #st.items > 1 then
    local annotation = { string.format(' (%d/%d)', st.index, #st.items), M.hl_annotation }
    table.insert(#virt_lines > 0 and virt_lines[#virt_lines] or first, annotation)
  end
  local leftcol = 0
  local win = vim.fn.bufwinid(bufnr)
  if win ~= -1 then
    leftcol = api.nvim_win_call(win, function()
      return vim.fn.winsaveview().leftcol
    end)
  end
  local opts = {
    virt_text = first,
    virt_text_pos = 'overlay',
    virt_text_win_col = math.max(0, vim.fn.strdisplaywidth(before) - leftcol),
    hl_mode = 'combine',
    priority = 200,
  }
  if #virt_lines > 0 then
    opts.virt_lines = virt_lines
  end
  api.nvim_buf_set_extmark(bufnr, M.ns, st.row, st.col, opts)
  M.stats.shown = M.stats.shown + 1
  st.seen = { tick = api.nvim_buf_get_changedtick(bufnr), row = st.row, col = st.col }
end

--- Returns the drafts shown at the cursor: `{items = {{ghost, id}...}, index}` or nil.
function M.current(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and api.nvim_get_current_buf() or bufnr
  local st = buffers[bufnr]
  if st == nil or st.items == nil then
    return nil
  end
  return { items = vim.deepcopy(st.items), index = st.index, row = st.row, col = st.col }
end

function M.visible(bufnr)
  return M.current(bufnr) ~= nil
end

-- Answers ----------------------------------------------------------------------------------

--- Turns inline-completion items into ghost texts at (row, col): the part of each draft
--- after what is already typed inside its range, and how many bytes after the cursor a
--- full accept replaces (closers the editor auto-inserted).
function M.items_from(bufnr, result, row, col, encoding)
  local raw = result and (result.items or result) or {}
  local line = api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ''
  local items, seen = {}, {}
  for _, entry in ipairs(raw) do
    local text = entry.insertText
    if type(text) == 'table' then
      text = text.value
    end
    local start_col, end_col = col, col
    local range = entry.range
    if type(text) == 'string' and range ~= nil then
      if range.start.line ~= row or range['end'].line ~= row then
        text = nil -- drafts are edits of the cursor line
      else
        start_col = vim.lsp.util._get_line_byte_from_position(bufnr, range.start, encoding)
        end_col = vim.lsp.util._get_line_byte_from_position(bufnr, range['end'], encoding)
      end
    end
    if type(text) == 'string' and start_col <= col and end_col >= col then
      local typed = line:sub(start_col + 1, col)
      if text:sub(1, #typed) == typed then
        local ghost = text:sub(#typed + 1)
        if ghost ~= '' and not seen[ghost] then
          seen[ghost] = true
          local id = entry.command and entry.command.arguments and entry.command.arguments[1]
          table.insert(items, { ghost = ghost, overwrite = end_col - col, id = id })
        end
      end
    end
  end
  return items
end

function M.show(bufnr, items, row, col)
  local st = state(bufnr)
  local line = api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ''
  st.items, st.index = items, 1
  st.row, st.col = row, col
  st.before, st.after = line:sub(1, col), line:sub(col + 1)
  render(bufnr, st)
end

--- Asks the server for drafts at the cursor: `kind` = 'automatic' (while typing) or
--- 'invoked' (the user asked; served in manual mode too, waits for a loading model).
function M.request(bufnr, kind)
  bufnr = (bufnr == nil or bufnr == 0) and api.nvim_get_current_buf() or bufnr
  local client = M.client_for(bufnr)
  local row, col = cursor(bufnr)
  if client == nil or row == nil then
    return false
  end
  M.cancel(bufnr)
  local st = state(bufnr)
  st.seq = st.seq + 1
  local seq = st.seq
  local tick = api.nvim_buf_get_changedtick(bufnr)
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  params.context = { triggerKind = kind == 'invoked' and 1 or 2 }
  local uv = vim.uv or vim.loop
  local started = uv.hrtime()
  M.stats.requests = M.stats.requests + 1
  M.on_activity('start', { bufnr = bufnr, kind = kind })
  local ok, id = call(client, 'request', 'textDocument/inlineCompletion', params, function(err, result)
    if st.seq ~= seq then
      return -- replaced or cancelled
    end
    st.request = nil
    local ms = (uv.hrtime() - started) / 1e6
    M.on_activity('done', { bufnr = bufnr, kind = kind, ms = ms, err = err })
    if err ~= nil or not api.nvim_buf_is_valid(bufnr) then
      return -- superseded (ContentModified) or failed: nothing to show
    end
    M.stats.answers = M.stats.answers + 1
    local now_row, now_col = cursor(bufnr)
    if api.nvim_buf_get_changedtick(bufnr) ~= tick or now_row ~= row or now_col ~= col then
      return -- the user moved on
    end
    if not in_insert_mode() then
      return
    end
    local items = M.items_from(bufnr, result, row, col, client.offset_encoding)
    if #items > 0 then
      M.show(bufnr, items, row, col)
    end
  end, bufnr)
  if ok then
    st.request = { id = id, client = client }
  end
  return ok
end

-- Following the user -----------------------------------------------------------------------

--- When the text between the ghost's anchor and the cursor is what the ghost showed, keep
--- the drafts that continue it, trimmed; return whether any survived.
local function typed_through(bufnr, st, row, col)
  if st.items == nil or row < st.row or (row == st.row and col <= st.col) then
    return false
  end
  local lines = api.nvim_buf_get_lines(bufnr, st.row, row + 1, false)
  if #lines ~= row - st.row + 1 or lines[1]:sub(1, st.col) ~= st.before then
    return false
  end
  if lines[#lines]:sub(col + 1) ~= st.after then
    return false
  end
  local typed
  if #lines == 1 then
    typed = lines[1]:sub(st.col + 1, col)
  else
    local parts = { lines[1]:sub(st.col + 1) }
    for i = 2, #lines - 1 do
      table.insert(parts, lines[i])
    end
    table.insert(parts, lines[#lines]:sub(1, col))
    typed = table.concat(parts, '\n')
  end
  local current = st.items[st.index]
  local kept, index = {}, 1
  for _, item in ipairs(st.items) do
    if #item.ghost > #typed and item.ghost:sub(1, #typed) == typed then
      table.insert(kept, { ghost = item.ghost:sub(#typed + 1), overwrite = item.overwrite, id = item.id })
      if item == current then
        index = #kept
      end
    end
  end
  if #kept == 0 then
    return false
  end
  st.items, st.index = kept, index
  st.row, st.col = row, col
  st.before = lines[#lines]:sub(1, col)
  return true
end

--- Insert-mode changes and cursor moves: keep, trim, drop or ask for ghost text.
function M.on_change(bufnr, event)
  if not api.nvim_buf_is_valid(bufnr) or not in_insert_mode() then
    return
  end
  local row, col = cursor(bufnr)
  if row == nil then
    return
  end
  M.stats.changes = M.stats.changes + 1
  local st = state(bufnr)
  local tick = api.nvim_buf_get_changedtick(bufnr)
  local seen = st.seen
  if event ~= 'InsertEnter' and seen and seen.tick == tick and seen.row == row and seen.col == col then
    return
  end
  local changed = event == 'InsertEnter' or seen == nil or seen.tick ~= tick
  st.seen = { tick = tick, row = row, col = col }
  if changed and typed_through(bufnr, st, row, col) then
    M.cancel(bufnr)
    render(bufnr, st)
    return
  end
  M.cancel(bufnr)
  M.clear(bufnr)
  if changed and M.automatic_allowed(bufnr) then
    M.request(bufnr, 'automatic')
  end
end

-- Accepting --------------------------------------------------------------------------------

local function feedback(bufnr, item, kind, part, rest)
  local client = M.client_for(bufnr)
  if client == nil then
    return
  end
  local counts = { chars = vim.fn.strchars(part), lines = M.accepted_lines(part, rest) }
  local command, arguments
  if rest == '' and item.id ~= nil then
    command, arguments = 'superpose.accept', { item.id, counts }
  else
    counts.kind = kind
    counts.id = item.id
    command, arguments = 'superpose.accepted', { counts }
  end
  call(client, 'request', 'workspace/executeCommand', { command = command, arguments = arguments }, function() end, bufnr)
end

--- Accepts the current draft: `kind` = 'full', 'word' or 'line'. Returns false when no
--- ghost text is shown.
function M.accept(bufnr, kind)
  bufnr = (bufnr == nil or bufnr == 0) and api.nvim_get_current_buf() or bufnr
  local st = buffers[bufnr]
  local item = st and st.items and st.items[st.index]
  if item == nil then
    return false
  end
  kind = kind or 'full'
  local part = item.ghost
  if kind == 'word' then
    part = M.word_part(item.ghost)
  elseif kind == 'line' then
    part = M.line_part(item.ghost)
  end
  local rest = item.ghost:sub(#part + 1)
  local overwrite = rest == '' and item.overwrite or 0
  local lines = vim.split(part, '\n', { plain = true })
  M.cancel(bufnr)
  api.nvim_buf_set_text(bufnr, st.row, st.col, st.row, st.col + overwrite, lines)
  local row = st.row + #lines - 1
  local col = #lines == 1 and st.col + #lines[1] or #lines[#lines]
  api.nvim_win_set_cursor(0, { row + 1, col })
  feedback(bufnr, item, kind, part, rest)
  if rest == '' then
    M.stats.accepts = M.stats.accepts + 1
    M.clear(bufnr)
    st.seen = { tick = api.nvim_buf_get_changedtick(bufnr), row = row, col = col }
  else
    M.stats.partial_accepts = M.stats.partial_accepts + 1
    typed_through(bufnr, st, row, col)
    render(bufnr, st)
  end
  return true
end

--- Shows the next (`step` = 1) or previous (-1) draft.
function M.cycle(bufnr, step)
  bufnr = (bufnr == nil or bufnr == 0) and api.nvim_get_current_buf() or bufnr
  local st = buffers[bufnr]
  if st == nil or st.items == nil then
    return false
  end
  st.index = (st.index - 1 + step) % #st.items + 1
  render(bufnr, st)
  return true
end

function M.dismiss(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and api.nvim_get_current_buf() or bufnr
  local shown = M.visible(bufnr)
  M.cancel(bufnr)
  M.clear(bufnr)
  return shown
end

--- Buffer-local autocmds that keep the ghost text in step with typing.
function M.attach(bufnr)
  local group = api.nvim_create_augroup('superpose_ghost_' .. bufnr, { clear = true })
  local function on(event, fn)
    api.nvim_create_autocmd(event, { group = group, buffer = bufnr, callback = fn })
  end
  for _, event in ipairs({ 'TextChangedI', 'TextChangedP', 'CursorMovedI', 'InsertEnter' }) do
    on(event, function()
      -- after the change and the cursor move of one keystroke have both landed
      vim.schedule(function()
        M.on_change(bufnr, event)
      end)
    end)
  end
  on({ 'InsertLeave', 'BufLeave' }, function()
    M.cancel(bufnr)
    M.clear(bufnr)
    local st = buffers[bufnr]
    if st then
      st.seen = nil
    end
  end)
  on('BufUnload', function()
    M.cancel(bufnr)
    buffers[bufnr] = nil
  end)
end

function M.define_highlights()
  vim.cmd('highlight default link ' .. M.hl .. ' Comment')
  vim.cmd('highlight default link ' .. M.hl_annotation .. ' NonText')
end

return M
