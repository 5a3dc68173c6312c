ALTER TABLE "metric_batches" ADD COLUMN "version_base" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "metric_batches" ADD COLUMN "committed_at" timestamp with time zone;--> statement-breakpoint
-- Batches recorded before this migration were written after their insert succeeded.
UPDATE "metric_batches" SET "committed_at" = "created_at" WHERE "committed_at" IS NULL;
