import * as fs from 'node:fs';
import * as path from 'node:path';
import * as cdk from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { buildCell, DEFAULT_PRODUCTS_DIR } from '../lib/app';
import { loadProduct, productNames, SIZING } from '../lib/product';

// The same feature flags as `cdk synth` (cdk.json), so the tests see the synthesized templates.
const FLAGS = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'cdk.json'), 'utf8')).context;
const FIXTURES = path.join(__dirname, 'fixtures');
const PRODUCTS = productNames(DEFAULT_PRODUCTS_DIR);

/** The settings that are secrets: they must reach containers through `Secrets` only. */
const SECRET_ENV = /(PASSWORD|SECRET|TOKEN|_KEY)$/;
const SECRET_NAMES = [
  'CELL__DATABASE__PASSWORD',
  'CELL__DATABASE__APP_PASSWORD',
  'CELL__CELL__SECRET_KEY',
  'CELL__CELL__ADMIN_TOKEN',
  'CELL__TELEMETRY__METRICS_TOKEN',
  'CELL__MODULES__ABM__HOOK_SECRETS',
  'CELL__MODULES__FINANCE__STRIPE_SECRET_KEY',
  'CELL__MODULES__FINANCE__STRIPE_WEBHOOK_SECRET',
  'CELL__MODULES__DOCUMENTS__ESIGN_SECRET',
  'CELL__MODULES__DOCUMENTS__ESIGN_API_KEY',
];
const CACHING_DISABLED = '4135ea2d-6df8-44a3-9df3-4b5a84be39ad';
const ALL_VIEWER_EXCEPT_HOST_HEADER = 'b689b0a8-53d0-40ab-baf2-68738e2966ac';

interface Synth {
  cell: Template;
  edge: Template;
  json: string;
}

const cache = new Map<string, Synth>();
function synth(context: Record<string, string>): Synth {
  const key = JSON.stringify(context);
  let s = cache.get(key);
  if (!s) {
    const app = new cdk.App({ context: { ...FLAGS, mailDomain: 'example.com', imageTag: 'v1', ...context } });
    const { cell, edge } = buildCell(app);
    const t = Template.fromStack(cell);
    s = { cell: t, edge: Template.fromStack(edge), json: JSON.stringify(t.toJSON()) };
    cache.set(key, s);
  }
  return s;
}

type Container = { Name: string; Environment?: { Name: string; Value: unknown }[]; Secrets?: { Name: string; ValueFrom: unknown }[] } & Record<string, any>;
function containers(t: Template): Container[] {
  return Object.values(t.findResources('AWS::ECS::TaskDefinition')).flatMap((r) => r.Properties.ContainerDefinitions);
}
function cellContainers(t: Template): Container[] {
  return containers(t).filter((c) => c.Name === 'cell');
}
function commandOf(c: Container): string {
  return (c.Command as string[]).join(' ');
}
function envOf(c: Container): Record<string, unknown> {
  return Object.fromEntries((c.Environment ?? []).map((e) => [e.Name, e.Value]));
}
function secretNames(c: Container): string[] {
  return (c.Secrets ?? []).map((s) => s.Name);
}
function scalableTargets(t: Template) {
  return Object.values(t.findResources('AWS::ApplicationAutoScaling::ScalableTarget')).map((r) => ({
    service: JSON.stringify(r.Properties.ResourceId),
    min: r.Properties.MinCapacity,
    max: r.Properties.MaxCapacity,
  }));
}

