// A real OpenID provider (panva/oidc-provider, OpenID Certified) for mlgov's SSO tests. TEST USE ONLY:
// in-memory storage, keys generated at every start, users and clients from a JSON file.
//
//   node server.mjs --port 0 --config config.json
//
// Prints one line `OIDC_PROVIDER_READY <issuer>` when it serves. Every start has new signing keys
// (a restart is a key rotation). Users are re-read from the config file at every sign-in, so a test
// can change a user's groups in its own copy of the file. Login checks the password from the file;
// consent is implied for the configured (first-party) clients. `prompt=login` and `max_age` are
// honoured by the library; RP-initiated logout is on.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';

import Provider, { errors, interactionPolicy } from 'oidc-provider';

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

const configPath = arg('config', new URL('./config.json', import.meta.url).pathname);
const host = arg('host', '127.0.0.1');
const readConfig = () => JSON.parse(fs.readFileSync(configPath, 'utf8'));
const findUser = (pred) => readConfig().users.find(pred);

const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function signingKey() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomBytes(8).toString('hex'), use: 'sig', alg: 'RS256' };
}

const SCOPES = ['openid', 'offline_access', 'profile', 'email', 'groups'];
const CLAIMS = {
  openid: ['sub'],
  profile: ['name', 'preferred_username'],
  email: ['email', 'email_verified'],
  groups: ['groups'],
};

function loginPage(uid, params, error) {
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Test identity provider: sign in</title></head>
<body><h1>Test identity provider</h1>
<p>Signing in to <b>${esc(params.client_id)}</b>${params.prompt === 'login' || params.max_age === '0' ? ' (re-authentication requested)' : ''}</p>
${error ? `<p id="error" style="color:#a00">${esc(error)}</p>` : ''}
<form method="post" action="/interaction/${esc(uid)}/login" autocomplete="off">
<label>Username <input id="username" name="username" required autofocus></label>
<label>Password <input id="password" name="password" type="password" required></label>
<button id="sign-in" type="submit">Sign in</button>
</form>
<form method="post" action="/interaction/${esc(uid)}/abort"><button id="cancel" type="submit">Cancel</button></form>
</body></html>`;
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
}

// Our clients are registered as "native" only so that loopback redirect URIs match on any port (RFC 8252
// 7.3; the tests' servers listen on free ports). Native clients would always get a consent prompt;
// consent is implied for these first-party clients, so that check is removed.
const policy = interactionPolicy.base();
policy.get('consent').checks.remove('native_client_prompt');

const config = readConfig();
const port = Number(arg('port', '0'));

// Bind first so that the issuer carries the real port, then hand the socket to the provider.
const server = http.createServer();
await new Promise((resolve) => server.listen(port, host, resolve));
const issuer = `http://${host}:${server.address().port}`;

const clients = config.clients.map(({ x_id_token_ttl_seconds: _ttl, ...client }) => client);
const idTokenTtl = Object.fromEntries(
  config.clients.filter((c) => c.x_id_token_ttl_seconds).map((c) => [c.client_id, c.x_id_token_ttl_seconds]),
);

const provider = new Provider(issuer, {
  clients,
  jwks: { keys: [signingKey()] },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  scopes: SCOPES,
  claims: CLAIMS,
  // ID tokens carry the scope claims (groups, email...) as Entra ID and Okta can be set up to do.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: { enabled: true },
  },
  ttl: {
    IdToken: (ctx, token, client) => idTokenTtl[client.clientId] ?? 3600,
    AccessToken: 600,
    AuthorizationCode: 60,
    Interaction: 600,
    Session: 3600,
    Grant: 3600,
  },
  interactions: { policy, url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, sub) {
    const user = findUser((u) => u.sub === sub);
    if (!user) return undefined;
    return {
      accountId: sub,
      async claims() {
        return {
          sub,
          name: user.name,
          preferred_username: user.username,
          email: user.email,
          email_verified: true,
          groups: user.groups,
        };
      },
    };
  },
  // First-party clients: consent is implied (a corporate IdP is usually set up this way).
  async loadExistingGrant(ctx) {
    const { client, session } = ctx.oidc;
    const grantId = ctx.oidc.result?.consent?.grantId || session.grantIdFor(client.clientId);
    let grant = grantId ? await ctx.oidc.provider.Grant.find(grantId) : undefined;
    if (!grant) grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId });
    grant.addOIDCScope(SCOPES.join(' '));
    grant.addOIDCClaims(Object.values(CLAIMS).flat());
    await grant.save();
    return grant;
  },
});
provider.proxy = false;

provider.on('server_error', (ctx, err) => console.error('server_error', err));

// The interaction routes: a login form checked against the users in the config file.
provider.use(async (ctx, next) => {
  const m = ctx.path.match(/^\/interaction\/([^/]+)(\/login|\/abort)?$/);
  if (!m) return next();
  const [, uid, action] = m;
  ctx.set('cache-control', 'no-store');
  try {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    if (details.uid !== uid) ctx.throw(400, 'interaction mismatch');
    if (ctx.method === 'GET' && !action) {
      ctx.type = 'html';
      ctx.body = loginPage(uid, details.params);
      return undefined;
    }
    if (ctx.method === 'POST' && action === '/abort') {
      return provider.interactionFinished(ctx.req, ctx.res, {
        error: 'access_denied',
        error_description: 'End-User aborted interaction',
      }, { mergeWithLastSubmission: false });
    }
    if (ctx.method === 'POST' && action === '/login') {
      const form = await readForm(ctx.req);
      const user = findUser((u) => u.username === form.username);
      const given = Buffer.from(String(form.password ?? ''));
      const expected = Buffer.from(String(user?.password ?? crypto.randomBytes(16).toString('hex')));
      const ok = user && given.length === expected.length && crypto.timingSafeEqual(given, expected);
      if (!ok) {
        ctx.status = 200;
        ctx.type = 'html';
        ctx.body = loginPage(uid, details.params, 'Invalid username or password.');
        return undefined;
      }
      return provider.interactionFinished(ctx.req, ctx.res, { login: { accountId: user.sub } }, {
        mergeWithLastSubmission: false,
      });
    }
    ctx.throw(405);
  } catch (err) {
    if (err instanceof errors.SessionNotFound) {
      ctx.status = 400;
      ctx.body = 'interaction expired or unknown; start the sign-in again';
      return undefined;
    }
    throw err;
  }
  return undefined;
});

server.on('request', provider.callback());
console.log(`OIDC_PROVIDER_READY ${issuer}`);
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => { server.close(); process.exit(0); });
