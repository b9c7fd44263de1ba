// Test OpenID Connect identity provider for sealgate's integration tests.
//
// Started as a child process by the Rust tests (see README.md beside this
// file). It prints exactly one line on stdout, `READY <issuer>`, once it is
// listening; everything else (errors, oidc-provider notices) goes to stderr.
//
// Usage:
//   node server.js --port 0 --client-id ID --client-secret SECRET \
//     --redirect-uri URI [--redirect-uri URI ...] \
//     [--post-logout-redirect-uri URI ...] [--access-token-ttl SECS] \
//     [--rotate-refresh-tokens] [--jwt-access-tokens]
//
// POST /test/rotate-signing-key replaces the signing key with a new one
// (answer: {"kid": "<the new kid>"}); see "Signing keys" below.
//
// POST /test/client changes the client's registration (back-channel logout
// metadata), POST /test/sign signs any JWT with the current signing key;
// see "Back-channel logout" below.
//
// --jwt-access-tokens turns on resource indicators (RFC 8707) for one
// resource server, RESOURCE below (`aud` sealgate-api, scope api:read), whose
// access tokens are JWTs (RFC 9068), and the client_credentials grant. Access
// tokens requested without `resource` stay opaque, as without the flag.

import * as crypto from 'node:crypto';
import * as http from 'node:http';

import Provider, { errors } from 'oidc-provider';

// Keep stdout for the READY line only: oidc-provider prints its notices with
// console.info, and dependencies may use console.log.
const toStderr = (...args) => console.error(...args);
console.log = toStderr;
console.info = toStderr;
console.debug = toStderr;
console.warn = toStderr;

// ---------------------------------------------------------------------------
// Command line

function usage(message) {
  process.stderr.write(`server.js: ${message}\n`);
  process.stderr.write(
    'usage: node server.js [--port N] [--client-id ID] [--client-secret SECRET] '
    + '--redirect-uri URI... [--post-logout-redirect-uri URI...] '
    + '[--access-token-ttl SECS] [--rotate-refresh-tokens] [--jwt-access-tokens]\n',
  );
  process.exit(2);
}

function parseArgs(argv) {
  const options = {
    port: 0,
    clientId: 'sealgate-test',
    clientSecret: 'a-client-secret-for-tests-only',
    redirectUris: [],
    postLogoutRedirectUris: [],
    accessTokenTtl: 3600,
    rotateRefreshTokens: false,
    jwtAccessTokens: false,
  };
  const valued = new Set([
    '--port', '--client-id', '--client-secret', '--redirect-uri',
    '--post-logout-redirect-uri', '--access-token-ttl',
  ]);
  for (let i = 0; i < argv.length; i += 1) {
    let flag = argv[i];
    let value;
    const eq = flag.indexOf('=');
    if (flag.startsWith('--') && eq !== -1) {
      value = flag.slice(eq + 1);
      flag = flag.slice(0, eq);
    }
    if (valued.has(flag) && value === undefined) {
      if (i + 1 >= argv.length) usage(`${flag} needs a value`);
      i += 1;
      value = argv[i];
    }
    switch (flag) {
      case '--port':
        options.port = Number(value);
        if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) usage(`bad --port ${value}`);
        break;
      case '--client-id': options.clientId = value; break;
      case '--client-secret': options.clientSecret = value; break;
      case '--redirect-uri': options.redirectUris.push(value); break;
      case '--post-logout-redirect-uri': options.postLogoutRedirectUris.push(value); break;
      case '--access-token-ttl':
        options.accessTokenTtl = Number(value);
        if (!Number.isInteger(options.accessTokenTtl) || options.accessTokenTtl <= 0) usage(`bad --access-token-ttl ${value}`);
        break;
      case '--rotate-refresh-tokens':
        if (value !== undefined) usage('--rotate-refresh-tokens takes no value');
        options.rotateRefreshTokens = true;
        break;
      case '--jwt-access-tokens':
        if (value !== undefined) usage('--jwt-access-tokens takes no value');
        options.jwtAccessTokens = true;
        break;
      default:
        usage(`unknown argument ${argv[i]}`);
    }
  }
  if (!options.clientId) usage('--client-id must not be empty');
  if (!options.clientSecret) usage('--client-secret must not be empty');
  if (options.redirectUris.length === 0) usage('at least one --redirect-uri is needed');
  return options;
}