describe.each(PRODUCTS)('product %s (prod)', (name) => {
  const product = loadProduct(DEFAULT_PRODUCTS_DIR, name);
  const { cell, edge, json } = synth({ productName: name, environment: 'prod' });

  test('a VPC over three AZs: public, private and isolated subnets, a NAT gateway per AZ', () => {
    cell.resourceCountIs('AWS::EC2::VPC', 1);
    const subnets = Object.values(cell.findResources('AWS::EC2::Subnet'));
    expect(subnets).toHaveLength(9);
    const azs = new Set(subnets.map((s) => s.Properties.AvailabilityZone));
    expect([...azs].sort()).toEqual(['us-east-1a', 'us-east-1b', 'us-east-1c']);
    cell.resourceCountIs('AWS::EC2::NatGateway', 3);
  });

  test('Aurora PostgreSQL Serverless v2: encrypted, protected, a writer and a reader', () => {
    cell.resourceCountIs('AWS::RDS::DBCluster', 1);
    cell.hasResourceProperties('AWS::RDS::DBCluster', {
      Engine: 'aurora-postgresql',
      EngineVersion: Match.stringLikeRegexp('^16\\.'),
      StorageEncrypted: true,
      DeletionProtection: true,
      DatabaseName: name,
      ServerlessV2ScalingConfiguration: { MinCapacity: 2, MaxCapacity: 32 },
    });
    const instances = Object.values(cell.findResources('AWS::RDS::DBInstance'));
    expect(instances).toHaveLength(2);
    for (const i of instances) expect(i.Properties.DBInstanceClass).toBe('db.serverless');
    expect(instances.map((i) => i.Properties.PromotionTier).sort()).toEqual([0, 1]);
    // The owner's generated secret and the app role's.
    cell.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: Match.objectLike({ SecretStringTemplate: '{"username":"cell_owner"}', GenerateStringKey: 'password' }),
    });
    cell.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: Match.objectLike({ SecretStringTemplate: '{"username":"cell_app"}', GenerateStringKey: 'password' }),
    });
  });

  test('Redis: a replication group with TLS and encryption at rest, open to the services only', () => {
    cell.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', {
      Engine: 'redis',
      TransitEncryptionEnabled: true,
      AtRestEncryptionEnabled: true,
      NumCacheClusters: 2,
      AutomaticFailoverEnabled: true,
      CacheNodeType: SIZING.prod.redisNodeType,
    });
    const ingress = Object.values(cell.findResources('AWS::EC2::SecurityGroupIngress')).filter((r) => r.Properties.FromPort === 6379);
    expect(ingress).toHaveLength(1);
    expect(JSON.stringify(ingress[0].Properties.SourceSecurityGroupId)).toContain('ServicesSg');
  });

  test('two ECS services and a migration task, from one image', () => {
    cell.resourceCountIs('AWS::ECS::Service', 2);
    cell.resourceCountIs('AWS::ECS::TaskDefinition', 3);
    const cells = cellContainers(cell);
    expect(cells.map(commandOf).sort()).toEqual([
      'migrate up',
      'serve --role api --no-migrate',
      'serve --role worker --no-migrate',
    ]);
    expect(new Set(cells.map((c) => JSON.stringify(c.Image))).size).toBe(1);
    expect(JSON.stringify(cells[0].Image)).toContain(`cell/${name}:v1`);
    for (const c of cells) {
      expect(c.User).toBe('65532:65532');
      expect(c.ReadonlyRootFilesystem).toBe(true);
      expect(c.MountPoints).toEqual([{ ContainerPath: '/data', SourceVolume: 'data', ReadOnly: false }]);
      if (commandOf(c) !== 'migrate up') {
        expect(c.HealthCheck.Command).toEqual(['CMD', '/cell', 'health']);
        expect(c.PortMappings[0].ContainerPort).toBe(8080);
      }
    }
    const worker = containers(cell).find((c) => c.Name === 'adot');
    expect(worker?.Image).toMatch(/^public\.ecr\.aws\/aws-observability\/aws-otel-collector:/);
    const config = JSON.stringify(envOf(worker!).AOT_CONFIG_CONTENT);
    expect(config).toContain('127.0.0.1:8080');
    expect(config).toContain(`Cell/${name}`);
    expect(config).toContain('jobs_ready');
    expect(config).toContain('events_pending');
    expect(secretNames(worker!)).toEqual(['METRICS_TOKEN']);
  });

  test('autoscaling: api 2-10 on CPU and requests per target, worker from 1 on CPU', () => {
    const targets = scalableTargets(cell);
    expect(targets).toHaveLength(2);
    expect(targets.find((t) => t.service.includes('Api'))).toMatchObject({ min: 2, max: 10 });
    expect(targets.find((t) => t.service.includes('Worker'))).toMatchObject({ min: 1 });
    const metrics = Object.values(cell.findResources('AWS::ApplicationAutoScaling::ScalingPolicy')).map(
      (p) => p.Properties.TargetTrackingScalingPolicyConfiguration.PredefinedMetricSpecification.PredefinedMetricType,
    );
    expect(metrics.sort()).toEqual(['ALBRequestCountPerTarget', 'ECSServiceAverageCPUUtilization', 'ECSServiceAverageCPUUtilization']);
  });

  test('the ALB answers 404 for /metrics and forwards only what carries the CloudFront header', () => {
    cell.hasResourceProperties('AWS::ElasticLoadBalancingV2::ListenerRule', {
      Priority: 1,
      Conditions: [{ Field: 'path-pattern', PathPatternConfig: { Values: ['/metrics', '/metrics/*'] } }],
      Actions: [Match.objectLike({ Type: 'fixed-response', FixedResponseConfig: Match.objectLike({ StatusCode: '404' }) })],
    });
    cell.hasResourceProperties('AWS::ElasticLoadBalancingV2::ListenerRule', {
      Conditions: [Match.objectLike({ Field: 'http-header' })],
      Actions: [Match.objectLike({ Type: 'forward' })],
    });
    cell.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      DefaultActions: [Match.objectLike({ FixedResponseConfig: Match.objectLike({ StatusCode: '403' }) })],
    });
    cell.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', { HealthCheckPath: '/health/ready', Port: 8080 });
  });

  test('CloudFront in front, uncached, every header and query string forwarded, with the WAF ACL', () => {
    cell.resourceCountIs('AWS::CloudFront::Distribution', 1);
    cell.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({
        DefaultCacheBehavior: Match.objectLike({
          CachePolicyId: CACHING_DISABLED,
          OriginRequestPolicyId: ALL_VIEWER_EXCEPT_HOST_HEADER,
          ViewerProtocolPolicy: 'redirect-to-https',
        }),
        WebACLId: Match.anyValue(),
      }),
    });
    edge.hasResourceProperties('AWS::WAFv2::WebACL', {
      Scope: 'CLOUDFRONT',
      Rules: [
        Match.objectLike({
          Action: { Block: {} },
          Statement: { RateBasedStatement: Match.objectLike({ Limit: 2000, AggregateKeyType: 'IP', EvaluationWindowSec: 300 }) },
        }),
      ],
    });
  });

  test('alarms on the 5xx rate, the latency SLO and the queues; a dashboard', () => {
    const alarms = Object.values(cell.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties);
    expect(alarms).toHaveLength(5);
    const metricsOf = (a: any) => JSON.stringify(a.Metrics ?? []);
    const rate = alarms.find((a) => metricsOf(a).includes('"Expression"'));
    expect(metricsOf(rate)).toContain('HTTPCode_Target_5XX_Count');
    expect(metricsOf(rate)).toContain('RequestCount');
    expect(rate.Threshold).toBe(1);
    for (const [stat, threshold] of [['p99', 0.5], ['p50', 0.1]] as const) {
      const latency = alarms.filter((a) => metricsOf(a).includes('TargetResponseTime') && metricsOf(a).includes(`"Stat":"${stat}"`));
      expect(latency).toHaveLength(1);
      expect(latency[0].Threshold).toBe(threshold);
    }
    for (const gauge of ['jobs_ready', 'events_pending']) {
      expect(alarms.find((a) => a.MetricName === gauge)).toMatchObject({ Namespace: `Cell/${name}`, Statistic: 'Maximum' });
    }
    for (const a of alarms) expect(a.AlarmActions).toHaveLength(1);
    cell.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
  });

  test('an S3 bucket only when a module stores files; an SES identity when one sends mail', () => {
    if (product.storesFiles) {
      cell.resourceCountIs('AWS::S3::Bucket', 1);
      cell.hasResourceProperties('AWS::S3::Bucket', {
        BucketEncryption: Match.anyValue(),
        VersioningConfiguration: { Status: 'Enabled' },
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true,
        },
      });
      cell.hasResourceProperties('AWS::S3::BucketPolicy', {
        PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
      });
    } else {
      cell.resourceCountIs('AWS::S3::Bucket', 0);
    }
    expect(product.sendsMail).toBe(true);
    cell.resourceCountIs('AWS::SES::EmailIdentity', 1);
    cell.hasResourceProperties('AWS::SES::EmailIdentity', { EmailIdentity: 'example.com' });
  });

  test('the task roles: s3 on the bucket and SES on the identity, nothing else', () => {
    const policies = Object.values(cell.findResources('AWS::IAM::Policy')).filter((p) =>
      JSON.stringify(p.Properties.Roles).match(/ApiTaskRole/),
    );
    expect(policies).toHaveLength(1);
    for (const st of policies[0].Properties.PolicyDocument.Statement) {
      const actions: string[] = [st.Action].flat();
      for (const a of actions) expect(a).toMatch(/^(s3|ses):/);
      expect(st.Resource).not.toBe('*');
      if (actions.includes('ses:SendEmail')) expect(actions).toEqual(['ses:SendEmail']);
    }
  });

  test('secrets reach the containers from Secrets Manager only', () => {
    for (const c of containers(cell)) {
      const env = envOf(c);
      for (const n of Object.keys(env)) {
        expect(SECRET_ENV.test(n) || SECRET_NAMES.includes(n)).toBe(false);
        expect(JSON.stringify(env[n])).not.toContain('{{resolve:');
      }
      for (const s of c.Secrets ?? []) {
        expect(SECRET_ENV.test(s.Name) || SECRET_NAMES.includes(s.Name)).toBe(true);
        // ECS secrets from Secrets Manager name a secret ARN (a Ref to the secret) and a field.
        expect(JSON.stringify(s.ValueFrom)).toMatch(/"Ref":|arn:/);
      }
      if (c.Name === 'cell') {
        expect(String(JSON.stringify(env.CELL__DATABASE__URL))).toMatch(/postgres:\/\/(cell_app|cell_owner)@"/);
      }
    }
    const [api] = cellContainers(cell).filter((c) => commandOf(c).includes('--role api'));
    expect(secretNames(api).sort()).toEqual(
      [
        'CELL__CELL__ADMIN_TOKEN',
        'CELL__CELL__SECRET_KEY',
        'CELL__DATABASE__PASSWORD',
        'CELL__TELEMETRY__METRICS_TOKEN',
        ...(product.modules.includes('abm') ? ['CELL__MODULES__ABM__HOOK_SECRETS'] : []),
      ].sort(),
    );
    // Every secret is generated by Secrets Manager: the template holds no value.
    for (const s of Object.values(cell.findResources('AWS::SecretsManager::Secret'))) {
      expect(s.Properties.SecretString).toBeUndefined();
      expect(s.Properties.GenerateSecretString).toBeDefined();
    }
    expect(json).not.toMatch(/"SecretString"\s*:/);
  });

  test('the environment contract of each container', () => {
    const byRole = (role: string) => cellContainers(cell).find((c) => commandOf(c).includes(role))!;
    const api = envOf(byRole('--role api'));
    const worker = envOf(byRole('--role worker'));
    expect(worker).toEqual(api);
    expect(api).toMatchObject({
      CELL__CELL__MODE: 'production',
      CELL__DATABASE__APP_ROLE: 'cell_app',
      CELL__HTTP__BIND: '0.0.0.0',
      CELL__HTTP__PORT: '8080',
      CELL__HTTP__BEHIND_PROXY: 'true',
      CELL__CACHE__BACKEND: 'redis',
      CELL__RATE_LIMIT__BACKEND: 'redis',
      CELL__MAIL__BACKEND: 'ses',
      CELL__MAIL__FROM: 'no-reply@example.com',
      CELL__MAIL__REGION: 'us-east-1',
    });
    expect(JSON.stringify(api.CELL__DATABASE__READ_URL)).toContain('ReadEndpoint.Address');
    expect(JSON.stringify(api.CELL__REDIS__URL)).toContain('rediss://');
    expect(JSON.stringify(api.CELL__HTTP__PUBLIC_URL)).toContain('https://');
    expect(api.CELL__STORAGE__BACKEND).toBe(product.storesFiles ? 's3' : undefined);
    // `migrate up` passes the same production checks: the services' settings, as the owner on
    // the writer, plus the app role's password to give it.
    const migrate = byRole('migrate up');
    const migrateEnv = envOf(migrate);
    expect(Object.keys(migrateEnv).sort()).toEqual(Object.keys(api).filter((k) => k !== 'CELL__DATABASE__READ_URL').sort());
    expect(JSON.stringify(migrateEnv.CELL__DATABASE__URL)).toContain('cell_owner@');
    expect(JSON.stringify(api.CELL__DATABASE__URL)).toContain('cell_app@');
    expect(secretNames(migrate).sort()).toEqual([...secretNames(byRole('serve --role api --no-migrate')), 'CELL__DATABASE__APP_PASSWORD'].sort());
  });

  test('outputs the run-task command of the migration', () => {
    const out = JSON.stringify(cell.findOutputs('MigrateCommand'));
    expect(out).toContain('aws ecs run-task');
    expect(out).toContain('--launch-type FARGATE');
  });
});

