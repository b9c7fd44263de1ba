// An upstream app that believes no identity header: it reads who is asking
// from X-Auth-Assertion, the JWS sealgate's /auth/verify signs, and
// verifies it against sealgate's published keys with `jose`
// (npm install jose). Pinned: the algorithms, the issuer, the audience
// (this app's own host as the proxy forwards it, or assertion.audience),
// the type, and the expiry (jose checks `exp`, with no leeway here).
//
//   SEALGATE_JWKS_URL=http://127.0.0.1:4180/.well-known/jwks.json \
//   SEALGATE_ISSUER=https://auth.example.com \
//   APP_AUDIENCE=app.example.com \
//   PORT=8080 node verify_assertion.mjs
//
// Every request without a valid assertion gets 401; a valid one gets 200
// and, as JSON, the verified claims and the custom header X-User (which
// the proxy forwards as configured in [headers]). It prints "READY <port>"
// once listening.

import http from "node:http";
import { createRemoteJWKSet, jwtVerify } from "jose";

const jwks = createRemoteJWKSet(new URL(process.env.SEALGATE_JWKS_URL));
const expected = {
  issuer: process.env.SEALGATE_ISSUER,
  audience: process.env.APP_AUDIENCE,
  algorithms: ["ES256", "EdDSA"],
  typ: "sealgate-assertion+jwt",
  clockTolerance: 0,
};

function answer(res, status, body) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

const server = http.createServer(async (req, res) => {
  const token = req.headers["x-auth-assertion"];
  if (typeof token !== "string" || token === "") {
    return answer(res, 401, { error: "no_assertion" });
  }
  try {
    const { payload } = await jwtVerify(token, jwks, expected);
    answer(res, 200, { claims: payload, "x-user": req.headers["x-user"] ?? null });
  } catch (error) {
    answer(res, 401, { error: "invalid_assertion", reason: error.code ?? "invalid" });
  }
});

server.listen(Number(process.env.PORT ?? 8080), "127.0.0.1", () => {
  console.log(`READY ${server.address().port}`);
});
