// What a cell is made of, read from its product TOML (products/<name>.toml), and how big each
// environment makes it. Nothing here touches AWS: the stack turns these facts into resources.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'smol-toml';

/** Modules that keep files (uploads, exports, PDFs): the cell gets an S3 bucket. */
export const FILE_MODULES = ['files', 'finance', 'importexport', 'documents'];

/** Modules that send mail: the cell gets an SES identity. */
export const MAIL_MODULES = [
  'auth', 'tenancy', 'notifications', 'finance', 'documents', 'crm', 'webhooks', 'importexport', 'files',
];

export const ENVIRONMENTS = ['dev', 'staging', 'prod'] as const;
export type EnvironmentName = (typeof ENVIRONMENTS)[number];

/** A module secret setting the cell reads from `CELL__MODULES__<MODULE>__<KEY>`. */
export interface ModuleSecret {
  module: string;
  key: string;
  /** Why the cell needs it, for the secret's description. */
  why: string;
}

export interface Product {
  /** The TOML's file name without `.toml`: the image, the stack and the database are named by it. */
  name: string;
  modules: string[];
  storesFiles: boolean;
  sendsMail: boolean;
  /** Module secrets this cell is deployed with (each an operator-filled Secrets Manager secret). */
  moduleSecrets: ModuleSecret[];
}

/** The names of the products in `dir` (`<name>.toml`), sorted. */
export function productNames(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.toml'))
    .map((f) => f.slice(0, -'.toml'.length))
    .sort();
}

export interface LoadOptions {
  /** Wire finance's Stripe keys (`--context stripe=true`); without it the cell takes no payments by Stripe. */
  stripe?: boolean;
}

/** Reads `<dir>/<name>.toml`; an unknown name is an error that lists the known ones. */
export function loadProduct(dir: string, name: string, options: LoadOptions = {}): Product {
  const known = productNames(dir);
  if (!known.includes(name)) {
    throw new Error(
      `unknown product "${name}": expected one of ${known.join(', ')} (the products/*.toml files)`,
    );
  }
  const toml = parse(fs.readFileSync(path.join(dir, `${name}.toml`), 'utf8')) as Record<string, unknown>;
  const tables = (toml.modules ?? {}) as Record<string, Record<string, unknown>>;
  const modules = Object.keys(tables).sort();
  const has = (m: string) => modules.includes(m);

  const moduleSecrets: ModuleSecret[] = [];
  if (has('abm')) {
    // Production refuses to start without it (the abm module's production setting).
    moduleSecrets.push({ module: 'abm', key: 'hook_secrets', why: "PostHog's webhook signing secret(s), comma-separated" });
    if (tables.abm.enrichment === 'http') {
      moduleSecrets.push({ module: 'abm', key: 'enrichment_key', why: "the reverse-IP provider's API key" });
    }
  }
  if (has('finance') && options.stripe) {
    // The two go together: the cell refuses one without the other.
    moduleSecrets.push({ module: 'finance', key: 'stripe_secret_key', why: "Stripe's secret API key" });
    moduleSecrets.push({ module: 'finance', key: 'stripe_webhook_secret', why: "the signing secret of Stripe's webhook endpoint" });
  }
  if (has('documents') && tables.documents.esign_name !== undefined) {
    // The TOML names an external e-sign service: it needs its callback secret (and API key).
    moduleSecrets.push({ module: 'documents', key: 'esign_secret', why: "the external e-sign service's callback secret (16+ characters)" });
    moduleSecrets.push({ module: 'documents', key: 'esign_api_key', why: "the external e-sign service's API key" });
  }

  return {
    name,
    modules,
    storesFiles: modules.some((m) => FILE_MODULES.includes(m)),
    sendsMail: modules.some((m) => MAIL_MODULES.includes(m)),
    moduleSecrets,
  };
}

/** The environment variable a module secret reaches the cell as. */
export function moduleSecretEnv(s: ModuleSecret): string {
  return `CELL__MODULES__${s.module.toUpperCase()}__${s.key.toUpperCase()}`;
}

/** How big each environment makes a cell. */
export interface Sizing {
  natGateways: number;
  auroraMinAcu: number;
  auroraMaxAcu: number;
  deletionProtection: boolean;
  redisNodeType: string;
  /** Redis nodes: one primary, the rest replicas in other AZs (automatic failover from 2). */
  redisNodes: number;
  taskCpu: number;
  taskMemoryMiB: number;
  /** The worker task's memory: the cell's share plus the ADOT collector's (a valid Fargate size). */
  workerMemoryMiB: number;
  apiMin: number;
  apiMax: number;
  workerMin: number;
  workerMax: number;
  logRetentionDays: number;
  /** Daily snapshots kept by Aurora. */
  backupRetentionDays: number;
}

export const SIZING: Record<EnvironmentName, Sizing> = {
  dev: {
    natGateways: 1,
    auroraMinAcu: 0.5,
    auroraMaxAcu: 2,
    deletionProtection: false,
    redisNodeType: 'cache.t4g.micro',
    redisNodes: 1,
    taskCpu: 256,
    taskMemoryMiB: 512,
    workerMemoryMiB: 1024,
    apiMin: 1,
    apiMax: 2,
    workerMin: 1,
    workerMax: 2,
    logRetentionDays: 7,
    backupRetentionDays: 1,
  },
  staging: {
    natGateways: 1,
    auroraMinAcu: 0.5,
    auroraMaxAcu: 8,
    deletionProtection: false,
    redisNodeType: 'cache.t4g.small',
    redisNodes: 2,
    taskCpu: 512,
    taskMemoryMiB: 1024,
    workerMemoryMiB: 2048,
    apiMin: 2,
    apiMax: 4,
    workerMin: 1,
    workerMax: 3,
    logRetentionDays: 30,
    backupRetentionDays: 7,
  },
  prod: {
    natGateways: 3,
    auroraMinAcu: 2,
    auroraMaxAcu: 32,
    deletionProtection: true,
    redisNodeType: 'cache.m7g.large',
    redisNodes: 2,
    taskCpu: 1024,
    taskMemoryMiB: 2048,
    workerMemoryMiB: 3072,
    apiMin: 2,
    apiMax: 10,
    workerMin: 1,
    workerMax: 6,
    logRetentionDays: 90,
    backupRetentionDays: 14,
  },
};

export function sizingFor(environment: string): Sizing {
  if (!(ENVIRONMENTS as readonly string[]).includes(environment)) {
    throw new Error(`unknown environment "${environment}": expected one of ${ENVIRONMENTS.join(', ')}`);
  }
  return SIZING[environment as EnvironmentName];
}
