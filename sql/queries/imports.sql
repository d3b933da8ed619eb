-- Queries of the CSV import (l2i/csv_import.py); the rows themselves go through lead_intake, as any lead does.

-- name: import_account :one
-- The account a CLI import goes to; no row if there is none (the HTTP import takes the key's account).
SELECT id, name FROM accounts WHERE id = %(account_id)s;

-- name: import_do_not_call :one
-- A row whose do-not-call column says so: its number goes on the account's suppression list (l2i_suppress also
-- pulls the number's queued leads), in the row's transaction, before the row itself goes through lead_intake.
SELECT count(*) AS added FROM l2i_suppress(%(account_id)s, ARRAY[%(phone)s::text], %(reason)s) WHERE added;
