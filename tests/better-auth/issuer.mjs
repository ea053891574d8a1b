// A headless Better Auth for the Todo API's tests: real instances (in-memory
// adapter, the `jwt()` plugin) issue real tokens, and a loopback HTTP server
// publishes their JWKS the way a Better Auth app does at /api/auth/jwks.
//
// Usage: node issuer.mjs FIXTURE.json [TLS-CERT TLS-KEY]
// Writes FIXTURE.json once ready: { base, https_base, tokens: { <alg>: {
// alice, bob, rotated, other } }, jwks: { <alg>: <that instance's public
// JWK set> } }. With a certificate and key, the same routes are also served
// over HTTPS at `https_base` (https://localhost:<port>).
//
// Every path `<prefix>/api/auth/jwks` serves the JWKS, so each test can use a
// prefix of its own and count only its own fetches:
//   GET  <prefix>/api/auth/jwks     the keys of the `main` instances, plus the
//                                   `rotated` ones once <prefix> is rotated
//   POST <prefix>/control/rotate    publish the rotated keys under <prefix>
//   POST <prefix>/control/retire    publish only the rotated keys under <prefix>
//                                   (the original keys are removed)
//   POST <prefix>/control/down      answer 503 under <prefix>
//   POST <prefix>/control/up        answer normally again
//   GET  <prefix>/control/hits      how many JWKS requests <prefix> has had
//   GET  /token/<alg>/<who>         a token issued now (who: alice, bob,
//                                   rotated, other; for EdDSA also `expired`,
//                                   whose exp is 2 minutes ago, and `recent`,
//                                   30 seconds ago)
// The `other` instances' keys are never published.
import { createServer } from "node:http";
import { createServer as createTlsServer } from "node:https";
import { readFileSync, writeFileSync } from "node:fs";
import { betterAuth } from "better-auth";
import { memoryAdapter } from "better-auth/adapters/memory";
import { jwt } from "better-auth/plugins";

const [output, tlsCert, tlsKey] = process.argv.slice(2);
if (!output) {
  console.error("usage: node issuer.mjs FIXTURE.json");
  process.exit(2);
}

const ALGORITHMS = {
  EdDSA: { alg: "EdDSA", crv: "Ed25519" },
  ES256: { alg: "ES256" },
  RS256: { alg: "RS256", modulusLength: 2048 },
};

const state = new Map(); // prefix -> { hits, rotated, retired, down }
const prefixState = (prefix) => {
  if (!state.has(prefix)) state.set(prefix, { hits: 0, rotated: false, retired: false, down: false });
  return state.get(prefix);
};

let published = { main: [], rotated: [] };
const sessions = {}; // alg -> who -> () => Promise<{ token, user_id }>

const handler = (req, res) => {
  const path = new URL(req.url, "http://x").pathname;
  const reply = (status, body) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
  let match = path.match(/^(.*)\/api\/auth\/jwks$/);
  if (match && req.method === "GET") {
    const s = prefixState(match[1]);
    s.hits += 1;
    if (s.down) return reply(503, { error: "down" });
    const keys = [
      ...(s.retired ? [] : published.main),
      ...(s.rotated || s.retired ? published.rotated : []),
    ];
    return reply(200, { keys });
  }
  match = path.match(/^\/token\/(\w+)\/(\w+)$/);
  if (match && sessions[match[1]]?.[match[2]]) {
    sessions[match[1]][match[2]]().then((t) => reply(200, t), (e) => reply(500, { error: String(e) }));
    return;
  }
  match = path.match(/^(.*)\/control\/(rotate|retire|down|up|hits)$/);
  if (match) {
    const s = prefixState(match[1]);
    if (match[2] === "rotate") s.rotated = true;
    if (match[2] === "retire") s.retired = true;
    if (match[2] === "down") s.down = true;
    if (match[2] === "up") s.down = false;
    return reply(200, s);
  }
  reply(404, { error: "not found" });
};
const server = createServer(handler);
const tlsServer = tlsCert
  ? createTlsServer({ cert: readFileSync(tlsCert), key: readFileSync(tlsKey) }, handler)
  : null;

server.listen(0, "127.0.0.1", async () => {
  const base = `http://127.0.0.1:${server.address().port}`;
  // An instance as a Next.js app would configure it; `baseURL` becomes the
  // tokens' `iss` and `aud`.
  const instance = (keyPairConfig, expirationTime) =>
    betterAuth({
      baseURL: base,
      secret: "better-auth-fixture-secret-not-a-credential",
      database: memoryAdapter({ user: [], session: [], account: [], verification: [], jwks: [] }),
      emailAndPassword: { enabled: true },
      plugins: [jwt({ jwks: { keyPairConfig }, jwt: expirationTime ? { expirationTime } : {} })],
      logger: { disabled: true },
    });
  const issue = async (auth, email) => {
    const signedUp = await auth.api.signUpEmail({
      body: { email, password: "correct-horse-battery-staple", name: email.split("@")[0] },
      returnHeaders: true,
    });
    const cookie = signedUp.headers.get("set-cookie").split(";")[0];
    const fresh = async () => {
      const { token } = await auth.api.getToken({ headers: new Headers({ cookie }) });
      const payload = JSON.parse(Buffer.from(token.split(".")[1], "base64url"));
      return { token, user_id: payload.sub };
    };
    return fresh;
  };

  const fixture = { base, https_base: null, tokens: {}, jwks: {} };
  for (const [name, keyPairConfig] of Object.entries(ALGORITHMS)) {
    const main = instance(keyPairConfig);
    const rotated = instance(keyPairConfig);
    const other = instance(keyPairConfig);
    sessions[name] = {
      alice: await issue(main, "alice@example.com"),
      bob: await issue(main, "bob@example.com"),
      rotated: await issue(rotated, "carol@example.com"),
      other: await issue(other, "mallory@example.com"),
    };
    fixture.tokens[name] = {};
    for (const [who, fresh] of Object.entries(sessions[name])) fixture.tokens[name][who] = await fresh();
    const mainKeys = (await main.api.getJwks()).keys;
    fixture.jwks[name] = { keys: mainKeys };
    published.main.push(...mainKeys);
    published.rotated.push(...(await rotated.api.getJwks()).keys);
  }
  // Published, but issuing tokens that are already expired (on demand only).
  for (const [who, expirationTime] of [["expired", "2 minutes ago"], ["recent", "30 seconds ago"]]) {
    const auth = instance(ALGORITHMS.EdDSA, expirationTime);
    sessions.EdDSA[who] = await issue(auth, `${who}@example.com`);
    published.main.push(...(await auth.api.getJwks()).keys);
  }
  if (tlsServer) {
    await new Promise((resolve) => tlsServer.listen(0, "127.0.0.1", resolve));
    fixture.https_base = `https://localhost:${tlsServer.address().port}`;
  }
  writeFileSync(output, JSON.stringify(fixture, null, 2));
  console.log(`better-auth fixture: JWKS at ${base}/api/auth/jwks, tokens in ${output}`);
});

for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => process.exit(0));
