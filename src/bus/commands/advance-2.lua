--[[
  Advance a schedule after its firing was pushed: a compare-and-set on its due score, so of two
  tickers that both pushed the same firing (the push itself is deduplicated by its event id
  `schedule:<id>:<due>`), exactly one moves the schedule on, and a schedule removed or replaced
  meanwhile is left alone.

  KEYS[1] schedules hash (id -> definition)   KEYS[2] due zset (id -> next due ms)
  ARGV[1] schedule id   ARGV[2] the due time that fired (ms)
  ARGV[3] next due time (ms), or '' for a one-shot (removed)

  Returns 1 when this call advanced the schedule, 0 when it had already moved (or was removed).
]]
local id, fired, nextDue = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local score = redis.call('ZSCORE', KEYS[2], id)
if not score or tonumber(score) ~= fired then return 0 end
if nextDue == '' then
  redis.call('ZREM', KEYS[2], id)
  redis.call('HDEL', KEYS[1], id)
else
  redis.call('ZADD', KEYS[2], tonumber(nextDue), id)
end
return 1
