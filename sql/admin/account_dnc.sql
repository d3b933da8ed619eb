-- Connect an account to the National Do-Not-Call Registry (on) or disconnect it (off). Connected accounts hold
-- listed numbers (reason dnc), and numbers the loaded registry data cannot answer for, at intake and claim time.
--   psql -v account_id=UUID -v dnc=on -f sql/admin/account_dnc.sql
UPDATE accounts SET dnc_connected = (:'dnc')::boolean WHERE id = :'account_id'
RETURNING id AS account_id, dnc_connected;
