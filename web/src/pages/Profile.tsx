import { useState, type FormEvent } from "react";
import { all, api } from "../api";
import { ErrorBox } from "../components/ErrorBox";
import { Field } from "../components/Field";
import { useLoad } from "../components/useLoad";
import type { Me } from "../session";

interface Session {
  id: string;
  last_used_at: string;
  user_agent: string;
  current: boolean;
}

// Every member's own page: the name, the password (which ends the other
// sessions), and the sessions, each revocable.
export function Profile({ me, onChange }: { me: Me; onChange: () => void }) {
  const sessions = useLoad(() => all<Session>("/api/auth/sessions"), []);
  const [nameError, setNameError] = useState<unknown>(null);
  const [pwError, setPwError] = useState<unknown>(null);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState<string | null>(null);

  async function rename(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    setNameError(null);
    setSaved(null);
    try {
      await api("PATCH", "/api/users/me", { body: { name: String(f.get("name")) } });
      setSaved("Your name is saved.");
      onChange();
    } catch (err) {
      setNameError(err);
    }
  }

  async function password(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = e.currentTarget;
    const f = new FormData(form);
    setPwError(null);
    setSaved(null);
    try {
      await api("POST", "/api/users/me/password", {
        body: { current_password: String(f.get("current_password")),
                new_password: String(f.get("new_password")) },
      });
      form.reset();
      setSaved("Your password is changed; your other sessions are signed out.");
      sessions.reload();
    } catch (err) {
      setPwError(err);
    }
  }

  async function revoke(s: Session) {
    setError(null);
    try {
      await api("DELETE", `/api/auth/sessions/${s.id}`);
    } catch (err) {
      setError(err);
    }
    sessions.reload();
  }

  return (
    <section>
      <h1>Your profile</h1>
      <p>{me.email}, {me.role}</p>
      {saved && <p role="status">{saved}</p>}
      <form className="card" onSubmit={rename} aria-label="Change your name">
        <Field label="Name" name="name" error={nameError}>
          {(id, d) => <input id={id} name="name" defaultValue={me.name} autoComplete="name"
                             aria-describedby={d} />}
        </Field>
        <button type="submit">Save the name</button>
        <ErrorBox error={nameError} />
      </form>
      <form className="card" onSubmit={password} aria-label="Change your password">
        <Field label="Current password" name="current_password" error={pwError}>
          {(id, d) => <input id={id} name="current_password" type="password"
                             autoComplete="current-password" aria-describedby={d} />}
        </Field>
        <Field label="New password" name="new_password" error={pwError}>
          {(id, d) => <input id={id} name="new_password" type="password"
                             autoComplete="new-password" aria-describedby={d} />}
        </Field>
        <button type="submit">Change the password</button>
        <ErrorBox error={pwError} />
      </form>
      <h2>Your sessions</h2>
      <ErrorBox error={error} />
      <ErrorBox error={sessions.error} />
      {sessions.loading && !sessions.data && <p role="status">Loading…</p>}
      {sessions.data && (
        <ul className="sessions">
          {sessions.data.map((s) => (
            <li key={s.id} data-session={s.current ? "current" : "other"}>
              {s.user_agent || "unknown browser"}, last used {s.last_used_at}
              {s.current ? " (this one)" : (
                <button type="button" onClick={() => void revoke(s)}>Revoke</button>
              )}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
