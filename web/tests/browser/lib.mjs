// What the browser tests share: the stack's addresses, the API as a
// script calls it, the mailbox, and `screen` (timing, screenshot, axe).
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { chromium } from "playwright-core";
import { AxeBuilder } from "@axe-core/playwright";

export const PORT = process.env.LINTEL_HTTP_PORT ?? "8080";
export const BASE = process.env.LINTEL_BASE_DOMAIN ?? "lintel.localhost";
const MAIL_DIR = process.env.LINTEL_MAIL_DIR;
export const SHOTS = process.env.LINTEL_SHOTS_DIR ?? "../build/web-shots";
const BROWSER = process.env.LINTEL_CHROMIUM ?? "/usr/bin/chromium";
const BUDGET_MS = Number(process.env.LINTEL_SCREEN_BUDGET_MS ?? 1000);
export const PASSWORD = "correct horse battery";

export const apex = `http://${BASE}:${PORT}`;
export const host = (slug) => `http://${slug}.${BASE}:${PORT}`;
const timings = {};

fs.mkdirSync(SHOTS, { recursive: true });

export function step(name) {
  console.log(`-- ${name}`);
}

// The API as a script calls it (no browser), for what the test sets up or
// checks behind the console's back; node:http, as fetch may not set Host.
export function call(slug, method, p, { token, body, headers } = {}) {
  const h = { Host: slug ? `${slug}.${BASE}` : BASE, ...headers };
  if (token) h.Authorization = `Bearer ${token}`;
  if (body !== undefined) h["Content-Type"] = "application/json";
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port: PORT, path: p, method, headers: h }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers,
                                     body: text ? JSON.parse(text) : null }));
    });
    req.on("error", reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

export async function tokenOf(slug, email) {
  const r = await call(slug, "POST", "/api/auth/login", { body: { email, password: PASSWORD } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.access_token;
}

// A screen's time to interactive, taken in the browser: from the start of
// a load of its address (performance.now() counts from it) to its content
// on screen — the whole of it: the console's code, the session from the
// cookie, the API's answers. The best of up to three loads counts, so that
// a moment of CPU taken by the machine's other work is not the screen's.
export async function screen(page, name, ready) {
  await ready.first().waitFor({ state: "visible", timeout: 15000 });
  let best = Infinity;
  for (let i = 0; i < 3 && best > BUDGET_MS; i++) {
    await page.reload();
    await ready.first().waitFor({ state: "visible", timeout: 15000 });
    best = Math.min(best, Math.round(await page.evaluate(() => performance.now())));
  }
  timings[name] = best;
  await check(page, name);
  console.log(`   ${name}: interactive in ${best} ms, axe clean`);
}

// The screen as it is now: photographed, and checked by axe.
export async function check(page, name) {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
  const axe = await new AxeBuilder({ page }).analyze();
  const bad = axe.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target).join(" ")})`), [],
                   `${name}: accessibility violations`);
}

// The first mail to `to` whose text matches `rx` (the SMTP sink's folder).
export async function mail(to, rx) {
  const deadline = Date.now() + 15000;
  while (Date.now() < deadline) {
    for (const f of fs.readdirSync(MAIL_DIR).sort()) {
      const text = fs.readFileSync(path.join(MAIL_DIR, f), "utf8");
      const m = text.includes(`X-Sink-Rcpt: ${to}`) && rx.exec(text.replace(/=\r?\n/g, ""));
      if (m) return m[1];
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no mail to ${to} matching ${rx}`);
}

// Debian's chromium, resolving the stack's hosts to loopback.
export function launch() {
  return chromium.launch({
    executablePath: BROWSER,
    // root in a container has no user namespace for chromium's sandbox
    args: ["--no-sandbox", `--host-resolver-rules=MAP *.${BASE} 127.0.0.1, MAP ${BASE} 127.0.0.1`],
  });
}

// The screens' times into SHOTS/<file>; fails when one is over budget.
export function finish(file) {
  fs.writeFileSync(path.join(SHOTS, file), JSON.stringify(timings, null, 2) + "\n");
  const slow = Object.entries(timings).filter(([, ms]) => ms > BUDGET_MS);
  assert.deepEqual(slow, [], `screens over ${BUDGET_MS} ms`);
}
