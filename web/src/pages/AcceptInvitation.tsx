import { useState, type FormEvent } from "react";
import { acceptInvitation } from "../api";
import { ErrorBox } from "../components/ErrorBox";
import { Field } from "../components/Field";
import { navigate } from "../router";

// The invitation mail's link: /accept-invitation?token=…
export function AcceptInvitation({ onSignedIn }: { onSignedIn: () => void }) {
  const token = new URLSearchParams(location.search).get("token") ?? "";
  const [error, setError] = useState<unknown>(null);

  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    setError(null);
    try {
      await acceptInvitation(token, String(f.get("name")), String(f.get("password")));
      navigate("/", true);
      onSignedIn();
    } catch (err) {
      setError(err);
    }
  }

  return (
    <section className="narrow">
      <h1>Join the team</h1>
      <form onSubmit={submit}>
        <Field label="Your name" name="name" error={error}>
          {(id, d) => <input id={id} name="name" required aria-describedby={d} />}
        </Field>
        <Field label="Password" name="password" error={error}>
          {(id, d) => <input id={id} name="password" type="password"
                             autoComplete="new-password" required aria-describedby={d} />}
        </Field>
        <button type="submit">Create my account</button>
      </form>
      <ErrorBox error={error} />
    </section>
  );
}
