// The generated TypeScript client in headless Chromium, from a page on
// another origin than the API (http://127.0.0.1:<port> against
// http://localhost:<api-port>), with a real Better Auth token: the page
// creates a task with an Idempotency-Key (and retries it), lists, toggles,
// updates, keeps a second task and deletes the first; this checks what the
// page shows, and the database. The API must answer CORS as API Gateway
// does with the template's configuration (the test kit's local API, with
// the page's origin as FrontendUrl: tests/tests/it/browser.rs).
//
// Usage: node tests/browser/client.mjs <api-base-url> <compiled-client-dir>
// Environment: BETTER_AUTH_FIXTURE (the fixture's addresses), TEST_DATABASE_URL.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { checks, launchChromium } from "./chromium.mjs";

const [api, clientDir] = process.argv.slice(2);
if (!api || !clientDir) throw new Error("usage: client.mjs <api-base-url> <compiled-client-dir>");
const here = new URL(".", import.meta.url).pathname;
const root = join(here, "..", "..");
const { check, finish } = checks();

// The page's origin: a static server of its own.
const files = {
  "/index.html": [join(here, "client", "index.html"), "text/html"],
  "/app.js": [join(here, "client", "app.js"), "text/javascript"],
  "/client/index.js": [join(clientDir, "index.js"), "text/javascript"],
  "/openapi-fetch.mjs": [
    join(root, "clients", "typescript", "node_modules", "openapi-fetch", "dist", "index.mjs"),
    "text/javascript",
  ],
};
const pages = createServer((request, response) => {
  const file = files[new URL(request.url, "http://x").pathname];
  if (!file) return response.writeHead(404).end();
  response.writeHead(200, { "content-type": file[1] }).end(readFileSync(file[0]));
});
// PAGE_PORT: chosen by the caller, whose API allows exactly this origin.
const pagePort = Number(process.env.PAGE_PORT);
if (!pagePort) throw new Error("PAGE_PORT is not set");
await new Promise((resolve) => pages.listen(pagePort, "127.0.0.1", resolve));
const origin = `http://127.0.0.1:${pagePort}`;

// A real token from the Better Auth fixture.
const fixture = JSON.parse(readFileSync(process.env.BETTER_AUTH_FIXTURE, "utf8"));
const { token, user_id: user } = await (await fetch(`${fixture.base}/token/EdDSA/alice`)).json();

const browser = await launchChromium();
let result;
try {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto(`${origin}/index.html#api=${encodeURIComponent(api)}&token=${encodeURIComponent(token)}`);
  await page.waitForSelector("#result[data-done]", { timeout: 30_000 });
  result = JSON.parse(await page.textContent("#result"));
  console.log(JSON.stringify(result));
  check(errors.length === 0, `no page error ${JSON.stringify(errors)}`);
} finally {
  await browser.close();
  pages.close();
}

check(result.failure === undefined, `no failed call (${result.failure})`);
const id = result.created?.id;
check(result.created?.status === 201, "create: 201");
check(result.created?.location === `/api/tasks/${id}`, `Location readable: ${result.created?.location}`);
check(result.created?.replayed === null, "a first create is not a replay");
check(result.replay?.status === 201 && result.replay?.id === id, "the retried create answers the same task");
check(result.replay?.replayed === "true", "Idempotent-Replayed readable: true");
check(result.listed === true, "the list holds it");
check(result.toggled === true, "toggled to completed");
check(result.updated?.completed === false && result.updated?.title.endsWith("(renamed)"), "updated");
check(result.deleted === 204, "deleted: 204");
check(result.afterDelete?.status === 404 && result.afterDelete?.code === "NOT_FOUND", "then 404 NOT_FOUND");
check(result.unauthorized?.status === 401 && result.unauthorized?.wwwAuthenticate === "Bearer", "a bad token: 401, WWW-Authenticate readable");
check(result.foreignHeaderBlocked === true, "a header CORS does not allow is refused by the browser");

// The database: the kept task is the user's, the deleted one is gone with its key.
const sql = (query) =>
  execFileSync(process.env.PSQL ?? "psql", [process.env.TEST_DATABASE_URL, "-tAc", query], { encoding: "utf8" }).trim();
const quote = (text) => `'${String(text).replaceAll("'", "''")}'`;
check(sql(`SELECT count(*) FROM tasks WHERE id = ${Number(id) || 0}`) === "0", "the deleted task is gone");
check(
  sql(`SELECT user_id || '|' || title || '|' || completed FROM tasks WHERE id = ${Number(result.kept?.id) || 0}`) ===
    `${user}|${result.kept?.title}|false`,
  "the kept task is stored, as the token's user",
);
check(sql(`SELECT count(*) FROM idempotency_keys WHERE task_id = ${Number(id) || 0}`) === "0", "its Idempotency-Key went with it");

finish();
