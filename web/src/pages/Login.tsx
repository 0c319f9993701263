import { useState, type FormEvent } from "react";
import { login, api } from "../api";
import { ErrorBox } from "../components/ErrorBox";

// `platform`: the apex's operator sign-in, which has no password reset.
export function Login({ onSignedIn, platform = false }: { onSignedIn: () => void; platform?: boolean }) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [resetSent, setResetSent] = useState(false);
  const params = new URLSearchParams(location.search);
  const [email, setEmail] = useState(params.get("email") ?? "");

  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    setBusy(true);
    setError(null);
    try {
      await login(email, String(f.get("password")));
      onSignedIn();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  async function forgot() {
    setError(null);
    try {
      await api("POST", "/api/auth/password-reset", { body: { email } });
      setResetSent(true);
    } catch (err) {
      setError(err);
    }
  }

  return (
    <section className="narrow">
      <h1>Sign in</h1>
      <form onSubmit={submit}>
        <div className="field">
          <label htmlFor="email">Email</label>
          <input id="email" name="email" type="email" autoComplete="username" required
                 value={email} onChange={(e) => setEmail(e.target.value)} />
        </div>
        <div className="field">
          <label htmlFor="password">Password</label>
          <input id="password" name="password" type="password"
                 autoComplete="current-password" required />
        </div>
        <button type="submit" disabled={busy}>Sign in</button>
        {!platform && (
          <button type="button" className="link" onClick={() => void forgot()}
                  disabled={!email}>
            Forgot the password?
          </button>
        )}
      </form>
      {resetSent && <p role="status">If {email} has an account here, a reset link is on its way.</p>}
      <ErrorBox error={error} />
    </section>
  );
}
