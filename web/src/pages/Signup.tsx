import { useState, type FormEvent } from "react";
import { api } from "../api";
import { ErrorBox } from "../components/ErrorBox";
import { Field } from "../components/Field";
import { tenantUrl } from "../host";

// The apex: a new company and its owner. The session opens on the
// company's own host, whose cookie is its own.
export function Signup() {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const body = Object.fromEntries(
      ["tenant_name", "tenant_slug", "name", "email", "password"].map((k) => [k, String(f.get(k))]),
    );
    setBusy(true);
    setError(null);
    try {
      await api("POST", "/api/signup", { body });
      location.assign(tenantUrl(body.tenant_slug, `/login?email=${encodeURIComponent(body.email)}`));
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  }

  const input = (name: string, label: string, type = "text", auto?: string) => (
    <Field label={label} name={name} error={error}>
      {(id, d) => <input id={id} name={name} type={type} autoComplete={auto} required
                         aria-describedby={d} />}
    </Field>
  );
  return (
    <section className="narrow">
      <h1>Start with Lintel</h1>
      <form onSubmit={submit}>
        {input("tenant_name", "Company name", "text", "organization")}
        {input("tenant_slug", "Address (letters, digits, hyphens)")}
        {input("name", "Your name", "text", "name")}
        {input("email", "Email", "email", "email")}
        {input("password", "Password", "password", "new-password")}
        <button type="submit" disabled={busy}>Create the company</button>
      </form>
      <ErrorBox error={error} />
    </section>
  );
}
