-- wrk script for bench/groups.py: replays pre-signed callbacks, each exactly once.
--
--   wrk -t N -c N -d 600s -s bench/groups.lua http://127.0.0.1:PORT -- REQUESTS_FILE N DONE_FILE
--
-- REQUESTS_FILE holds the requests one after the other, each a line "<path> <body length>"
-- followed by the body's bytes. Thread i of N sends requests i, i + N, i + 2N, … on its one
-- connection (so -c must equal -t) and stops when the last one is answered: nothing is sent
-- twice, nothing made up. It then adds a line to DONE_FILE: wrk itself waits for -d to pass,
-- so bench/groups.py sends it SIGINT once N threads are done. done() prints one line
-- "RESULT key=value …" for bench/groups.py.

local threads = {}

function setup(thread)
   thread:set("id", #threads)
   table.insert(threads, thread)
end

function init(args)
   local count = tonumber(args[2])
   done_file = args[3]
   local file = assert(io.open(args[1], "rb"))
   local data = file:read("*a")
   file:close()
   reqs, sent, answered, failed = {}, 0, 0, 0
   local pos, i = 1, 0
   while pos <= #data do
      local eol = data:find("\n", pos, true)
      local path, length = data:sub(pos, eol - 1):match("^(%S+) (%d+)$")
      length = tonumber(length)
      if i % count == id then
         local body = data:sub(eol + 1, eol + length)
         reqs[#reqs + 1] = wrk.format("POST", path, {["Content-Type"] = "text/xml"}, body)
      end
      i = i + 1
      pos = eol + length + 1
   end
   -- wrk calls request() once on thread 0 to check the script before the run: not a send.
   checking = (id == 0)
end

function request()
   if checking then
      checking = false
      return reqs[1]
   end
   sent = sent + 1
   return reqs[sent]
end

function response(status, headers, body)
   answered = answered + 1
   if status ~= 200 then
      failed = failed + 1
   end
   if answered == #reqs then
      local out = assert(io.open(done_file, "a"))
      out:write(id, " ", answered, "\n")
      out:close()
      wrk.thread:stop()
   end
end

function done(summary, latency, requests)
   local answered_all, failed_all = 0, 0
   for _, thread in ipairs(threads) do
      answered_all = answered_all + thread:get("answered")
      failed_all = failed_all + thread:get("failed")
   end
   local e = summary.errors
   io.write(string.format(
      "RESULT requests=%d answered=%d non200=%d duration_us=%d p50_us=%d p99_us=%d max_us=%d "
         .. "connect=%d read=%d write=%d timeout=%d\n",
      summary.requests, answered_all, failed_all, summary.duration, latency:percentile(50),
      latency:percentile(99), latency.max, e.connect, e.read, e.write, e.timeout))
end