describe('a cell without file and mail modules', () => {
  const { cell } = synth({ productName: 'plain', environment: 'dev', productsDir: FIXTURES, mailDomain: '' });

  test('has no S3 bucket, no SES identity and no storage or mail settings', () => {
    cell.resourceCountIs('AWS::S3::Bucket', 0);
    cell.resourceCountIs('AWS::SES::EmailIdentity', 0);
    const [api] = cellContainers(cell);
    const env = envOf(api);
    expect(Object.keys(env).filter((k) => k.startsWith('CELL__STORAGE__') || k.startsWith('CELL__MAIL__'))).toEqual([]);
  });

  test('its task roles have no policy at all', () => {
    const policies = Object.values(cell.findResources('AWS::IAM::Policy')).filter((p) =>
      JSON.stringify(p.Properties.Roles).match(/ApiTaskRole/),
    );
    expect(policies).toHaveLength(0);
  });
});

describe('module secrets', () => {
  test("documents with an external e-sign service gets its secrets", () => {
    const { cell } = synth({ productName: 'esign', environment: 'dev', productsDir: FIXTURES });
    const [api] = cellContainers(cell).filter((c) => commandOf(c).includes('--role api'));
    expect(secretNames(api)).toEqual(expect.arrayContaining(['CELL__MODULES__DOCUMENTS__ESIGN_SECRET', 'CELL__MODULES__DOCUMENTS__ESIGN_API_KEY']));
  });

  test('finance gets the Stripe keys with --context stripe=true only', () => {
    const stripe = ['CELL__MODULES__FINANCE__STRIPE_SECRET_KEY', 'CELL__MODULES__FINANCE__STRIPE_WEBHOOK_SECRET'];
    const names = (ctx: Record<string, string>) =>
      secretNames(cellContainers(synth({ productName: 'suite', environment: 'dev', ...ctx }).cell).find((c) => commandOf(c).includes('--role api'))!);
    expect(names({})).not.toEqual(expect.arrayContaining([stripe[0]]));
    expect(names({ stripe: 'true' })).toEqual(expect.arrayContaining(stripe));
  });
});

