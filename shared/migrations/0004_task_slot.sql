-- MAX_TASKS_PER_USER: whether `owner` may create one more task, called by the
-- create statements (shared/src/domain/tasks.rs) inside their single statement.
--
-- A count in the create statement itself would race: under READ COMMITTED
-- two concurrent creates both count from snapshots taken before either
-- inserted, and both pass at cap - 1. So this first takes a transaction-scoped
-- advisory lock on the owner (one user's creates run one at a time until their
-- transactions end), and then counts: being VOLATILE, its query gets a fresh
-- snapshot, taken after the lock, that sees every create committed before it.
-- The count stops at the cap, so it is bounded at any size.
CREATE FUNCTION task_slot_free(owner varchar, max_tasks bigint) RETURNS boolean
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('task_slot:' || owner, 0));
    RETURN (SELECT count(*) FROM (
        SELECT 1 FROM tasks WHERE user_id = owner LIMIT max_tasks
    ) AS held) < max_tasks;
END
$$;
