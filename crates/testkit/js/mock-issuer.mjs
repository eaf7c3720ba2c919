// A third-party OIDC issuer for interop tests: oauth2-mock-server on 127.0.0.1, port chosen by the OS,
// with tokens shaped the way Auth0 or Okta issue them. Started and stopped by portcullis-testkit.
//
// Environment:
//   PORTCULLIS_NODE_MODULES  the node_modules folder holding oauth2-mock-server (project-local cache)
//   PROFILE                  auth0 | okta | oidc
//   ISSUER_ID                the `iss` to stamp (auth0/okta); oidc keeps the server's own URL
//   AUDIENCE                 the audience to stamp
// Prints one line, `READY <url>`, once serving; exits when stdin closes or on SIGTERM.

import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const modules = process.env.PORTCULLIS_NODE_MODULES;
const require = createRequire(`${modules}/`);
const { OAuth2Server } = await import(pathToFileURL(require.resolve('oauth2-mock-server')).href);

const profile = process.env.PROFILE ?? 'oidc';
const audience = process.env.AUDIENCE ?? 'api';

const server = new OAuth2Server();
await server.issuer.keys.generate('RS256');
await server.start(0, '127.0.0.1');
const url = `http://127.0.0.1:${server.address().port}`;
server.issuer.url = url;
const issuerId = process.env.ISSUER_ID ?? url;

/** The client id, from HTTP Basic (Okta) or the form (Auth0). */
function clientId(req) {
  const basic = /^Basic (.+)$/i.exec(req.headers?.authorization ?? '');
  if (basic) return Buffer.from(basic[1], 'base64').toString().split(':')[0];
  return req.body?.client_id ?? 'unknown-client';
}

server.service.on('beforeTokenSigning', (token, req) => {
  const p = token.payload;
  const client = clientId(req);
  const scopes = typeof p.scope === 'string' ? p.scope.split(' ').filter(Boolean) : [];
  if (profile === 'auth0') {
    p.iss = issuerId;
    p.sub = `${client}@clients`;
    p.aud = [audience, `${issuerId}userinfo`];
    p.azp = client;
    p.gty = 'client-credentials';
    p.permissions = scopes;
  } else if (profile === 'okta') {
    p.iss = issuerId;
    p.sub = client;
    p.aud = audience;
    p.cid = client;
    p.ver = 1;
    p.jti = `AT.${Math.random().toString(36).slice(2)}`;
    p.scp = scopes;
    delete p.scope;
  } else {
    p.sub = client;
    p.aud = audience;
    p.azp = client;
  }
});

console.log(`READY ${url}`);

const stop = async () => {
  await server.stop();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.resume();
