--[[
  Claim up to N of a session's oldest pending events, atomically: they leave the pending list and
  enter the in-flight hash with a lease, so a consumer that dies before acknowledging does not
  lose them (recover-3.lua puts them back once the lease expires).

  Entries already acknowledged within the dedup window, or already in flight, are dropped as
  duplicates, each with a `duplicate` journal entry (and the duplicate counter). An entry without
  an id, or with `"id":""` or `null` (the seed's crontab line where `uuidgen` is missing), gets one
  derived from its content, `auto-<sha1 of the entry>`, and an `id-assigned` journal entry: an
  exact re-send is then still delivered once. Entries that are not JSON objects, or whose id is not
  a string, cannot be tracked at all and go straight to the dead-letter list with the reason; the
  full schema check happens in the client, which rejects (reject-4.lua) what fails it.

  KEYS[1] pending list   KEYS[2] in-flight hash   KEYS[3] leases zset
  KEYS[4] delivered zset KEYS[5] dead-letter list KEYS[6] journal stream
  KEYS[7] counters hash (duplicates)   KEYS[8] the hash holding the claimer's lease instance: its
          info hash on a single Redis, the queue's owner mirror on a cluster (same slot as KEYS[1])
  ARGV[1] max count      ARGV[2] lease (ms)       ARGV[3] dedup window (ms)
  ARGV[4] session id     ARGV[5] dead-letter cap  ARGV[6] journal cap
  ARGV[7] max entry size (bytes)      ARGV[8] the claimer's instance ('' = no lease check)
  ARGV[9] the field of KEYS[8] holding it ('instance', or the claimer's id in an owner mirror)
  ARGV[10] most bytes of entries one claim hands out ('' or absent = only the count bounds it): the
          oldest entry is always taken, then the next while the total stays within; the rest stay
          pending, in order, for the next claim (a daemon claiming 2,000 at a time must not read
          2,000 one-megabyte entries into memory at once)

  Returns {duplicates, deadLettered, id1, raw1, id2, raw2, ...} oldest first, or {-1, 0} when the
  claimer no longer holds its session's lease (taken over): a displaced owner claims nothing, in
  the same atomic step, so it can never drain next to the new owner.
]]
local count, lease, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local sid, deadCap, journalCap, maxBytes = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local counters = KEYS[7]

if ARGV[8] ~= '' then
  local holder = redis.call('HGET', KEYS[8], ARGV[9])
  if holder and holder ~= ARGV[8] then return {-1, 0} end
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

-- The oldest `count` entries (the list's tail), oldest first. With a byte budget they are read a
-- page at a time and the reading stops at the budget: an entry past it is not even copied here.
local budget = tonumber(ARGV[10] or '')
local page = budget and 100 or count
local entries, bytes = {}, 0
while #entries < count do
  local n = math.min(page, count - #entries)
  -- Newest first within the slice.
  local slice = redis.call('LRANGE', KEYS[1], -(#entries + n), -(#entries + 1))
  local full = false
  for i = #slice, 1, -1 do
    -- An entry over the size limit is not handed out (it is dead-lettered with its first 1 KB).
    local size = #slice[i]
    if size > maxBytes then size = 1024 end
    if budget and #entries > 0 and bytes + size > budget then
      full = true
      break
    end
    bytes = bytes + size
    entries[#entries + 1] = slice[i]
  end
  if full or #slice < n then break end
end
if #entries == 0 then return {0, 0} end
redis.call('LTRIM', KEYS[1], 0, -(#entries + 1))
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - window)

-- Lease deadlines double as the claim order (recover-3.lua puts entries back by it), so they
-- must be strictly increasing, even for claims within the same millisecond.
local top = redis.call('ZRANGE', KEYS[3], -1, -1, 'WITHSCORES')
local deadline = now + lease
if top[2] and tonumber(top[2]) >= deadline then deadline = tonumber(top[2]) + 0.001 end

-- Ids go back to the client and return in ack/reject: bytes that are not UTF-8 would come back
-- altered (decoded as U+FFFD) and never match, leaving the entry in flight forever.
local function validUtf8(str)
  local i, n = 1, #str
  while i <= n do
    local c = string.byte(str, i)
    local len, lo, hi = 1, 0x80, 0xBF
    if c < 0x80 then len = 1
    elseif c >= 0xC2 and c <= 0xDF then len = 2
    elseif c == 0xE0 then len, lo = 3, 0xA0
    elseif c == 0xED then len, hi = 3, 0x9F
    elseif c >= 0xE1 and c <= 0xEF then len = 3
    elseif c == 0xF0 then len, lo = 4, 0x90
    elseif c == 0xF4 then len, hi = 4, 0x8F
    elseif c >= 0xF1 and c <= 0xF3 then len = 4
    else return false end
    for j = i + 1, i + len - 1 do
      local cc = string.byte(str, j)
      local min, max = 0x80, 0xBF
      if j == i + 1 then min, max = lo, hi end
      if not cc or cc < min or cc > max then return false end
    end
    i = i + len
  end
  return true
end

local out = {0, 0}
local function dead(reason, raw, id)
  redis.call('LPUSH', KEYS[5], cjson.encode({reason = reason, session = sid, raw = raw, id = id, at = now}))
  redis.call('XADD', KEYS[6], 'MAXLEN', '~', journalCap, '*', 'kind', 'dead-letter', 'id', id or '', 'sessions', sid, 'reason', reason)
  out[2] = out[2] + 1
end

-- The JSON type of a decoded value, in words, for a dead letter a person reads (cjson decodes
-- {} and [] alike, so an empty table could be either).
local function kindOf(value)
  if value == cjson.null then return 'null' end
  local t = type(value)
  if t == 'table' then
    if next(value) == nil then return 'an empty object or array' end
    return value[1] ~= nil and 'an array' or 'an object'
  end
  return 'a ' .. t
end

-- An id the producer left out: derived from the entry itself, so a re-send of the same entry gets
-- the same id (and is a duplicate), and a recovered copy is claimed under the id it had.
local function assignedId(raw, id)
  if id ~= nil and id ~= cjson.null and id ~= '' then return nil end
  return 'auto-' .. redis.sha1hex(raw)
end

-- Many ids at once: one command per chunk instead of one per id (a claim of 2,000 would otherwise
-- make 4,000 calls; Lua's unpack is bounded, hence the chunks). ZMSCORE needs Redis 6.2; an older
-- server gets the same answers one ZSCORE at a time.
local CHUNK = 1000
local function scoresOf(key, ids)
  local out = {}
  for first = 1, #ids, CHUNK do
    local last = math.min(first + CHUNK - 1, #ids)
    local ok, reply = pcall(redis.call, 'ZMSCORE', key, unpack(ids, first, last))
    if not ok then
      reply = {}
      for i = first, last do reply[#reply + 1] = redis.call('ZSCORE', key, ids[i]) end
    end
    for i = 1, #reply do out[#out + 1] = reply[i] end
  end
  return out
end
local function callChunked(command, key, args, width)
  for first = 1, #args, CHUNK * width do
    redis.call(command, key, unpack(args, first, math.min(first + CHUNK * width - 1, #args)))
  end
end

-- First pass: each entry's id, or its dead letter. The common form, an object whose first member is
-- a plain string id (every event the gateway and the seed's producers write), is read without
-- decoding the entry: the client parses every entry anyway and rejects (reject-4.lua) what is not
-- a valid event. An entry with another "id" key further on (a nested one, or the same key twice,
-- where JSON's last one wins), or with a \u escape after its id (a key can be spelt "\u0069d"), and
-- anything else is decoded here.
local ids, raws, assigned = {}, {}, {}
for _, raw in ipairs(entries) do
  if #raw > maxBytes then
    dead('entry is ' .. #raw .. ' bytes, over the ' .. maxBytes .. '-byte limit (GATEWAY_MAX_EVENT_BYTES)', string.sub(raw, 1, 1024))
  else
    local _, idEnd, id = string.find(raw, '^%s*{%s*"id"%s*:%s*"([^"\\]+)"')
    -- Plain searches (no pattern) are cheap; "id" or \u anywhere further on, key or not, means decoding.
    if id and (string.find(raw, '"id"', idEnd + 1, true) or string.find(raw, '\\u', idEnd + 1, true)) then id = nil end
    local derived = false
    local refused = nil
    if not id then
      local ok, decoded = pcall(cjson.decode, raw)
      if not ok then
        refused = 'not JSON: ' .. tostring(decoded)
      -- cjson decodes both {} and [] to an empty table: only a leading '{' tells an object.
      elseif type(decoded) ~= 'table' or decoded[1] ~= nil or not string.find(raw, '^%s*{') then
        local what = string.find(raw, '^%s*%[') and 'an array' or kindOf(decoded)
        refused = 'not a JSON object: the entry is ' .. what .. ', an event is {"id", "type", "source", "payload", "ts"}'
      else
        local auto = assignedId(raw, decoded.id)
        id = auto or decoded.id
        derived = auto ~= nil
        if type(id) ~= 'string' then refused = 'id: must be a string, the entry has ' .. kindOf(id) end
      end
    end
    if not refused and string.find(id, '[\128-\255]') and not validUtf8(id) then
      refused = 'id: not valid UTF-8 (the id must come back unchanged to acknowledge the event)'
    end
    if refused then
      dead(refused, raw)
    else
      ids[#ids + 1] = id
      raws[#raws + 1] = raw
      assigned[#ids] = derived
    end
  end
end

-- Second pass: drop what was delivered within the dedup window or is in flight (its lease), or
-- came twice in this claim; hand out the rest. Never silent: each duplicate is journaled.
local delivered = scoresOf(KEYS[4], ids)
local leased = scoresOf(KEYS[3], ids)
local seen, fields, members = {}, {}, {}
for i, id in ipairs(ids) do
  local inFlight = seen[id] or (leased[i] and redis.call('HEXISTS', KEYS[2], id) == 1)
  if delivered[i] or inFlight then
    local why = delivered[i] and 'already delivered' or 'already in flight'
    redis.call('XADD', KEYS[6], 'MAXLEN', '~', journalCap, '*', 'kind', 'duplicate', 'id', id, 'sessions', sid, 'reason', why)
    redis.call('HINCRBY', counters, 'duplicates', 1)
    out[1] = out[1] + 1
  else
    seen[id] = true
    if assigned[i] then
      redis.call('XADD', KEYS[6], 'MAXLEN', '~', journalCap, '*', 'kind', 'id-assigned', 'id', id, 'sessions', sid,
        'reason', 'the entry had no id: assigned one from its content')
    end
    fields[#fields + 1] = id
    fields[#fields + 1] = raws[i]
    members[#members + 1] = deadline
    members[#members + 1] = id
    deadline = deadline + 0.001
    out[#out + 1] = id
    out[#out + 1] = raws[i]
  end
end
callChunked('HSET', KEYS[2], fields, 2)
callChunked('ZADD', KEYS[3], members, 2)
redis.call('LTRIM', KEYS[5], 0, deadCap - 1)
return out
