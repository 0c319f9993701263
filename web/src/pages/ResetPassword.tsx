import { useState, type FormEvent } from "react";
import { api } from "../api";
import { ErrorBox } from "../components/ErrorBox";
import { Field } from "../components/Field";
import { Link } from "../router";

// The mail's link: /reset-password?token=…
export function ResetPassword() {
  const token = new URLSearchParams(location.search).get("token") ?? "";
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState(false);

  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    setError(null);
    try {
      await api("POST", "/api/auth/password-reset/confirm", {
        body: { token, new_password: String(f.get("new_password")) },
      });
      setDone(true);
    } catch (err) {
      setError(err);
    }
  }

  if (done) {
    return (
      <section className="narrow">
        <h1>Password changed</h1>
        <p role="status">Every session was signed out. <Link to="/login">Sign in</Link> with the new password.</p>
      </section>
    );
  }
  return (
    <section className="narrow">
      <h1>Choose a new password</h1>
      <form onSubmit={submit}>
        <Field label="New password" name="new_password" error={error}>
          {(id, d) => <input id={id} name="new_password" type="password"
                             autoComplete="new-password" required aria-describedby={d} />}
        </Field>
        <button type="submit">Set the password</button>
      </form>
      <ErrorBox error={error} />
    </section>
  );
}
