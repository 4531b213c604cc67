-- bench/wrk_routes.lua - workload g of bench/run: GETs cycling through a list of (Host, path).
-- Arguments after "--": FILE, one "HOST PATH" per line (bench/routes.py writes it). Every
-- request is formatted once in init(), so request() only hands out the next string. done() is
-- bench/wrk.lua's ("BENCH {json}").
-- request() is defined at the top: wrk decides whether a script makes its own requests on a Lua
-- state where init() has not run (and calls request() there once to check it), so before
-- init() it answers wrk's default request.

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "wrk.lua")

local reqs, n = {}, 0

function init(args)
   for line in io.lines(args[1]) do
      local host, path = line:match("^(%S+) (%S+)$")
      if host then
         reqs[#reqs + 1] = wrk.format("GET", path, { Host = host })
      end
   end
   if #reqs == 0 then
      error("bench/wrk_routes.lua: no requests in " .. args[1])
   end
end

function request()
   if #reqs == 0 then
      return wrk.format()
   end
   n = n % #reqs + 1
   return reqs[n]
end