const options = parseArgs(process.argv.slice(2));

// ---------------------------------------------------------------------------
// Accounts

const USERS = [
  {
    login: 'alice',
    password: 'alice-password',
    claims: {
      sub: 'alice-sub',
      email: 'alice@example.com',
      email_verified: true,
      name: 'Alice Liddell',
      preferred_username: 'alice',
      picture: 'https://avatars.example.com/alice.png',
      groups: ['admins', 'staff'],
    },
  },
  {
    login: 'bob',
    password: 'bob-password',
    claims: {
      sub: 'bob-sub',
      email: 'bob@example.com',
      email_verified: true,
      name: 'Bob',
      preferred_username: 'bob',
      groups: ['staff'],
    },
  },
];
const BY_SUB = new Map(USERS.map((user) => [user.claims.sub, user]));
const BY_LOGIN = new Map(USERS.map((user) => [user.login, user]));

function checkPassword(login, password) {
  const user = BY_LOGIN.get(login);
  if (!user) return undefined;
  const given = crypto.createHash('sha256').update(String(password)).digest();
  const expected = crypto.createHash('sha256').update(user.password).digest();
  return crypto.timingSafeEqual(given, expected) ? user : undefined;
}

// Subs deleted by POST /test/delete-account: gone for userinfo (401
// invalid_token) and for refresh grants (invalid_grant), as a deprovisioned
// account is at a real IdP.
const DELETED = new Set();

async function findAccount(ctx, sub) {
  const user = BY_SUB.get(sub);
  if (!user || DELETED.has(sub)) return undefined;
  return {
    accountId: sub,
    // oidc-provider filters these by the granted scopes / claims.
    async claims() {
      return structuredClone(user.claims);
    },
  };
}

// ---------------------------------------------------------------------------
// Test-control state

const stats = {
  token_requests: { authorization_code: 0, refresh_token: 0, client_credentials: 0 },
  refresh_failures: 0,
  // GET /jwks and POST /token/introspection, whatever the answer.
  jwks_requests: 0,
  introspection_requests: 0,
  // GET or POST /me (userinfo), whatever the answer.
  userinfo_requests: 0,
  // Logout tokens posted to the client's backchannel_logout_uri: answered
  // 200 (ok) or not (failed, with the reason on stderr).
  backchannel_logouts: { ok: 0, failed: 0 },
};

// accountId -> Set of grant ids created by our interaction handlers.
const grantsByAccount = new Map();

function rememberGrant(accountId, grantId) {
  if (!grantsByAccount.has(accountId)) grantsByAccount.set(accountId, new Set());
  grantsByAccount.get(accountId).add(grantId);
}

// ---------------------------------------------------------------------------
// Quirks of real providers, switched on by tests (POST /test/quirks)

// What oidc-provider does by default, which real providers do otherwise.
const QUIRKS_DEFAULT = {
  // An OAuth error code answered to every refresh_token grant, before
  // oidc-provider sees it (so the refresh token is not spent), with
  // `refresh_status`. LemonLDAP::NG answers 400 `invalid_request` for an
  // expired refresh session.
  refresh_error: null,
  refresh_status: 400,
  // false: active introspection answers leave `token_type` out (as Django
  // OAuth Toolkit does; oidc-provider itself leaves it out for refresh
  // tokens only).
  introspection_token_type: true,
  // false: active introspection answers carry `username` (the login) and no
  // `sub` (as Django OAuth Toolkit does).
  introspection_sub: true,
};
const quirks = { ...QUIRKS_DEFAULT };

