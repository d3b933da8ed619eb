-- Queries of the CSV import (l2i/csv_import.py); the rows themselves go through lead_intake, as any lead does.

-- name: import_account :one
-- The account a CLI import goes to; no row if there is none (the HTTP import takes the key's account).
SELECT id, name FROM accounts WHERE id = %(account_id)s;
