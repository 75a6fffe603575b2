-- The MCP server's own reads (everything else it reuses from the domains).

-- name: lead_events
-- A lead's pipeline events (fed, replied, called, booked ...): ids and codes only,
-- no PII by construction. Read as the pipeline, after RLS has shown the lead is
-- the caller's.
select occurred_at, stage, outcome, provider, detail
from pipeline_events
where lead_id = %(lead_id)s
order by occurred_at, id
limit %(limit)s