function readText(req, limit = 64 * 1024) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > limit) {
        reject(new Error('request body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

// POST /test/quirks with a JSON object: merges it into the quirks (unknown
// names are a 400; `{"reset": true}` restores the defaults) and answers them.
async function handleQuirks(req, res) {
  let change;
  try {
    change = JSON.parse((await readText(req)) || '{}');
  } catch {
    sendJson(res, 400, { error: 'the body must be a JSON object' });
    return;
  }
  if (change === null || typeof change !== 'object' || Array.isArray(change)) {
    sendJson(res, 400, { error: 'the body must be a JSON object' });
    return;
  }
  if (change.reset === true) Object.assign(quirks, QUIRKS_DEFAULT);
  delete change.reset;
  const unknown = Object.keys(change).filter((name) => !(name in QUIRKS_DEFAULT));
  if (unknown.length) {
    sendJson(res, 400, { error: `unknown quirks: ${unknown.join(', ')}` });
    return;
  }
  Object.assign(quirks, change);
  sendJson(res, 200, quirks);
}

function installQuirks(provider) {
  provider.use(async (ctx, next) => {
    if (quirks.refresh_error && ctx.method === 'POST' && ctx.path === '/token') {
      // Read the form here; oidc-provider then parses `req.body` instead.
      const body = await readText(ctx.req);
      ctx.req.body = body;
      if (new URLSearchParams(body).get('grant_type') === 'refresh_token') {
        stats.token_requests.refresh_token += 1;
        stats.refresh_failures += 1;
        ctx.status = quirks.refresh_status;
        ctx.set('Cache-Control', 'no-store');
        ctx.body = { error: quirks.refresh_error, error_description: 'refused by a test quirk' };
        return;
      }
    }
    await next();
    if (ctx.method === 'POST' && ctx.path === '/token/introspection' && ctx.body?.active === true) {
      if (!quirks.introspection_token_type) delete ctx.body.token_type;
      if (!quirks.introspection_sub && ctx.body.sub !== undefined) {
        const user = USERS.find((u) => u.claims.sub === ctx.body.sub);
        ctx.body.username = user ? user.login : ctx.body.sub;
        delete ctx.body.sub;
      }
    }
  });
}

// ---------------------------------------------------------------------------
// HTML

function escapeHtml(value) {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
  })[c]);
}

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
</head>
<body>
${body}
</body>
</html>
`;
}

function loginPage(uid, clientId, { login = '', error } = {}) {
  const base = `/interaction/${encodeURIComponent(uid)}`;
  return page('Test IdP', `<h1>Test IdP</h1>
<p>Client <code>${escapeHtml(clientId)}</code> asks you to identify yourself.</p>
${error ? `<p id="error" role="alert">${escapeHtml(error)}</p>\n` : ''}<form id="login-form" method="post" action="${base}/login">
<p><label for="login">Login</label> <input id="login" type="text" name="login" value="${escapeHtml(login)}" autocomplete="username" autofocus required></p>
<p><label for="password">Password</label> <input id="password" type="password" name="password" autocomplete="current-password" required></p>
<p><button type="submit">Sign in</button></p>
</form>
<form id="abort-form" method="post" action="${base}/abort">
<p><button type="submit">Deny</button></p>
</form>`);
}

function send(res, status, contentType, body, headers = {}) {
  res.writeHead(status, {
    'Content-Type': contentType,
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
    ...headers,
  });
  res.end(body);
}

const sendHtml = (res, status, body) => send(res, status, 'text/html; charset=utf-8', body);
const sendJson = (res, status, value) => send(res, status, 'application/json', `${JSON.stringify(value)}\n`);

function readForm(req, limit = 64 * 1024) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > limit) {
        reject(new Error('request body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', reject);
  });
}

// ---------------------------------------------------------------------------
// Resource server (--jwt-access-tokens only)

// The one resource indicator this IdP knows. An access token issued for it
// (`resource=https://api.sealgate.test` at the token endpoint, or at the
// authorization endpoint of a code flow; a refresh keeps it) is an RFC 9068
// JWT signed with the ID token key: header {alg: RS256, typ: at+jwt, kid},
// claims (as found by experiment with oidc-provider 9.13.3)
//   jti, sub, iat, exp, scope, client_id, iss, aud: "sealgate-api"
// with exp - iat = --access-token-ttl, and no profile claims (email, groups,
// ...). `scope` holds the requested scopes the resource server has (api:read)
// and is left out when none was requested.
// - Authorization code: sub is the account (alice-sub); ask for `api:read`
//   in `scope` next to the OpenID ones. The token response's `scope` is then
//   just "api:read"; the ID token is unchanged. The access token is not meant
//   for userinfo.
// - client_credentials: sub is the client id (equal to client_id).
// - Without `resource`, either grant gives an opaque access token as before
//   (client_credentials: no sub, and no scope since api:read is filtered out).
// JWT access tokens cannot be introspected (400 unsupported_token_type) or
// revoked (400) here: verify them with the JWKS.
const RESOURCE = 'https://api.sealgate.test';
const RESOURCE_AUDIENCE = 'sealgate-api';
const RESOURCE_SCOPE = 'api:read';

