CREATE TABLE "replica_coordination" (
	"name" varchar(64) PRIMARY KEY NOT NULL,
	"holder" varchar(255),
	"expires_at" timestamp with time zone,
	"counter" bigint DEFAULT 0 NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "metric_batches" ADD COLUMN "lease_until" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "metric_batches_pending_idx" ON "metric_batches" USING btree ("lease_until") WHERE committed_at IS NULL;