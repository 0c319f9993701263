// The console's one way to the API (API.md). The access token lives in this
// module's memory only; the refresh token is an HttpOnly cookie scoped to
// /api/auth that the users service sets and rotates, spent by refresh()
// with the CSRF header it requires. A 401 refreshes once and retries.

export const CSRF_HEADER = "X-Lintel-CSRF";

export interface FieldError {
  field: string;
  code: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId: string,
    readonly fields: FieldError[] = [],
  ) {
    super(message);
  }
}

export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

interface Grant {
  access_token: string;
  expires_in: number;
}

type Listener = (signedIn: boolean) => void;

let access: string | null = null;
let refreshTimer: ReturnType<typeof setTimeout> | undefined;
let refreshing: Promise<boolean> | null = null;
const listeners = new Set<Listener>();

export function onSessionChange(l: Listener): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

function setSession(grant: Grant | null) {
  clearTimeout(refreshTimer);
  access = grant ? grant.access_token : null;
  if (grant) {
    refreshTimer = setTimeout(() => void refresh(), refreshDelayMs(grant.expires_in));
  }
  listeners.forEach((l) => l(access !== null));
}

// When to renew a token that lives `expiresIn` seconds: a minute before it
// expires, or at four fifths of a life too short for that.
export function refreshDelayMs(expiresIn: number): number {
  const s = Math.max(expiresIn - 60, expiresIn * 0.8);
  return Math.max(1, s) * 1000;
}

export function signedIn(): boolean {
  return access !== null;
}

async function errorOf(res: Response): Promise<ApiError> {
  const rid = res.headers.get("X-Request-Id") ?? "";
  try {
    const j = await res.json();
    const e = j.error ?? {};
    return new ApiError(res.status, e.code ?? "unknown", e.message ?? res.statusText,
                        e.request_id ?? rid, e.fields ?? []);
  } catch {
    return new ApiError(res.status, "unknown", res.statusText || "request failed", rid);
  }
}

async function send(method: string, path: string, body: unknown,
                    headers: Record<string, string>): Promise<Response> {
  const h: Record<string, string> = { Accept: "application/json", ...headers };
  if (access) h.Authorization = `Bearer ${access}`;
  if (body !== undefined) h["Content-Type"] = "application/json";
  return fetch(path, {
    method,
    headers: h,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
}

// Renews the access token with the cookie; one at a time, whoever asks.
export function refresh(): Promise<boolean> {
  if (!refreshing) {
    refreshing = (async () => {
      try {
        const res = await fetch("/api/auth/refresh", {
          method: "POST",
          headers: { [CSRF_HEADER]: "1", Accept: "application/json" },
          credentials: "same-origin",
        });
        if (!res.ok) {
          setSession(null);
          return false;
        }
        setSession(await res.json());
        return true;
      } catch {
        return false;
      } finally {
        refreshing = null;
      }
    })();
  }
  return refreshing;
}

export interface RequestOptions {
  body?: unknown;
  ifMatch?: string | number;
  idempotencyKey?: string;
}

export async function raw(method: string, path: string,
                          opts: RequestOptions = {}): Promise<Response> {
  const headers: Record<string, string> = {};
  if (opts.ifMatch !== undefined) headers["If-Match"] = `"${opts.ifMatch}"`;
  if (opts.idempotencyKey) headers["Idempotency-Key"] = opts.idempotencyKey;
  let res = await send(method, path, opts.body, headers);
  if (res.status === 401 && !path.startsWith("/api/auth/") && (await refresh())) {
    res = await send(method, path, opts.body, headers);
  }
  if (!res.ok) throw await errorOf(res);
  return res;
}

export async function api<T>(method: string, path: string,
                             opts: RequestOptions = {}): Promise<T> {
  const res = await raw(method, path, opts);
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

export function query(params: Record<string, string | number | null | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

export async function login(email: string, password: string): Promise<void> {
  const res = await fetch("/api/auth/login", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json",
               [CSRF_HEADER]: "1" },
    body: JSON.stringify({ email, password }),
    credentials: "same-origin",
  });
  if (!res.ok) throw await errorOf(res);
  setSession(await res.json());
}

// The answer to an invitation carries a first grant, as a login does.
export async function acceptInvitation(token: string, name: string,
                                       password: string): Promise<void> {
  const res = await fetch("/api/auth/invitations/accept", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json",
               [CSRF_HEADER]: "1" },
    body: JSON.stringify({ token, name, password }),
    credentials: "same-origin",
  });
  if (!res.ok) throw await errorOf(res);
  setSession(await res.json());
}

// Forgets the access token: the platform's operator has no session to end.
export function dropSession(): void {
  setSession(null);
}

// The logout routes clear the cookie only for a browser: they need the
// header too, which raw() does not add to other calls.
async function sendAuth(path: string): Promise<Response> {
  return fetch(path, {
    method: "POST",
    headers: { Authorization: `Bearer ${access}`, [CSRF_HEADER]: "1" },
    credentials: "same-origin",
  });
}

export async function signOut(all: boolean): Promise<void> {
  const path = all ? "/api/auth/logout-all" : "/api/auth/logout";
  try {
    let res = await sendAuth(path);
    if (res.status === 401 && (await refresh())) res = await sendAuth(path);
    if (!res.ok && res.status !== 401) throw await errorOf(res);
  } finally {
    setSession(null);
  }
}

// An Idempotency-Key: 128 random bits, hex.
export function newKey(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

// Every page of a list (the board shows a project's tasks whole).
export async function all<T>(path: string): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | null = null;
  do {
    const sep: string = path.includes("?") ? "&" : "?";
    const page: Page<T> = await api<Page<T>>(
      "GET", `${path}${sep}limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    out.push(...page.data);
    cursor = page.next_cursor;
  } while (cursor);
  return out;
}