function resourceServerInfo(resource) {
  if (resource !== RESOURCE) return undefined;
  return {
    scope: RESOURCE_SCOPE,
    audience: RESOURCE_AUDIENCE,
    accessTokenTTL: options.accessTokenTtl,
    accessTokenFormat: 'jwt',
    jwt: { sign: { alg: 'RS256' } },
  };
}

// ---------------------------------------------------------------------------
// Provider

function signingKey() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: crypto.randomBytes(8).toString('hex'), use: 'sig', alg: 'RS256' };
}

// ---------------------------------------------------------------------------
// Signing keys (POST /test/rotate-signing-key)

// The ID token (and JWT access token) signing keys, newest first. Rotating
// replaces them with one new key, as Django OAuth Toolkit or LemonLDAP::NG do
// when their operator rotates: tokens name the new `kid`, and /jwks no longer
// publishes the old one. oidc-provider reads its keys when it is built, so a
// rotation builds the provider again; its state (grants, sessions, tokens)
// lives in the memory adapter, which all instances share, and the cookie
// keys stay, so nothing but the keys changes.
let signingKeys = [signingKey()];
const COOKIE_KEYS = [crypto.randomBytes(32).toString('base64url')];

function rotateSigningKey() {
  signingKeys = [signingKey()];
  provider = makeProvider(provider.issuer);
  oidcHandler = provider.callback();
  return { kid: signingKeys[0].kid };
}

// ---------------------------------------------------------------------------
// Back-channel logout (POST /test/client, POST /test/sign)

// Client metadata set by tests on top of the command line's, for as long as
// the IdP runs. Only these names may be set.
const CLIENT_METADATA = new Set(['backchannel_logout_uri', 'backchannel_logout_session_required']);
let clientExtras = {};

// POST /test/client with a JSON object of CLIENT_METADATA members (null
// removes one): the client is registered again with them (the provider is
// rebuilt, as on a key rotation, so its state stays). With
// backchannel_logout_uri and backchannel_logout_session_required: true, ID
// tokens carry `sid` and ending the IdP session (RP-initiated logout at
// /session/end, confirmed) posts a logout token with that sid to the URI
// before the IdP answers; with session_required false the token names
// only `sub`. Answers the extra metadata now in force.
async function handleClient(req, res) {
  let change;
  try {
    change = JSON.parse((await readText(req)) || '{}');
  } catch {
    sendJson(res, 400, { error: 'the body must be a JSON object' });
    return;
  }
  if (change === null || typeof change !== 'object' || Array.isArray(change)) {
    sendJson(res, 400, { error: 'the body must be a JSON object' });
    return;
  }
  const unknown = Object.keys(change).filter((name) => !CLIENT_METADATA.has(name));
  if (unknown.length) {
    sendJson(res, 400, { error: `unknown client metadata: ${unknown.join(', ')}` });
    return;
  }
  const next = { ...clientExtras, ...change };
  for (const [name, value] of Object.entries(next)) if (value === null) delete next[name];
  const previous = clientExtras;
  clientExtras = next;
  try {
    provider = makeProvider(provider.issuer);
    oidcHandler = provider.callback();
  } catch (err) {
    clientExtras = previous;
    sendJson(res, 400, { error: String(err.message ?? err) });
    return;
  }
  sendJson(res, 200, clientExtras);
}

