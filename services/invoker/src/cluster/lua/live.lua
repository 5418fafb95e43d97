--[[
  Which registry entries belong to live instances; the start of every script that counts them.
  A node's instances die with it: an entry counts while its node is in the list of live nodes the
  caller read (the nodes' heartbeats are in another key, which on a Redis Cluster a script of a
  function's slot cannot read), or when it was reserved after that list was read (a node that
  started since).

  ARGV[1]  the live nodes, comma-separated
  ARGV[2]  when that list was read (ms, Redis's clock)
]]
local live_nodes = {}
for node in string.gmatch(ARGV[1], '[^,]+') do live_nodes[node] = true end
local listed_at = tonumber(ARGV[2])
local function live(entry)
  if type(entry) ~= 'table' or type(entry.node) ~= 'string' then return false end
  return live_nodes[entry.node] == true or (tonumber(entry.at) or 0) >= listed_at - 1000
end
