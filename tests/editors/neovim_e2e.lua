-- End-to-end driver for tests/editors/test_neovim.py: runs inside real headless Neovim
-- (`nvim --headless --clean -u neovim_e2e.lua FILE`), attaches superpose-ls through the
-- superpose plugin, waits for the model, asks for completion through the built-in client,
-- runs the plugin's commands and writes what it saw to $SUPERPOSE_NVIM_RESULT as JSON.
local env = vim.env
local result_path = assert(env.SUPERPOSE_NVIM_RESULT, 'SUPERPOSE_NVIM_RESULT not set')
local out = { steps = {}, messages = {}, nvim_version = vim.version() }

vim.opt.runtimepath:prepend(assert(env.SUPERPOSE_NVIM_PLUGIN, 'SUPERPOSE_NVIM_PLUGIN not set'))
vim.opt.swapfile = false
vim.opt.shortmess:append('F')
-- Let the normal-mode cursor sit after the last character, as it does in insert mode.
vim.opt.virtualedit = 'onemore'

-- Record every message the plugin shows.
vim.notify = function(message, level)
  table.insert(out.messages, { message = tostring(message), level = level })
end

-- Record what the server shows (window/showMessage), e.g. settings warnings.
out.server_messages = {}
vim.lsp.handlers['window/showMessage'] = function(_, result)
  table.insert(out.server_messages, result.message)
end

if env.SUPERPOSE_NVIM_DEBUG then
  vim.lsp.set_log_level('debug') -- writes the LSP traffic to stdpath('log')/lsp.log
end

local superpose = require('superpose')
superpose.setup({
  cmd = vim.fn.json_decode(env.SUPERPOSE_NVIM_CMD),
  settings = vim.fn.json_decode(env.SUPERPOSE_NVIM_SETTINGS or '{}'),
})

local function now_ms()
  return (vim.uv or vim.loop).hrtime() / 1e6
end

local function step(name, started)
  table.insert(out.steps, { name = name, ms = math.floor(now_ms() - started) })
  io.stderr:write(string.format('[e2e] %s %d ms\n', name, math.floor(now_ms() - started)))
end

local function write_result()
  local file = assert(io.open(result_path, 'w'))
  file:write(vim.fn.json_encode(out))
  file:close()
end

--- Sleeps inside the driver coroutine, letting Neovim's main loop run (keys, autocmds, RPC).
local function sleep(ms)
  local co = coroutine.running()
  vim.defer_fn(function()
    assert(coroutine.resume(co))
  end, ms)
  coroutine.yield()
end

--- Waits until `fn` returns a truthy value or `timeout_ms` passes; returns that value.
local function wait_for(timeout_ms, fn, interval)
  local deadline = now_ms() + timeout_ms
  repeat
    local value = fn()
    if value then
      return value
    end
    sleep(interval or 50)
  until now_ms() > deadline
  return nil
end

local function messages_matching(pattern)
  local found = {}
  for _, entry in ipairs(out.messages) do
    if entry.message:find(pattern) then
      table.insert(found, entry.message)
    end
  end
  return found
end

