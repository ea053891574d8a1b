-- The tasks table of the contract (docs/api.md, "A task").
CREATE TABLE tasks (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     varchar(255) NOT NULL,
    title       varchar(200) NOT NULL,
    description text,
    completed   boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    -- The API validates these first; the checks keep the table honest against
    -- any other writer.
    CONSTRAINT tasks_title_length CHECK (char_length(title) BETWEEN 1 AND 200),
    CONSTRAINT tasks_description_length
        CHECK (description IS NULL OR char_length(description) <= 10000)
);

-- Named by the contract.
CREATE INDEX idx_tasks_user_id ON tasks (user_id);
CREATE INDEX idx_tasks_user_completed ON tasks (user_id, completed);

-- The list query (newest first, keyset paging on id, optional completed
-- filter) reads these in order, so a page is an index scan with no sort.
CREATE INDEX idx_tasks_user_id_id ON tasks (user_id, id DESC);
CREATE INDEX idx_tasks_user_completed_id ON tasks (user_id, completed, id DESC);
