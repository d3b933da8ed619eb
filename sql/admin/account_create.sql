-- Create an account; prints its id.   psql -v name='Acme Leads' -f sql/admin/account_create.sql
SELECT l2i_account_create(:'name') AS account_id;