// POST /test/sign with {"header": {...}, "claims": {...}}: a compact JWS of
// exactly those claims, signed RSASSA-PKCS1-v1_5 SHA-256 with the current
// signing key, whatever the header says. The header defaults to
// {"alg": "RS256", "kid": <the current kid>}; members given replace those
// (so a test can send a wrong kid, another alg or any typ). Answers
// {"token": "..."}. For hand-made logout tokens the IdP would sign.
async function handleSign(req, res) {
  let request;
  try {
    request = JSON.parse((await readText(req)) || '{}');
  } catch {
    sendJson(res, 400, { error: 'the body must be a JSON object' });
    return;
  }
  const { header = {}, claims } = request ?? {};
  if (claims === null || typeof claims !== 'object' || Array.isArray(claims)) {
    sendJson(res, 400, { error: '`claims` must be a JSON object' });
    return;
  }
  const key = signingKeys[0];
  const protectedHeader = { alg: 'RS256', kid: key.kid, ...header };
  const encode = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const signingInput = `${encode(protectedHeader)}.${encode(claims)}`;
  const privateKey = crypto.createPrivateKey({ key, format: 'jwk' });
  const signature = crypto.sign('sha256', Buffer.from(signingInput), privateKey).toString('base64url');
  sendJson(res, 200, { token: `${signingInput}.${signature}` });
}

function simpleHtml(ctx, title, body) {
  ctx.type = 'html';
  ctx.body = page(title, body);
}

