--[[
  Registration, the session's slot (step 1 of 2; register-5.lua runs both on a single Redis): the
  lease decision and the session's record. A durable session id has exactly one live owner at a time:
  the instance recorded here, for as long as its presence deadline lies ahead. Registration refuses
  when another instance holds a live lease, unless asked to take over; an expired lease (the holder
  died or stopped) is taken over by whoever asks first.

  The deadline is kept in the record itself (`deadline`), so this step decides alone, in its slot;
  the global step (register-global-4.lua) then sets the presence score the router and reaper read.

  KEYS[1] session info hash
  ARGV[1] session id    ARGV[2] presence ttl (ms)
  ARGV[3] takeover: ''  never take a live lease; '*' take it from anyone; an instance token: take it
          only from that holder (known to be dead), so two successors of one dead holder cannot both win
  ARGV[4] this instance's token
  ARGV[5] 'renew': the owner's presence tick, with the same metadata as its registration (but for
          `memory`, its process's memory now, JSON); '' else
  ARGV[6] the holder's presence deadline as the caller knows it ('' = none), or 'record': read the
          record's `deadline` (a cluster: the presence zset is in another slot). A single Redis passes
          its presence score, so a record written before `deadline` existed is judged as before.
  ARGV[7..] metadata field/value pairs

  Returns {'held', instance, pid, host, kind, since, presence deadline, role} of the live holder, or
  {'owner', previous instance, pid, host, previous deadline, now, new deadline, renewed '1'|'0',
   previous role, previous drains present '1'|'0', previous drains}.
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl, takeover, me = tonumber(ARGV[2]), ARGV[3], ARGV[4]
local prev = redis.call('HMGET', KEYS[1], 'instance', 'pid', 'host', 'kind', 'started', 'role', 'drains', 'deadline')
local deadline = ARGV[6]
if deadline == 'record' then deadline = prev[8] or '' end
local holder = prev[1] or ''
local live = holder ~= '' and holder ~= me and deadline ~= '' and tonumber(deadline) >= now
if live and takeover ~= '*' and takeover ~= holder then
  return {'held', holder, prev[2] or '', prev[3] or '', prev[4] or '', prev[5] or '', deadline, prev[6] or ''}
end
local until_ = now + ttl
local function owner(renewed)
  return {'owner', holder, prev[2] or '', prev[3] or '', deadline, now, until_, renewed, prev[6] or '', prev[7] and '1' or '0', prev[7] or ''}
end
-- The presence tick of a live owner: its metadata is unchanged, so only the deadline, `seen` and the
-- process's `memory` (read anew each tick) move. This runs every presence interval in every live
-- session: the idle cost of the gateway.
if ARGV[5] == 'renew' and holder == me and deadline ~= '' and tonumber(deadline) >= now then
  local moved = {'seen', now, 'deadline', until_}
  for i = 7, #ARGV - 1, 2 do
    if ARGV[i] == 'memory' then
      moved[5] = 'memory'
      moved[6] = ARGV[i + 1]
    end
  end
  redis.call('HSET', KEYS[1], unpack(moved))
  return owner('1')
end
local fields = {'instance', me, 'seen', now, 'deadline', until_}
for i = 7, #ARGV do fields[#fields + 1] = ARGV[i] end
-- 'started' is the lease's "since": set when an instance takes the id, kept while it renews.
if holder ~= me then
  fields[#fields + 1] = 'started'
  fields[#fields + 1] = now
end
redis.call('HSET', KEYS[1], unpack(fields))
return owner('0')
