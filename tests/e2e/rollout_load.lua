-- wrk script of test_rollout.py: a mixed load on one tenant's projects.
--
--   wrk ... -s rollout_load.lua http://127.0.0.1:<edge> -- \
--       <host> <token> <project id> <code prefix> <pause ms> <result file>
--
-- Of every four requests on a connection one is a POST /api/projects with a
-- code of its own (<prefix>-<thread>-<n>), one lists projects, two read the
-- given project. Each connection pauses <pause ms> between requests, so the
-- load stays modest on a shared machine. Every request says "Connection:
-- close" (see test_rollout.py). Every request sent and every status is
-- counted, and the code of every project created (201) is kept; done()
-- writes them, with wrk's socket errors, as JSON to <result file>.

local threads = {}

function setup(thread)
    thread:set("id", #threads + 1)
    table.insert(threads, thread)
end

function init(args)
    host, token, project, prefix = args[1], args[2], args[3], args[4]
    pause = tonumber(args[5])
    out = args[6]
    n, posts = 0, 0
    statuses, created = {}, {}
    get_headers = {["Host"] = host, ["Authorization"] = "Bearer " .. token,
                   ["Connection"] = "close"}
    post_headers = {["Host"] = host, ["Authorization"] = "Bearer " .. token,
                    ["Connection"] = "close",
                    ["Content-Type"] = "application/json"}
end

function request()
    n = n + 1
    if n % 4 == 0 then
        posts = posts + 1
        local code = string.format("%s-%d-%d", prefix, id, posts)
        return wrk.format("POST", "/api/projects", post_headers,
                          '{"name":"Rollout","code":"' .. code .. '"}')
    elseif n % 4 == 1 then
        return wrk.format("GET", "/api/projects?limit=5", get_headers)
    else
        return wrk.format("GET", "/api/projects/" .. project, get_headers)
    end
end

function delay()
    return pause
end

function response(status, headers, body)
    local k = tostring(status)
    statuses[k] = (statuses[k] or 0) + 1
    if status == 201 then
        created[#created + 1] = string.match(body, '"code"%s*:%s*"([^"]+)"') or "?"
    end
end

local function json_object(t)
    local parts = {}
    for k, v in pairs(t) do
        parts[#parts + 1] = string.format('"%s":%d', k, v)
    end
    return "{" .. table.concat(parts, ",") .. "}"
end

function done(summary, latency, requests)
    local all_statuses, all_created, sent_posts, sent = {}, {}, 0, 0
    for _, t in ipairs(threads) do
        for k, v in pairs(t:get("statuses")) do
            all_statuses[k] = (all_statuses[k] or 0) + v
        end
        for _, code in ipairs(t:get("created")) do
            all_created[#all_created + 1] = '"' .. code .. '"'
        end
        sent_posts = sent_posts + t:get("posts")
        sent = sent + t:get("n")
    end
    local e = summary.errors
    local f = assert(io.open(threads[1]:get("out"), "w"))
    f:write(string.format(
        '{"requests":%d,"sent":%d,"statuses":%s,"created":[%s],"posts":%d,' ..
        '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
        summary.requests, sent, json_object(all_statuses),
        table.concat(all_created, ","), sent_posts,
        e.connect, e.read, e.write, e.status, e.timeout))
    f:close()
end
