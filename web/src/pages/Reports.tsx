import { useEffect, useRef, useState } from "react";
import { api, newKey, query, raw } from "../api";
import { BarChart } from "../components/BarChart";
import { ErrorBox } from "../components/ErrorBox";
import { useLoad } from "../components/useLoad";
import { Link } from "../router";
import { can, useMe } from "../session";
import { label, PROJECT_STATUSES, TASK_STATUSES } from "../types";

type Counts = Record<string, number>;

interface Dashboard {
  projects_total: number;
  projects_by_status: Counts;
  tasks_total: number;
  tasks_by_status: Counts;
  overdue_tasks: number;
  due_next_7_days: number;
  percent_complete: number;
  activity_last_30_days: { changes: number; tasks_created: number; tasks_completed: number };
  as_of: { at: string | null };
}

interface Workload {
  data: { assignee_id: string | null; name: string | null; open_tasks: number;
          overdue_tasks: number; estimate_hours_open: number }[];
}

interface Activity {
  data: { day: string; changes: number; tasks_created: number; tasks_completed: number }[];
}

interface Overdue {
  data: { id: string; project_id: string; project_name: string; title: string;
          assignee_name: string | null; due_date: string; days_overdue: number }[];
  next_cursor: string | null;
}

interface Export {
  id: string;
  kind: string;
  status: "queued" | "running" | "done" | "failed" | "expired";
  progress: number;
  row_count: number;
  error: string | null;
}

