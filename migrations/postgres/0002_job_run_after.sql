-- Retry backoff: a job requeued after a transient failure is not runnable
-- before run_after (Unix milliseconds on the database's clock). 0: at once.
ALTER TABLE jobs ADD COLUMN run_after BIGINT NOT NULL DEFAULT 0;