describe('dev and prod are sized differently', () => {
  const dev = synth({ productName: 'suite', environment: 'dev' }).cell;
  const prod = synth({ productName: 'suite', environment: 'prod' }).cell;

  test('Aurora, Redis, NAT gateways, tasks and protection', () => {
    dev.hasResourceProperties('AWS::RDS::DBCluster', {
      ServerlessV2ScalingConfiguration: { MinCapacity: 0.5, MaxCapacity: SIZING.dev.auroraMaxAcu },
      DeletionProtection: false,
    });
    prod.hasResourceProperties('AWS::RDS::DBCluster', { DeletionProtection: true });
    dev.resourceCountIs('AWS::EC2::NatGateway', 1);
    prod.resourceCountIs('AWS::EC2::NatGateway', 3);
    dev.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', { CacheNodeType: 'cache.t4g.micro', NumCacheClusters: 1 });
    expect(SIZING.dev.redisNodeType).not.toBe(SIZING.prod.redisNodeType);
    expect(scalableTargets(dev).find((t) => t.service.includes('Api'))).toMatchObject({ min: 1, max: 2 });
    dev.hasResourceProperties('AWS::ECS::TaskDefinition', { Cpu: '256', Memory: '512' });
    prod.hasResourceProperties('AWS::ECS::TaskDefinition', { Cpu: '1024', Memory: '2048' });
    // Still three AZs in dev.
    expect(new Set(Object.values(dev.findResources('AWS::EC2::Subnet')).map((s) => s.Properties.AvailabilityZone)).size).toBe(3);
  });
});

