-- wrk script: POST a vote with no cookie, as a first-time visitor does: the
-- service draws a voter id and sets it. 2:1 for option a.
local counter = 0
request = function()
  counter = counter + 1
  local choice = (counter % 3 == 0) and "b" or "a"
  local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
  return wrk.format("POST", "/", headers, "vote=" .. choice)
end
