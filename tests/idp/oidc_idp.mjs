// A real upstream OpenID Provider (panva's oidc-provider) for Roster's SSO tests, driven by tests/idp/oidc_idp.py.
//
// Configuration is one JSON object in the environment variable OIDC_IDP_CONFIG:
//   {"port": 8123, "jwk": {...private RSA JWK...}, "clients": [{client_id, client_secret, redirect_uris, ...}],
//    "accounts": {"alice@acme.test": {"sub": "...", "email": "...", "groups": [...]}}}
// Every key is optional except port. Prints "ready <issuer> <kid>" on stdout once it listens.

import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
// ESM ignores NODE_PATH, so resolve the package from the conformance tree `make install-test` fills.
const packageJson = process.env.OIDC_IDP_PACKAGE_JSON || join(here, '..', '..', 'conformance', 'package.json');
const { default: Provider } = await import(
  pathToFileURL(createRequire(packageJson).resolve('oidc-provider')).href
);

const config = JSON.parse(process.env.OIDC_IDP_CONFIG || '{}');
const port = Number(config.port);
const issuer = `http://127.0.0.1:${port}`;
const accounts = Object.fromEntries(Object.entries(config.accounts || {}).map(([k, v]) => [k.toLowerCase(), v]));

function signingKey() {
  if (config.jwk) return { alg: 'RS256', use: 'sig', ...config.jwk };
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' };
}

// An unknown login is a person too, so tests need not declare everyone they sign in.
function claimsFor(login) {
  const account = accounts[login] || {};
  const claims = { email: login, email_verified: true, ...account, sub: account.sub || `sub-${login}` };
  if (!claims.name && (claims.given_name || claims.family_name)) {
    claims.name = [claims.given_name, claims.family_name].filter(Boolean).join(' ');
  }
  return claims;
}

function loginForSub(sub) {
  return Object.keys(accounts).find((login) => claimsFor(login).sub === sub)
    ?? (sub.startsWith('sub-') ? sub.slice(4) : undefined);
}

const key = signingKey();
const provider = new Provider(issuer, {
  clients: config.clients || [],
  jwks: { keys: [key] },
  // Cookie names of their own: Roster runs on the same host, and browsers do not separate cookies by port.
  cookies: {
    keys: [randomBytes(32).toString('hex')],
    names: { session: 'upstream_session', interaction: 'upstream_interaction', resume: 'upstream_resume' },
  },
  features: {
    devInteractions: { enabled: false },
    registration: { enabled: true, initialAccessToken: false },
    userinfo: { enabled: true },
  },
  responseTypes: ['code'],
  pkce: { required: () => true },
  scopes: ['openid', 'email', 'profile', 'groups'],
  // amr under openid: oidc-provider otherwise puts amr in an ID token only when the claims parameter asks for it
  claims: {
    openid: ['sub', 'amr'],
    email: ['email', 'email_verified'],
    profile: ['given_name', 'family_name', 'name'],
    groups: ['groups'],
  },
  conformIdTokenClaims: false,
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(_ctx, sub) {
    const login = loginForSub(sub);
    if (login === undefined) return undefined;
    return { accountId: sub, claims: async () => claimsFor(login) };
  },
});

const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(res, status, body) {
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(`<!doctype html><html><head><title>Upstream IdP</title></head><body>${body}</body></html>`);
}

function loginForm(res, uid, clientId, error = '') {
  page(res, error ? 400 : 200, `<h1>Sign in to the upstream IdP</h1>
<p>for client <code>${escape(clientId)}</code></p>${error ? `<p class="error">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login">
<label>Email <input type="email" name="login" required autofocus></label>
<label>Methods (amr, comma separated) <input type="text" name="amr" placeholder="pwd,mfa"></label>
<button type="submit">Sign in</button>
</form>
<form method="post" action="/interaction/${escape(uid)}/abort"><button type="submit">Cancel</button></form>`);
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

function json(res, status, value) {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(value));
}

// Consent is implied: the grant holds whatever the client asked for, so there is no consent page.
async function grantEverything(details, accountId) {
  const grant = new provider.Grant({ accountId, clientId: details.params.client_id });
  if (details.params.scope) grant.addOIDCScope(details.params.scope);
  if (details.params.claims) {
    const requested = JSON.parse(details.params.claims);
    grant.addOIDCClaims([...Object.keys(requested.id_token || {}), ...Object.keys(requested.userinfo || {})]);
  }
  return grant.save();
}

async function showInteraction(req, res, uid) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return page(res, 400, '<p>This sign-in is not the one in progress.</p>');
  if (details.prompt.name === 'login') return loginForm(res, uid, details.params.client_id);
  const grantId = await grantEverything(details, details.session.accountId);
  return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

async function finishLogin(req, res, uid) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return page(res, 400, '<p>This sign-in is not the one in progress.</p>');
  const form = new URLSearchParams(await readBody(req));
  const login = (form.get('login') || '').trim().toLowerCase();
  if (!login) return loginForm(res, uid, details.params.client_id, 'Enter an email.');
  const amr = (form.get('amr') || '').split(',').map((m) => m.trim()).filter(Boolean);
  const accountId = claimsFor(login).sub;
  const grantId = await grantEverything(details, accountId);
  return provider.interactionFinished(req, res, {
    login: { accountId, ...(amr.length ? { amr } : {}) },
    consent: { grantId },
  }, { mergeWithLastSubmission: false });
}

async function abortLogin(req, res, uid) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return page(res, 400, '<p>This sign-in is not the one in progress.</p>');
  return provider.interactionFinished(req, res, {
    error: 'access_denied', error_description: 'the person cancelled the sign-in at the upstream IdP',
  }, { mergeWithLastSubmission: false });
}

async function changeAccounts(req, res) {
  const changes = JSON.parse(await readBody(req));
  for (const [login, claims] of Object.entries(changes)) accounts[login.toLowerCase()] = claims;
  json(res, 200, { accounts: Object.keys(accounts) });
}

// No single sign-on at this IdP: each authorization request starts without a session, so the login form
// is shown every time and each test decides who signs in and with which amr, even in a browser that signed
// in before (oidc-provider would otherwise ask that browser to log out first when the account changes).
const sessionCookie = new RegExp(`^\\s*${provider.cookieName('session')}(\\.\\w+)?=`);
function forgetSession(req) {
  if (!req.headers.cookie) return;
  req.headers.cookie = req.headers.cookie.split(';').filter((c) => !sessionCookie.test(c)).join(';');
}

const providerCallback = provider.callback();
const server = http.createServer(async (req, res) => {
  const { pathname } = new URL(req.url, issuer);
  if (pathname === '/auth' || pathname.startsWith('/auth/')) forgetSession(req);
  const show = pathname.match(/^\/interaction\/([\w-]+)$/);
  const submit = pathname.match(/^\/interaction\/([\w-]+)\/(login|abort)$/);
  try {
    if (show && req.method === 'GET') return await showInteraction(req, res, show[1]);
    if (submit && req.method === 'POST') {
      return await (submit[2] === 'login' ? finishLogin : abortLogin)(req, res, submit[1]);
    }
    if (pathname === '/_test/accounts' && req.method === 'POST') return await changeAccounts(req, res);
    return providerCallback(req, res);
  } catch (err) {
    // An expired or missing interaction is the usual cause: say so rather than hang the test.
    console.error(err);
    if (!res.headersSent) page(res, 400, `<p>Upstream IdP error: ${escape(err.message)}</p>`);
    else res.end();
  }
});

function shutdown() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`ready ${issuer} ${key.kid}\n`);
});
