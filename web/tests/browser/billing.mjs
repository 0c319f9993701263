// The billing screen in the browser: the plan, usage against its limits, a
// plan change with its proration shown first, an invoice's PDF, and what
// a 402 plan_limit_reached tells the user. tests/e2e/test_web_console.py
// prepares the company (LINTEL_WEB_SLUG: an owner with an ended, invoiced
// period) and runs this script.
import assert from "node:assert/strict";
import fs from "node:fs";
import { finish, host, launch, PASSWORD, screen, step } from "./lib.mjs";

const slug = process.env.LINTEL_WEB_SLUG;
const browser = await launch();

try {
  const ctx = await browser.newContext({ acceptDownloads: true });
  const page = await ctx.newPage();
  page.on("pageerror", (e) => console.log(`   page error: ${e.message}`));

  step("sign in, open billing");
  await page.goto(`${host(slug)}/billing`);
  await page.getByLabel("Email").fill(`owner@${slug}.test`);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await screen(page, "billing", page.getByRole("button", { name: "PDF of invoice 1" }));
  assert.match(await page.getByTestId("plan").textContent(), /Plan Team \(active\)/);
  assert.equal(await page.getByRole("row", { name: /Seats 1 unlimited/ }).count(), 1);

  step("an invoice's PDF");
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("button", { name: "PDF of invoice 1" }).click(),
  ]);
  assert.equal(download.suggestedFilename(), "invoice-1.pdf");
  assert.equal(fs.readFileSync(await download.path()).subarray(0, 5).toString(), "%PDF-");

  step("the proration first, then the change");
  await page.getByLabel("New plan").selectOption("business");
  const total = page.getByTestId("proration-total");
  await total.waitFor();
  assert.match(await total.textContent(), /^\$\d+\.\d\d$/);
  await page.getByRole("button", { name: "Change to Business" }).click();
  await page.getByText("The plan is now Business.").waitFor();
  await page.getByText(/Plan Business \(active\)/).waitFor();

  step("on the free plan, a third project is refused with what to do");
  await page.getByLabel("New plan").selectOption("free");
  await page.getByRole("button", { name: "Change to Free" }).click();
  await page.getByText("The plan is now Free.").waitFor();
  await page.getByRole("link", { name: "Projects" }).click();
  for (const [i, code] of ["P1", "P2", "P3"].entries()) {
    await page.getByRole("button", { name: "New project" }).click();
    await page.getByLabel("Name").fill(`Project ${i + 1}`);
    await page.getByLabel("Code").fill(code);
    await page.getByRole("button", { name: "Create" }).click();
    if (i < 2) {
      await page.getByRole("heading", { name: new RegExp(`Project ${i + 1}`) }).waitFor();
      await page.getByRole("link", { name: "Projects" }).click();
    }
  }
  const alert = page.getByRole("alert");
  await alert.waitFor();
  assert.match(await alert.textContent(), /change the plan under Billing/);
  assert.match(await page.getByTestId("request-id").textContent(), /^[0-9a-f]{32}$/);
  await page.screenshot({ path: `${process.env.LINTEL_SHOTS_DIR}/plan-limit.png`, fullPage: true });

  finish("timings-billing.json");
  console.log("billing browser tests passed");
} finally {
  await browser.close();
}
