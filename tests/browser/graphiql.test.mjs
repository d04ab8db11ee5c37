// GraphiQL and a browser front end on another origin, in headless Chromium (Debian's
// `chromium`, driven by playwright-core), with every network request that does not
// go to 127.0.0.1 refused twice over: by Chromium's host resolver and by request
// routing that aborts and records it. The tests assert that none was attempted.
//
// Starts its own server: the debug binary (or $VERBAND_BIN) on a free port with the
// demo data in a temporary directory; other VERBAND_* variables of the environment
// pass through. Run: `bash tests/browser/run.sh` (installs playwright-core with npm).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const ROOT = resolve(import.meta.dirname, '..', '..');
const BIN =
  process.env.VERBAND_BIN ?? join(process.env.CARGO_TARGET_DIR ?? join(ROOT, 'target'), 'debug', 'verband');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const QUICK_START = '{ orgUnits(first: 10) { totalCount edges { node { name visibility level { name } } } } }';

let server; // the verband process
let base; // http://127.0.0.1:<port>
let dataDir;
let browser;
const frontEnds = []; // [allowed, refused]: static servers on other origins

/** A static page on its own origin that calls the API with fetch, as a front end does. */
function frontEnd() {
  return new Promise((ok) => {
    const http = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><title>front end</title><p>front end</p>');
    });
    http.listen(0, '127.0.0.1', () => ok({ http, origin: `http://127.0.0.1:${http.address().port}` }));
  });
}

function startServer(corsOrigin) {
  dataDir = mkdtempSync(join(tmpdir(), 'verband-browser-'));
  const env = { ...process.env };
  for (const key of ['VERBAND_DATABASE_URL', 'VERBAND_CONFIG', 'VERBAND_DEMO_DATA']) delete env[key];
  Object.assign(env, {
    VERBAND_DATA_DIR: join(dataDir, 'data'),
    VERBAND_LISTEN: '127.0.0.1:0',
    VERBAND_CORS_ORIGINS: corsOrigin,
    VERBAND_LOG: 'warn',
  });
  const child = spawn(BIN, ['serve'], { cwd: dataDir, env, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((ok, fail) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`server did not start: ${out}`)), 120_000);
    child.on('exit', (code) => fail(new Error(`server exited with ${code}: ${out}`)));
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const m = out.match(/listening on (http:\/\/127\.0\.0\.1:\d+)\//);
      if (m) {
        clearTimeout(timer);
        ok({ child, url: m[1] });
      }
    });
  });
}

/** A token of a demo persona, from the API itself. */
async function token(username) {
  const res = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      query: 'mutation($u: String!, $p: String!) { login(username: $u, password: $p) { accessToken } }',
      variables: { u: username, p: 'verband-demo' },
    }),
  });
  const body = await res.json();
  assert.ok(body.data?.login?.accessToken, JSON.stringify(body));
  return body.data.login.accessToken;
}

/**
 * A fresh page whose requests are watched: anything but 127.0.0.1 is aborted and
 * recorded; CSP violations, script errors and failed loads are recorded too.
 */
