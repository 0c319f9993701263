import { useEffect, useState, type DragEvent, type FormEvent } from "react";
import { all, api, ApiError, newKey } from "../api";
import { ErrorBox } from "../components/ErrorBox";
import { Field } from "../components/Field";
import { useLoad } from "../components/useLoad";
import { navigate } from "../router";
import { can, useMe, type Me } from "../session";
import { label, PRIORITIES, TASK_STATUSES, type Member, type Project, type Task,
         type TaskStatus } from "../types";
import { ProjectForm } from "./Projects";

// The assignee picker's choices: the members, for those who may list
// them (admin and above); the caller alone for the others.
function useMembers(me: Me | null): Member[] {
  const [members, setMembers] = useState<Member[]>([]);
  useEffect(() => {
    if (!me) return;
    const self = { ...me, status: "active" };
    if (!can(me, "admin")) {
      setMembers([self]);
      return;
    }
    all<Member>("/api/users?status=active").then(setMembers, () => setMembers([self]));
  }, [me]);
  return members;
}

export function ProjectBoard({ id }: { id: string }) {
  const me = useMe();
  const project = useLoad(() => api<Project>("GET", `/api/projects/${id}`), [id]);
  const tasks = useLoad(() => all<Task>(`/api/projects/${id}/tasks?sort=created_at`), [id]);
  const members = useMembers(me);
  const [error, setError] = useState<unknown>(null);
  const [editing, setEditing] = useState<Task | "new" | null>(null);
  const [editProject, setEditProject] = useState(false);
  const [dragging, setDragging] = useState<string | null>(null);
  const mayEditTasks = can(me, "member");
  const mayEditProject = can(me, "manager");

  // Sent with the version the board shows: someone else's change in
  // between is a 412, and the board reloads to show it.
  async function move(task: Task, status: TaskStatus) {
    if (task.status === status) return;
    setError(null);
    try {
      await api("PATCH", `/api/tasks/${task.id}`, { body: { status }, ifMatch: task.version });
    } catch (err) {
      setError(err);
    }
    tasks.reload();
  }

  async function remove(task: Task) {
    if (!confirm(`Delete the task "${task.title}"?`)) return;
    setError(null);
    try {
      await api("DELETE", `/api/tasks/${task.id}`, { ifMatch: task.version });
    } catch (err) {
      setError(err);
    }
    tasks.reload();
  }

  async function removeProject(p: Project) {
    if (!confirm(`Delete the project "${p.name}" and its tasks?`)) return;
    try {
      await api("DELETE", `/api/projects/${p.id}`, { ifMatch: p.version });
      navigate("/projects");
    } catch (err) {
      setError(err);
    }
  }

  if (project.error) return <ErrorBox error={project.error} />;
  if (!project.data) return <p role="status">Loading…</p>;
  const p = project.data;
  const name = (uid: string | null) =>
    uid ? members.find((m) => m.id === uid)?.name ?? "someone" : "unassigned";

  return (
    <section>
      <div className="bar">
        <h1>{p.name} <small>{p.code} · {label(p.status)}</small></h1>
        {mayEditProject && (
          <>
            <button type="button" onClick={() => setEditProject(true)}>Edit project</button>
            <button type="button" className="danger" onClick={() => void removeProject(p)}>
              Delete project
            </button>
          </>
        )}
        {mayEditTasks && (
          <button type="button" onClick={() => setEditing("new")}>New task</button>
        )}
      </div>
      {p.description && <p>{p.description}</p>}
      {editProject && (
        <ProjectForm project={p} onDone={() => { setEditProject(false); project.reload(); }} />
      )}
      {editing && (
        <TaskForm projectId={id} task={editing === "new" ? undefined : editing} members={members}
                  onDone={() => { setEditing(null); tasks.reload(); }} />
      )}
      <ErrorBox error={error} />
      {error instanceof ApiError && error.status === 412 && (
        <p role="status">The board was reloaded with the latest changes.</p>
      )}
      {tasks.error ? <ErrorBox error={tasks.error} /> : null}
      {tasks.loading && !tasks.data && <p role="status">Loading tasks…</p>}
      {tasks.data && tasks.data.length === 0 && <p className="empty">No tasks yet.</p>}
      {tasks.data && (
        <div className="board">
          {TASK_STATUSES.map((s) => (
            <div key={s} className={`column${dragging ? " droppable" : ""}`}
                 data-status={s} aria-label={label(s)} role="region"
                 onDragOver={(e) => mayEditTasks && e.preventDefault()}
                 onDrop={(e: DragEvent) => {
                   e.preventDefault();
                   const t = tasks.data!.find((x) => x.id === e.dataTransfer.getData("text/plain"));
                   setDragging(null);
                   if (t) void move(t, s);
                 }}>
              <h2>{label(s)} <span className="count">{tasks.data!.filter((t) => t.status === s).length}</span></h2>
              <ul>
                {tasks.data!.filter((t) => t.status === s).map((t) => (
                  <li key={t.id} className="task" data-task={t.title} draggable={mayEditTasks}
                      onDragStart={(e) => {
                        e.dataTransfer.setData("text/plain", t.id);
                        setDragging(t.id);
                      }}
                      onDragEnd={() => setDragging(null)}>
                    <strong>{t.title}</strong>
                    <div className="meta">
                      {label(t.priority)} · {name(t.assignee_id)}
                      {t.due_date && ` · due ${t.due_date}`}
                    </div>
                    {mayEditTasks && (
                      <div className="actions">
                        <select value={t.status} aria-label={`Status of ${t.title}`}
                                onChange={(e) => void move(t, e.target.value as TaskStatus)}>
                          {TASK_STATUSES.map((x) => <option key={x} value={x}>{label(x)}</option>)}
                        </select>
                        <button type="button" onClick={() => setEditing(t)}
                                aria-label={`Edit ${t.title}`}>Edit</button>
                        <button type="button" className="danger" onClick={() => void remove(t)}
                                aria-label={`Delete ${t.title}`}>Delete</button>
                      </div>
                    )}
                  </li>
                ))}
              </ul>
            </div>
          ))}
        </div>
      )}
    </section>
  );
}

