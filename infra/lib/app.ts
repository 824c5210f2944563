// Reads the `--context` values and builds the cell's two stacks. Offline: nothing here looks
// anything up in an AWS account, so `cdk synth` needs neither credentials nor network.
import * as path from 'node:path';
import * as cdk from 'aws-cdk-lib';
import { CellEdge } from './edge';
import { EnvironmentName, loadProduct, productNames, sizingFor } from './product';
import { ProductCell } from './product-cell';

export const DEFAULT_PRODUCTS_DIR = path.resolve(__dirname, '..', '..', 'products');
export const DEFAULT_REGION = 'us-east-1';

export interface Cell {
  cell: ProductCell;
  edge: CellEdge;
}

export function buildCell(app: cdk.App): Cell {
  const ctx = (key: string): string | undefined => {
    const v = app.node.tryGetContext(key);
    return v === undefined || v === null || v === '' ? undefined : String(v);
  };
  const flag = (key: string, fallback: boolean): boolean => {
    const v = ctx(key);
    if (v === undefined) return fallback;
    if (v !== 'true' && v !== 'false') throw new Error(`--context ${key} must be true or false, not "${v}"`);
    return v === 'true';
  };
  const list = (key: string) => ctx(key)?.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const pair = (a: string, b: string) => {
    if ((ctx(a) === undefined) !== (ctx(b) === undefined)) {
      throw new Error(`--context ${a} and --context ${b} go together: pass both or neither`);
    }
  };

  const productsDir = ctx('productsDir') ?? DEFAULT_PRODUCTS_DIR;
  const productName = ctx('productName');
  const environment = ctx('environment');
  if (productName === undefined || environment === undefined) {
    throw new Error(
      `pass --context productName=<${productNames(productsDir).join('|')}> --context environment=<dev|staging|prod>`,
    );
  }
  const sizing = sizingFor(environment);
  const product = loadProduct(productsDir, productName, { stripe: flag('stripe', false) });

  const region = ctx('region') ?? DEFAULT_REGION;
  const account = ctx('account') ?? process.env.CDK_DEFAULT_ACCOUNT;
  const availabilityZones = list('availabilityZones') ?? ['a', 'b', 'c'].map((s) => `${region}${s}`);
  if (availabilityZones.length !== 3 || availabilityZones.some((az) => !az.startsWith(region))) {
    throw new Error(`--context availabilityZones must name three AZs of ${region}, e.g. ${region}a,${region}b,${region}c`);
  }
  pair('domainName', 'certificateArn');
  pair('originDomainName', 'originCertificateArn');

  const suffix = `${product.name}-${environment}`;
  const tags = { 'cell:product': product.name, 'cell:environment': environment };
  const edge = new CellEdge(app, `ProductCellEdge-${suffix}`, {
    env: { account, region: 'us-east-1' },
    description: `WAF web ACL of the ${product.name} cell (${environment}); CloudFront's ACLs live in us-east-1`,
    product,
    tags,
  });
  const imageTag = ctx('imageTag');
  const cell = new ProductCell(app, `ProductCell-${suffix}`, {
    env: { account, region },
    crossRegionReferences: region !== 'us-east-1',
    description: `The ${product.name} cell (${environment}): modules ${product.modules.join(', ')}`,
    tags,
    product,
    environment: environment as EnvironmentName,
    sizing,
    availabilityZones,
    imageRepository: ctx('imageRepository') ?? `cell/${product.name}`,
    imageTag: imageTag ?? 'latest',
    migrateImageTag: ctx('migrateImageTag') ?? imageTag ?? 'latest',
    startServices: flag('startServices', true),
    mailDomain: ctx('mailDomain'),
    domainName: ctx('domainName'),
    certificateArn: ctx('certificateArn'),
    originDomainName: ctx('originDomainName'),
    originCertificateArn: ctx('originCertificateArn'),
    webAclArn: edge.webAcl.attrArn,
    alarmEmail: ctx('alarmEmail'),
    corsOrigins: list('corsOrigins'),
  });
  cell.addStackDependency(edge);
  if (imageTag === undefined) {
    cdk.Annotations.of(cell).addWarningV2('cell:imageTag', 'no --context imageTag: the services run the mutable tag "latest"');
  }
  return { cell, edge };
}
