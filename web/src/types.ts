// The API's resources as the console reads them (proto/openapi.yaml).
export const PROJECT_STATUSES = ["planned", "active", "on_hold", "completed", "cancelled"] as const;
export const TASK_STATUSES = ["todo", "in_progress", "blocked", "done"] as const;
export const PRIORITIES = ["low", "normal", "high", "urgent"] as const;

export type ProjectStatus = (typeof PROJECT_STATUSES)[number];
export type TaskStatus = (typeof TASK_STATUSES)[number];

export interface Project {
  id: string;
  name: string;
  code: string;
  status: ProjectStatus;
  start_date: string | null;
  end_date: string | null;
  description: string | null;
  version: number;
  updated_at: string;
}

export interface Task {
  id: string;
  project_id: string;
  title: string;
  description: string | null;
  status: TaskStatus;
  priority: (typeof PRIORITIES)[number];
  assignee_id: string | null;
  due_date: string | null;
  version: number;
}

export interface Member {
  id: string;
  email: string;
  name: string;
  role: string;
  status: string;
}

export interface Invitation {
  id: string;
  email: string;
  role: string;
  status: string;
  expires_at: string;
}

export const label = (s: string) => s.replace(/_/g, " ");