async function watchedPage() {
  const context = await browser.newContext();
  const seen = { offsite: [], requests: [], failed: [], errors: [] };
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.hostname === '127.0.0.1') return route.continue();
    seen.offsite.push(url.href);
    return route.abort('blockedbyclient');
  });
  const page = await context.newPage();
  page.on('request', (r) => seen.requests.push(r.url()));
  page.on('requestfailed', (r) => seen.failed.push(`${r.url()} ${r.failure()?.errorText}`));
  page.on('pageerror', (e) => seen.errors.push(e.message));
  await page.addInitScript(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) =>
      window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`),
    );
  });
  return { context, page, seen };
}

async function setEditor(page, selector, text) {
  await page.locator(selector).first().waitFor();
  await page.evaluate(
    ([sel, value]) => document.querySelector(sel).CodeMirror.setValue(value),
    [selector, text],
  );
}

/** Runs the query editor's text and returns the result pane parsed. */
async function run(page) {
  const result = '.result-window .CodeMirror';
  await page.evaluate((sel) => {
    const cm = document.querySelector(sel);
    if (cm) cm.CodeMirror.setValue('');
  }, result);
  await page.locator('.graphiql-execute-button').click();
  const text = await page.waitForFunction(
    (sel) => {
      const value = document.querySelector(sel)?.CodeMirror.getValue() ?? '';
      return value.trim().startsWith('{') ? value : null;
    },
    result,
    { timeout: 30_000 },
  );
  return JSON.parse(await text.jsonValue());
}

before(async () => {
  frontEnds.push(await frontEnd(), await frontEnd());
  ({ child: server, url: base } = await startServer(frontEnds[0].origin));
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // No name resolves but the server's address: nothing can leave the machine.
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
    ],
  });
});

after(async () => {
  await browser?.close();
  server?.kill('SIGTERM');
  for (const f of frontEnds) f.http.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

test('GraphiQL runs the quick-start query, sends a bearer token from the header editor, and shows the docs, offline', async () => {
  const { context, page, seen } = await watchedPage();
  const response = await page.goto(`${base}/`);
  assert.equal(response.status(), 200);
  assert.match(response.headers()['content-security-policy'], /script-src 'self';/);
  await page.locator('.graphiql-container').waitFor({ timeout: 30_000 });

  // The quick-start query of the README, anonymously: PUBLIC units only.
  await setEditor(page, '.graphiql-query-editor .CodeMirror', QUICK_START);
  const anonymous = await run(page);
  assert.ok(anonymous.data.orgUnits.totalCount > 0, JSON.stringify(anonymous));
  assert.ok(anonymous.data.orgUnits.edges.every((e) => e.node.visibility === 'PUBLIC'));

  // The header editor carries a bearer token to the API.
  await page.getByText('Headers', { exact: true }).click();
  const bearer = await token('lsm.bayern');
  await setEditor(
    page,
    '.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror',
    JSON.stringify({ Authorization: `Bearer ${bearer}` }),
  );
  await setEditor(page, '.graphiql-query-editor .CodeMirror', '{ viewer { username } }');
  const signedIn = await run(page);
  assert.equal(signedIn.data?.viewer?.username, 'lsm.bayern', JSON.stringify(signedIn));

  // The Docs pane: the schema loaded through introspection.
  await page.locator('button[aria-label="Show Documentation Explorer"]').click();
  const docs = page.locator('.graphiql-doc-explorer');
  await docs.waitFor();
  const loaded = await page.waitForFunction(
    () => {
      const text = document.querySelector('.graphiql-doc-explorer')?.innerText ?? '';
      return text.includes('Error fetching schema') || text.includes('Root Types') ? text : null;
    },
    null,
    { timeout: 30_000 },
  );
  const docsText = await loaded.jsonValue();
  assert.doesNotMatch(docsText, /Error fetching schema/, 'the schema did not load (introspection refused?)');
  await docs.getByText('Query', { exact: true }).first().click();
  await docs.getByText('members', { exact: true }).first().waitFor({ timeout: 10_000 });

  const csp = await page.evaluate(() => window.__csp);
  await context.close();
  assert.deepEqual(seen.offsite, [], 'requests to other hosts');
  assert.deepEqual(csp, [], 'Content-Security-Policy violations');
  assert.deepEqual(seen.errors, [], 'script errors');
  assert.deepEqual(seen.failed, [], 'failed requests');
  assert.ok(seen.requests.every((u) => u.startsWith(`${base}/`)), seen.requests.join('\n'));
  assert.ok(seen.requests.some((u) => u.includes('/graphiql/') && u.endsWith('/graphiql.min.js')));
});

test('a front end on a configured origin calls the API across origins; another origin is refused by the browser', async () => {
  const bearer = await token('lsm.bayern');
  const call = (page) =>
    page.evaluate(
      async ([api, t]) => {
        try {
          const res = await fetch(`${api}/graphql`, {
            method: 'POST',
            // Authorization and a JSON body: the browser sends a preflight first.
            headers: { 'content-type': 'application/json', authorization: `Bearer ${t}` },
            body: JSON.stringify({ query: '{ viewer { username } }' }),
          });
          return { status: res.status, body: await res.json(), requestId: res.headers.get('x-request-id') };
        } catch (e) {
          return { refused: String(e) };
        }
      },
      [base, bearer],
    );

  const allowed = await watchedPage();
  await allowed.page.goto(`${frontEnds[0].origin}/`);
  const ok = await call(allowed.page);
  assert.equal(ok.status, 200, JSON.stringify(ok));
  assert.equal(ok.body.data.viewer.username, 'lsm.bayern');
  assert.ok(ok.requestId, 'x-request-id is exposed to the front end');
  await allowed.context.close();
  assert.deepEqual(allowed.seen.offsite, []);

  const refused = await watchedPage();
  await refused.page.goto(`${frontEnds[1].origin}/`);
  const no = await call(refused.page);
  assert.match(no.refused ?? '', /Failed to fetch/, JSON.stringify(no));
  await refused.context.close();
  assert.deepEqual(refused.seen.offsite, []);
});

test('a front end on another origin uses automatic persisted queries: a hash, the miss, the text once, then GET by hash', async () => {
  const bearer = await token('lsm.bayern');
  const { page, context, seen } = await watchedPage();
  await page.goto(`${frontEnds[0].origin}/`);
  const steps = await page.evaluate(
    async ([api, t, query]) => {
      // What Apollo Client's persisted-query link does, with the browser's own SHA-256.
      const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(query));
      const sha256Hash = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
      const extensions = { persistedQuery: { version: 1, sha256Hash } };
      const headers = { 'content-type': 'application/json', authorization: `Bearer ${t}` };
      const post = async (body) => {
        const res = await fetch(`${api}/graphql`, { method: 'POST', headers, body: JSON.stringify(body) });
        return { status: res.status, body: await res.json() };
      };
      const miss = await post({ extensions });
      const registered = await post({ query, extensions });
      const url = `${api}/graphql?extensions=${encodeURIComponent(JSON.stringify(extensions))}`;
      const res = await fetch(url, { headers: { authorization: `Bearer ${t}` } });
      const byHash = { status: res.status, body: await res.json() };
      return { miss, registered, byHash };
    },
    [base, bearer, '{ viewer { username } }'],
  );
  await context.close();
  assert.equal(steps.miss.body.errors?.[0]?.message, 'PersistedQueryNotFound', JSON.stringify(steps.miss));
  assert.equal(steps.miss.body.errors[0].extensions.code, 'PERSISTED_QUERY_NOT_FOUND');
  assert.equal(steps.registered.body.data?.viewer?.username, 'lsm.bayern', JSON.stringify(steps.registered));
  assert.equal(steps.byHash.status, 200, JSON.stringify(steps.byHash));
  assert.equal(steps.byHash.body.data?.viewer?.username, 'lsm.bayern', JSON.stringify(steps.byHash));
  assert.deepEqual(seen.offsite, []);
});
