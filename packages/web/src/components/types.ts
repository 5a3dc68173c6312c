/** Shapes of the API answers the pages read (docs/api.md). */
export interface Project {
  id: string;
  team_id: string;
  name: string;
  description: string | null;
  retention_days: number;
  /** set while soft-deleted (MLflow delete_experiment); restorable */
  deleted_at?: string | null;
  created_at: string;
  updated_at: string;
}

export type Role = 'admin' | 'researcher' | 'viewer';