function TaskForm(props: { projectId: string; task?: Task; members: Member[]; onDone: () => void }) {
  const t = props.task;
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const s = (k: string) => String(f.get(k) ?? "");
    const body = {
      title: s("title"),
      description: s("description") || null,
      priority: s("priority"),
      assignee_id: s("assignee_id") || null,
      due_date: s("due_date") || null,
    };
    setBusy(true);
    setError(null);
    try {
      if (t) await api("PATCH", `/api/tasks/${t.id}`, { body, ifMatch: t.version });
      else await api("POST", `/api/projects/${props.projectId}/tasks`,
                     { body, idempotencyKey: newKey() });
      props.onDone();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  }

  return (
    <form className="card" onSubmit={submit} aria-label={t ? "Edit task" : "New task"}>
      <Field label="Title" name="title" error={error}>
        {(id, d) => <input id={id} name="title" defaultValue={t?.title} aria-describedby={d} />}
      </Field>
      <Field label="Priority" name="priority" error={error}>
        {(id, d) => (
          <select id={id} name="priority" defaultValue={t?.priority ?? "normal"} aria-describedby={d}>
            {PRIORITIES.map((x) => <option key={x} value={x}>{x}</option>)}
          </select>
        )}
      </Field>
      <Field label="Assignee" name="assignee_id" error={error}>
        {(id, d) => (
          <select id={id} name="assignee_id" defaultValue={t?.assignee_id ?? ""} aria-describedby={d}>
            <option value="">unassigned</option>
            {props.members.map((m) => <option key={m.id} value={m.id}>{m.name}</option>)}
          </select>
        )}
      </Field>
      <Field label="Due date" name="due_date" error={error}>
        {(id, d) => <input id={id} name="due_date" type="date" defaultValue={t?.due_date ?? ""}
                           aria-describedby={d} />}
      </Field>
      <Field label="Description" name="description" error={error}>
        {(id, d) => <textarea id={id} name="description" defaultValue={t?.description ?? ""}
                              aria-describedby={d} />}
      </Field>
      <button type="submit" disabled={busy}>{t ? "Save" : "Add task"}</button>
      <button type="button" onClick={props.onDone}>Cancel</button>
      <ErrorBox error={error} />
    </form>
  );
}
