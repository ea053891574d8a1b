-- Least privilege: `todo_app`, the role the API functions act as. It may read
-- and write the rows of the tables the API uses, draw task ids and call
-- task_slot_free, and nothing else: no DDL, no schema_migrations, no other
-- schema. `migrate` makes the login role of the API's DATABASE_URL a member
-- (shared/src/migrations/roles.rs; migration 6 replaces this group by one
-- per database), and connects itself with MIGRATE_DATABASE_URL.
--
-- Roles are cluster-wide, and migrations of two databases on one cluster may
-- run at once (their advisory locks are per database): a role created
-- meanwhile by the other is fine.
DO $$
BEGIN
    CREATE ROLE todo_app NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

-- PostgreSQL before 15 lets every role create objects in `public`.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO todo_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON tasks, idempotency_keys TO todo_app;
GRANT USAGE ON SEQUENCE tasks_id_seq TO todo_app;
REVOKE EXECUTE ON FUNCTION task_slot_free(varchar, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION task_slot_free(varchar, bigint) TO todo_app;
-- A later migration that adds a table grants on it here too, by hand.
