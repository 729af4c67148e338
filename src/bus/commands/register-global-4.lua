--[[
  Registration, the global slot (step 2 of 2, after register-session-1.lua said 'owner'): the
  registry, the presence score, and the indexes the fan-out reads instead of the session records
  (another slot on a cluster): the centrals set (by `role`), per queue the sessions that drain it (by
  `drains`), and the routes hash sid -> JSON {role, durable, drains} (what routing needs of a record).

  KEYS[1] sessions set   KEYS[2] presence zset   KEYS[3] centrals set   KEYS[4] routes hash
  ARGV[1] session id     ARGV[2] presence deadline (from step 1)
  ARGV[3] '1': a renewal (metadata unchanged: only the presence score moves)
  ARGV[4] the global key prefix (`<prefix>:gateway`, tagged on a cluster): drainers keys are built from it
  ARGV[5] previous role  ARGV[6] '1' when the record had `drains`  ARGV[7] its previous value
  ARGV[8..] metadata field/value pairs (as given to step 1)

  Returns '1' when some session's presence has lapsed (the earliest deadline is past): only then does
  the caller run the reaping, so a presence tick costs no scan while nobody died; '0' else.
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local sid, g = ARGV[1], ARGV[4]
redis.call('ZADD', KEYS[2], ARGV[2], sid)
if ARGV[3] ~= '1' then
  redis.call('SADD', KEYS[1], sid)
  local role, durable, drains = ARGV[5], nil, nil
  if role == '' then role = nil end
  for i = 8, #ARGV - 1, 2 do
    if ARGV[i] == 'role' then role = ARGV[i + 1] end
    if ARGV[i] == 'durable' then durable = ARGV[i + 1] end
    if ARGV[i] == 'drains' then drains = ARGV[i + 1] end
  end
  if role == 'central' then redis.call('SADD', KEYS[3], sid)
  else redis.call('SREM', KEYS[3], sid) end
  if ARGV[6] == '1' and ARGV[7] ~= drains then
    for queue in string.gmatch(ARGV[7], '[^,]+') do redis.call('SREM', g .. ':drainers:' .. queue, sid) end
  end
  if drains then
    for queue in string.gmatch(drains, '[^,]+') do redis.call('SADD', g .. ':drainers:' .. queue, sid) end
  end
  redis.call('HSET', KEYS[4], sid, cjson.encode({role = role or '', durable = durable or '', drains = drains or cjson.null}))
end
local earliest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
return (earliest[2] and tonumber(earliest[2]) < now) and '1' or '0'
