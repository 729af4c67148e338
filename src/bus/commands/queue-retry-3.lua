--[[
  A command's turn failed in a way worth trying again (provider unreachable, overloaded, rate
  limiting): remember how often it failed and when it may run again, so the retry survives a
  restart and `take` skips it until then. Its turn is no longer "in progress" (the failure ended
  it), so the started mark goes; the journal shows the retry.

  KEYS[1] retry hash (command id -> {attempts, notBefore, error})   KEYS[2] started hash
  KEYS[3] journal stream
  ARGV[1] journal cap   ARGV[2] session id   ARGV[3] retry state JSON   ARGV[4] journal reason
  ARGV[5..] the ids of the command's entries (several when collect mode merged them)

  Returns the number of entries marked.
]]
local journalCap, sid, state, reason = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4]
for i = 5, #ARGV do
  redis.call('HSET', KEYS[1], ARGV[i], state)
  redis.call('HDEL', KEYS[2], ARGV[i])
end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', journalCap, '*', 'kind', 'retry', 'id', ARGV[5], 'sessions', sid, 'reason', reason)
return #ARGV - 4
