--[[
  Reserves a place for a new instance of a function, cluster-wide, unless the function already has
  its maximum number of instances. Entries of nodes whose heartbeat key has expired are removed
  first: their instances died with them.

  KEYS[1]  the function's instances hash (instance id -> JSON with a "node" field)
  ARGV[1]  the new instance id
  ARGV[2]  the new instance's JSON
  ARGV[3]  maximum instances of the function
  ARGV[4]  prefix of node heartbeat keys (prefix .. node)

  Output: 1 when reserved, 0 when the function is at its limit.
]]
local entries = redis.call('HGETALL', KEYS[1])
local count = 0
for i = 1, #entries, 2 do
  local ok, entry = pcall(cjson.decode, entries[i + 1])
  if ok and type(entry) == 'table' and entry.node and redis.call('EXISTS', ARGV[4] .. entry.node) == 1 then
    count = count + 1
  else
    redis.call('HDEL', KEYS[1], entries[i])
  end
end
if count >= tonumber(ARGV[3]) then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
