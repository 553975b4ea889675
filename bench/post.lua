-- wrk script: POST a vote with a fresh voter id each time, 2:1 for option a.
local counter = 0
request = function()
  counter = counter + 1
  local choice = (counter % 3 == 0) and "b" or "a"
  local headers = {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Cookie"] = string.format("voter_id=wrk%013x", counter * 7919 + math.random(0, 7918)),
  }
  return wrk.format("POST", "/", headers, "vote=" .. choice)
end
