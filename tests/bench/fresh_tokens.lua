-- wrk script for case (d): every request carries a token the gateway has
-- not verified recently (tokens are used round-robin; there are more of
-- them than the per-worker token cache holds).
local tokens = {}
local n = 0
local i = 0

function init(args)
    for line in io.lines(args[1]) do
        n = n + 1
        tokens[n] = line
    end
    -- threads start at different offsets
    i = math.random(n)
    wrk.headers["Host"] = args[2]
end

function request()
    i = i % n + 1
    wrk.headers["Authorization"] = "Bearer " .. tokens[i]
    return wrk.format("GET", wrk.path)
end
