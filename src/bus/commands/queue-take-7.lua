--[[
  What `take` needs, in one step: the first command of each priority that may run now, with the
  retry and started state the daemon's policy decides on; first, when the last turn just ended,
  that turn's completion. One script for both because the daemon always takes the next command
  right after completing one: one script call in place of two (on loopback the call, not the work,
  is most of the cost).

  Completion (ARGV[9..], none for a bare take): every command the turn ran (one, or all the event
  commands batched into it) is marked done (so a replay after a crash cannot answer it again),
  acknowledged and deleted from its stream, its started/retry marks cleared, and the turn recorded
  for the load figures (turns/s, events per turn), all at once: a crash leaves either the whole
  batch pending or none of it.

  Take: per priority, the consumer group's pending list is read first (a replay after a crash, or
  a failed command whose retry time has come), oldest first, paging through it; an entry deleted
  while pending (trimmed) is acknowledged away, one still waiting for its retry time is passed over
  (it stays pending). Only when no pending entry may run is one new entry read into the pending
  list (as XREADGROUP '>' does). An empty stream is skipped without reading (a deleted entry still
  pending there is acknowledged away by the first take that finds the stream non-empty). Which
  head runs, and what joins it in a turn, is decided by the caller. Nothing here marks a turn as
  started: a command taken and then lost in a crash is simply pending, and replayed.

  KEYS[1] retry hash (command id -> {attempts, notBefore, error})   KEYS[2] started hash
  KEYS[3] done zset   KEYS[4] human stream   KEYS[5] event stream   KEYS[6] heartbeat stream
  KEYS[7] turns stream
  ARGV[1] consumer group   ARGV[2] consumer   ARGV[3] now (ms, the caller's clock: retry times are
  the caller's)   ARGV[4] pending page size   ARGV[5] dedup window (ms)   ARGV[6] events the
  completed turn carried   ARGV[7] turns stream cap   ARGV[8] most ids kept in the done zset
  (GATEWAY_DEDUP_MAX)   ARGV[9..] triples of (stream index 1-3, stream id, command id) completed

  Returns {retry hash as a flat list, started hash as a flat list, heads}, heads holding per
  priority (in KEYS order) either false or {stream id, command JSON ('{}' when the entry has
  none), 1 if its id is in the done zset (answered) else 0}.
]]
local group, consumer, now, page = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])

if #ARGV >= 9 then
  local t = redis.call('TIME')
  local serverNow = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  for i = 9, #ARGV, 3 do
    local stream = KEYS[3 + tonumber(ARGV[i])]
    redis.call('ZADD', KEYS[3], serverNow, ARGV[i + 2])
    redis.call('XACK', stream, group, ARGV[i + 1])
    redis.call('XDEL', stream, ARGV[i + 1])
    redis.call('HDEL', KEYS[2], ARGV[i + 2])
    redis.call('HDEL', KEYS[1], ARGV[i + 2])
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', serverNow - tonumber(ARGV[5]))
  -- Bounded by count too: the oldest answered ids go first (a replay that old is answered again).
  redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -(tonumber(ARGV[8]) + 1))
  redis.call('XADD', KEYS[7], 'MAXLEN', '~', tonumber(ARGV[7]), '*', 'events', ARGV[6])
end

local retry = redis.call('HGETALL', KEYS[1])
local started = redis.call('HGETALL', KEYS[2])

local notBefore = {}
for i = 1, #retry, 2 do
  -- An unreadable state must not hold a command back forever: it runs as if it never failed.
  local ok, state = pcall(cjson.decode, retry[i + 1])
  if ok and type(state) == 'table' and tonumber(state.notBefore) then notBefore[retry[i]] = tonumber(state.notBefore) end
end

local function field(fields, name)
  for i = 1, #fields, 2 do
    if fields[i] == name then return fields[i + 1] end
  end
  return false
end

local function entries(stream, from, count)
  local reply = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', count, 'STREAMS', stream, from)
  if not reply or not reply[1] then return {} end
  return reply[1][2]
end

local function head(stream)
  if redis.call('XLEN', stream) == 0 then return nil end
  local after = '0'
  while true do
    local pending = entries(stream, after, page)
    if #pending == 0 then break end
    for _, entry in ipairs(pending) do
      local fields = entry[2]
      if type(fields) ~= 'table' or #fields == 0 then
        -- Deleted while pending: nothing to run, just clear it.
        redis.call('XACK', stream, group, entry[1])
      else
        local id = field(fields, 'id')
        if not id or (notBefore[id] or 0) <= now then return entry end
      end
    end
    after = pending[#pending][1]
  end
  return entries(stream, '>', 1)[1]
end

local heads = {}
for k = 4, 6 do
  local entry = head(KEYS[k])
  if entry then
    local id = field(entry[2], 'id')
    local answered = id and redis.call('ZSCORE', KEYS[3], id) and 1 or 0
    heads[k - 3] = {entry[1], field(entry[2], 'command') or '{}', answered}
  else
    heads[k - 3] = false
  end
end
return {retry, started, heads}