function makeProvider(issuer) {
  const configuration = {
    clients: [{
      client_id: options.clientId,
      client_secret: options.clientSecret,
      client_name: 'sealgate (tests)',
      redirect_uris: options.redirectUris,
      post_logout_redirect_uris: options.postLogoutRedirectUris,
      grant_types: options.jwtAccessTokens
        ? ['authorization_code', 'refresh_token', 'client_credentials']
        : ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      // client_secret_post is accepted too for a client registered with
      // client_secret_basic (oidc-provider treats the two alike).
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
      ...clientExtras,
    }],
    jwks: { keys: signingKeys },
    cookies: {
      // Cookies are marked Secure only when the request itself is https,
      // which never happens here: they work over plain http on 127.0.0.1.
      keys: COOKIE_KEYS,
    },
    findAccount,
    scopes: ['openid', 'offline_access', 'profile', 'email', 'groups'],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username', 'picture'],
      groups: ['groups'],
    },
    // Scope-derived claims go in the ID token as well as userinfo.
    conformIdTokenClaims: false,
    pkce: {
      required: () => true, // S256 is the only method oidc-provider 9 supports
    },
    // A refresh token whenever offline_access was requested (and granted:
    // our login step grants every requested scope). See the prompt
    // middleware below for how offline_access survives the request.
    issueRefreshToken: async (ctx, client, source) => client.grantTypeAllowed('refresh_token')
      && source.scopes.has('offline_access'),
    rotateRefreshToken: options.rotateRefreshTokens,
    ttl: {
      AccessToken: options.accessTokenTtl,
      AuthorizationCode: 60,
      IdToken: 3600,
      RefreshToken: 14 * 24 * 60 * 60,
      Interaction: 60 * 60,
      Session: 14 * 24 * 60 * 60,
      Grant: 14 * 24 * 60 * 60,
      ...(options.jwtAccessTokens ? { ClientCredentials: options.accessTokenTtl } : {}),
    },
    interactions: {
      url: (ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    clientBasedCORS: () => false,
    // oidc-provider refuses to reach special-use addresses (SSRF protection),
    // loopback included; the gateway under test listens on 127.0.0.1, so the
    // test IdP lets its back-channel logout requests through.
    fetch: (url, fetchOptions) => {
      const unguarded = { ...fetchOptions };
      delete unguarded.dispatcher;
      return globalThis.fetch(url, unguarded);
    },
    features: {
      backchannelLogout: { enabled: true },
      devInteractions: { enabled: false },
      resourceIndicators: options.jwtAccessTokens ? {
        enabled: true,
        // No resource requested: none (an opaque access token, as without
        // the flag). One resource requested: that one.
        defaultResource: async (ctx, client, oneOf) => oneOf,
        // A code flow that asked for the resource at the authorization
        // endpoint gets its token without repeating `resource` at the token
        // endpoint.
        useGrantedResource: async () => true,
        getResourceServerInfo: async (ctx, resource) => {
          const info = resourceServerInfo(resource);
          if (!info) throw new errors.InvalidTarget();
          return info;
        },
      } : { enabled: false },
      clientCredentials: { enabled: options.jwtAccessTokens },
      revocation: {
        enabled: true,
        allowedPolicy: async (ctx, client, token) => token.clientId === client.clientId,
      },
      introspection: {
        enabled: true,
        allowedPolicy: async (ctx, client, token) => token.clientId === client.clientId,
      },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => simpleHtml(ctx, 'Sign out - Test IdP', `<h1>Sign out of the test IdP?</h1>
${form}
<p><button type="submit" form="op.logoutForm" name="logout" value="yes">Yes, sign me out</button></p>
<p><button type="submit" form="op.logoutForm">No, stay signed in</button></p>`),
        postLogoutSuccessSource: async (ctx) => simpleHtml(ctx, 'Signed out - Test IdP', '<h1>Signed out</h1>\n<p>You are signed out of the test IdP.</p>'),
      },
    },
    renderError: async (ctx, out) => simpleHtml(ctx, 'Error - Test IdP', `<h1>Error</h1>
${Object.entries(out).map(([key, value]) => `<p><strong>${escapeHtml(key)}</strong>: <span id="${escapeHtml(key)}">${escapeHtml(value)}</span></p>`).join('\n')}`),
  };

  const provider = new Provider(issuer, configuration);

  // oidc-provider drops offline_access from an authorization request unless
  // its prompt includes consent (OpenID Connect Core 11). Relying parties
  // rarely send prompt=consent, and this IdP never shows a consent page
  // anyway (signing in grants everything), so add consent to the prompt of
  // such requests: offline_access then survives and a refresh token is
  // issued. prompt=none is left alone (it must stand alone).
  provider.use(async (ctx, next) => {
    if (ctx.method === 'GET' && ctx.path === '/auth') {
      const { scope, prompt } = ctx.query;
      if (typeof scope === 'string' && scope.split(' ').includes('offline_access')) {
        const prompts = typeof prompt === 'string' ? prompt.split(' ').filter(Boolean) : [];
        if (prompt === undefined || (!prompts.includes('consent') && !prompts.includes('none'))) {
          ctx.query = { ...ctx.query, prompt: [...prompts, 'consent'].join(' ') };
        }
      }
    }
    await next();
  });

  // Count JWKS fetches and introspection calls as they come in.
  provider.use(async (ctx, next) => {
    if (ctx.method === 'GET' && ctx.path === '/jwks') stats.jwks_requests += 1;
    if (ctx.method === 'POST' && ctx.path === '/token/introspection') stats.introspection_requests += 1;
    if (ctx.path === '/me') stats.userinfo_requests += 1;
    await next();
  });

  // Count token requests by grant type once oidc-provider has answered them
  // (its error handler runs inside the route, so failures show as 4xx here).
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.method !== 'POST' || ctx.path !== '/token') return;
    let grantType;
    try {
      grantType = ctx.oidc?.params?.grant_type;
    } catch {
      grantType = undefined;
    }
    if (grantType in stats.token_requests) {
      stats.token_requests[grantType] += 1;
    }
    if (grantType === 'refresh_token' && ctx.status >= 400) {
      stats.refresh_failures += 1;
    }
  });

  installQuirks(provider);

  provider.on('server_error', (ctx, err) => {
    console.error('oidc-provider server_error:', err);
  });
  provider.on('backchannel.success', () => {
    stats.backchannel_logouts.ok += 1;
  });
  provider.on('backchannel.error', (ctx, err) => {
    stats.backchannel_logouts.failed += 1;
    console.error('back-channel logout failed:', err.message);
  });

  return provider;
}

