"""The Lua scripts of the Redis bus, each with the reason it has to be one script.

Redis runs a script atomically and writes its effects to the AOF as one unit, so no crash or
restart can keep one half of it without the other. One round trip also halves the latency.
"""

from __future__ import annotations

import hashlib

__all__ = ["APPEND_ONCE", "APPEND_UNIQUE", "HOLD_LEASE", "RELEASE_LEASE", "TAKE_TOKEN", "Script"]


class Script:
    """A Lua script and its SHA1 (sent with EVALSHA; EVAL when Redis lost its cache)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()


#: KEYS: dedupe key, stream; ARGV: ttl, maxlen, field, value, ... Returns the new id, or nil
#: when the key existed. The key never exists without the entry, nor the entry without the
#: key, so a retry neither loses nor doubles the message.
APPEND_UNIQUE = Script("""
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  return false
end
return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 3))
""")

#: KEYS: once key, stream; ARGV: ttl, maxlen, field, value, ... Returns {1, new id}, or
#: {0, first id} when the key existed: the key holds the id its first append got, so a
#: repeated append answers that id and appends nothing.
APPEND_ONCE = Script("""
local first = redis.call('GET', KEYS[1])
if first then
  return {0, first}
end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 3))
redis.call('SET', KEYS[1], id, 'EX', ARGV[1])
return {1, id}
""")

#: KEYS: lease hash, fence counter; ARGV: holder, ttl ms. Returns the fencing token, or nil
#: while another holder has the lease. Checking the holder and extending the expiry must be one
#: step, or a lease that expired in between would be renewed for whoever took it meanwhile.
#: A new token is the larger of Redis's clock in microseconds and the last token + 1, so
#: tokens keep growing even after a Redis restart without persistence wiped the counter.
HOLD_LEASE = Script("""
local current = redis.call('HGET', KEYS[1], 'holder')
if current and current ~= ARGV[1] then
  return false
end
local token = redis.call('HGET', KEYS[1], 'token')
if not current then
  local now = redis.call('TIME')
  local clock = tonumber(now[1]) * 1000000 + tonumber(now[2])
  local last = tonumber(redis.call('GET', KEYS[2]) or '0')
  token = string.format('%.0f', math.max(clock, last + 1))
  redis.call('SET', KEYS[2], token)
  redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'token', token)
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return token
""")

#: KEYS: lease hash; ARGV: holder. Deletes the lease only if `holder` still has it, so a
#: late release never frees a lease that has passed to someone else.
RELEASE_LEASE = Script("""
if redis.call('HGET', KEYS[1], 'holder') == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
""")


#: KEYS: bucket; ARGV: rate (tokens per second), burst. Returns "0" when a token was taken, else
#: the seconds until one is due. One script so that replicas taking from the same bucket at
#: once never both get its last token; Redis's own clock, so replicas' clocks do not matter.
TAKE_TOKEN = Script("""
redis.replicate_commands()
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local held = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(held[1]) or burst
local at = tonumber(held[2]) or now
tokens = math.min(burst, tokens + (now - at) / 1000 * rate)
local wait = 0
if tokens < 1 then
  wait = (1 - tokens) / rate
else
  tokens = tokens - 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
""")
