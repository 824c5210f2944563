/**
 * The TypeScript client of the platform's cells: the typed routes of each cell (generated from
 * its OpenAPI document), a fetch client that signs in, sends the access token and refreshes it
 * when it expires, the error envelope as a typed error, pagination, and verification of the
 * cell's outbound webhooks (Standard Webhooks).
 *
 * ```ts
 * import { createCellClient, paginate, type SuitePaths } from "@cell-platform/sdk";
 * const cell = createCellClient<SuitePaths>({ baseUrl: "http://127.0.0.1:8080" });
 * await cell.login("you@example.com", "Choose-a-long-passw0rd");
 * const { data } = await cell.api.GET("/api/v1/teams", { params: { query: { limit: 10 } } });
 * ```
 */
import createFetchClient, { type Client, type Middleware } from "openapi-fetch";
import { Webhook } from "standardwebhooks";

export type { paths as SuitePaths, components as SuiteComponents } from "./generated/suite.js";
export type { paths as OutreachPaths, components as OutreachComponents } from "./generated/outreach.js";
export type { paths as FullorbitPaths, components as FullorbitComponents } from "./generated/fullorbit.js";

/** What every failure of a cell answers. */
export interface ErrorEnvelope {
  error: {
    /** Stable snake_case: `not_found`, `validation_failed`, `unauthorized`, `rate_limited`… */
    code: string;
    message: string;
    details?: Record<string, unknown>;
    request_id?: string;
    timestamp?: string;
  };
}

/** A cell's answer outside 2xx, from its error envelope. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: Record<string, unknown> | undefined;
  /** Quote it when reporting a problem: the cell's logs carry it. */
  readonly requestId: string | undefined;

  constructor(status: number, body: unknown, fallback: string) {
    const error = isEnvelope(body) ? body.error : undefined;
    super(error?.message ?? fallback);
    this.name = "ApiError";
    this.status = status;
    this.code = error?.code ?? "unknown";
    this.details = error?.details;
    this.requestId = error?.request_id;
  }

  /** Why a 401 was answered: `authentication_required`, `token_expired`, `token_invalid`. */
  get reason(): string | undefined {
    const reason = this.details?.["reason"];
    return typeof reason === "string" ? reason : undefined;
  }

  /** The fields a 422 names, with what is wrong with each. */
  get fields(): Record<string, string> {
    const fields = this.details?.["fields"];
    return typeof fields === "object" && fields !== null ? (fields as Record<string, string>) : {};
  }
}

function isEnvelope(body: unknown): body is ErrorEnvelope {
  const error = (body as ErrorEnvelope | undefined)?.error;
  return typeof error === "object" && error !== null && typeof error.code === "string";
}

export interface Tokens {
  accessToken: string;
  refreshToken?: string;
}

export interface CellClientOptions {
  /** The cell's base URL (`https://api.example.com`). */
  baseUrl: string;
  /** Where the cell mounts its auth routes; `/api/v1` in every product. */
  authPrefix?: string;
  /** Tokens kept from an earlier session. */
  tokens?: Tokens;
  /** Called whenever the tokens change (sign-in, refresh, sign-out): keep them here. */
  onTokens?: (tokens: Tokens | undefined) => void;
  /** Another fetch (tests, proxies). */
  fetch?: typeof globalThis.fetch;
}

export interface CellClient<Paths extends {}> {
  /**
   * The cell's routes, typed (openapi-fetch): `api.GET(path, { params: { path, query } })`,
   * `api.POST(path, { body })`. An answer outside 2xx rejects with an {@link ApiError}.
   */
  api: Client<Paths>;
  /** Signs in; the tokens are then sent, and refreshed, by every call. */
  login(email: string, password: string, orgId?: string): Promise<Tokens>;
  /** Trades the refresh token for new tokens (done on its own when a call finds its token expired). */
  refresh(): Promise<Tokens>;
  /** Ends the session on the cell and forgets the tokens. */
  logout(): Promise<void>;
  /** The tokens in use, if signed in. */
  tokens(): Tokens | undefined;
}

