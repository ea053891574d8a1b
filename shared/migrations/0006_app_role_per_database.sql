-- The API's rights move from the server-wide group `todo_app` (migration 5)
-- to a group of this database's own, `todo_app_<database>`, which `migrate`
-- checks and grants them to on every run (shared/src/migrations/roles.rs).
-- Roles are the server's: two databases on one server (a staging and a
-- production stack on one Neon branch) shared `todo_app`, and with it each
-- other's rows. Here `todo_app` loses what migration 5 gave it in this
-- database; `migrate` drops it once no database grants it anything.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'todo_app') THEN
        REVOKE ALL ON tasks, idempotency_keys FROM todo_app;
        REVOKE ALL ON SEQUENCE tasks_id_seq FROM todo_app;
        REVOKE ALL ON FUNCTION task_slot_free(varchar, bigint) FROM todo_app;
        REVOKE ALL ON SCHEMA public FROM todo_app;
    END IF;
END
$$;
