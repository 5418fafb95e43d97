--[[
  Records a new asynchronous invocation — its fields (a hash), its first event (a list) and its
  place in the function's index by start time — in one step: a record is never half-written, nor
  left out of its function's listing.

  KEYS[1]  the invocation record (hash)
  KEYS[2]  its events (list of JSON, oldest first)
  KEYS[3]  the function's index (sorted set of invocation ids by start time)
  ARGV[1]  the invocation id
  ARGV[2]  its start time (ms)
  ARGV[3]  retention (ms)
  ARGV[4]  now (ms)
  ARGV[5]  the first event (JSON)
  ARGV[6..] field, value, field, value, …

  Output: 1 created, 0 an invocation with this id exists
]]
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], unpack(ARGV, 6))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('DEL', KEYS[2])
redis.call('RPUSH', KEYS[2], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
-- Trim what has outlived the retention about once in a hundred creations.
if math.random(100) == 1 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', tonumber(ARGV[4]) - tonumber(ARGV[3]))
end
redis.call('PEXPIRE', KEYS[3], ARGV[3])
return 1
