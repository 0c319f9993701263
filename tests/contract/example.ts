// How a frontend uses the client generated from proto/openapi.yaml (see
// README.md): `make test` generates generated/lintel.d.ts and type-checks
// this file, so a spec change that breaks typed callers fails there.
import createClient from "openapi-fetch";
import type { components, paths } from "./generated/lintel";

type Project = components["schemas"]["Project"];
type Task = components["schemas"]["Task"];
type ApiError = components["schemas"]["Error"];
type NewProject =
  paths["/api/projects"]["post"]["requestBody"]["content"]["application/json"];

// A tenant's host: the tenant comes from the host name, never from a body.
export const api = createClient<paths>({
  baseUrl: "http://acme.lintel.localhost:8080",
  headers: { Authorization: "Bearer <access token>" },
});

// Fields that are always returned are required in the generated types:
// no `?` and no `undefined` to test for; nullable ones are `T | null`.
export function label(p: Project): string {
  const code: string = p.code;
  const version: number = p.version;
  const budget: number | null = p.budget_cents;
  return `${code} ${p.name} (${p.status}, v${version}, ${budget ?? "-"})`;
}

export function isLate(t: Task, today: string): boolean {
  const due: string | null = t.due_date;
  return t.status !== "done" && due !== null && due < today;
}

export async function renameProject(
  id: string,
  name: string,
): Promise<Project | ApiError> {
  const read = await api.GET("/api/projects/{id}", {
    params: { path: { id } },
  });
  if (read.error) {
    return read.error;
  }
  // The ETag read goes back as If-Match (428 without it, 412 if stale).
  const etag = read.response.headers.get("ETag") ?? "";
  const changed = await api.PATCH("/api/projects/{id}", {
    params: { path: { id }, header: { "If-Match": etag } },
    body: { name },
  });
  return changed.error ?? changed.data;
}

export async function firstPageOfTasks(projectId: string): Promise<Task[]> {
  const { data, error } = await api.GET("/api/projects/{id}/tasks", {
    params: {
      path: { id: projectId },
      query: { limit: 25, sort: "-due_date", status: "todo" },
    },
  });
  if (error) {
    throw new Error(`${error.error.code}: ${error.error.message}`);
  }
  const next: string | null = data.next_cursor;
  void next;
  return data.data;
}

export async function createProject(): Promise<Project | undefined> {
  const { data } = await api.POST("/api/projects", {
    params: { header: { "Idempotency-Key": crypto.randomUUID() } },
    body: { name: "Tower", code: "TWR-1", budget_cents: 1000, currency: "EUR" },
  });
  return data;
}

// The contract is closed: what the spec does not name does not type-check.
export async function closedContract(): Promise<void> {
  await api.POST("/api/projects", {
    // @ts-expect-error: `code` is required to create a project
    body: { name: "No code" },
  });
  const body: NewProject = {
    name: "Tower",
    code: "TWR-2",
    // @ts-expect-error: unknown fields are refused (additionalProperties)
    colour: "red",
  };
  await api.POST("/api/projects", { body });
  // @ts-expect-error: sign-up exists only as POST
  await api.GET("/api/signup");
}
