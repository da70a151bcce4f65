-- wrk script: every request enrols a new participant through the JSON API.
-- Subject ids are unique per wrk thread and request; the token comes from the environment.
-- `thread_id` is a global that setup() sets in each thread's own Lua state.
local counter = 0
local threads = {}

function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  counter = 0
end

function request()
  counter = counter + 1
  local subject = string.format("L%d-%07d", thread_id or 0, counter)
  local body = string.format('{"subject_id":"%s","idempotency_key":"k-%s"}', subject, subject)
  return wrk.format("POST", wrk.path, {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. os.getenv("BAYESTRIAL_TOKEN"),
  }, body)
end

local bad = 0
function response(status, headers, body)
  if status ~= 201 then
    bad = bad + 1
    if bad <= 3 then io.stderr:write("unexpected " .. status .. ": " .. body .. "\n") end
  end
end

function done(summary, latency, requests)
  local errors = summary.errors
  local failed = errors.connect + errors.read + errors.write + errors.timeout + errors.status
  io.write(string.format(
    "enrol load: %d requests in %.1f s = %.0f enrolments/s; latency p50 %.2f ms, p99 %.2f ms; errors %d (non-2xx %d)\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, failed, errors.status))
end
