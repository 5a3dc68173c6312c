CREATE TABLE "hypotheses" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"team_id" uuid NOT NULL,
	"project_id" uuid NOT NULL,
	"key" varchar(255) NOT NULL,
	"statement" text,
	"baseline_experiment" varchar(255) NOT NULL,
	"target_metrics" jsonb NOT NULL,
	"candidate_experiments" jsonb,
	"candidate_filter" jsonb,
	"confidence_threshold" double precision DEFAULT 0.95 NOT NULL,
	"min_effect" double precision DEFAULT 0 NOT NULL,
	"status" varchar(16) DEFAULT 'Testing' NOT NULL,
	"evidence_score" double precision,
	"confidence" double precision,
	"last_evaluated_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "hypothesis_evaluations" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"team_id" uuid NOT NULL,
	"hypothesis_id" uuid NOT NULL,
	"status" varchar(16) NOT NULL,
	"evidence_score" double precision NOT NULL,
	"confidence" double precision NOT NULL,
	"result" jsonb NOT NULL,
	"evaluated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "experiment_references" DROP CONSTRAINT "experiment_references_experiment_id_parent_id_pk";--> statement-breakpoint
ALTER TABLE "experiment_references" ADD CONSTRAINT "experiment_references_experiment_id_parent_id_kind_pk" PRIMARY KEY("experiment_id","parent_id","kind");--> statement-breakpoint
ALTER TABLE "experiments" ADD COLUMN "deleted_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "project_metrics" ADD COLUMN "expression" text;--> statement-breakpoint
ALTER TABLE "hypotheses" ADD CONSTRAINT "hypotheses_team_id_teams_id_fk" FOREIGN KEY ("team_id") REFERENCES "public"."teams"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "hypotheses" ADD CONSTRAINT "hypotheses_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "hypothesis_evaluations" ADD CONSTRAINT "hypothesis_evaluations_team_id_teams_id_fk" FOREIGN KEY ("team_id") REFERENCES "public"."teams"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "hypothesis_evaluations" ADD CONSTRAINT "hypothesis_evaluations_hypothesis_id_hypotheses_id_fk" FOREIGN KEY ("hypothesis_id") REFERENCES "public"."hypotheses"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "hypotheses_project_key_uq" ON "hypotheses" USING btree ("project_id","key");--> statement-breakpoint
CREATE INDEX "hypotheses_team_project_idx" ON "hypotheses" USING btree ("team_id","project_id");--> statement-breakpoint
CREATE INDEX "hypothesis_evaluations_hyp_idx" ON "hypothesis_evaluations" USING btree ("hypothesis_id","evaluated_at");--> statement-breakpoint
CREATE INDEX "experiment_references_parent_idx" ON "experiment_references" USING btree ("parent_id");