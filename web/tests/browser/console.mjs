// The console in a real browser (Debian's chromium, driven by
// playwright-core) against a running Lintel stack, through its edge.
// tests/e2e/test_web_console.py starts the stack and runs this script;
// by hand: LINTEL_HTTP_PORT=… LINTEL_MAIL_DIR=… node tests/browser/console.mjs
//
// Every main screen is checked by axe (no serious or critical violation),
// photographed into $LINTEL_SHOTS_DIR, and timed (lib.mjs: screen).
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { apex, call, check, finish, host, launch, mail, PASSWORD, screen, SHOTS,
         step, tokenOf } from "./lib.mjs";

const browser = await launch();

try {
  const slug = `w${Date.now().toString(36)}`;
  const email = `owner@${slug}.test`;
  const owner = await browser.newContext({ acceptDownloads: true });
  const page = await owner.newPage();
  page.on("pageerror", (e) => console.log(`   page error: ${e.message}`));

  // a browser that has started before: its first page costs the process
  // start-up of chromium, which is no screen's
  const warm = await owner.newPage();
  await warm.goto(apex + "/");
  await warm.close();

  step("sign-up on the apex, then sign-in on the new company's host");
  await page.goto(apex + "/");
  await screen(page, "signup", page.getByRole("heading", { name: "Start with Lintel" }));
  await page.getByLabel("Company name").fill("Web Test Co");
  await page.getByLabel("Address (letters, digits, hyphens)").fill("x");
  await page.getByLabel("Your name").fill("Olga Owner");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Create the company" }).click();
  // the API's field error, where the field is
  await page.locator('[data-field="tenant_slug"]').waitFor();
  assert.ok(await page.getByTestId("request-id").textContent());
  await page.getByLabel("Address (letters, digits, hyphens)").fill(slug);
  await page.getByRole("button", { name: "Create the company" }).click();
  await page.waitForURL(`${host(slug)}/login?**`);
  await screen(page, "login", page.getByRole("heading", { name: "Sign in" }));
  assert.equal(await page.getByLabel("Email").inputValue(), email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await screen(page, "projects-empty", page.getByText("No projects yet."));

  step("the refresh token is out of the page's reach");
  const stored = await page.evaluate(() => [document.cookie, JSON.stringify(localStorage),
                                            JSON.stringify(sessionStorage)].join("|"));
  assert.ok(!stored.includes("lintel_refresh") && !stored.includes("eyJ"), stored);
  const cookies = await owner.cookies(host(slug) + "/api/auth/refresh");
  const rc = cookies.find((c) => c.name === "lintel_refresh");
  assert.ok(rc && rc.httpOnly && rc.sameSite === "Strict" && rc.path === "/api/auth", JSON.stringify(cookies));

  step("create a project: field errors from the API, then the board");
  await page.getByRole("button", { name: "New project" }).click();
  await page.getByLabel("Name").fill("Bridge");
  await page.getByLabel("Code").fill("not a code!");
  await page.getByRole("button", { name: "Create" }).click();
  await page.locator('[data-field="code"]').waitFor();
  await page.getByLabel("Code").fill("BR-1");
  await page.getByRole("button", { name: "Create" }).click();
  await screen(page, "board-empty", page.getByText("No tasks yet."));
  const projectUrl = page.url();
  const projectId = projectUrl.split("/").pop();

  step("tasks on the board, one dragged to done");
  for (const title of ["Pour the deck", "Paint the rails", "Inspect bolts"]) {
    await page.getByRole("button", { name: "New task" }).click();
    await page.getByLabel("Title").fill(title);
    await page.getByLabel("Assignee").selectOption({ label: "Olga Owner" });
    await page.getByRole("button", { name: "Add task" }).click();
    await page.locator(`[data-task="${title}"]`).waitFor();
  }
  const todo = page.locator('[data-status="todo"]');
  const done = page.locator('[data-status="done"]');
  assert.equal(await todo.locator(".task").count(), 3);
  await page.dragAndDrop('[data-task="Pour the deck"]', '[data-status="done"]');
  await done.locator('[data-task="Pour the deck"]').waitFor();
  await page.reload();
  await screen(page, "board", done.locator('[data-task="Pour the deck"]'));

  step("a change by someone else: 412, the message, the board reloaded");
  const ownerToken = await tokenOf(slug, email);
  const tasks = (await call(slug, "GET", `/api/projects/${projectId}/tasks?limit=100`,
                            { token: ownerToken })).body.data;
  const paint = tasks.find((x) => x.title === "Paint the rails");
  const other = await call(slug, "PATCH", `/api/tasks/${paint.id}`, {
    token: ownerToken, body: { status: "blocked" }, headers: { "If-Match": `"${paint.version}"` },
  });
  assert.equal(other.status, 200);
  await page.getByLabel("Status of Paint the rails").selectOption("in_progress");
  await page.getByText("This was changed by someone else").waitFor();
  await page.locator('[data-status="blocked"] [data-task="Paint the rails"]').waitFor();

  step("a 401 refreshes the token once and the call is retried");
  let refreshed = 0;
  page.on("response", (r) => { if (r.url().endsWith("/api/auth/refresh") && r.status() === 200) refreshed++; });
  let failedOnce = false;
  await page.route("**/api/projects?**", async (route) => {
    if (failedOnce) return route.continue();
    failedOnce = true;
    await route.fulfill({ status: 401, contentType: "application/json",
                          body: '{"error":{"code":"invalid_token","message":"expired","request_id":"x"}}' });
  });
  await page.getByRole("link", { name: "Projects" }).click();
  await page.getByRole("link", { name: "Bridge" }).waitFor();
  assert.ok(failedOnce);
  assert.equal(refreshed, 1);
  await page.unroute("**/api/projects?**");

  step("a reload keeps the session through the cookie");
  await page.reload();
  await screen(page, "projects", page.getByRole("link", { name: "Bridge" }));
  assert.ok(refreshed >= 2, `${refreshed} refreshes`);

  step("search, filter and sort the list");
  await page.getByRole("searchbox").fill("nothing-like-this");
  await page.getByText("No projects match.").waitFor();
  await page.getByRole("searchbox").fill("brid");
  await page.getByRole("link", { name: "Bridge" }).waitFor();

  step("reports follow the board");
  await page.getByRole("link", { name: "Reports" }).click();
  await screen(page, "reports", page.getByTestId("tasks-total"));
  const deadline = Date.now() + 20000;
  while ((await page.getByTestId("tasks-done").textContent()) !== "1") {
    assert.ok(Date.now() < deadline, "the dashboard never counted the done task");
    await page.getByRole("button", { name: "Refresh" }).click();
    await page.waitForTimeout(200);
  }
  assert.equal(await page.getByTestId("tasks-total").textContent(), "3");

  step("export the tasks, with progress, and download the CSV");
  await page.getByLabel("Export", { exact: true }).selectOption("tasks");
  await page.getByRole("button", { name: "Export CSV" }).click();
  const dl = page.getByRole("button", { name: "Download tasks.csv" });
  await dl.waitFor({ timeout: 20000 });
  const [download] = await Promise.all([page.waitForEvent("download"), dl.click()]);
  const csv = fs.readFileSync(await download.path(), "utf8");
  assert.match(download.suggestedFilename(), /^tasks-[0-9a-f]{8}\.csv$/);
  for (const title of ["Pour the deck", "Paint the rails", "Inspect bolts"]) assert.ok(csv.includes(title), csv);

  step("an invitation listed, resent and revoked");
  await page.getByRole("link", { name: "Members" }).click();
  await page.getByText("No pending invitations.").waitFor();
  const goneEmail = `gone@${slug}.test`;
  await page.getByLabel("Email").fill(goneEmail);
  await page.getByRole("button", { name: "Invite" }).click();
  const goneRow = page.locator(`[data-invitation="${goneEmail}"]`);
  await goneRow.waitFor();
  await page.getByRole("button", { name: `Resend to ${goneEmail}` }).click();
  await page.getByText(`An invitation went to ${goneEmail}.`).waitFor();
  page.once("dialog", (d) => d.accept());
  await page.getByRole("button", { name: `Revoke the invitation of ${goneEmail}` }).click();
  await goneRow.waitFor({ state: "detached" });
  const revoked = await call(slug, "GET", "/api/users/invitations?status=revoked",
                             { token: await tokenOf(slug, email) });
  assert.deepEqual(revoked.body.data.map((i) => i.email), [goneEmail]);

  step("invite a viewer, who accepts from the mail");
  await screen(page, "members", page.getByRole("cell", { name: email }));
  const viewerEmail = `viewer@${slug}.test`;
  await page.getByLabel("Email").fill(viewerEmail);
  await page.getByLabel("Role").selectOption("viewer");
  await page.getByRole("button", { name: "Invite" }).click();
  await page.getByText(`An invitation went to ${viewerEmail}.`).waitFor();
  const token = await mail(viewerEmail, /accept-invitation\?token=([A-Za-z0-9_-]+)/);
  const viewer = await browser.newContext();
  const vpage = await viewer.newPage();
  await vpage.goto(`${host(slug)}/accept-invitation?token=${token}`);
  await screen(vpage, "accept-invitation", vpage.getByRole("heading", { name: "Join the team" }));
  await vpage.getByLabel("Your name").fill("Vic Viewer");
  await vpage.getByLabel("Password").fill(PASSWORD);
  await vpage.getByRole("button", { name: "Create my account" }).click();
  await vpage.getByRole("link", { name: "Bridge" }).waitFor();

  step("the viewer sees no edit controls, and the API refuses anyway");
  assert.equal(await vpage.getByRole("button", { name: "New project" }).count(), 0);
  await vpage.getByRole("link", { name: "Bridge" }).click();
  await vpage.locator('[data-task="Inspect bolts"]').waitFor();
  for (const name of ["New task", "Edit project", "Delete project", "Edit Inspect bolts"]) {
    assert.equal(await vpage.getByRole("button", { name }).count(), 0, name);
  }
  assert.equal(await vpage.locator('[draggable="true"]').count(), 0);
  assert.equal(await vpage.getByRole("link", { name: "Members" }).count(), 0);
  step("the viewer's own profile: name, password, sessions");
  await vpage.getByRole("link", { name: "Vic Viewer (viewer)" }).click();
  await screen(vpage, "profile", vpage.locator('[data-session="current"]'));
  await vpage.getByLabel("Name", { exact: true }).fill("Victoria Viewer");
  await vpage.getByRole("button", { name: "Save the name" }).click();
  await vpage.getByRole("link", { name: "Victoria Viewer (viewer)" }).waitFor();
  await vpage.getByLabel("Current password").fill("not the password");
  await vpage.getByLabel("New password").fill(`${PASSWORD} 3`);
  await vpage.getByRole("button", { name: "Change the password" }).click();
  await vpage.getByTestId("request-id").waitFor();
  const vtoken = await tokenOf(slug, viewerEmail);
  const refused = await call(slug, "POST", `/api/projects/${projectId}/tasks`,
                             { token: vtoken, body: { title: "sneaky" } });
  assert.equal(refused.status, 403);

  step("a second company sees nothing of the first");
  const slug2 = `${slug}-b`;
  const signup2 = await call(null, "POST", "/api/signup", { body: {
    tenant_slug: slug2, tenant_name: "Other Co", name: "Otto", email: `owner@${slug2}.test`,
    password: PASSWORD } });
  assert.equal(signup2.status, 201);
  const other2 = await browser.newContext();
  const p2 = await other2.newPage();
  await p2.goto(`${host(slug2)}/`);
  await p2.waitForURL("**/login?**");
  // keyboard only: Tab to each field, Enter to send
  await p2.getByLabel("Email").focus();
  await p2.keyboard.type(`owner@${slug2}.test`);
  await p2.keyboard.press("Tab");
  await p2.keyboard.type(PASSWORD);
  await p2.keyboard.press("Enter");
  await p2.getByText("No projects yet.").waitFor();
  await p2.goto(`${host(slug2)}/projects/${projectId}`);
  await p2.getByRole("alert").waitFor();
  assert.match(await p2.getByRole("alert").textContent(), /no such project/);
  assert.match(await p2.getByTestId("request-id").textContent(), /^[0-9a-f]{32}$/);
  await p2.screenshot({ path: path.join(SHOTS, "error-other-tenant.png") });
  // the first company's cookie is not the second's
  assert.equal((await other2.cookies(`${host(slug)}/api/auth/refresh`)).length, 0);

  step("a forgotten password, reset from the mail's link");
  const r = await (await browser.newContext()).newPage();
  await r.goto(`${host(slug2)}/login`);
  await r.getByLabel("Email").fill(`owner@${slug2}.test`);
  await r.getByRole("button", { name: "Forgot the password?" }).click();
  await r.getByText("a reset link is on its way").waitFor();
  const reset = await mail(`owner@${slug2}.test`, /reset-password\?token=([A-Za-z0-9_-]+)/);
  await r.goto(`${host(slug2)}/reset-password?token=${reset}`);
  await screen(r, "reset-password", r.getByRole("heading", { name: "Choose a new password" }));
  await r.getByLabel("New password").fill("x");
  await r.getByRole("button", { name: "Set the password" }).click();
  await r.locator('[data-field="new_password"]').waitFor();
  await r.getByLabel("New password").fill(`${PASSWORD} 2`);
  await r.getByRole("button", { name: "Set the password" }).click();
  await r.getByRole("link", { name: "Sign in" }).click();
  await r.getByLabel("Email").fill(`owner@${slug2}.test`);
  await r.getByLabel("Password").fill(`${PASSWORD} 2`);
  await r.getByRole("button", { name: "Sign in" }).click();
  await r.getByText("No projects yet.").waitFor();

  step("the platform's operator on the apex suspends and reactivates it");
  const op = await (await browser.newContext()).newPage();
  await op.goto(`${apex}/admin`);
  await screen(op, "operator-sign-in", op.getByRole("heading", { name: "Sign in" }));
  await op.getByLabel("Email").fill("admin@lintel.localhost");
  await op.getByLabel("Password").fill("lintel-admin-pass");
  await op.getByRole("button", { name: "Sign in" }).click();
  await op.getByRole("heading", { name: "Tenants" }).waitFor();
  const row = op.locator(`[data-tenant="${slug2}"]`);
  await op.locator("tr[data-tenant]").first().waitFor();
  while (!(await row.isVisible())) {
    const before = await op.locator("tr[data-tenant]").count();
    await op.getByRole("button", { name: "More tenants" }).click();
    await op.waitForFunction((n) => document.querySelectorAll("tr[data-tenant]").length > n, before);
  }
  await check(op, "admin");
  op.once("dialog", (d) => d.accept());
  await op.getByRole("button", { name: `Suspend ${slug2}` }).click();
  await op.getByRole("button", { name: `Reactivate ${slug2}` }).waitFor();
  await op.getByLabel("Status").selectOption("suspended");
  await op.getByRole("button", { name: `Reactivate ${slug2}` }).click();
  await op.getByRole("button", { name: `Suspend ${slug2}` }).waitFor();

  step("across the access token's life: renewed before it ends, calls carry the new one");
  // The page's clock is Playwright's: fast-forwarding it past the token's
  // 15 minutes fires the console's scheduled refresh, as a real wait would.
  const timed = await owner.newPage();
  await timed.clock.install();
  const auths = [];
  timed.on("request", (r) => {
    if (r.url().includes("/api/projects")) auths.push(r.headers()["authorization"]);
  });
  await timed.goto(host(slug) + "/projects");
  await timed.getByRole("link", { name: "Bridge" }).waitFor();
  const firstAuth = auths.at(-1);
  assert.ok(firstAuth && firstAuth.startsWith("Bearer "), String(firstAuth));
  const renewed = timed.waitForResponse(
    (r) => r.url().endsWith("/api/auth/refresh") && r.status() === 200);
  await timed.clock.fastForward("15:00");
  await renewed;
  await timed.getByRole("link", { name: "Reports" }).click();
  await timed.getByRole("link", { name: "Projects" }).click();
  await timed.getByRole("link", { name: "Bridge" }).waitFor();
  assert.notEqual(auths.at(-1), firstAuth, "the calls after the refresh carry the new token");
  await timed.close();

  step("delete a task, with confirmation");
  await page.goto(projectUrl);
  page.once("dialog", (d) => d.accept());
  await page.getByRole("button", { name: "Delete Inspect bolts" }).click();
  await page.locator('[data-task="Inspect bolts"]').waitFor({ state: "detached" });

  step("sign out: the cookie is gone, a reload asks to sign in");
  await page.getByRole("button", { name: "Sign out", exact: true }).click();
  await page.getByRole("heading", { name: "Sign in" }).waitFor();
  await page.goto(projectUrl);
  await page.getByRole("heading", { name: "Sign in" }).waitFor();

  finish("timings.json");
  console.log("browser tests passed");
} finally {
  await browser.close();
}
