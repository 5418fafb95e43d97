--[[
  Reserves a place for a new instance of a function, cluster-wide, unless the function already has
  its maximum number of instances. Entries of dead nodes are removed first: their instances died
  with them. (Preceded by live.lua.)

  KEYS[1]  the function's instances hash (instance id -> JSON with "node" and "at")
  ARGV[1..2] the live nodes (live.lua)
  ARGV[3]  the new instance id
  ARGV[4]  the new instance's JSON
  ARGV[5]  maximum instances of the function

  Output: 1 when reserved, 0 when the function is at its limit.
]]
local entries = redis.call('HGETALL', KEYS[1])
local count = 0
for i = 1, #entries, 2 do
  local ok, entry = pcall(cjson.decode, entries[i + 1])
  if ok and live(entry) then
    count = count + 1
  else
    redis.call('HDEL', KEYS[1], entries[i])
  end
end
if count >= tonumber(ARGV[5]) then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[3], ARGV[4])
return 1
