-- Reads what a joining client needs, atomically: the job's live state and, when the client resumes
-- after seq N, the history events after N — or the word 'gap' when the history no longer holds
-- them (capped or expired), so the client gets a resync snapshot instead.
local stateKey = KEYS[1]
local historyKey = KEYS[2]
local afterSeq = tonumber(ARGV[1])   -- -1: no resume, state only

local state = redis.call('HGETALL', stateKey)
if afterSeq < 0 or #state == 0 then
  return { state }
end

local seq = tonumber(redis.call('HGET', stateKey, 'seq'))
local missing = seq - afterSeq
if missing <= 0 then
  return { state, {} }
end
local held = redis.call('LLEN', historyKey)
if missing > held then
  return { state, 'gap' }
end
return { state, redis.call('LRANGE', historyKey, -missing, -1) }
