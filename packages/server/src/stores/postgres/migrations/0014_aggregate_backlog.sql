CREATE TABLE "aggregate_backlog" (
	"team_id" uuid NOT NULL,
	"project_id" uuid NOT NULL,
	"experiment_id" uuid NOT NULL,
	"writer" varchar(255) NOT NULL,
	"gen" bigint NOT NULL,
	"lease_until" timestamp with time zone NOT NULL,
	CONSTRAINT "aggregate_backlog_experiment_id_writer_pk" PRIMARY KEY("experiment_id","writer")
);
--> statement-breakpoint
ALTER TABLE "aggregate_backlog" ADD CONSTRAINT "aggregate_backlog_team_id_teams_id_fk" FOREIGN KEY ("team_id") REFERENCES "public"."teams"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "aggregate_backlog" ADD CONSTRAINT "aggregate_backlog_experiment_id_experiments_id_fk" FOREIGN KEY ("experiment_id") REFERENCES "public"."experiments"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "aggregate_backlog_lease_idx" ON "aggregate_backlog" USING btree ("lease_until");