"""Lua scripts for the multi-step writes that must be atomic. Each touches
keys of one hash slot only (see keys.py)."""

from __future__ import annotations

_SEND_ONE = """
local function send_one(stream, cmkey, members, from, text, maxlen, ttl, cmid, conv)
  if cmkey then
    local prev = redis.call('GET', cmkey)
    if prev then
      local sp = string.find(prev, ' ', 1, true)
      return {string.sub(prev, sp + 1), 1, string.sub(prev, 1, sp - 1)}
    end
  end
  if members and redis.call('SISMEMBER', members, from) == 0 then
    return {'', 2, conv}
  end
  local id
  if cmkey then
    id = redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', 'f', from, 't', text, 'c', cmid)
    redis.call('SET', cmkey, conv .. ' ' .. id, 'EX', ttl)
  else
    id = redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', 'f', from, 't', text)
  end
  return {id, 0, conv}
end
"""

# KEYS: stream, [cmid record], [members]; ARGV: from, text, maxlen, cmid ttl,
# has_cmid, is_room, cmid, conv id.  Returns {mid, status, conv id}: status 0
# stored, 1 the cmid was already used (mid and conv id are the original's),
# 2 the sender is not a member of the room.  A cmid record holds "conv mid".
# Keeps to the keys of one slot, so it also runs on a cluster.
SEND = _SEND_ONE + """
local i = 2
local cmkey, members
if ARGV[5] == '1' then cmkey = KEYS[i]; i = i + 1 end
if ARGV[6] == '1' then members = KEYS[i] end
return send_one(KEYS[1], cmkey, members, ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[7], ARGV[8])
"""

# A whole batch of sends in one call, on a single Redis (the keys span
# slots). KEYS: per message stream, cmid record or '', members or ''; ARGV:
# per message the 8 arguments of SEND. Returns one SEND result per message,
# or {'', -1, error} for a message whose write failed, alone.
SEND_MANY = _SEND_ONE + """
local out = {}
for m = 0, #KEYS / 3 - 1 do
  local k, a = 3 * m, 8 * m
  local cmkey, members = KEYS[k + 2], KEYS[k + 3]
  if cmkey == '' then cmkey = nil end
  if members == '' then members = nil end
  local ok, res = pcall(send_one, KEYS[k + 1], cmkey, members, ARGV[a + 1], ARGV[a + 2],
                        ARGV[a + 3], ARGV[a + 4], ARGV[a + 7], ARGV[a + 8])
  if ok then out[m + 1] = res else out[m + 1] = {'', -1, tostring(res)} end
end
return out
"""

_CMP = """
local function newer(a, b)
  local ams, aseq = string.match(a, '^(%d+)-(%d+)$')
  local bms, bseq = string.match(b, '^(%d+)-(%d+)$')
  ams, aseq, bms, bseq = tonumber(ams), tonumber(aseq), tonumber(bms), tonumber(bseq)
  return ams > bms or (ams == bms and aseq > bseq)
end
"""

_ACK_ONE = _CMP + """
local function ack_one(key, conv, mid)
  local cur = redis.call('HGET', key, conv)
  if not cur or newer(mid, cur) then
    redis.call('HSET', key, conv, mid)
  end
end
"""

# KEYS: cursor hash; ARGV: conv, mid, conv, mid, ...  Cursors never move back.
ACK = _ACK_ONE + """
for i = 1, #ARGV, 2 do ack_one(KEYS[1], ARGV[i], ARGV[i + 1]) end
return 0
"""

# Every cursor move of a batch, on a single Redis. KEYS: cursor hashes;
# ARGV: for each key, the number of pairs, then conv, mid pairs.
ACK_MANY = _ACK_ONE + """
local a = 1
for k = 1, #KEYS do
  local n = tonumber(ARGV[a])
  for i = a + 1, a + 2 * n, 2 do ack_one(KEYS[k], ARGV[i], ARGV[i + 1]) end
  a = a + 1 + 2 * n
end
return 0
"""

# KEYS: stream; ARGV: first id after the cursor, me, max entries.  Returns
# {unread from others, entries from there on (the newest `max` of them)}.
REPLAY = """
local start = ARGV[1]
local me, keep = ARGV[2], tonumber(ARGV[3])
local unread, tail = 0, {}
while true do
  local batch = redis.call('XRANGE', KEYS[1], start, '+', 'COUNT', 1000)
  for _, e in ipairs(batch) do
    local f = e[2]
    local from
    for j = 1, #f, 2 do if f[j] == 'f' then from = f[j + 1]; break end end
    if from ~= me then unread = unread + 1 end
    tail[#tail + 1] = e
  end
  if #tail > 2 * keep then
    tail = {unpack(tail, #tail - keep + 1, #tail)}
  end
  if #batch < 1000 then break end
  start = '(' .. batch[#batch][1]
end
if #tail > keep then tail = {unpack(tail, #tail - keep + 1, #tail)} end
return {unread, tail}
"""

# KEYS: user hash, user convs, cursors; ARGV: display, pwhash, created ms,
# lobby conv id, lobby cursor.  Returns 1 if created, 0 if the name is taken.
REGISTER = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'dn', ARGV[1], 'pw', ARGV[2], 'ct', ARGV[3])
redis.call('SADD', KEYS[2], ARGV[4])
redis.call('HSET', KEYS[3], ARGV[4], ARGV[5])
return 1
"""

# KEYS: online, node hash; ARGV: user, delta.  Returns the user's global count.
PRESENCE = """
local n = redis.call('HINCRBY', KEYS[2], ARGV[1], ARGV[2])
if n <= 0 then redis.call('HDEL', KEYS[2], ARGV[1]) end
local c = redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
if c <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]); return 0 end
return c
"""

# KEYS: online, nodes zset, node hash; ARGV: node id.  Removes a dead node's
# connections; returns the users that went offline.  Only one reaper wins.
REAP = """
if redis.call('ZREM', KEYS[2], ARGV[1]) == 0 and redis.call('EXISTS', KEYS[3]) == 0 then
  return {}
end
local gone = {}
local entries = redis.call('HGETALL', KEYS[3])
for i = 1, #entries, 2 do
  local c = redis.call('HINCRBY', KEYS[1], entries[i], -tonumber(entries[i + 1]))
  if c <= 0 then
    redis.call('HDEL', KEYS[1], entries[i])
    gone[#gone + 1] = entries[i]
  end
end
redis.call('DEL', KEYS[3])
return gone
"""

# KEYS: counter; ARGV: window seconds.  Counts one event in a fixed window;
# returns {count, ms left in the window}.
COUNT_EVENT = """
local c = redis.call('INCR', KEYS[1])
if c == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return {c, redis.call('PTTL', KEYS[1])}
"""
