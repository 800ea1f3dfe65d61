-- A page through the app (BENCH_PATH, default /dashboard), spreading requests over the
-- connected users' sessions.
local path = os.getenv("BENCH_PATH") or "/dashboard"
local cookies = {}
for line in io.lines(os.getenv("BENCH_COOKIES")) do
  if #line > 0 then cookies[#cookies + 1] = line end
end
local i = math.random(#cookies)
request = function()
  i = i % #cookies + 1
  return wrk.format("GET", path, { ["Cookie"] = cookies[i] })
end
