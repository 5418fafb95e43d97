--[[
  Adds one batch of invocation records to their functions' per-minute figures, once: the batch's
  stream sequence is remembered for a while, so a batch delivered twice (the collector died before
  acknowledging it) is not counted twice.

  KEYS[1]  the "batch counted" marker of this stream sequence (for the one function whose figures follow)
  ARGV[1]  how long the marker is kept (seconds)
  ARGV[2]  how long the per-minute figures are kept (ms)
  ARGV[3]  the number of groups that follow (a record counts for its function, and again for its qualifier)
  ARGV[4..] per group: minute key, duration bucket field, duration (ms), flags ("e" error, "t" throttled, "c" cold start, "o" timeout)

  Output: 1 counted, 0 counted before
]]
if not redis.call('SET', KEYS[1], '1', 'EX', ARGV[1], 'NX') then
  return 0
end
local n = tonumber(ARGV[3])
for i = 0, n - 1 do
  local at = 4 + i * 4
  local key = ARGV[at]
  local bucket = ARGV[at + 1]
  local duration = tonumber(ARGV[at + 2])
  local flags = ARGV[at + 3]
  if string.find(flags, 't', 1, true) then
    redis.call('HINCRBY', key, 'throttles', 1)
  else
    redis.call('HINCRBY', key, 'invocations', 1)
    redis.call('HINCRBY', key, bucket, 1)
    redis.call('HINCRBY', key, 'durationSumMs', duration)
    local max = redis.call('HGET', key, 'durationMaxMs')
    if not max or duration > tonumber(max) then redis.call('HSET', key, 'durationMaxMs', duration) end
    local min = redis.call('HGET', key, 'durationMinMs')
    if not min or duration < tonumber(min) then redis.call('HSET', key, 'durationMinMs', duration) end
    if string.find(flags, 'e', 1, true) then redis.call('HINCRBY', key, 'errors', 1) end
    if string.find(flags, 'c', 1, true) then redis.call('HINCRBY', key, 'coldStarts', 1) end
    if string.find(flags, 'o', 1, true) then redis.call('HINCRBY', key, 'timeouts', 1) end
  end
  redis.call('PEXPIRE', key, ARGV[2])
end
return 1
