import { useEffect, useState } from "react";
import { api, query, type Page } from "../api";
import { ErrorBox } from "../components/ErrorBox";
import { money } from "./Billing";

interface Tenant {
  id: string;
  slug: string;
  name: string;
  status: "active" | "suspended";
  created_at: string;
}

interface AdminSubscription {
  tenant_id: string;
  plan: { code: string };
  state: string;
  seats: number;
  mrr_minor: number;
  currency: string;
}

// A list paged by cursor: the rows so far, and the next page on demand.
function usePaged<T>(path: string, params: Record<string, string>) {
  const [rows, setRows] = useState<T[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<unknown>(null);
  const key = JSON.stringify(params);

  async function load(after: string | null) {
    setLoading(true);
    setError(null);
    try {
      const page = await api<Page<T>>("GET", `${path}${query({ ...params, limit: 100, cursor: after })}`);
      setRows((r) => (after ? [...r, ...page.data] : page.data));
      setCursor(page.next_cursor);
    } catch (err) {
      setError(err);
    } finally {
      setLoading(false);
    }
  }
  useEffect(() => void load(null), [path, key]);
  return { rows, setRows, cursor, loading, error, more: () => load(cursor) };
}

// The platform's operator, on the apex: tenants (suspend, reactivate) and
// their subscriptions.
export function Admin() {
  const [status, setStatus] = useState("");
  const tenants = usePaged<Tenant>("/api/admin/tenants", { status });
  const subs = usePaged<AdminSubscription>("/api/admin/billing/subscriptions", {});
  const [error, setError] = useState<unknown>(null);
  const slugOf = new Map(tenants.rows.map((t) => [t.id, t.slug]));

  async function setTenantStatus(t: Tenant, next: Tenant["status"]) {
    if (next === "suspended" && !confirm(`Suspend ${t.slug}? Its people lose access.`)) return;
    setError(null);
    try {
      const out = await api<Tenant>("PATCH", `/api/admin/tenants/${t.id}`, { body: { status: next } });
      tenants.setRows((rows) => rows.map((r) => (r.id === out.id ? out : r)));
    } catch (err) {
      setError(err);
    }
  }

  return (
    <section>
      <h1>Tenants</h1>
      <div className="filters">
        <span>
          <label htmlFor="tenant-status">Status</label>{" "}
          <select id="tenant-status" value={status} onChange={(e) => setStatus(e.target.value)}>
            <option value="">any</option>
            <option value="active">active</option>
            <option value="suspended">suspended</option>
          </select>
        </span>
      </div>
      <ErrorBox error={error} />
      <ErrorBox error={tenants.error} />
      {!tenants.loading && tenants.rows.length === 0 && <p className="empty">No tenants.</p>}
      {tenants.rows.length > 0 && (
        <table>
          <thead><tr><th>Slug</th><th>Name</th><th>Status</th><th>Since</th><th /></tr></thead>
          <tbody>
            {tenants.rows.map((t) => (
              <tr key={t.id} data-tenant={t.slug}>
                <td>{t.slug}</td>
                <td>{t.name}</td>
                <td>{t.status}</td>
                <td>{t.created_at.slice(0, 10)}</td>
                <td>
                  {t.status === "active" ? (
                    <button type="button" className="danger" aria-label={`Suspend ${t.slug}`}
                            onClick={() => void setTenantStatus(t, "suspended")}>Suspend</button>
                  ) : (
                    <button type="button" aria-label={`Reactivate ${t.slug}`}
                            onClick={() => void setTenantStatus(t, "active")}>Reactivate</button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {tenants.loading && <p role="status">Loading…</p>}
      {tenants.cursor && !tenants.loading && (
        <button type="button" onClick={() => void tenants.more()}>More tenants</button>
      )}

      <h2>Subscriptions</h2>
      <ErrorBox error={subs.error} />
      {!subs.loading && subs.rows.length === 0 && <p className="empty">No subscriptions.</p>}
      {subs.rows.length > 0 && (
        <table>
          <thead><tr><th>Tenant</th><th>Plan</th><th>State</th><th>Seats</th><th>MRR</th></tr></thead>
          <tbody>
            {subs.rows.map((s) => (
              <tr key={s.tenant_id}>
                <td>{slugOf.get(s.tenant_id) ?? s.tenant_id}</td>
                <td>{s.plan.code}</td>
                <td>{s.state}</td>
                <td>{s.seats}</td>
                <td>{money(s.mrr_minor, s.currency)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {subs.cursor && !subs.loading && (
        <button type="button" onClick={() => void subs.more()}>More subscriptions</button>
      )}
    </section>
  );
}
