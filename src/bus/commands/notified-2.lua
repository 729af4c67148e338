--[[
  Mark a notification delivered: move the delivered pointer forward to its stream id (never back,
  so two deliverers cannot re-open what the other finished) and journal `notified`.

  KEYS[1] delivered pointer (string)   KEYS[2] journal stream
  ARGV[1] notification stream id   ARGV[2] journal cap   ARGV[3] channels it went to (comma-separated)

  Returns 1 when the pointer moved, 0 when it was already at or past the id.
]]
local function parse(streamId)
  local ms, seq = string.match(streamId, '^(%d+)-(%d+)$')
  return tonumber(ms or '0'), tonumber(seq or '0')
end
local current = redis.call('GET', KEYS[1]) or '0-0'
local cms, cseq = parse(current)
local ms, seq = parse(ARGV[1])
if ms < cms or (ms == cms and seq <= cseq) then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', tonumber(ARGV[2]), '*',
  'kind', 'notified', 'id', ARGV[1], 'channel', ARGV[3])
return 1
