import { useState } from "react";
import { all, api, newKey, raw } from "../api";
import { ErrorBox } from "../components/ErrorBox";
import { useLoad } from "../components/useLoad";
import { can, useMe } from "../session";

interface Plan {
  code: string;
  name: string;
  currency: string;
  seat_price_minor: number;
  limits: { seats: number | null; projects: number | null };
}

interface Subscription {
  plan: Plan;
  state: string;
  trial_ends_at: string | null;
  current_period: { start: string; end: string };
}

interface Usage {
  seats: { used: number; limit: number | null };
  projects: { used: number; limit: number | null };
  source: string;
}

interface Proration {
  plan: Plan;
  effective_date: string;
  currency: string;
  lines: { description: string; amount_minor: number }[];
  total_minor: number;
}

interface Invoice {
  id: string;
  number: number;
  status: string;
  period: { start: string; end: string };
  currency: string;
  total_minor: number;
}

export const money = (minor: number, currency: string) =>
  new Intl.NumberFormat("en", { style: "currency", currency }).format(minor / 100);

const limit = (n: number | null) => (n === null ? "unlimited" : String(n));

// The plan, usage against its limits, a plan change with its proration
// shown first (owner), and the invoices with their PDF (admin and owner).
export function Billing() {
  const me = useMe();
  const sub = useLoad(() => api<Subscription>("GET", "/api/billing/subscription"), []);
  const usage = useLoad(() => api<Usage>("GET", "/api/billing/usage"), []);
  const plans = useLoad(() => api<{ data: Plan[] }>("GET", "/api/billing/plans"), []);
  const invoices = useLoad(() => all<Invoice>("/api/billing/invoices"), []);
  const [choice, setChoice] = useState("");
  const [preview, setPreview] = useState<Proration | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [changed, setChanged] = useState<string | null>(null);

  async function ask(plan: string) {
    setChoice(plan);
    setPreview(null);
    setChanged(null);
    setError(null);
    if (!plan) return;
    try {
      setPreview(await api<Proration>("POST", "/api/billing/subscription/preview", { body: { plan } }));
    } catch (err) {
      setError(err);
    }
  }

  async function change() {
    setError(null);
    try {
      await api("POST", "/api/billing/subscription", { body: { plan: choice }, idempotencyKey: newKey() });
      setChanged(preview?.plan.name ?? choice);
      setPreview(null);
      setChoice("");
      sub.reload();
      usage.reload();
    } catch (err) {
      setError(err);
    }
  }

  async function pdf(inv: Invoice) {
    setError(null);
    try {
      const res = await raw("GET", `/api/billing/invoices/${inv.id}.pdf`);
      const url = URL.createObjectURL(await res.blob());
      const a = document.createElement("a");
      a.href = url;
      a.download = `invoice-${inv.number}.pdf`;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    } catch (err) {
      setError(err);
    }
  }

  return (
    <section>
      <h1>Billing</h1>
      <ErrorBox error={sub.error} />
      {sub.loading && !sub.data && <p role="status">Loading…</p>}
      {sub.data && (
        <p data-testid="plan">
          Plan <strong>{sub.data.plan.name}</strong> ({sub.data.state}
          {sub.data.state === "trialing" && sub.data.trial_ends_at &&
            `, trial until ${sub.data.trial_ends_at.slice(0, 10)}`}),{" "}
          {money(sub.data.plan.seat_price_minor, sub.data.plan.currency)} per seat a month;
          this period {sub.data.current_period.start} to {sub.data.current_period.end}.
        </p>
      )}
      {changed && <p role="status">The plan is now {changed}.</p>}
      <h2>Usage</h2>
      <ErrorBox error={usage.error} />
      {usage.data && (
        <table>
          <thead><tr><th>What</th><th>Used</th><th>Limit</th></tr></thead>
          <tbody>
            <tr><td>Seats</td><td>{usage.data.seats.used}</td><td>{limit(usage.data.seats.limit)}</td></tr>
            <tr><td>Active projects</td><td>{usage.data.projects.used}</td><td>{limit(usage.data.projects.limit)}</td></tr>
          </tbody>
        </table>
      )}
      {can(me, "owner") && plans.data && sub.data && (
        <>
          <h2>Change the plan</h2>
          <label htmlFor="plan-choice">New plan</label>{" "}
          <select id="plan-choice" value={choice} onChange={(e) => void ask(e.target.value)}>
            <option value="">choose…</option>
            {plans.data.data.filter((p) => p.code !== sub.data!.plan.code).map((p) => (
              <option key={p.code} value={p.code}>
                {p.name}: {money(p.seat_price_minor, p.currency)} a seat, {limit(p.limits.seats)} seats,{" "}
                {limit(p.limits.projects)} projects
              </option>
            ))}
          </select>
          {preview && (
            <div className="card" aria-label="Proration">
              <p>From {preview.effective_date}:</p>
              <ul>
                {preview.lines.map((l, i) => (
                  <li key={i}>{l.description}: {money(l.amount_minor, preview.currency)}</li>
                ))}
              </ul>
              <p>Total now: <strong data-testid="proration-total">{money(preview.total_minor, preview.currency)}</strong></p>
              <button type="button" onClick={() => void change()}>Change to {preview.plan.name}</button>
            </div>
          )}
        </>
      )}
      <ErrorBox error={error} />
      <h2>Invoices</h2>
      <ErrorBox error={invoices.error} />
      {invoices.data && invoices.data.length === 0 && <p className="empty">No invoices yet.</p>}
      {invoices.data && invoices.data.length > 0 && (
        <table>
          <thead><tr><th>Number</th><th>Period</th><th>Total</th><th>Status</th><th /></tr></thead>
          <tbody>
            {invoices.data.map((inv) => (
              <tr key={inv.id}>
                <td>{inv.number}</td>
                <td>{inv.period.start} – {inv.period.end}</td>
                <td>{money(inv.total_minor, inv.currency)}</td>
                <td>{inv.status}</td>
                <td><button type="button" onClick={() => void pdf(inv)}>PDF of invoice {inv.number}</button></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
