// A headless-browser check of GraphiQL at "/": the page loads nothing from another
// host, its content security policy blocks nothing it needs, and a subscription
// typed into GraphiQL runs over the websocket with the session cookie and shows a
// live event. Run it against a fresh server (it signs up
// ada@example.com) after updating the embedded GraphiQL:
//
//   npm install --prefix internal/browsercheck
//   go run . --listen 127.0.0.1:18080 --database-url sqlite:/tmp/check.db &
//   node internal/browsercheck/graphiql.js http://127.0.0.1:18080 /usr/bin/chromium
//
// It exits non-zero when a step fails.
const { chromium } = require('playwright-core');

const [base = 'http://127.0.0.1:18080', executablePath = '/usr/bin/chromium'] = process.argv.slice(2);

function fail(msg) {
  console.error('FAIL: ' + msg);
  process.exit(1);
}

(async () => {
  const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
  const page = await browser.newPage();
  const foreign = [];
  const sockets = [];
  page.on('request', (r) => { if (!r.url().startsWith(base)) foreign.push(r.url()); });
  page.on('websocket', (ws) => sockets.push(ws.url()));
  const blocked = [];
  page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) blocked.push(m.text()); });
  await page.goto(base + '/');
  await page.waitForSelector('.graphiql-query-editor .CodeMirror', { timeout: 20000 });

  // Signing up from the page sets the session cookie GraphiQL then sends.
  const gql = (query, variables) => page.evaluate(async ([query, variables]) => {
    const r = await fetch('/graphql', {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ query, variables }),
    });
    return r.json();
  }, [query, variables]);
  const su = await gql('mutation { signUp(input: {email: "ada@example.com", password: "correct horse battery", name: "Ada"}) { user { id } } }');
  if (su.errors) fail('signUp: ' + JSON.stringify(su.errors));
  const co = await gql('mutation { createOrganization(input: {name: "Acme Labs", slug: "acme-labs"}) { organization { id } } }');
  if (co.errors) fail('createOrganization: ' + JSON.stringify(co.errors));
  const org = co.data.createOrganization.organization.id;

  const editor = '.graphiql-query-editor .CodeMirror';
  await page.evaluate(([sel, q]) => document.querySelector(sel).CodeMirror.setValue(q),
    [editor, `subscription { organizationEvents(organizationId: "${org}") { type cursor actor { name } } }`]);
  await page.waitForTimeout(1000); // GraphiQL parses the editor's text after a pause, as when typing
  await page.click('.graphiql-execute-button');
  await page.waitForTimeout(1000);
  const up = await gql('mutation($in: UpdateOrganizationInput!) { updateOrganization(input: $in) { organization { name } } }',
    { in: { organizationId: org, name: 'Renamed from the browser check' } });
  if (up.errors) fail('updateOrganization: ' + JSON.stringify(up.errors));

  const pane = '.graphiql-response .CodeMirror';
  const shown = () => page.evaluate((sel) => document.querySelector(sel).CodeMirror.getValue(), pane);
  try {
    await page.waitForFunction((sel) => document.querySelector(sel).CodeMirror.getValue().includes('ORGANIZATION_UPDATED'), pane, { timeout: 10000 });
  } catch {
    fail('GraphiQL did not show the event; it shows:\n' + await shown());
  }
  if (!sockets.some((u) => u === base.replace(/^http/, 'ws') + '/graphql')) fail('no websocket to /graphql: ' + JSON.stringify(sockets));
  if (foreign.length) fail('requests to other hosts: ' + JSON.stringify(foreign));
  if (blocked.length) fail('the content security policy blocked: ' + JSON.stringify(blocked));
  console.log('ok: GraphiQL ran the subscription over ' + sockets.join(', ') + ' and showed:\n' + await shown());
  await browser.close();
})().catch((e) => fail(String(e)));
