-- Expired keys are deleted a few at a time by the keyed create itself
-- (tasks::CREATE_IDEMPOTENT); this index finds them without a scan.
CREATE INDEX idx_idempotency_keys_created_at ON idempotency_keys (created_at);