export function Reports() {
  const me = useMe();
  const dash = useLoad(() => api<Dashboard>("GET", "/api/reports/dashboard"), []);
  const work = useLoad(() => api<Workload>("GET", "/api/reports/workload"), []);
  const act = useLoad(() => api<Activity>("GET", "/api/reports/activity"), []);
  const over = useLoad(() => api<Overdue>("GET", `/api/reports/overdue${query({ limit: 20 })}`), []);

  return (
    <section>
      <div className="bar">
        <h1>Reports</h1>
        <button type="button" onClick={() => { dash.reload(); work.reload(); act.reload(); over.reload(); }}>
          Refresh
        </button>
      </div>
      <ErrorBox error={dash.error} />
      {dash.loading && !dash.data && <p role="status">Loading…</p>}
      {dash.data && (
        <>
          <dl className="tiles">
            <div><dt>Projects</dt><dd data-testid="projects-total">{dash.data.projects_total}</dd></div>
            <div><dt>Tasks</dt><dd data-testid="tasks-total">{dash.data.tasks_total}</dd></div>
            <div><dt>Done</dt><dd data-testid="tasks-done">{dash.data.tasks_by_status.done}</dd></div>
            <div><dt>Overdue</dt><dd>{dash.data.overdue_tasks}</dd></div>
            <div><dt>Due in 7 days</dt><dd>{dash.data.due_next_7_days}</dd></div>
            <div><dt>Complete</dt><dd>{Math.round(dash.data.percent_complete)} %</dd></div>
          </dl>
          <div className="charts">
            <BarChart title="Tasks by status"
                      bars={TASK_STATUSES.map((s) => ({ label: label(s), value: dash.data!.tasks_by_status[s] }))} />
            <BarChart title="Projects by status"
                      bars={PROJECT_STATUSES.map((s) => ({ label: label(s), value: dash.data!.projects_by_status[s] }))} />
            {act.data && (
              <BarChart title="Changes per day, last 30 days"
                        bars={act.data.data.map((d) => ({ label: d.day, value: d.changes }))} />
            )}
          </div>
          {dash.data.as_of.at && <p className="muted">As of {dash.data.as_of.at}</p>}
        </>
      )}
      <ErrorBox error={act.error} />

      <h2>Workload</h2>
      <ErrorBox error={work.error} />
      {work.loading && !work.data && <p role="status">Loading…</p>}
      {work.data && work.data.data.length === 0 && <p className="empty">No open tasks.</p>}
      {work.data && work.data.data.length > 0 && (
        <table>
          <thead><tr><th>Assignee</th><th>Open</th><th>Overdue</th><th>Hours open</th></tr></thead>
          <tbody>
            {work.data.data.map((w) => (
              <tr key={w.assignee_id ?? "none"}>
                <td>{w.assignee_id ? w.name ?? "someone" : "unassigned"}</td>
                <td>{w.open_tasks}</td><td>{w.overdue_tasks}</td><td>{w.estimate_hours_open}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      <h2>Overdue</h2>
      <ErrorBox error={over.error} />
      {over.data && over.data.data.length === 0 && <p className="empty">Nothing is overdue.</p>}
      {over.data && over.data.data.length > 0 && (
        <table>
          <thead><tr><th>Task</th><th>Project</th><th>Assignee</th><th>Due</th><th>Days late</th></tr></thead>
          <tbody>
            {over.data.data.map((t) => (
              <tr key={t.id}>
                <td>{t.title}</td>
                <td><Link to={`/projects/${t.project_id}`}>{t.project_name}</Link></td>
                <td>{t.assignee_name ?? "unassigned"}</td><td>{t.due_date}</td><td>{t.days_overdue}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      {can(me, "manager") && <Exports />}
    </section>
  );
}

// Ask for a CSV, follow its progress, then save it: the download needs
// the bearer token, so it is fetched and handed over as a blob.
function Exports() {
  const [kind, setKind] = useState("tasks");
  const [job, setJob] = useState<Export | null>(null);
  const [error, setError] = useState<unknown>(null);
  const timer = useRef<ReturnType<typeof setTimeout>>();

  useEffect(() => () => clearTimeout(timer.current), []);

  async function poll(id: string) {
    try {
      const j = await api<Export>("GET", `/api/reports/exports/${id}`);
      setJob(j);
      if (j.status === "queued" || j.status === "running") {
        timer.current = setTimeout(() => void poll(id), 300);
      }
    } catch (err) {
      setError(err);
    }
  }

  async function start() {
    setError(null);
    setJob(null);
    const today = new Date().toISOString().slice(0, 10);
    const from = new Date(Date.now() - 29 * 86400e3).toISOString().slice(0, 10);
    const body = kind === "activity" ? { kind, from, to: today } : { kind };
    try {
      const j = await api<Export>("POST", "/api/reports/exports", { body, idempotencyKey: newKey() });
      setJob(j);
      void poll(j.id);
    } catch (err) {
      setError(err);
    }
  }

  async function download(j: Export) {
    setError(null);
    try {
      const res = await raw("GET", `/api/reports/exports/${j.id}/download`);
      const name = /filename="([^"]+)"/.exec(res.headers.get("Content-Disposition") ?? "")?.[1]
        ?? `${j.kind}.csv`;
      const url = URL.createObjectURL(await res.blob());
      const a = document.createElement("a");
      a.href = url;
      a.download = name;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    } catch (err) {
      setError(err);
    }
  }

  return (
    <section aria-labelledby="exports-h">
      <h2 id="exports-h">Exports</h2>
      <label htmlFor="export-kind">Export</label>{" "}
      <select id="export-kind" value={kind} onChange={(e) => setKind(e.target.value)}>
          <option value="projects">projects</option>
          <option value="tasks">tasks</option>
          <option value="activity">activity (30 days)</option>
      </select>{" "}
      <button type="button" onClick={() => void start()}>Export CSV</button>
      {job && (
        <div className="export" role="status">
          <progress max={100} value={job.progress} aria-label="Export progress" /> {job.status},{" "}
          {job.row_count} rows
          {job.status === "done" && (
            <button type="button" onClick={() => void download(job)}>Download {job.kind}.csv</button>
          )}
          {job.error && <span className="field-error">{job.error}</span>}
        </div>
      )}
      <ErrorBox error={error} />
    </section>
  );
}
