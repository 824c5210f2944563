// The cell's outbound webhooks verify with the SDK (the standardwebhooks package): a real
// delivery of `POST /webhooks/{id}/test` to a local receiver; a changed body does not verify.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";

import { verifyWebhook } from "../src/index.js";
import { signedIn } from "./live.js";

test("a delivery verifies with the subscription's secret", async () => {
  const received: { body: string; headers: Record<string, string | string[] | undefined> }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      received.push({ body: Buffer.concat(chunks).toString("utf8"), headers: req.headers });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const port = (server.address() as AddressInfo).port;
    const cell = await signedIn();
    const { data: sub } = await cell.api.POST("/api/v1/webhooks", {
      body: { url: `http://127.0.0.1:${port}/hook`, events: ["tenancy.*"] },
    });
    assert.match(sub?.secret ?? "", /^whsec_/);
    await cell.api.POST("/api/v1/webhooks/{id}/test", { params: { path: { id: sub!.id } } });
    assert.equal(received.length, 1);
    const delivery = received[0]!;
    const message = verifyWebhook<{ message: string }>(sub!.secret, delivery.body, delivery.headers);
    assert.equal(message.type, "webhook.test");
    assert.match(message.data.message, /test message/);
    assert.throws(() => verifyWebhook(sub!.secret, delivery.body.replace("test", "tset"), delivery.headers));
    await cell.api.DELETE("/api/v1/webhooks/{id}", { params: { path: { id: sub!.id } } });
  } finally {
    server.close();
  }
});
