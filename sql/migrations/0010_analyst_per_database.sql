-- 0010_analyst_per_database: the analysts' read-only role becomes one per database, nobody but it and the service
-- may connect, and advisory locks are for the service only.
--
-- Why (issue 10):
-- - As l2i_analyst, `SELECT pg_advisory_lock(l2i_caller_lock_key(...))` stalled every postback and transfer of that
--   caller: advisory locks are free for all (PostgreSQL grants their functions to PUBLIC), and the key is
--   computable from data the analyst may read (pg_locks even lists the keys held). EXECUTE on the advisory-lock
--   functions is revoked from PUBLIC and granted to the database's owner and to the role migrating (the service).
--   Function privileges are per database, so this changes nothing elsewhere on the server. Only a superuser
--   may change the privileges of PostgreSQL's own functions: run by anyone else, this part only warns (see
--   README.md, "Deployment"), and says what to run.
-- - l2i_analyst belonged to the whole server and PUBLIC kept CONNECT on every database: an analyst of one l2i
--   database could read every other one on the server. The role is now l2i_<database>_analyst (or the name in
--   the setting l2i.analyst_role, e.g. ALTER DATABASE l2i SET l2i.analyst_role = 'acme_analyst', set before
--   migrating), given exactly what l2i_analyst had in this database, and l2i_analyst loses it here. Its members
--   become members of the new role, so nobody loses access today; revoke them as needed. CONNECT is revoked from
--   PUBLIC: only the owner, the migrating role and the analyst role connect.
--   Later migrations grant to l2i_analyst_role() (EXECUTE format('GRANT SELECT ON x TO %I', l2i_analyst_role())).
--
-- How: applied by `l2i migrate` in one transaction (no BEGIN/COMMIT here). Forward-only. No table is touched.
-- PostgreSQL's documentation: GRANT (https://www.postgresql.org/docs/15/sql-grant.html: "PUBLIC ... EXECUTE
-- privilege for functions"), Advisory Locks (https://www.postgresql.org/docs/15/explicit-locking.html#ADVISORY-LOCKS),
-- identifiers are at most 63 bytes (https://www.postgresql.org/docs/15/sql-syntax-lexical.html).

CREATE FUNCTION l2i_analyst_role() RETURNS name
LANGUAGE sql
STABLE
AS $$
    -- 63 bytes at most: a long database name is cut before the suffix, so the suffix always stays.
    SELECT coalesce(nullif(current_setting('l2i.analyst_role', true), ''),
                    left('l2i_' || current_database(), 55) || '_analyst')::name;
$$;
COMMENT ON FUNCTION l2i_analyst_role() IS
    'The name of this database''s read-only analyst role: the setting l2i.analyst_role, else l2i_<database>_analyst.';

DO $$
DECLARE
    v_role name := l2i_analyst_role();
    v_grant record;
    v_member record;
    v_owner name := (SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database());
    v_function text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = v_role) THEN
        EXECUTE format('CREATE ROLE %I NOLOGIN', v_role);
    END IF;
    EXECUTE format('COMMENT ON ROLE %I IS %L', v_role,
                   'Read-only analyst role of the l2i database ' || current_database() || ' (GRANT it to a login role).');
    EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', v_role);

    -- What l2i_analyst could read here, the new role reads; l2i_analyst, nothing more in this database.
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'l2i_analyst') THEN
        FOR v_grant IN
            SELECT DISTINCT table_name FROM information_schema.role_table_grants
            WHERE grantee = 'l2i_analyst' AND table_schema = 'public' AND privilege_type = 'SELECT'
        LOOP
            EXECUTE format('GRANT SELECT ON public.%I TO %I', v_grant.table_name, v_role);
        END LOOP;
        -- Column grants (sources without its token hash, 0007_sources.sql) where the table is not granted whole.
        FOR v_grant IN
            SELECT c.table_name, string_agg(format('%I', c.column_name), ', ') AS columns
            FROM information_schema.column_privileges AS c
            WHERE c.grantee = 'l2i_analyst' AND c.table_schema = 'public' AND c.privilege_type = 'SELECT'
              AND NOT EXISTS (SELECT 1 FROM information_schema.role_table_grants AS t
                              WHERE t.grantee = 'l2i_analyst' AND t.table_schema = 'public'
                                AND t.table_name = c.table_name AND t.privilege_type = 'SELECT')
            GROUP BY c.table_name
        LOOP
            EXECUTE format('GRANT SELECT (%s) ON public.%I TO %I', v_grant.columns, v_grant.table_name, v_role);
            EXECUTE format('REVOKE SELECT (%s) ON public.%I FROM l2i_analyst', v_grant.columns, v_grant.table_name);
        END LOOP;
        REVOKE ALL ON ALL TABLES IN SCHEMA public FROM l2i_analyst;
        REVOKE ALL ON SCHEMA public FROM l2i_analyst;
        FOR v_member IN
            SELECT m.rolname FROM pg_auth_members AS am JOIN pg_roles AS m ON m.oid = am.member
            WHERE am.roleid = (SELECT oid FROM pg_roles WHERE rolname = 'l2i_analyst') AND m.rolname <> v_role
        LOOP
            EXECUTE format('GRANT %I TO %I', v_role, v_member.rolname);
        END LOOP;
    END IF;

    -- CONNECT: the owner has it by owning; the migrating role (the service) and the analyst role are granted it.
    EXECUTE format('REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I', current_database(), current_user);
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), v_role);

    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        FOR v_function IN
            SELECT p.oid::regprocedure::text FROM pg_proc AS p
            WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.proname ~ '^pg_(try_)?advisory_'
        LOOP
            EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', v_function);
            EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I, %I', v_function, v_owner, current_user);
        END LOOP;
    ELSE
        RAISE WARNING 'l2i: the advisory-lock functions stay executable by every role of this database (only a '
            'superuser can change that): as a superuser, in database %, run for each pg_catalog function '
            'pg_advisory_* and pg_try_advisory_*: REVOKE EXECUTE ON FUNCTION ... FROM PUBLIC; GRANT EXECUTE ON '
            'FUNCTION ... TO %', current_database(), v_owner;
    END IF;
END
$$;
