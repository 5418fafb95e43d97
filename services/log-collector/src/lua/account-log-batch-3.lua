--[[
  Charges one batch of a function's output to what the function holds in the logs stream, once, and
  says how much of its oldest output must go to keep it within its share. Consecutive batches are
  grouped in chunks (up to a size or an age) so a function's bookkeeping stays small; chunks older
  than the retention are forgotten (the stream has already let them go).

  KEYS[1]  the function's chunks: a list of "firstSeq bytes startMs", oldest first
  KEYS[2]  the function's total bytes
  KEYS[3]  the "batch accounted" marker of this stream sequence
  ARGV[1]  the batch's stream sequence
  ARGV[2]  its size in bytes
  ARGV[3]  now (ms)
  ARGV[4]  a chunk closes at this many bytes
  ARGV[5]  ... or this age (ms)
  ARGV[6]  the function's share of the stream (bytes)
  ARGV[7]  the log retention (ms): chunks older than it are forgotten, and so are these keys
  ARGV[8]  how long the marker is kept (seconds)

  Output: the stream sequence below which the function's messages must be purged (0: none)
]]
if not redis.call('SET', KEYS[3], '1', 'EX', ARGV[8], 'NX') then
  return 0
end
local seq = tonumber(ARGV[1])
local bytes = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local chunkBytes = tonumber(ARGV[4])
local chunkMs = tonumber(ARGV[5])
local share = tonumber(ARGV[6])
local retention = tonumber(ARGV[7])

local function parse(entry)
  local first, size, start = string.match(entry, '^(%d+) (%d+) (%d+)$')
  return tonumber(first), tonumber(size), tonumber(start)
end

local last = redis.call('LINDEX', KEYS[1], -1)
local grown = false
if last then
  local first, size, start = parse(last)
  if size + bytes <= chunkBytes and now - start < chunkMs then
    redis.call('LSET', KEYS[1], -1, string.format('%d %d %d', first, size + bytes, start))
    grown = true
  end
end
if not grown then
  redis.call('RPUSH', KEYS[1], string.format('%d %d %d', seq, bytes, now))
end
local total = redis.call('INCRBY', KEYS[2], bytes)

-- What the stream has already let go of by age.
while true do
  local head = redis.call('LINDEX', KEYS[1], 0)
  if not head then break end
  local _, size, start = parse(head)
  if now - start <= retention or redis.call('LLEN', KEYS[1]) == 1 then break end
  redis.call('LPOP', KEYS[1])
  total = redis.call('DECRBY', KEYS[2], size)
end

-- Over its share: its oldest chunks go, up to the first sequence of the chunk that stays.
local purgeBelow = 0
while total > share and redis.call('LLEN', KEYS[1]) > 1 do
  local _, size = parse(redis.call('LPOP', KEYS[1]))
  total = redis.call('DECRBY', KEYS[2], size)
  purgeBelow = parse(redis.call('LINDEX', KEYS[1], 0))
end

redis.call('PEXPIRE', KEYS[1], retention)
redis.call('PEXPIRE', KEYS[2], retention)
return purgeBelow
