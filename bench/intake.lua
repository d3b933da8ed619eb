-- wrk script for POST /v1/leads: quickstart-sized JSON bodies with consent, spread over the keys in L2I_BENCH_KEYS
-- (comma-separated), 95% new phone numbers and 5% duplicates (the last number this thread sent with that key).
-- L2I_BENCH_AREA picks the area code, so that every run posts numbers no earlier run posted.
-- With L2I_BENCH_SOURCES=1 the "keys" are source tokens: POST /v1/sources/{token}/leads, no Authorization header.
package.path = os.getenv("L2I_BENCH_DIR") .. "/?.lua;" .. package.path
local report = require("report")

setup = report.setup

local keys, seq, last = {}, {}, {}
local area, template, sources

function init(args)
  statuses = {}
  for key in string.gmatch(os.getenv("L2I_BENCH_KEYS"), "[^,]+") do
    table.insert(keys, key)
    seq[#keys], last[#keys] = 0, nil
  end
  area = os.getenv("L2I_BENCH_AREA")
  sources = os.getenv("L2I_BENCH_SOURCES") == "1"
  local campaign = os.getenv("L2I_BENCH_CAMPAIGN")
  math.randomseed(1000 + thread_id * 7919 + tonumber(area))
  template = '{"source":"vendor-a","first_name":"Jane","last_name":"Doe","phone":"%s",' ..
    '"email":"jane.doe@example.com","state":"TX","zip":"75201","city":"Dallas","address1":"1 Main St",' ..
    '"utm_source":"google","utm_campaign":"spring-quotes","sub_id":"pub-1234",' ..
    '"consent":{"consent_timestamp":"2026-07-05T12:00:00Z","consent_text_version":"webform-v2",' ..
    '"source_url":"https://example.com/quote","ip":"203.0.113.7",' ..
    '"user_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36",' ..
    '"trustedform_cert_url":"https://cert.trustedform.com/0123456789abcdef0123456789abcdef01234567"}}'
  if campaign ~= nil and campaign ~= "" then  -- bench/run.py --campaign: every post names its campaign
    template = '{"campaign":"' .. campaign .. '",' .. string.sub(template, 2)
  end
end

function request()
  local k = math.random(#keys)
  local phone
  if last[k] ~= nil and math.random(100) <= 5 then
    phone = last[k]
  else
    seq[k] = seq[k] + 1
    -- Exchange 200-999: each thread has its own block of a million numbers.
    phone = string.format("%s%07d", area, 2000000 + thread_id * 1000000 + seq[k])
    last[k] = phone
  end
  if sources then
    return wrk.format("POST", "/v1/sources/" .. keys[k] .. "/leads", {["Content-Type"] = "application/json"},
                      string.format(template, phone))
  end
  return wrk.format("POST", "/v1/leads",
                    {["Authorization"] = "Bearer " .. keys[k], ["Content-Type"] = "application/json"},
                    string.format(template, phone))
end

function response(status, headers, body)
  report.count(status)
end

done = report.done
