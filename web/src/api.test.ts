import { afterEach, describe, expect, it, vi } from "vitest";
import { api, ApiError, CSRF_HEADER, login, query, refreshDelayMs, signedIn, signOut } from "./api";

// fetch as the edge would answer, one scripted reply per call, with the
// requests kept for the assertions.
function edge(...replies: [number, unknown, Record<string, string>?][]) {
  const calls: { url: string; init: RequestInit }[] = [];
  const f = vi.fn(async (url: string, init: RequestInit) => {
    calls.push({ url, init });
    const [status, body, headers] = replies.shift() ?? [500, { error: { code: "internal" } }];
    return new Response(status === 204 ? null : JSON.stringify(body), {
      status, headers: { "Content-Type": "application/json", ...headers },
    });
  });
  vi.stubGlobal("fetch", f);
  return calls;
}

const grant = (t: string) => [200, { access_token: t, token_type: "Bearer", expires_in: 900 }] as
  [number, unknown];

afterEach(() => {
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

describe("refreshDelayMs", () => {
  it("renews a minute before expiry", () => expect(refreshDelayMs(900)).toBe(840_000));
  it("renews at four fifths of a short life", () => expect(refreshDelayMs(60)).toBe(48_000));
  it("never waits less than a second", () => expect(refreshDelayMs(1)).toBe(1000));
});

describe("query", () => {
  it("leaves out empty values", () =>
    expect(query({ q: "a b", status: "", cursor: null, limit: 25 })).toBe("?q=a+b&limit=25"));
  it("is empty without values", () => expect(query({ q: undefined })).toBe(""));
});

describe("the session", () => {
  it("logs in with the CSRF header and keeps the token in memory only", async () => {
    const calls = edge(grant("tok-1"), [200, { id: "u" }]);
    await login("a@b.test", "pw");
    expect((calls[0].init.headers as Record<string, string>)[CSRF_HEADER]).toBe("1");
    expect(calls[0].init.credentials).toBe("same-origin");
    expect(signedIn()).toBe(true);
    await api("GET", "/api/users/me");
    expect((calls[1].init.headers as Record<string, string>).Authorization).toBe("Bearer tok-1");
    expect(localStorage.length + sessionStorage.length).toBe(0);
  });

  it("refreshes once on a 401 and retries the call with the new token", async () => {
    const calls = edge(grant("old"), [401, { error: { code: "invalid_token" } }], grant("new"),
                       [200, { ok: true }]);
    await login("a@b.test", "pw");
    expect(await api("GET", "/api/projects")).toEqual({ ok: true });
    expect(calls.map((c) => c.url)).toEqual(["/api/auth/login", "/api/projects",
                                             "/api/auth/refresh", "/api/projects"]);
    expect(calls[2].init.body).toBeUndefined(); // the cookie is the token
    expect((calls[2].init.headers as Record<string, string>)[CSRF_HEADER]).toBe("1");
    expect((calls[3].init.headers as Record<string, string>).Authorization).toBe("Bearer new");
  });

  it("gives up after one failed refresh and signs out", async () => {
    const calls = edge(grant("old"), [401, { error: { code: "invalid_token" } }],
                       [401, { error: { code: "invalid_token", request_id: "r1" } }]);
    await login("a@b.test", "pw");
    await expect(api("GET", "/api/projects")).rejects.toMatchObject({ status: 401 });
    expect(calls).toHaveLength(3);
    expect(signedIn()).toBe(false);
  });

  it("refreshes on its own before the token expires", async () => {
    vi.useFakeTimers();
    const calls = edge([200, { access_token: "a", token_type: "Bearer", expires_in: 100 }],
                       grant("b"));
    await login("a@b.test", "pw");
    await vi.advanceTimersByTimeAsync(79_000);
    expect(calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(calls.map((c) => c.url)).toEqual(["/api/auth/login", "/api/auth/refresh"]);
  });

  it("signs out with the CSRF header, so the cookie is cleared", async () => {
    const calls = edge(grant("t"), [204, null]);
    await login("a@b.test", "pw");
    await signOut(true);
    expect(calls[1].url).toBe("/api/auth/logout-all");
    expect((calls[1].init.headers as Record<string, string>)[CSRF_HEADER]).toBe("1");
    expect(signedIn()).toBe(false);
  });
});

describe("errors", () => {
  it("carry the code, the fields and the request id", async () => {
    edge([400, { error: { code: "validation_failed", message: "bad", request_id: "abc",
                          fields: [{ field: "code", code: "invalid_format" }] } }]);
    const e = await api("POST", "/api/projects", { body: {} }).catch((x) => x);
    expect(e).toBeInstanceOf(ApiError);
    expect(e).toMatchObject({ status: 400, code: "validation_failed", requestId: "abc",
                              fields: [{ field: "code", code: "invalid_format" }] });
  });

  it("take the request id from the header when the body is not JSON", async () => {
    vi.stubGlobal("fetch", async () => new Response("<html>", {
      status: 502, headers: { "X-Request-Id": "from-header" } }));
    await expect(api("GET", "/api/x")).rejects.toMatchObject({ status: 502, requestId: "from-header" });
  });

  it("send If-Match and Idempotency-Key as asked", async () => {
    const calls = edge([200, {}]);
    await api("PATCH", "/api/tasks/1", { body: { status: "done" }, ifMatch: 7, idempotencyKey: "k" });
    const h = calls[0].init.headers as Record<string, string>;
    expect(h["If-Match"]).toBe('"7"');
    expect(h["Idempotency-Key"]).toBe("k");
  });
});
