// Sign-in, typed calls, a list with filters and pagination, and the error envelope as ApiError.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ApiError, createCellClient, paginate, type SuitePaths } from "../src/index.js";
import { baseUrl, signedIn, unique } from "./live.js";

test("signs in and calls a typed route", async () => {
  const cell = await signedIn();
  assert.ok(cell.tokens()?.accessToken);
  const { data: me } = await cell.api.GET("/api/v1/users/me");
  assert.equal(me?.email, process.env["CELL_EMAIL"]);
});

test("lists with filters, sorts and pages", async () => {
  const cell = await signedIn();
  const prefix = unique("sdk team");
  for (const n of ["c", "a", "b"]) {
    const { data } = await cell.api.POST("/api/v1/teams", { body: { name: `${prefix} ${n}` } });
    assert.equal(data?.name, `${prefix} ${n}`);
  }
  const { data: first } = await cell.api.GET("/api/v1/teams", {
    params: { query: { search: prefix, sort: "name:asc", limit: 2 } },
  });
  assert.deepEqual(
    first?.data.map((t) => t.name),
    [`${prefix} a`, `${prefix} b`],
  );
  assert.equal(first?.meta.has_next, true);
  const all: string[] = [];
  for await (const team of paginate((page) =>
    cell.api.GET("/api/v1/teams", { params: { query: { search: prefix, sort: "name:desc", limit: 2, page } } }),
  )) {
    all.push(team.name);
  }
  assert.deepEqual(all, [`${prefix} c`, `${prefix} b`, `${prefix} a`]);
});

test("failures reject with the cell's error envelope", async () => {
  const cell = await signedIn();
  const missing = await cell.api
    .GET("/api/v1/teams/{id}", { params: { path: { id: "01890000-0000-7000-8000-000000000000" } } })
    .then(
      () => assert.fail("a missing team answered 2xx"),
      (e: unknown) => e,
    );
  assert.ok(missing instanceof ApiError);
  assert.equal(missing.status, 404);
  assert.equal(missing.code, "not_found");
  assert.match(missing.requestId ?? "", /\S/);

  const invalid = await cell.api.POST("/api/v1/teams", { body: { name: "" } }).catch((e: unknown) => e);
  assert.ok(invalid instanceof ApiError);
  assert.equal(invalid.status, 422);
  assert.equal(invalid.code, "validation_failed");
  assert.ok("name" in invalid.fields, JSON.stringify(invalid.details));

  const anonymous = createCellClient<SuitePaths>({ baseUrl });
  const refused = await anonymous.api.GET("/api/v1/users/me").catch((e: unknown) => e);
  assert.ok(refused instanceof ApiError);
  assert.equal(refused.status, 401);
  assert.equal(refused.reason, "authentication_required");

  const wrong = await anonymous.login(process.env["CELL_EMAIL"] ?? "", "not-the-password").catch((e: unknown) => e);
  assert.ok(wrong instanceof ApiError);
  assert.equal(wrong.status, 401);
  assert.equal(anonymous.tokens(), undefined);
});