/** A client of one cell: `createCellClient<SuitePaths>({ baseUrl })`. */
export function createCellClient<Paths extends {}>(options: CellClientOptions): CellClient<Paths> {
  const baseFetch = options.fetch ?? globalThis.fetch;
  const base = options.baseUrl.replace(/\/+$/, "");
  const authPrefix = options.authPrefix ?? "/api/v1";
  let tokens = options.tokens;
  let refreshing: Promise<Tokens> | undefined;

  const setTokens = (next: Tokens | undefined) => {
    tokens = next;
    options.onTokens?.(next);
  };

  async function authPost(path: string, body: unknown, bearer?: string): Promise<unknown> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (bearer) headers["authorization"] = `Bearer ${bearer}`;
    const res = await baseFetch(`${base}${authPrefix}${path}`, {
      method: "POST",
      headers,
      body: JSON.stringify(body),
    });
    const json: unknown = await res.json().catch(() => undefined);
    if (!res.ok) throw new ApiError(res.status, json, `POST ${authPrefix}${path}: ${res.status}`);
    return json;
  }

  function take(body: unknown): Tokens {
    const b = body as { access_token?: unknown; refresh_token?: unknown } | undefined;
    if (typeof b?.access_token !== "string") {
      throw new Error("the cell answered no access token (a second factor is required: complete MFA first)");
    }
    const next: Tokens = { accessToken: b.access_token };
    if (typeof b.refresh_token === "string") next.refreshToken = b.refresh_token;
    setTokens(next);
    return next;
  }

  async function doRefresh(): Promise<Tokens> {
    const refreshToken = tokens?.refreshToken;
    if (!refreshToken) throw new ApiError(401, undefined, "no refresh token: sign in again");
    try {
      return take(await authPost("/auth/refresh", { refresh_token: refreshToken }));
    } catch (e) {
      // A spent or revoked refresh token ends the session.
      if (e instanceof ApiError && e.status === 401) setTokens(undefined);
      throw e;
    }
  }

  // One refresh at a time: calls that find the token expired together wait for the same one.
  const refresh = (): Promise<Tokens> => {
    refreshing ??= doRefresh().finally(() => {
      refreshing = undefined;
    });
    return refreshing;
  };

  async function authorized(input: Request): Promise<Response> {
    const again = input.clone();
    const send = (req: Request) => {
      if (tokens) req.headers.set("authorization", `Bearer ${tokens.accessToken}`);
      return baseFetch(req);
    };
    const sentWith = tokens?.accessToken;
    const res = await send(input);
    if (res.status !== 401 || !tokens?.refreshToken) return res;
    const body: unknown = await res.clone().json().catch(() => undefined);
    if (!isEnvelope(body) || body.error.details?.["reason"] !== "token_expired") return res;
    // Another call may have refreshed meanwhile.
    if (tokens.accessToken === sentWith) await refresh();
    return send(again);
  }

  const errors: Middleware = {
    async onResponse({ response }) {
      if (response.ok) return undefined;
      const body: unknown = await response.clone().json().catch(() => undefined);
      throw new ApiError(response.status, body, `${response.status} ${response.statusText}`);
    },
  };

  const api = createFetchClient<Paths>({ baseUrl: base, fetch: authorized });
  api.use(errors);

  return {
    api,
    async login(email, password, orgId) {
      const body: Record<string, string> = { email, password };
      if (orgId) body["org_id"] = orgId;
      return take(await authPost("/auth/login", body));
    },
    refresh,
    async logout() {
      const current = tokens;
      setTokens(undefined);
      if (current) await authPost("/auth/logout", {}, current.accessToken).catch(() => undefined);
    },
    tokens: () => tokens,
  };
}

/** A page of a cell's list: `{ data, meta }`. */
export interface Page<T> {
  data: T[];
  meta: { page: number; limit: number; has_next: boolean; total?: number };
}

/**
 * Every item of a list, page after page:
 * `for await (const team of paginate((page) => api.GET("/api/v1/teams", { params: { query: { page, limit: 100 } } })))`.
 */
export async function* paginate<T>(
  fetchPage: (page: number) => Promise<{ data?: Page<T> }>,
  firstPage = 1,
): AsyncGenerator<T, void, undefined> {
  for (let page = firstPage; ; page++) {
    const { data } = await fetchPage(page);
    if (!data) return;
    yield* data.data;
    if (!data.meta.has_next) return;
  }
}

/** A delivery of the cell's outbound webhooks (the event catalogue describes each `data`). */
export interface WebhookMessage<T = unknown> {
  /** The event's name (`tasks.task.created`, `webhook.test`). */
  type: string;
  /** When it happened (RFC 3339). */
  timestamp: string;
  /** The event's id: deliveries of one event share it (deduplicate on it). */
  id: string;
  org_id: string;
  /** The payload's version. */
  version: number;
  entity: { type: string; id: string };
  actor: { type: string; id: string } | null;
  data: T;
}

/**
 * Verifies a delivery of the cell's outbound webhooks (Standard Webhooks: `webhook-id`,
 * `webhook-timestamp`, `webhook-signature`) with the subscription's `whsec_…` secret, on the
 * body exactly as received; answers the parsed message. Throws when the signature does not
 * verify or the timestamp is more than five minutes away.
 */
export function verifyWebhook<T = unknown>(
  secret: string,
  body: string,
  headers: Headers | Record<string, string | string[] | undefined>,
): WebhookMessage<T> {
  const flat: Record<string, string> = {};
  if (headers instanceof Headers) {
    headers.forEach((value, key) => {
      flat[key] = value;
    });
  } else {
    for (const [key, value] of Object.entries(headers)) {
      if (value !== undefined) flat[key.toLowerCase()] = Array.isArray(value) ? value.join(", ") : value;
    }
  }
  return new Webhook(secret).verify(body, flat) as WebhookMessage<T>;
}
