--[[
  Reserves a place for a new provisioned instance of a function: within the function's cluster-wide
  instance limit, and only while fewer than the provision target of instances of this qualifier's
  class are provisioned (so nodes provisioning at the same time never overshoot). Entries of dead
  nodes are removed first. (Preceded by live.lua.)

  KEYS[1]  the function's instances hash (instance id -> JSON with "node", "at", "cls", "provisioned")
  ARGV[1..2] the live nodes (live.lua)
  ARGV[3]  the new instance id
  ARGV[4]  the new instance's JSON
  ARGV[5]  maximum instances of the function
  ARGV[6]  the qualifier being provisioned
  ARGV[7]  the instance class it provisions
  ARGV[8]  the provision target

  Output: 1 reserved; 0 the function is at its instance limit; -1 the target is already met
]]
local entries = redis.call('HGETALL', KEYS[1])
local count = 0
local provisioned = 0
for i = 1, #entries, 2 do
  local ok, entry = pcall(cjson.decode, entries[i + 1])
  if ok and live(entry) then
    count = count + 1
    if entry.provisioned == ARGV[6] and entry.cls == ARGV[7] then provisioned = provisioned + 1 end
  else
    redis.call('HDEL', KEYS[1], entries[i])
  end
end
if provisioned >= tonumber(ARGV[8]) then return -1 end
if count >= tonumber(ARGV[5]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[3], ARGV[4])
return 1
