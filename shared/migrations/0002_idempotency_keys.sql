-- Idempotency-Key of POST /api/tasks: per user, valid for 24 hours.
CREATE TABLE idempotency_keys (
    user_id         varchar(255) NOT NULL,
    idempotency_key varchar(255) NOT NULL,
    -- sha256 of the normalised request (title, description): a replay with a
    -- different body is a 409.
    request_hash    bytea NOT NULL,
    -- A deleted task frees its key.
    task_id         bigint NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, idempotency_key)
);

CREATE INDEX idx_idempotency_keys_task_id ON idempotency_keys (task_id);
