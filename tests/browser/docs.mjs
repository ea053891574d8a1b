// The /docs page in headless Chromium (Debian's package, driven by
// playwright-core: nothing downloaded), with every request to another origin
// refused, as on a machine without internet. The page must render every
// operation of the document, log no Content-Security-Policy violation and no
// error, call the API from "Try it out" with a token typed into it, and keep
// that token out of the browser's storage.
//
// Usage: node tests/browser/docs.mjs <base-url> <token>
import { checks, launchChromium } from "./chromium.mjs";

const [base, token] = process.argv.slice(2);
if (!base || !token) throw new Error("usage: docs.mjs <base-url> <token>");
const origin = new URL(base).origin;
const { check, finish } = checks();

const browser = await launchChromium();
try {
  const page = await (await browser.newContext()).newPage();
  const foreign = [];
  await page.route("**/*", (route) => {
    const url = route.request().url();
    if (new URL(url).origin === origin) return route.continue();
    foreign.push(url);
    return route.abort();
  });
  const problems = [];
  page.on("console", (message) => {
    if (message.type() === "error" || /Content.Security.Policy/i.test(message.text())) {
      problems.push(`console ${message.type()}: ${message.text()}`);
    }
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  await page.addInitScript(() => {
    window.cspViolations = [];
    document.addEventListener("securitypolicyviolation", (event) =>
      window.cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`),
    );
  });

  const response = await page.goto(`${base}/docs`);
  check(response.status() === 200, `GET /docs: ${response.status()}`);
  const policy = (await response.allHeaders())["content-security-policy"] ?? "";
  check(policy.includes("default-src 'none'"), `a Content-Security-Policy: ${policy}`);

  const document = await (await fetch(`${base}/openapi.json`)).json();
  const methods = ["get", "put", "post", "delete", "patch"];
  const operations = Object.values(document.paths).flatMap((item) =>
    methods.filter((method) => item[method]).map((method) => item[method].operationId),
  );
  await page
    .waitForFunction((n) => document.querySelectorAll(".opblock").length === n, operations.length, {
      timeout: 30_000,
    })
    .catch(() => {});
  const rendered = await page.$$eval(".opblock", (blocks) => blocks.map((block) => block.id));
  for (const id of operations) {
    check(
      rendered.some((block) => block.endsWith(`-${id}`)),
      `operation ${id} rendered`,
    );
  }
  check(rendered.length === operations.length, `${rendered.length} of ${operations.length} operations`);

  // A token typed into the page, used by "Try it out", never stored.
  await page.click(".auth-wrapper button.authorize");
  await page.fill(".modal-ux input", token);
  await page.click(".modal-ux .auth-btn-wrapper button.authorize");
  await page.click(".modal-ux button.btn-done");
  const list = page.locator("[id$='-listTasks']");
  await list.locator(".opblock-summary").click();
  await list.locator("button.try-out__btn").click();
  await list.locator("button.execute").click();
  const status = await list
    .locator(".live-responses-table tr.response .response-col_status")
    .first()
    .textContent({ timeout: 15_000 })
    .catch((error) => `none (${error.message})`);
  check(status.trim() === "200", `Try it out: GET /api/tasks answered ${status.trim()}`);
  const stored = await page.evaluate(
    () => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie,
  );
  check(!stored.includes(token), "the token is in no storage");

  const violations = await page.evaluate(() => window.cspViolations);
  check(violations.length === 0, `no CSP violation ${JSON.stringify(violations)}`);
  check(problems.length === 0, `no console error ${JSON.stringify(problems)}`);
  check(foreign.length === 0, `no request to another origin ${JSON.stringify(foreign)}`);
} finally {
  await browser.close();
}
finish();
