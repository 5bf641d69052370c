-- take decides whether a reporter may file a report and, if so, spends it. It is a
-- function, so that the filing script (file.lua) runs it too; the Limiter's script
-- is this file followed by "return take(KEYS, ARGV)". (Limiter.Check reads the same
-- keys with a plain MGET and decides in Go.)
-- All keys belong to one reporter (one hash slot) and are read with one MGET:
-- KEYS[1] the bar of this reporter in this server: "<until ms>"
-- KEYS[2..] sliding windows: "<ms><report id>;" entries, oldest first
-- KEYS[#KEYS] when ARGV[2] > 0: the duplicate marker of this reporter and target,
--   "<until ms><report id>"
-- Times are 13-digit milliseconds (until the year 2286), so entries parse without
-- patterns.
-- ARGV[1] the report id to spend
-- ARGV[2] how long a duplicate marker lasts in ms, 0 for no duplicate rule
-- ARGV[3..] limit, window in ms: one pair per window key
-- Returns {code, retry_after_ms}: code 0 allowed, 1 barred, 2 duplicate, 3+ the
-- window that is full (3 for KEYS[2], 4 for KEYS[3]).
--
-- A window is one string rather than a sorted set: a decision is then one read and,
-- when spent, one write per window, which costs the server about what
-- go-redis/redis_rate's single-key GCRA does, while staying an exact sliding window.
local function take(KEYS, ARGV)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local v = redis.call('MGET', unpack(KEYS))

  if v[1] and tonumber(v[1]) > now then return {1, tonumber(v[1]) - now} end

  local dedupe = tonumber(ARGV[2])
  local windows = #KEYS
  if dedupe > 0 then
    windows = windows - 1
    local seen = v[#KEYS]
    if seen then
      local untilms = tonumber(string.sub(seen, 1, 13))
      if untilms > now then return {2, untilms - now} end
    end
  end

  local kept = {}
  for i = 2, windows do
    local limit = tonumber(ARGV[2 * i - 1])
    local from = now - tonumber(ARGV[2 * i])
    local s, ts, first = v[i], {}, nil
    if s then
      local pos, len = 1, #s
      while pos < len do
        local semi = string.find(s, ';', pos + 13, true)
        if not semi then break end
        local at = tonumber(string.sub(s, pos, pos + 12))
        if at > from then
          first = first or pos
          ts[#ts + 1] = at
        end
        pos = semi + 1
      end
    end
    local n = #ts
    if n >= limit then
      -- One more report fits once all but limit-1 of the n have left the window; the
      -- last of those to leave is the (n-limit+1)th oldest.
      return {i + 1, ts[n - limit + 1] - from}
    end
    kept[i] = first and string.sub(s, first) or ''
  end

  local member = ARGV[1]
  local entry = now .. member .. ';'
  for i = 2, windows do
    redis.call('SET', KEYS[i], kept[i] .. entry, 'PX', ARGV[2 * i])
  end
  if dedupe > 0 then
    redis.call('SET', KEYS[#KEYS], (now + dedupe) .. member, 'PX', dedupe)
  end
  return {0, 0}
end
