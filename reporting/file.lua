-- Files a report on one Redis node: the body of Service.file, after markPrelude,
-- limits.lua's take and runFn's run (see fileLua in filing.go for KEYS and ARGV).
if (redis.call('HGET', KEYS[1], 'v') or '') ~= ARGV[1] then return {-1, 0} end
local n = tonumber(ARGV[2])
local res = take({unpack(KEYS, 2)}, {unpack(ARGV, 3, 2 + n)})
if res[1] ~= 0 then return res end
run(ARGV, 3 + n)
return res
