--[[
  Take one session out of service, the global slot (step 2 of 2, after retire-session-9.lua, only
  when that step acted): out of the presence zset always; for a session removed ('retired') also out
  of the registry and the indexes the fan-out reads (kept by register-global-4.lua), and, when its own
  journal or dead letters still hold records (a cluster), into the letterboxes index the readers read.

  KEYS[1] sessions set  KEYS[2] presence zset  KEYS[3] centrals set  KEYS[4] routes hash
  KEYS[5] letterboxes set
  ARGV[1] session id    ARGV[2] step 1's status   ARGV[3] '1' when the record had `drains`
  ARGV[4] its drains    ARGV[5] the global key prefix (drainers keys)   ARGV[6] '1': records left
]]
local sid, g = ARGV[1], ARGV[5]
redis.call('ZREM', KEYS[2], sid)
if ARGV[2] ~= 'retired' then return 0 end
if ARGV[3] == '1' then
  for queue in string.gmatch(ARGV[4], '[^,]+') do redis.call('SREM', g .. ':drainers:' .. queue, sid) end
end
redis.call('SREM', KEYS[3], sid)
redis.call('HDEL', KEYS[4], sid)
redis.call('SREM', KEYS[1], sid)
if ARGV[6] == '1' then redis.call('SADD', KEYS[5], sid) end
return 1