describe('context', () => {
  const build = (context: Record<string, string>) => () =>
    buildCell(new cdk.App({ context: { ...FLAGS, imageTag: 'v1', mailDomain: 'example.com', ...context } }));

  test('an unknown product or environment names the valid ones', () => {
    expect(build({ productName: 'nope', environment: 'prod' })).toThrow(/unknown product "nope": expected one of fullorbit, outreach, suite/);
    expect(build({ productName: 'suite', environment: 'qa' })).toThrow(/unknown environment "qa": expected one of dev, staging, prod/);
    expect(build({})).toThrow(/productName=<fullorbit\|outreach\|suite>/);
  });

  test('a cell that sends mail needs mailDomain', () => {
    expect(build({ productName: 'suite', environment: 'prod', mailDomain: '' })).toThrow(/mailDomain/);
  });

  test('startServices=false: no tasks and no autoscaling until the first migration', () => {
    const { cell } = synth({ productName: 'outreach', environment: 'staging', startServices: 'false' });
    for (const s of Object.values(cell.findResources('AWS::ECS::Service'))) expect(s.Properties.DesiredCount).toBe(0);
    cell.resourceCountIs('AWS::ApplicationAutoScaling::ScalableTarget', 0);
  });

  test('another region: the cell there, its web ACL in us-east-1, still three AZs', () => {
    const app = new cdk.App({ context: { ...FLAGS, imageTag: 'v1', mailDomain: 'example.com', productName: 'fullorbit', environment: 'prod', region: 'eu-west-1' } });
    const { cell, edge } = buildCell(app);
    expect(cell.region).toBe('eu-west-1');
    expect(edge.region).toBe('us-east-1');
    const t = Template.fromStack(cell);
    const azs = new Set(Object.values(t.findResources('AWS::EC2::Subnet')).map((s) => s.Properties.AvailabilityZone));
    expect([...azs].sort()).toEqual(['eu-west-1a', 'eu-west-1b', 'eu-west-1c']);
    Template.fromStack(edge).resourceCountIs('AWS::WAFv2::WebACL', 1);
  });
});
