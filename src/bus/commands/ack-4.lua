--[[
  Acknowledge delivered events: drop them from the in-flight set and remember their ids as
  delivered (persistent dedup, pruned by claim-8.lua after the dedup window, and here to the
  newest ARGV[3] ids so a flood within the window cannot grow the set without bound).

  An id whose lease already expired was put back in the pending list by recover-3.lua; marking it
  delivered here makes the claim of that copy a duplicate, so it is still delivered once.

  The ids go in a few commands, not a few per id, and the journal records them together: one
  `delivered` entry per JOURNAL_IDS ids, its `id` the first of them and `ids` all of them as a
  JSON array (journal.ts reads one back as an entry per id; a batch of one is written as before).

  KEYS[1] in-flight hash  KEYS[2] leases zset  KEYS[3] delivered zset  KEYS[4] journal stream
  ARGV[1] session id      ARGV[2] journal cap  ARGV[3] dedup max (ids kept)  ARGV[4..] event ids

  Returns the number of ids that were in flight.
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local sid, journalCap, dedupMax = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
-- Lua's unpack is bounded: at most CHUNK ids a command.
local CHUNK, JOURNAL_IDS = 1000, 50
local acked = 0
for first = 4, #ARGV, CHUNK do
  local last = math.min(first + CHUNK - 1, #ARGV)
  acked = acked + redis.call('HDEL', KEYS[1], unpack(ARGV, first, last))
  redis.call('ZREM', KEYS[2], unpack(ARGV, first, last))
  local members = {}
  for i = first, last do
    members[#members + 1] = now
    members[#members + 1] = ARGV[i]
  end
  redis.call('ZADD', KEYS[3], unpack(members))
end
for first = 4, #ARGV, JOURNAL_IDS do
  local last = math.min(first + JOURNAL_IDS - 1, #ARGV)
  if first == last then
    redis.call('XADD', KEYS[4], 'MAXLEN', '~', journalCap, '*', 'kind', 'delivered', 'id', ARGV[first], 'sessions', sid)
  else
    redis.call('XADD', KEYS[4], 'MAXLEN', '~', journalCap, '*', 'kind', 'delivered', 'id', ARGV[first], 'sessions', sid,
      'ids', cjson.encode({unpack(ARGV, first, last)}))
  end
end
redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -(dedupMax + 1))
return acked
