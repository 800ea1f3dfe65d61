-- The API calls one dashboard view makes, straight to the simulator, with a bearer token.
local token = os.getenv("BENCH_TOKEN")
local paths = {
  "/api/v1/account/",
  "/api/v1/documents/?page=1&page_size=20",
  "/api/v1/integrations/",
}
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i], { ["Authorization"] = "Bearer " .. token })
end
