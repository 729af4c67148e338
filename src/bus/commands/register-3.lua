--[[
  Register a session (or renew its lease and presence). A durable session id has exactly one live
  owner at a time: the instance recorded in the session hash, for as long as its presence deadline
  lies ahead. Registration refuses when another instance holds a live lease, unless asked to take
  over; an expired lease (the holder died or stopped) is taken over by whoever asks first. Called
  again on every presence tick, so a holder learns here that its lease was taken, and a session
  that was reaped while its process was frozen comes back by itself.

  KEYS[1] sessions set  KEYS[2] presence zset  KEYS[3] session info hash
  ARGV[1] session id    ARGV[2] presence ttl (ms)
  ARGV[3] takeover: ''  never take a live lease; '*' take it from anyone (pi-gateway daemon
          --takeover); an instance token: take it only from that holder (known to be dead), so
          two successors of one dead holder cannot both win
  ARGV[4] this instance's token
  ARGV[5] 'renew': the owner's presence tick, with the same metadata as its registration (but for
          `memory`, its process's memory now, JSON); '' else
  ARGV[6..] metadata field/value pairs

  Keeps the indexes push-5.lua reads instead of scanning the registry: the centrals set
  (`<prefix>:gateway:centrals`, by `role`) and, per queue, the sessions that drain it
  (`<prefix>:gateway:drainers:<queue>`, by `drains`). The prefix is the info hash's key less its
  `:gateway:session:<sid>` tail.

  Returns {'owner', previous instance, pid, host, presence deadline, now, reap due, recover due}
  ('' where unknown), or {'held', instance, pid, host, kind, since, presence deadline, role} of the
  live holder. The previous deadline (server time `now` to compare with) tells a renewing owner that
  its own presence had lapsed meanwhile (its process was frozen, or Redis was away): pushes to it
  were refused and, unless its id is durable, it may have been reaped. `reap due` is '1' when some
  session's presence has lapsed (the earliest deadline is past): only then does the caller run the
  reaping (retire-3.lua), so a presence tick is one script while nobody died. `recover due` is
  '1' when one of the queues this session drains has an in-flight entry whose lease expired: only
  then does the caller put such entries back (recover-3.lua).
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local sid, ttl, takeover, me = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local prev = redis.call('HMGET', KEYS[3], 'instance', 'pid', 'host', 'kind', 'started', 'role', 'drains')
local deadline = redis.call('ZSCORE', KEYS[2], sid) or ''
local holder = prev[1] or ''
local live = holder ~= '' and holder ~= me and deadline ~= '' and tonumber(deadline) >= now
if live and takeover ~= '*' and takeover ~= holder then
  return {'held', holder, prev[2] or '', prev[3] or '', prev[4] or '', prev[5] or '', deadline, prev[6] or ''}
end
local prefix = string.sub(KEYS[3], 1, #KEYS[3] - #(':gateway:session:' .. sid))
local function owner(drains)
  local earliest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  local reapDue = (earliest[2] and tonumber(earliest[2]) < now) and '1' or '0'
  local recoverDue = '0'
  for queue in string.gmatch(drains or sid, '[^,]+') do
    if #redis.call('ZRANGEBYSCORE', prefix .. ':leases:' .. queue, '-inf', now, 'LIMIT', 0, 1) > 0 then recoverDue = '1' end
  end
  return {'owner', holder, prev[2] or '', prev[3] or '', deadline, now, reapDue, recoverDue}
end
-- The presence tick of a live owner: its record and indexes are in place (reaping or a clean stop
-- would have removed its presence entry first) and its metadata unchanged, so only the deadline,
-- `seen` and the process's `memory` (read anew each tick) move. This runs every presence interval
-- in every live session: the idle cost of the whole gateway.
if ARGV[5] == 'renew' and holder == me and deadline ~= '' and tonumber(deadline) >= now then
  redis.call('ZADD', KEYS[2], now + ttl, sid)
  local moved = {'seen', now}
  for i = 6, #ARGV - 1, 2 do
    if ARGV[i] == 'memory' then
      moved[3] = 'memory'
      moved[4] = ARGV[i + 1]
    end
  end
  redis.call('HSET', KEYS[3], unpack(moved))
  return owner(prev[7])
end
redis.call('SADD', KEYS[1], sid)
redis.call('ZADD', KEYS[2], now + ttl, sid)
local fields = {'instance', me, 'seen', now}
for i = 6, #ARGV do fields[#fields + 1] = ARGV[i] end
-- 'started' is the lease's "since": set when an instance takes the id, kept while it renews.
if holder ~= me then
  fields[#fields + 1] = 'started'
  fields[#fields + 1] = now
end
redis.call('HSET', KEYS[3], unpack(fields))

local role, drains = prev[6], nil
for i = 6, #ARGV - 1, 2 do
  if ARGV[i] == 'role' then role = ARGV[i + 1] end
  if ARGV[i] == 'drains' then drains = ARGV[i + 1] end
end
if role == 'central' then redis.call('SADD', prefix .. ':gateway:centrals', sid)
else redis.call('SREM', prefix .. ':gateway:centrals', sid) end
if prev[7] and prev[7] ~= drains then
  for queue in string.gmatch(prev[7], '[^,]+') do redis.call('SREM', prefix .. ':gateway:drainers:' .. queue, sid) end
end
if drains then
  for queue in string.gmatch(drains, '[^,]+') do redis.call('SADD', prefix .. ':gateway:drainers:' .. queue, sid) end
end
return owner(drains)
