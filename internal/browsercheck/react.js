// A headless-browser check of the README's React example (react/live.js): a member
// list kept live by organizationEvents, through Apollo Client and graphql-ws. It
// starts orgql on a fresh SQLite file and the built app behind `vite preview`
// (which proxies /graphql, websocket included, so app and API share an origin),
// then checks in Chromium that the list follows a join, a role change, a server
// restart (graphql-ws reconnects and the replay adds no duplicate) and a removal.
//
//   npm install --prefix internal/browsercheck && npm run --prefix internal/browsercheck build
//   go build -o /tmp/orgql . && node internal/browsercheck/react.js /tmp/orgql /usr/bin/chromium
//
// It exits non-zero when a step fails.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');

const [orgqlBin = '/tmp/orgql', executablePath = '/usr/bin/chromium'] = process.argv.slice(2);
const api = 'http://127.0.0.1:18080';
const app = 'http://127.0.0.1:4173';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orgql-react-'));
const logFile = path.join(dir, 'orgql.log');
const children = [];

function fail(msg) {
  console.error('FAIL: ' + msg);
  for (const c of children) c.kill();
  process.exit(1);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(what, check, ms = 10000) {
  const end = Date.now() + ms;
  for (;;) {
    try { if (await check()) return; } catch {}
    if (Date.now() > end) fail(what);
    await sleep(100);
  }
}

let server;
async function startServer() {
  const out = fs.openSync(logFile, 'a');
  server = spawn(orgqlBin, ['--listen', '127.0.0.1:18080', '--database-url', 'sqlite:' + path.join(dir, 'orgql.db'),
    '--graphiql=false', '--allowed-origins', app, '--log-format', 'json'], { stdio: ['ignore', out, out] });
  children.push(server);
  await until('orgql did not start', async () => (await fetch(api + '/readyz')).ok);
}
async function stopServer() {
  const exited = new Promise((r) => server.once('exit', r));
  server.kill('SIGTERM');
  await exited;
}

async function gql(token, query, variables) {
  const r = await fetch(api + '/graphql', { method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + token },
    body: JSON.stringify({ query, variables }) });
  const body = await r.json();
  if (body.errors) fail(query.slice(0, 60) + ': ' + JSON.stringify(body.errors));
  return body.data;
}

async function signUp(name) {
  const email = name.toLowerCase() + '@example.com';
  const d = await gql('', `mutation($in: SignUpInput!) { signUp(input: $in) { token } }`,
    { in: { email, password: 'correct horse battery', name } });
  return { email, token: d.signUp.token };
}

// The invitation token, from the link of the last email the log mailer logged for to.
function mailedToken(to) {
  const lines = fs.readFileSync(logFile, 'utf8').split('\n').filter((l) => l.includes('"to":"' + to + '"'));
  if (!lines.length) fail('no email to ' + to + ' in the log');
  const links = JSON.parse(lines[lines.length - 1]).links;
  return new URL(links[0]).searchParams.get('token');
}

(async () => {
  await startServer();
  // vite itself, not through npx, so that killing the child stops the server.
  const preview = spawn(process.execPath, [path.join(__dirname, 'node_modules', 'vite', 'bin', 'vite.js'), 'preview'],
    { cwd: __dirname, env: { ...process.env, ORGQL_URL: api }, stdio: 'ignore' });
  children.push(preview);
  await until('vite preview did not start', async () => (await fetch(app + '/')).ok, 30000);

  const owner = await signUp('Owner');
  const bob = await signUp('Bob');
  const org = (await gql(owner.token, 'mutation { createOrganization(input: {name: "Live", slug: "live"}) { organization { id } } }'))
    .createOrganization.organization.id;

  const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
  const page = await browser.newPage();
  page.on('pageerror', (e) => fail('page error: ' + e.message));
  await page.addInitScript((t) => { localStorage.token = t; }, owner.token);
  await page.goto(`${app}/?org=${encodeURIComponent(org)}`);
  const list = () => page.evaluate(() => {
    const ul = document.getElementById('members');
    return ul ? { total: ul.dataset.total, items: [...ul.querySelectorAll('li')].map((li) => li.textContent + ':' + li.dataset.role) } : null;
  });
  const expect = async (step, want) => {
    await until(`${step}: want ${JSON.stringify(want)}, the page shows ${JSON.stringify(await list())}`,
      async () => JSON.stringify(await list()) === JSON.stringify(want));
    console.log('ok: ' + step + ' ' + JSON.stringify(want));
  };
  await expect('loaded', { total: '1', items: ['Owner:OWNER'] });
  await sleep(500); // the subscription is under way

  await gql(owner.token, 'mutation($in: InviteMemberInput!) { inviteMember(input: $in) { invitation { id } } }',
    { in: { organizationId: org, email: bob.email, role: 'MEMBER' } });
  const bobMember = (await gql(bob.token, 'mutation($in: AcceptInvitationInput!) { acceptInvitation(input: $in) { member { id } } }',
    { in: { token: mailedToken(bob.email) } })).acceptInvitation.member.id;
  await expect('MEMBER_JOINED', { total: '2', items: ['Owner:OWNER', 'Bob:MEMBER'] });

  await gql(owner.token, 'mutation($in: UpdateMemberRoleInput!) { updateMemberRole(input: $in) { member { id } } }',
    { in: { memberId: bobMember, role: 'ADMIN' } });
  await expect('MEMBER_ROLE_CHANGED', { total: '2', items: ['Owner:OWNER', 'Bob:ADMIN'] });

  // A restart drops the socket; graphql-ws reconnects and resubscribes with the
  // same variables, so the join and the role change are replayed: no duplicate.
  await stopServer();
  await startServer();
  await sleep(4000); // graphql-ws's reconnection backoff
  await gql(owner.token, 'mutation($in: UpdateOrganizationInput!) { updateOrganization(input: $in) { organization { id } } }',
    { in: { organizationId: org, name: 'Live again' } });
  await sleep(1000);
  await expect('after a restart and a replay', { total: '2', items: ['Owner:OWNER', 'Bob:ADMIN'] });

  await gql(owner.token, 'mutation($in: RemoveMemberInput!) { removeMember(input: $in) { removedMemberId } }',
    { in: { memberId: bobMember } });
  await expect('MEMBER_REMOVED', { total: '1', items: ['Owner:OWNER'] });

  await browser.close();
  for (const c of children) c.kill();
  console.log('ok: the README React example kept the member list live');
})().catch((e) => fail(String(e && e.stack || e)));