// Grant every scope the client asked for, for this account, and remember it.
async function grantAll(provider, interaction, accountId) {
  const { params } = interaction;
  let grant;
  if (interaction.grantId && interaction.session?.accountId === accountId) {
    grant = await provider.Grant.find(interaction.grantId);
  }
  if (!grant) {
    grant = new provider.Grant({ accountId, clientId: params.client_id });
  }
  if (params.scope) grant.addOIDCScope(params.scope);
  // Resource indicators (--jwt-access-tokens): grant the requested scopes the
  // resource server has.
  if (options.jwtAccessTokens && params.resource) {
    const requested = new Set(String(params.scope ?? '').split(' ').filter(Boolean));
    for (const resource of [params.resource].flat()) {
      const info = resourceServerInfo(resource);
      if (!info) continue;
      const scopes = info.scope.split(' ').filter((scope) => requested.has(scope));
      if (scopes.length) grant.addResourceScope(resource, scopes.join(' '));
    }
  }
  const grantId = await grant.save();
  rememberGrant(accountId, grantId);
  return grantId;
}

// ---------------------------------------------------------------------------
// Our routes, handled before oidc-provider's

async function loadInteraction(provider, req, res, uid) {
  let interaction;
  try {
    interaction = await provider.interactionDetails(req, res);
  } catch (err) {
    sendHtml(res, 400, page('Error - Test IdP', `<h1>Error</h1>\n<p>${escapeHtml(err.error_description || err.message)}</p>`));
    return undefined;
  }
  if (interaction.uid !== uid) {
    sendHtml(res, 400, page('Error - Test IdP', '<h1>Error</h1>\n<p>interaction mismatch</p>'));
    return undefined;
  }
  return interaction;
}

async function handleInteraction(provider, req, res, uid, action) {
  if (action === '' && req.method === 'GET') {
    const interaction = await loadInteraction(provider, req, res, uid);
    if (!interaction) return;
    if (interaction.prompt.name === 'login') {
      sendHtml(res, 200, loginPage(uid, interaction.params.client_id));
      return;
    }
    // Already signed in here: consent (or anything else) is granted at once,
    // there is never a consent page.
    const accountId = interaction.session?.accountId;
    if (!accountId) {
      await provider.interactionFinished(req, res, { error: 'login_required' }, { mergeWithLastSubmission: false });
      return;
    }
    const grantId = await grantAll(provider, interaction, accountId);
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    return;
  }

  if (action === '/login' && req.method === 'POST') {
    const form = await readForm(req);
    const interaction = await loadInteraction(provider, req, res, uid);
    if (!interaction) return;
    const login = form.get('login') ?? '';
    const user = checkPassword(login, form.get('password') ?? '');
    if (!user) {
      sendHtml(res, 200, loginPage(uid, interaction.params.client_id, { login, error: 'Invalid login or password.' }));
      return;
    }
    const accountId = user.claims.sub;
    const grantId = await grantAll(provider, interaction, accountId);
    await provider.interactionFinished(req, res, {
      login: { accountId },
      consent: { grantId },
    }, { mergeWithLastSubmission: false });
    return;
  }

  if (action === '/abort' && req.method === 'POST') {
    await readForm(req);
    const interaction = await loadInteraction(provider, req, res, uid);
    if (!interaction) return;
    await provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'End-User aborted interaction',
    }, { mergeWithLastSubmission: false });
    return;
  }

  sendHtml(res, 405, page('Error - Test IdP', '<h1>Method not allowed</h1>'));
}

