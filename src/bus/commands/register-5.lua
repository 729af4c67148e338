--[[
  Register a session (or renew its lease and presence) on a single Redis: the session step
  (register-session-1.lua: the lease decision and the record) and the global step
  (register-global-4.lua: registry, presence, indexes) in one atomic script, one round trip. A Redis
  Cluster runs the same steps one by one, each in its slot (src/bus/sessions.ts). Called again on every
  presence tick, so a holder learns here that its lease was taken, and a session that was reaped while
  its process was frozen comes back by itself.

  KEYS[1] sessions set  KEYS[2] presence zset  KEYS[3] session info hash  KEYS[4] centrals set
  KEYS[5] routes hash
  ARGV[1..5] and ARGV[7..] as register-session-1.lua; ARGV[6] unused (the presence score is read here)

  Returns {'owner', previous instance, pid, host, presence deadline, now, reap due, recover due}
  ('' where unknown), or {'held', instance, pid, host, kind, since, presence deadline, role} of the
  live holder. The previous deadline (server time `now` to compare with) tells a renewing owner that
  its own presence had lapsed meanwhile (its process was frozen, or Redis was away): pushes to it
  were refused and, unless its id is durable, it may have been reaped. `reap due` is '1' when some
  session's presence has lapsed; `recover due` when one of the queues this session drains has an
  in-flight entry whose lease expired.
]]
--@step register-session
--@step register-global
--@step lapsed-leases
local sid = ARGV[1]
-- The presence score is the deadline on a single Redis (a record written before `deadline` existed
-- has only this one).
local args = {unpack(ARGV)}
args[6] = redis.call('ZSCORE', KEYS[2], sid) or ''
local r = register_session({KEYS[3]}, args)
if r[1] == 'held' then return r end
local prefix = string.sub(KEYS[3], 1, #KEYS[3] - #(':gateway:session:' .. sid))
local global = {sid, r[7], r[8], prefix .. ':gateway', r[9], r[10], r[11]}
for i = 7, #ARGV do global[#global + 1] = ARGV[i] end
local reapDue = register_global({KEYS[1], KEYS[2], KEYS[4], KEYS[5]}, global)
local drains = r[8] == '1' and (r[10] == '1' and r[11] or nil) or nil
if r[8] ~= '1' then
  for i = 7, #ARGV - 1, 2 do
    if ARGV[i] == 'drains' then drains = ARGV[i + 1] end
  end
end
local recoverDue = '0'
for queue in string.gmatch(drains or sid, '[^,]+') do
  if lapsed_leases({prefix .. ':leases:' .. queue}, {r[6]}) == 1 then recoverDue = '1' end
end
return {'owner', r[2], r[3], r[4], r[5], r[6], reapDue, recoverDue}
