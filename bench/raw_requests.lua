-- wrk script for bench/wrk_replay.py (bench/groups.py, bench/product_codes.py): replays
-- pre-built HTTP requests, each exactly once.
--
--   wrk -t N -c N -d 600s -s bench/raw_requests.lua http://127.0.0.1:PORT -- REQUESTS_FILE N DONE_FILE OK_STATUS
--
-- REQUESTS_FILE holds whole requests (request line, headers, body: what goes on the wire),
-- each after a line "<length>". The requests carry their own method
-- and headers (a session cookie, a form body). Thread i of N sends requests i, i + N, i + 2N, …
-- on its one connection (so -c must equal -t) and stops when the last is answered: nothing is
-- sent twice, nothing made up. It then adds a line to DONE_FILE (wrk itself waits for -d to
-- pass: the caller sends it SIGINT once N threads are done). An answer whose status is not
-- OK_STATUS counts as failed; done() prints one line "RESULT key=value …".

local threads = {}

function setup(thread)
   thread:set("id", #threads)
   table.insert(threads, thread)
end

function init(args)
   local count = tonumber(args[2])
   done_file = args[3]
   ok_status = tonumber(args[4])
   local file = assert(io.open(args[1], "rb"))
   local data = file:read("*a")
   file:close()
   reqs, sent, answered, failed = {}, 0, 0, 0
   local pos, i = 1, 0
   while pos <= #data do
      local eol = data:find("\n", pos, true)
      local length = tonumber(data:sub(pos, eol - 1))
      if i % count == id then
         reqs[#reqs + 1] = data:sub(eol + 1, eol + length)
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
   if status ~= ok_status then
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
      "RESULT requests=%d answered=%d failed=%d duration_us=%d p50_us=%d p99_us=%d max_us=%d "
         .. "connect=%d read=%d write=%d timeout=%d\n",
      summary.requests, answered_all, failed_all, summary.duration, latency:percentile(50),
      latency:percentile(99), latency.max, e.connect, e.read, e.write, e.timeout))
end
