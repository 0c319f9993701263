import { useEffect, useState, type FormEvent } from "react";
import { api, newKey, query, type Page } from "../api";
import { ErrorBox } from "../components/ErrorBox";
import { Field } from "../components/Field";
import { Link, navigate } from "../router";
import { can, useMe } from "../session";
import { label, PROJECT_STATUSES, type Project } from "../types";

const SORTS: [string, string][] = [
  ["-created_at", "Newest"],
  ["created_at", "Oldest"],
  ["name", "Name A–Z"],
  ["-name", "Name Z–A"],
  ["end_date", "End date"],
  ["-updated_at", "Recently changed"],
];

// The project list: filters, search and sort in the address, pages by
// cursor ("Show more" appends the next one).
export function Projects() {
  const me = useMe();
  const params = new URLSearchParams(location.search);
  const [status, setStatus] = useState(params.get("status") ?? "");
  const [q, setQ] = useState(params.get("q") ?? "");
  const [sort, setSort] = useState(params.get("sort") ?? "-created_at");
  const [rows, setRows] = useState<Project[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<unknown>(null);
  const [creating, setCreating] = useState(false);

  async function load(after: string | null) {
    setLoading(true);
    setError(null);
    try {
      const page = await api<Page<Project>>(
        "GET", `/api/projects${query({ status, q, sort, limit: 25, cursor: after })}`);
      setRows((r) => (after ? [...r, ...page.data] : page.data));
      setCursor(page.next_cursor);
    } catch (err) {
      setError(err);
    } finally {
      setLoading(false);
    }
  }

  useEffect(() => {
    history.replaceState(null, "", `/projects${query({ status, q, sort })}`);
    const t = setTimeout(() => void load(null), q ? 250 : 0);
    return () => clearTimeout(t);
  }, [status, q, sort]);

  return (
    <section>
      <div className="bar">
        <h1>Projects</h1>
        {can(me, "manager") && (
          <button type="button" onClick={() => setCreating(true)}>New project</button>
        )}
      </div>
      {creating && (
        <ProjectForm onDone={(p) => { setCreating(false); if (p) navigate(`/projects/${p.id}`); }} />
      )}
      <div className="filters" role="search">
        <span>
          <label htmlFor="project-q">Search</label>{" "}
          <input id="project-q" type="search" value={q} onChange={(e) => setQ(e.target.value)} />
        </span>
        <span>
          <label htmlFor="project-status">Status</label>{" "}
          <select id="project-status" value={status} onChange={(e) => setStatus(e.target.value)}>
            <option value="">any</option>
            {PROJECT_STATUSES.map((s) => <option key={s} value={s}>{label(s)}</option>)}
          </select>
        </span>
        <span>
          <label htmlFor="project-sort">Sort</label>{" "}
          <select id="project-sort" value={sort} onChange={(e) => setSort(e.target.value)}>
            {SORTS.map(([v, t]) => <option key={v} value={v}>{t}</option>)}
          </select>
        </span>
      </div>
      <ErrorBox error={error} />
      {!loading && !error && rows.length === 0 && (
        <p className="empty">No projects{q || status ? " match" : " yet"}.</p>
      )}
      {rows.length > 0 && (
        <table>
          <thead>
            <tr><th>Name</th><th>Code</th><th>Status</th><th>Start</th><th>End</th></tr>
          </thead>
          <tbody>
            {rows.map((p) => (
              <tr key={p.id}>
                <td><Link to={`/projects/${p.id}`}>{p.name}</Link></td>
                <td>{p.code}</td>
                <td>{label(p.status)}</td>
                <td>{p.start_date ?? "—"}</td>
                <td>{p.end_date ?? "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {loading && <p role="status">Loading…</p>}
      {cursor && !loading && (
        <button type="button" onClick={() => void load(cursor)}>Show more</button>
      )}
    </section>
  );
}

// Create (no project) or edit (a project and its version, for If-Match).
export function ProjectForm(props: { project?: Project; onDone: (p: Project | null) => void }) {
  const p = props.project;
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const s = (k: string) => String(f.get(k) ?? "");
    const body: Record<string, unknown> = {
      name: s("name"),
      code: s("code"),
      status: s("status"),
      start_date: s("start_date") || null,
      end_date: s("end_date") || null,
      description: s("description") || null,
    };
    setBusy(true);
    setError(null);
    try {
      const out = p
        ? await api<Project>("PATCH", `/api/projects/${p.id}`, { body, ifMatch: p.version })
        : await api<Project>("POST", "/api/projects", { body, idempotencyKey: newKey() });
      props.onDone(out);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  }

  return (
    <form className="card" onSubmit={submit} aria-label={p ? "Edit project" : "New project"}>
      <Field label="Name" name="name" error={error}>
        {(id, d) => <input id={id} name="name" defaultValue={p?.name} aria-describedby={d} />}
      </Field>
      <Field label="Code" name="code" error={error}>
        {(id, d) => <input id={id} name="code" defaultValue={p?.code} aria-describedby={d} />}
      </Field>
      <Field label="Status" name="status" error={error}>
        {(id, d) => (
          <select id={id} name="status" defaultValue={p?.status ?? "planned"} aria-describedby={d}>
            {PROJECT_STATUSES.map((s) => <option key={s} value={s}>{label(s)}</option>)}
          </select>
        )}
      </Field>
      <Field label="Start date" name="start_date" error={error}>
        {(id, d) => <input id={id} name="start_date" type="date"
                           defaultValue={p?.start_date ?? ""} aria-describedby={d} />}
      </Field>
      <Field label="End date" name="end_date" error={error}>
        {(id, d) => <input id={id} name="end_date" type="date"
                           defaultValue={p?.end_date ?? ""} aria-describedby={d} />}
      </Field>
      <Field label="Description" name="description" error={error}>
        {(id, d) => <textarea id={id} name="description" defaultValue={p?.description ?? ""}
                              aria-describedby={d} />}
      </Field>
      <button type="submit" disabled={busy}>{p ? "Save" : "Create"}</button>
      <button type="button" onClick={() => props.onDone(null)}>Cancel</button>
      <ErrorBox error={error} />
    </form>
  );
}
