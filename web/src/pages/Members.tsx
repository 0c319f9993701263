import { useState, type FormEvent } from "react";
import { all, api } from "../api";
import { ErrorBox } from "../components/ErrorBox";
import { Field } from "../components/Field";
import { useLoad } from "../components/useLoad";
import { can, useMe, type Me } from "../session";
import type { Invitation, Member } from "../types";

const ROLES = ["owner", "admin", "manager", "member", "viewer"] as const;

// Members and invitations (admin and owner), roles within the caller's
// own.
export function Members() {
  const me = useMe()!;
  const members = useLoad(() => all<Member>("/api/users"), []);
  const invitations = useLoad(
    () => all<Invitation>("/api/users/invitations?status=pending"), []);
  const [error, setError] = useState<unknown>(null);
  const [invited, setInvited] = useState<string | null>(null);
  const grantable = ROLES.filter((r) => r !== "owner" || me.role === "owner");

  async function invite(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = e.currentTarget;
    const f = new FormData(form);
    setError(null);
    setInvited(null);
    try {
      await api("POST", "/api/users/invitations", {
        body: { email: String(f.get("email")), role: String(f.get("role")) },
      });
      setInvited(String(f.get("email")));
      form.reset();
      invitations.reload();
    } catch (err) {
      setError(err);
    }
  }

  // Revoke (DELETE) or resend (a new link; the old one dies).
  async function invitation(i: Invitation, how: "revoke" | "resend") {
    setError(null);
    setInvited(null);
    try {
      if (how === "revoke") {
        await api("DELETE", `/api/users/invitations/${i.id}`);
      } else {
        await api("POST", `/api/users/invitations/${i.id}/resend`);
        setInvited(i.email);
      }
    } catch (err) {
      setError(err);
    }
    invitations.reload();
  }

  async function change(m: Member, body: Record<string, string>) {
    setError(null);
    try {
      await api("PATCH", `/api/users/${m.id}`, { body });
    } catch (err) {
      setError(err);
    }
    members.reload();
  }

  return (
    <section>
      <h1>Members</h1>
      <ErrorBox error={error} />
      <form className="card inline" onSubmit={invite} aria-label="Invite">
        <Field label="Email" name="email" error={error}>
          {(id, d) => <input id={id} name="email" type="email" required aria-describedby={d} />}
        </Field>
        <Field label="Role" name="role" error={error}>
          {(id, d) => (
            <select id={id} name="role" defaultValue="member" aria-describedby={d}>
              {grantable.map((r) => <option key={r} value={r}>{r}</option>)}
            </select>
          )}
        </Field>
        <button type="submit">Invite</button>
      </form>
      {invited && <p role="status">An invitation went to {invited}.</p>}
      <h2>Pending invitations</h2>
      <ErrorBox error={invitations.error} />
      {invitations.loading && !invitations.data && <p role="status">Loading…</p>}
      {invitations.data && invitations.data.length === 0 && <p>No pending invitations.</p>}
      {invitations.data && invitations.data.length > 0 && (
        <table aria-label="Pending invitations">
          <thead><tr><th>Email</th><th>Role</th><th>Expires</th><th /></tr></thead>
          <tbody>
            {invitations.data.map((i) => (
              <tr key={i.id} data-invitation={i.email}>
                <td>{i.email}</td>
                <td>{i.role}</td>
                <td>{new Date(i.expires_at).toLocaleString()}</td>
                <td>
                  <button type="button" onClick={() => void invitation(i, "resend")}>
                    Resend<span className="sr-only"> to {i.email}</span>
                  </button>{" "}
                  <button type="button" className="danger"
                          onClick={() => confirm(`Revoke the invitation of ${i.email}?`) &&
                                         void invitation(i, "revoke")}>
                    Revoke<span className="sr-only"> the invitation of {i.email}</span>
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>Members</h2>
      <ErrorBox error={members.error} />
      {members.loading && !members.data && <p role="status">Loading…</p>}
      {members.data && (
        <table>
          <thead><tr><th>Name</th><th>Email</th><th>Role</th><th>Status</th><th /></tr></thead>
          <tbody>
            {members.data.map((m) => {
              const editable = m.id !== me.id && can(me, m.role as Me["role"]);
              return (
                <tr key={m.id}>
                  <td>{m.name}</td>
                  <td>{m.email}</td>
                  <td>
                    {editable ? (
                      <select value={m.role} aria-label={`Role of ${m.name}`}
                              onChange={(e) => void change(m, { role: e.target.value })}>
                        {grantable.map((r) => <option key={r} value={r}>{r}</option>)}
                      </select>
                    ) : m.role}
                  </td>
                  <td>{m.status}</td>
                  <td>
                    {editable && m.status === "active" && (
                      <button type="button" className="danger"
                              onClick={() => confirm(`Deactivate ${m.name}?`) &&
                                             void change(m, { status: "deactivated" })}>
                        Deactivate
                      </button>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}
