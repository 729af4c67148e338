--[[
  Journal that the agent answered a turn (`pi-gateway tail`, the web page): who asked (the
  channel, the request id, the event types of an event turn) and the first line of the reply, so
  a reply that went to no human channel is still visible somewhere.

  KEYS[1] journal stream
  ARGV[1] journal cap   ARGV[2] request id   ARGV[3] channel   ARGV[4] event types (comma-separated, may be empty)
  ARGV[5] session id    ARGV[6] the reply's first line (already capped)   ARGV[7] event sources (may be empty)

  Returns the entry's stream id.
]]
local fields = {'kind', 'replied', 'id', ARGV[2], 'channel', ARGV[3], 'sessions', ARGV[5], 'reply', ARGV[6]}
if ARGV[4] ~= '' then
  table.insert(fields, 'type')
  table.insert(fields, ARGV[4])
end
if ARGV[7] ~= '' then
  table.insert(fields, 'source')
  table.insert(fields, ARGV[7])
end
return redis.call('XADD', KEYS[1], 'MAXLEN', '~', tonumber(ARGV[1]), '*', unpack(fields))
