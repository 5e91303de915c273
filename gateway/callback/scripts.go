package callback

import "github.com/redis/go-redis/v9"

// Layout (every key under the store's hash tag, so each script's keys are
// in one slot on Redis Cluster):
//
//	cb:who:<day>:<h> string the ID of the day's task of a caller; h is the
//	                     SHA-256 of day and number, so no key name holds a number
//	cb:task:<id>   hash  id day caller line call last_call attempts
//	                     abandoned last_abandoned (unix ms) state
//	                     claimed_by claimed_at claim_until done_at (ms)
//	                     outbound_call result reason last_reason
//	                     (why the first and the latest call were missed)
//	cb:calls:<id>  set   the abandoned call IDs merged into the task
//	cb:day:<day>   zset  id → first abandoned (ms); the day's tasks
//	cb:claims      zset  id → claim_until (ms); tasks with a live claim
//
// State is stored as written; a claim whose claim_until has passed is
// open, whether or not Sweep has rewritten it yet. claimed_by stays after a
// claim lapses (the last claimant), so the agent still on the call can
// complete the task as long as nobody else has claimed it.
//
// Scripts return {code, detail, HGETALL of the task}.

// prelude: num reads a stored number; missing or empty is 0.
const prelude = `
local function num(v) return tonumber(v) or 0 end
`

// addScript records an abandoned call. KEYS: who (the caller's index for
// the day), day. ARGV: key prefix "{tag}:cb:", a new random ID (used if
// the caller has no task that day), day, caller, line, call ID, abandoned
// (ms), ttl (s), reason ("abandoned", "shed", "requested"). The task and calls keys derive from the ID under the same
// hash tag.
var addScript = redis.NewScript(prelude + `
local id = redis.call('GET', KEYS[1]) or ARGV[2]
local K = {ARGV[1] .. 'task:' .. id, ARGV[1] .. 'calls:' .. id, KEYS[2], KEYS[1]}
local A = {id, ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]}
redis.call('SET', K[4], id, 'EX', tonumber(A[7]))
local at = tonumber(A[6])
local ttl = tonumber(A[7])
local code = 'merged'
if redis.call('EXISTS', K[1]) == 0 then
  redis.call('HSET', K[1], 'id', A[1], 'day', A[2], 'caller', A[3], 'line', A[4],
    'call', A[5], 'last_call', A[5], 'attempts', 1, 'abandoned', A[6],
    'last_abandoned', A[6], 'state', 'open', 'reason', ARGV[9], 'last_reason', ARGV[9])
  redis.call('SADD', K[2], A[5])
  redis.call('ZADD', K[3], at, A[1])
  code = 'created'
elseif redis.call('SADD', K[2], A[5]) == 1 then
  redis.call('HINCRBY', K[1], 'attempts', 1)
  if at < num(redis.call('HGET', K[1], 'abandoned')) then
    -- events arrived out of order: the first abandoned call stays first
    redis.call('HSET', K[1], 'abandoned', A[6], 'call', A[5], 'reason', ARGV[9])
    redis.call('ZADD', K[3], at, A[1])
  end
  if at >= num(redis.call('HGET', K[1], 'last_abandoned')) then
    redis.call('HSET', K[1], 'last_abandoned', A[6], 'last_call', A[5], 'last_reason', ARGV[9])
  end
  -- the citizen called again after being called back and was missed
  -- again: the task is open again
  if redis.call('HGET', K[1], 'state') == 'done' and at > num(redis.call('HGET', K[1], 'done_at')) then
    redis.call('HSET', K[1], 'state', 'open', 'claim_until', '')
    code = 'reopened'
  end
else
  code = 'replay'
end
for i = 1, 3 do redis.call('EXPIRE', K[i], ttl) end
return {code, '', redis.call('HGETALL', K[1])}
`)

// claimScript gives a task to an agent. KEYS: task, claims.
// ARGV: id, agent, now (ms), claim until (ms), ttl (s).
var claimScript = redis.NewScript(prelude + `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'not_found', '', {}} end
local now = tonumber(ARGV[3])
local st = redis.call('HGET', KEYS[1], 'state')
if st == 'done' then return {'done', '', redis.call('HGETALL', KEYS[1])} end
local by = redis.call('HGET', KEYS[1], 'claimed_by') or ''
local expired = '0'
if st == 'claimed' then
  if num(redis.call('HGET', KEYS[1], 'claim_until')) > now then
    if by ~= ARGV[2] then return {'claimed', by, redis.call('HGETALL', KEYS[1])} end
    redis.call('HSET', KEYS[1], 'claim_until', ARGV[4])
    redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
    return {'extended', '', redis.call('HGETALL', KEYS[1])}
  end
  expired = '1'
end
redis.call('HSET', KEYS[1], 'state', 'claimed', 'claimed_by', ARGV[2], 'claimed_at', ARGV[3], 'claim_until', ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[5]))
return {'claimed_now', expired, redis.call('HGETALL', KEYS[1])}
`)

// completeScript closes a task. KEYS: task, claims.
// ARGV: id, agent, outbound call ID, result, now (ms), ttl (s).
var completeScript = redis.NewScript(prelude + `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'not_found', '', {}} end
local st = redis.call('HGET', KEYS[1], 'state')
local by = redis.call('HGET', KEYS[1], 'claimed_by') or ''
if st == 'done' then
  if by == ARGV[2] and redis.call('HGET', KEYS[1], 'outbound_call') == ARGV[3] then
    return {'replay', '', redis.call('HGETALL', KEYS[1])}
  end
  return {'done', by, redis.call('HGETALL', KEYS[1])}
end
if by == '' then return {'not_claimed', '', redis.call('HGETALL', KEYS[1])} end
if by ~= ARGV[2] then return {'not_claimant', by, redis.call('HGETALL', KEYS[1])} end
redis.call('HSET', KEYS[1], 'state', 'done', 'outbound_call', ARGV[3], 'result', ARGV[4], 'done_at', ARGV[5], 'claim_until', '')
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[6]))
return {'completed', '', redis.call('HGETALL', KEYS[1])}
`)

// sweepScript opens the tasks whose claim lapsed. KEYS: claims.
// ARGV: task key prefix ("{tag}:cb:task:"), now (ms), limit.
var sweepScript = redis.NewScript(prelude + `
local now = tonumber(ARGV[2])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
local n = 0
for _, id in ipairs(due) do
  local k = ARGV[1] .. id
  if redis.call('HGET', k, 'state') == 'claimed' and num(redis.call('HGET', k, 'claim_until')) <= now then
    redis.call('HSET', k, 'state', 'open', 'claim_until', '')
    n = n + 1
  end
  redis.call('ZREM', KEYS[1], id)
end
return n
`)
