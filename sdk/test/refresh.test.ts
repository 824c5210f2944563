// Tokens: an explicit refresh spends the refresh token; an expired access token is refreshed on
// its own (the cell under test issues access tokens for 60 s, accepted 30 s past expiry for
// clock skew) and the call goes through.
import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";

import { ApiError, createCellClient, type SuitePaths, type Tokens } from "../src/index.js";
import { baseUrl, signedIn } from "./live.js";

test("a refresh gives new tokens and spends the old refresh token", async () => {
  const cell = await signedIn();
  const before = cell.tokens();
  const after = await cell.refresh();
  assert.notEqual(after.accessToken, before?.accessToken);
  assert.notEqual(after.refreshToken, before?.refreshToken);
  const { data: me } = await cell.api.GET("/api/v1/users/me");
  assert.ok(me?.id);

  // The spent token, presented again (a stolen copy), is refused and ends that session.
  const thief = createCellClient<SuitePaths>({ baseUrl, tokens: before! });
  const refused = await thief.refresh().catch((e: unknown) => e);
  assert.ok(refused instanceof ApiError);
  assert.equal(refused.status, 401);
  assert.equal(thief.tokens(), undefined);
});

test("an expired access token is refreshed once, and the call goes through", { timeout: 150_000 }, async () => {
  const seen: (Tokens | undefined)[] = [];
  const cell = await signedIn((t) => seen.push(t));
  const first = cell.tokens();
  await sleep(92_000);
  // Two calls at once share one refresh.
  const [a, b] = await Promise.all([cell.api.GET("/api/v1/users/me"), cell.api.GET("/api/v1/organizations")]);
  assert.ok(a.data?.id);
  assert.ok(b.data);
  assert.notEqual(cell.tokens()?.accessToken, first?.accessToken);
  assert.equal(seen.length, 2, "sign-in, then one refresh");
});
