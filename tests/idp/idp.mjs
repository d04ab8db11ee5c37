// A real OAuth 2 / OpenID Connect issuer for the tests, on 127.0.0.1 and a free port.
// Prints one JSON line {"issuer": …} when ready. Commands on stdin:
//   rotate   adds a new signing key (tokens then alternate between the keys)
// Opaque tokens `opaque:<sub>:<aud>` are active at the introspection endpoint.
// Token requests may ask for test variants through their scope:
//   test:expired   a token that expired ten minutes ago
import { OAuth2Server } from 'oauth2-mock-server';
import { urlencoded } from 'express';
import readline from 'node:readline';

const server = new OAuth2Server();
await server.issuer.keys.generate('RS256');
await server.start(0, '127.0.0.1');
// The issuer names the address it listens on (not "localhost", which may be ::1).
server.issuer.url = `http://127.0.0.1:${server.address().port}`;

server.service.on('beforeTokenSigning', (token, req) => {
  const body = req.body ?? {};
  // Client credentials: the client itself is the subject (a service account).
  if (token.payload.sub === undefined && body.client_id !== undefined) {
    token.payload.sub = body.client_id;
  }
  if (typeof body.scope === 'string' && body.scope.includes('test:expired')) {
    const now = Math.floor(Date.now() / 1000);
    token.payload.iat = now - 1200;
    token.payload.nbf = now - 1200;
    token.payload.exp = now - 600;
  }
});

// The mock reads no form body at /introspect: parse it first, ahead of its routes.
const app = server.service.requestHandler;
app.use('/introspect', urlencoded({ extended: false }));
app.router.stack.unshift(app.router.stack.pop());

// Introspection (RFC 7662) of opaque test tokens: `opaque:<sub>:<aud>` is active,
// anything else is not.
server.service.on('beforeIntrospect', (response, req) => {
  const token = String((req.body ?? {}).token ?? '');
  const [kind, sub, aud] = token.split(':');
  response.body =
    kind === 'opaque' && sub && aud
      ? { active: true, sub, aud, iss: server.issuer.url, exp: Math.floor(Date.now() / 1000) + 300 }
      : { active: false };
});

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', async (line) => {
  if (line.trim() === 'rotate') {
    const key = await server.issuer.keys.generate('RS256');
    console.log(JSON.stringify({ rotated: key.kid }));
  }
});
rl.on('close', async () => {
  await server.stop();
  process.exit(0);
});

console.log(JSON.stringify({ issuer: server.issuer.url }));
