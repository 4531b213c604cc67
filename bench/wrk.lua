-- bench/wrk.lua - the wrk script of bench/run.
-- Arguments after "--": none (GET), or "upload BYTES" (POST of BYTES bytes, Content-Length).
-- done() prints one machine-readable line, "BENCH {json}", with the exact counts and the
-- latency percentiles in microseconds (wrk measures from the request's first byte written to
-- the response's last byte read; connecting is not included).

function init(args)
   if args[1] == "upload" then
      wrk.method = "POST"
      wrk.body = string.rep("u", tonumber(args[2]))
      wrk.headers["Content-Type"] = "application/octet-stream"
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCH {"duration_us": %d, "requests": %d, "bytes": %d, "connect": %d, "read": %d, ' ..
      '"write": %d, "status": %d, "timeout": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, ' ..
      '"mean_us": %.1f}\n',
      summary.duration, summary.requests, summary.bytes, e.connect, e.read, e.write, e.status,
      e.timeout, latency:percentile(50), latency:percentile(99), latency.max, latency.mean))
end
