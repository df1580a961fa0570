-- The response body of writes and errors, as the console's log detail shows it
-- (docs/console.md, "Provisioning log"): secrets replaced, truncated like the request body.
ALTER TABLE log ADD COLUMN response_body TEXT;