async function revokeGrants(provider, sub) {
  const ids = [...(grantsByAccount.get(sub) ?? [])];
  grantsByAccount.delete(sub);
  let revoked = 0;
  for (const grantId of ids) {
    const grant = await provider.Grant.find(grantId);
    await Promise.all([
      provider.AccessToken.revokeByGrantId(grantId),
      provider.RefreshToken.revokeByGrantId(grantId),
      provider.AuthorizationCode.revokeByGrantId(grantId),
    ]);
    if (grant) {
      await grant.destroy();
      revoked += 1;
    }
  }
  return revoked;
}

async function handleTest(provider, req, res, url) {
  if (url.pathname === '/test/stats' && req.method === 'GET') {
    sendJson(res, 200, stats);
    return;
  }
  if (url.pathname === '/test/revoke-grants' && req.method === 'POST') {
    await readForm(req);
    const sub = url.searchParams.get('sub');
    if (!sub) {
      sendJson(res, 400, { error: 'sub query parameter is required' });
      return;
    }
    sendJson(res, 200, { sub, revoked_grants: await revokeGrants(provider, sub) });
    return;
  }
  if (url.pathname === '/test/delete-account' && req.method === 'POST') {
    await readForm(req);
    const sub = url.searchParams.get('sub');
    if (!sub || !BY_SUB.has(sub)) {
      sendJson(res, 400, { error: 'sub query parameter naming an account is required' });
      return;
    }
    DELETED.add(sub);
    sendJson(res, 200, { sub, deleted: true });
    return;
  }
  if (url.pathname === '/test/rotate-signing-key' && req.method === 'POST') {
    await readForm(req);
    sendJson(res, 200, rotateSigningKey());
    return;
  }
  sendJson(res, 404, { error: 'not found' });
}

// ---------------------------------------------------------------------------
// Server

let provider;
let oidcHandler;

const server = http.createServer((req, res) => {
  if (!provider) {
    send(res, 503, 'text/plain', 'starting\n');
    return;
  }
  const url = new URL(req.url, provider.issuer);
  const interaction = /^\/interaction\/([^/]+)(\/login|\/abort)?$/.exec(url.pathname);
  let work;
  if (interaction) {
    work = handleInteraction(provider, req, res, decodeURIComponent(interaction[1]), interaction[2] ?? '');
  } else if (url.pathname === '/test/quirks' && req.method === 'POST') {
    work = handleQuirks(req, res);
  } else if (url.pathname === '/test/client' && req.method === 'POST') {
    work = handleClient(req, res);
  } else if (url.pathname === '/test/sign' && req.method === 'POST') {
    work = handleSign(req, res);
  } else if (url.pathname.startsWith('/test/')) {
    work = handleTest(provider, req, res, url);
  } else {
    oidcHandler(req, res);
    return;
  }
  work.catch((err) => {
    console.error('test IdP error:', err);
    if (!res.headersSent) {
      sendHtml(res, 500, page('Error - Test IdP', '<h1>Internal error</h1>'));
    } else {
      res.destroy();
    }
  });
});

server.on('error', (err) => {
  console.error('test IdP server error:', err);
  process.exit(1);
});

server.listen(options.port, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  try {
    provider = makeProvider(issuer);
    oidcHandler = provider.callback();
  } catch (err) {
    console.error('could not configure oidc-provider:', err);
    process.exit(1);
  }
  process.stdout.write(`READY ${issuer}\n`);
});

function shutdown() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}

process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
