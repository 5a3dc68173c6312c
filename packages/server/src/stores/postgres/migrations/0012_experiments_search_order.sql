-- MLflow search_runs' default order (newest start first, then id) for one project's runs, read as an index range: the first page of 10,000 runs no longer sorts them all
CREATE INDEX IF NOT EXISTS "experiments_search_order_idx" ON "experiments" USING btree ("team_id","project_id","started_at" DESC,"id");
