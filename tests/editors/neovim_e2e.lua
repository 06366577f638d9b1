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

  -- 5. Neovim >= 0.12: ghost text in insert mode, cycled and accepted with the plugin's keys.
  out.before = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
  if vim.lsp.inline_completion and vim.lsp.inline_completion.enable then
    started = now_ms()
    local ns = vim.api.nvim_get_namespaces()['nvim.lsp.inline_completion']
    local function ghost()
      ns = ns or vim.api.nvim_get_namespaces()['nvim.lsp.inline_completion']
      if ns == nil then
        return nil
      end
      local marks = vim.api.nvim_buf_get_extmarks(bufnr, ns, 0, -1, { details = true })
      if #marks == 0 then
        return nil
      end
      local parts = {}
      for _, chunk in ipairs(marks[1][4].virt_text or {}) do
        table.insert(parts, chunk[1])
      end
      -- After cycling, Neovim appends " (i/n)" to the last line: split it off.
      local text = table.concat(parts)
      local shown, count = text:match('^(.-) %(%d+/(%d+)%)$')
      return shown or text, tonumber(count)
    end
    local keys = function(lhs)
      vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(lhs, true, false, true), 'm', false)
    end
    keys('A') -- insert mode at the end of the cursor line: the client asks for drafts
    local first = wait_for(60000, ghost)
    keys('<M-n>') -- next draft: the ghost text changes and shows " (2/n)"
    local second, count
    wait_for(5000, function()
      second, count = ghost()
      return count ~= nil
    end)
    keys('<M-l>') -- accept
    wait_for(5000, function()
      return table.concat(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), '\n')
        ~= table.concat(out.before, '\n')
    end)
    out.ghost = { first = first or vim.NIL, second = second or vim.NIL, count = count or vim.NIL }
    out.ghost_after = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
    keys('<Esc>')
    wait_for(5000, function()
      return vim.api.nvim_get_mode().mode == 'n'
    end)
    -- Let the debounced automatic inline request (fired by the cursor moves) go out and come
    -- back, so that it does not supersede the next step's request on the server.
    sleep(500)
    wait_for(60000, function()
      for _, request in pairs(client.requests or {}) do
        if request.type == 'pending' then
          return false
        end
      end
      return true
    end)
    -- Back to the original text for the next step.
    vim.api.nvim_buf_set_lines(bufnr, 0, -1, false, out.before)
    vim.api.nvim_win_set_cursor(0, { line + 1, character })
    step('ghost_text', started)
  end

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