local function run()
  local line = tonumber(env.SUPERPOSE_NVIM_LINE)
  local character = tonumber(env.SUPERPOSE_NVIM_CHARACTER)
  local ready_timeout = tonumber(env.SUPERPOSE_NVIM_TIMEOUT_MS or '120000')
  local bufnr = vim.api.nvim_get_current_buf()
  out.filetype = vim.bo[bufnr].filetype

  -- 1. The FileType autocmd of setup() attached the server.
  local started = now_ms()
  local client = wait_for(20000, function()
    local c = superpose.clients(bufnr)[1]
    return c and c.initialized ~= false and c.server_capabilities and c
  end)
  assert(client, 'superpose-ls did not attach to the buffer')
  out.offset_encoding = client.offset_encoding
  out.server_capabilities = {
    completion = client.server_capabilities.completionProvider ~= nil,
    inline_completion = client.server_capabilities.inlineCompletionProvider ~= nil,
    commands = (client.server_capabilities.executeCommandProvider or {}).commands,
  }
  step('attach', started)

  -- 2. Poll superpose.status until the model is ready.
  started = now_ms()
  local deadline = now_ms() + ready_timeout
  local status
  repeat
    status = superpose.execute_sync("superpose.status", {}, 5000, bufnr)
    if type(status) == 'table' and (status.state == 'ready' or status.state == 'error') then
      break
    end
    sleep(300)
  until now_ms() > deadline
  out.status = status
  assert(status and status.state == 'ready', 'model not ready: ' .. vim.inspect(status))
  step('model_ready', started)

  -- 3. textDocument/completion through the built-in client.
  vim.api.nvim_win_set_cursor(0, { line + 1, character })
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    position = { line = line, character = character },
    context = { triggerKind = 1 },
  }
  started = now_ms()
  local responses = vim.lsp.buf_request_sync(bufnr, 'textDocument/completion', params, 60000)
  step('completion', started)
  local response = responses and responses[client.id]
  assert(response, 'no completion response from superpose-ls')
  assert(response.err == nil, 'completion error: ' .. vim.inspect(response.err))
  local items = response.result and (response.result.items or response.result) or {}
  out.completion = {}
  for _, item in ipairs(items) do
    table.insert(out.completion, {
      label = item.label,
      sortText = item.sortText,
      textEdit = item.textEdit,
      documentation = item.documentation,
      command = item.command,
      data = item.data,
    })
  end

  -- 4. textDocument/inlineCompletion (LSP 3.18) through the same client.
  started = now_ms()
  local inline_done, inline_err, inline_result = false, nil, nil
  local request = vim.fn.has('nvim-0.11') == 1 and function(...)
    return client:request(...)
  end or client.request
  request('textDocument/inlineCompletion', {
    textDocument = params.textDocument,
    position = params.position,
    context = { triggerKind = 1 },
  }, function(err, result)
    inline_done, inline_err, inline_result = true, err, result
  end, bufnr)
  wait_for(60000, function()
    return inline_done
  end)
  step('inline_completion', started)
  out.inline_error = inline_err
  out.inline = inline_result and (inline_result.items or inline_result) or vim.NIL

  -- 5. Ghost text drawn by the plugin (extmarks, any Neovim >= 0.7): shown while typing,
  -- cycled, accepted word by word, line by line and whole; typed through; switched off.
  out.before = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
  started = now_ms()
  local ghost = superpose.ghost
  local keys = function(lhs)
    vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(lhs, true, false, true), 'm', false)
  end
  --- What the ghost extmark displays: the ghost text and the "(i/n)" annotation.
  local function shown()
    local marks = vim.api.nvim_buf_get_extmarks(bufnr, ghost.ns, 0, -1, { details = true })
    if #marks == 0 then
      return nil
    end
    local mark = marks[1]
    local parts, annotation = {}, nil
    local function take(chunks)
      for _, chunk in ipairs(chunks) do
        if chunk[2] == ghost.hl then
          table.insert(parts, chunk[1])
        elseif chunk[2] == ghost.hl_annotation then
          annotation = chunk[1]
        end
      end
    end
    take(mark[4].virt_text or {})
    for _, line in ipairs(mark[4].virt_lines or {}) do
      table.insert(parts, '\n')
      take(line)
    end
    return { text = table.concat(parts), annotation = annotation or vim.NIL, row = mark[2], col = mark[3] }
  end
  local function lines()
    return vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
  end
  local function reset()
    keys('<Esc>')
    wait_for(5000, function()
      return vim.api.nvim_get_mode().mode == 'n'
    end)
    vim.api.nvim_buf_set_lines(bufnr, 0, -1, false, out.before)
    vim.api.nvim_win_set_cursor(0, { line + 1, character })
  end
  local function insert_at_end_and_wait()
    keys('A') -- insert mode at the end of the `    counter.` line: the plugin asks for drafts
    return wait_for(60000, shown)
  end
  local function feedback()
    return superpose.execute_sync('superpose.status', {}, 5000, bufnr).feedback
  end
  out.feedback_before = feedback()
  out.ghost = {}
  local g = out.ghost
  -- 5a. shown after entering insert mode, cycled with <M-n> / <M-p>
  g.first = insert_at_end_and_wait() or vim.NIL
  g.items = ghost.current(bufnr) and ghost.current(bufnr).items or vim.NIL
  g.statusline_ready = superpose.statusline()
  -- <M-\> asks for all k drafts (invoked); <M-n> / <M-p> cycle through them
  local answers = ghost.stats.answers
  keys('<M-\\>')
  wait_for(60000, function()
    return ghost.stats.answers > answers
  end)
  g.suggested = shown() or vim.NIL
  g.suggested_items = ghost.current(bufnr) and ghost.current(bufnr).items or vim.NIL
  if g.suggested ~= vim.NIL and g.suggested.annotation ~= vim.NIL then
    keys('<M-n>')
    g.second = wait_for(5000, function()
      local s = shown()
      return s and s.annotation ~= g.suggested.annotation and s
    end) or vim.NIL
    keys('<M-p>')
    g.back = wait_for(5000, function()
      local s = shown()
      return s and s.annotation == g.suggested.annotation and s
    end) or vim.NIL
  end
  -- 5b. accept the next word, then the next line
  g.before_word = shown() or vim.NIL
  local word_tick = vim.api.nvim_buf_get_changedtick(bufnr)
  keys('<M-Right>')
  wait_for(5000, function()
    return vim.api.nvim_buf_get_changedtick(bufnr) ~= word_tick
  end)
  sleep(100) -- let the mapping's redraw settle
  g.after_word = lines()
  g.shown_after_word = shown() or vim.NIL
  local line_tick = vim.api.nvim_buf_get_changedtick(bufnr)
  keys('<M-C-Right>')
  wait_for(5000, function()
    return vim.api.nvim_buf_get_changedtick(bufnr) ~= line_tick
  end)
  g.after_line = lines()
  g.cursor_after_line = vim.api.nvim_win_get_cursor(0)
  reset()
  -- 5c. the whole draft with <M-l>
  g.full_shown = insert_at_end_and_wait() or vim.NIL
  local full_tick = vim.api.nvim_buf_get_changedtick(bufnr)
  keys('<M-l>')
  wait_for(5000, function()
    return vim.api.nvim_buf_get_changedtick(bufnr) ~= full_tick
  end)
  g.after_full = lines()
  g.cursor_after_full = vim.api.nvim_win_get_cursor(0)
  reset()
  -- 5d. typing: `inc` after `counter.`, ghost text for the rest, typed through, accepted
  keys('A')
  wait_for(5000, function()
    return vim.api.nvim_get_mode().mode == 'i'
  end)
  keys('inc')
  g.typed_shown = wait_for(60000, function()
    local s = shown()
    return s and s.col == character + 3 and s
  end) or vim.NIL
  if g.typed_shown ~= vim.NIL then
    local requests = ghost.stats.requests
    local next_char = g.typed_shown.text:sub(1, 1)
    keys(next_char == '<' and '<lt>' or next_char)
    g.through_shown = wait_for(5000, function()
      local s = shown()
      return s and s.col == character + 4 and s
    end) or vim.NIL
    g.through_requests = ghost.stats.requests - requests
    keys('<M-l>')
    wait_for(5000, function()
      return shown() == nil
    end)
  end
  g.after_typing = lines()
  -- 5e. switched off: typing sends nothing and shows nothing
  superpose.toggle('off')
  wait_for(10000, function()
    return superpose.state.controls.state == 'off'
  end)
  g.statusline_off = superpose.statusline()
  local requests_off = ghost.stats.requests
  local changes_off = ghost.stats.changes
  keys(' x')
  wait_for(5000, function()
    return ghost.stats.changes > changes_off
  end)
  sleep(50)
  g.requests_while_off = ghost.stats.requests - requests_off
  g.shown_while_off = shown() or vim.NIL
  superpose.toggle('on')
  wait_for(10000, function()
    return superpose.state.controls.state == 'on'
  end)
  reset()
  g.stats = ghost.stats
  out.feedback_after = feedback()
  -- Let any automatic request go out and come back, so that it does not supersede the
  -- next step's request on the server.
  wait_for(60000, function()
    for _, request in pairs(client.requests or {}) do
      if request.type == 'pending' then
        return false
      end
    end
    return true
  end)
  step('ghost_text', started)

  -- 6. :SuperposeDrafts with vim.ui.select picking the first draft.
  out.cursor_before = vim.api.nvim_win_get_cursor(0)
  vim.ui.select = function(choices, opts, on_choice)
    out.picker = { prompt = opts.prompt, items = {} }
    for index, choice in ipairs(choices) do
      table.insert(out.picker.items, opts.format_item and opts.format_item(choice) or tostring(index))
    end
    out.drafts = choices
    on_choice(choices[1], 1)
  end
  local inserted = false
  vim.api.nvim_create_autocmd('User', {
    pattern = 'SuperposeDraftInserted',
    once = true,
    callback = function()
      inserted = true
    end,
  })
  started = now_ms()
  vim.cmd('SuperposeDrafts')
  wait_for(60000, function()
    return inserted
  end)
  step('drafts_command', started)
  assert(inserted, ':SuperposeDrafts inserted nothing; messages: ' .. vim.inspect(out.messages))
  out.chosen = superpose.last_inserted
  out.after = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
  out.cursor_after = vim.api.nvim_win_get_cursor(0)

  -- 7. :SuperposeToggleMonitor twice and :SuperposeStatus report through vim.notify.
  started = now_ms()
  vim.cmd('SuperposeToggleMonitor')
  wait_for(10000, function()
    return #messages_matching('monitor%-guided decoding: ') >= 1
  end)
  vim.cmd('SuperposeToggleMonitor')
  wait_for(10000, function()
    return #messages_matching('monitor%-guided decoding: ') >= 2
  end)
  out.toggle_messages = messages_matching('monitor%-guided decoding: ')
  vim.cmd('SuperposeStatus')
  wait_for(10000, function()
    return #messages_matching('state:') >= 1
  end)
  out.status_messages = messages_matching('state:')
  step('commands', started)
end

local function main()
  local ok, err = xpcall(run, debug.traceback)
  out.ok = ok
  if not ok then
    out.error = tostring(err)
  end
  write_result()
  -- Stop the server cleanly before leaving.
  for _, client in ipairs(superpose.clients(0)) do
    if vim.fn.has('nvim-0.11') == 1 then
      client:stop()
    else
      client.stop()
    end
  end
  wait_for(3000, function()
    return #superpose.clients(0) == 0
  end)
  vim.cmd('qa!')
end

vim.api.nvim_create_autocmd('VimEnter', {
  once = true,
  callback = function()
    -- The driver runs as a coroutine so that Neovim's main loop runs while it waits.
    vim.schedule(function()
      assert(coroutine.resume(coroutine.create(main)))
    end)
  end,
})
