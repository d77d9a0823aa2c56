-- wrk script for bench/load.sh.
--
-- * done() prints one machine-readable line:
--     BENCH_RESULT requests=N seconds=S rps=R p50_ms=.. p90_ms=.. p99_ms=.. max_ms=..
--                  non2xx=N connect=N read=N write=N timeout=N
--   non2xx is wrk's count of HTTP answers >= 400 (bench/load.sh checks before each run that
--   every endpoint answers 2xx, so redirects cannot hide there); connect/read/write/timeout are
--   socket errors. Latencies come from wrk's own histogram (microseconds -> milliseconds).
-- * With BENCH_IDS_FILE set (one id per line), requests rotate over
--   BENCH_PATH_PREFIX .. id (default "/products/"), each thread starting at its own offset.
--   Headers given with -H (Authorization) are kept.

local ids_file = os.getenv("BENCH_IDS_FILE")

if ids_file and ids_file ~= "" then
  local prefix = os.getenv("BENCH_PATH_PREFIX") or "/products/"
  local requests_ = {}
  local pos = 0
  local count = 0

  function setup(thread)
    -- runs in the main Lua state, once per thread: give each thread its own index
    thread_counter = (thread_counter or 0) + 1
    thread:set("thread_index", thread_counter)
  end

  function init(args)
    for line in io.lines(ids_file) do
      local id = line:match("^%s*(%S+)%s*$")
      if id then
        count = count + 1
        requests_[count] = wrk.format("GET", prefix .. id)
      end
    end
    if count == 0 then
      error("no ids in " .. ids_file)
    end
    -- spread threads over the id list (thread_index is set by setup() before init runs)
    pos = (((thread_index or 1) - 1) * 7919) % count
  end

  function request()
    pos = pos + 1
    if pos > count then
      pos = 1
    end
    return requests_[pos]
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  local rps = 0
  if secs > 0 then
    rps = summary.requests / secs
  end
  io.write(string.format(
    "BENCH_RESULT requests=%d seconds=%.3f rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f " ..
    "non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, secs, rps,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000,
    e.status, e.connect, e.read, e.write, e.timeout))
end
