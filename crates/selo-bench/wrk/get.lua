-- wrk script: GET /processes/v1/{id}, cycling over the ids in $IDS_FILE (one per line), with
-- one access token ($ACCESS_TOKEN) and API key ($API_KEY). The bare route ignores both.
local ids = {}
for line in io.lines(os.getenv("IDS_FILE")) do ids[#ids + 1] = line end
local token, key = os.getenv("ACCESS_TOKEN"), os.getenv("API_KEY")
local i = 0
request = function()
  i = i % #ids + 1
  return wrk.format("GET", "/processes/v1/" .. ids[i], {
    ["Authorization"] = "Bearer " .. token,
    ["APIKEY"] = key,
  })
end
