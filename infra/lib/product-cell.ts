// One product cell on AWS: its network, database, cache, bucket and mail identity, the api and
// worker services and the one-off migration task (all from one image), the CDN in front, and
// the alarms and dashboard. What is built depends on the modules of products/<name>.toml.
import * as cdk from 'aws-cdk-lib';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elasticache from 'aws-cdk-lib/aws-elasticache';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as ses from 'aws-cdk-lib/aws-ses';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { adotConfig, QUEUE_GAUGES } from './adot';
import { EnvironmentName, moduleSecretEnv, Product, Sizing } from './product';

export const APP_ROLE = 'cell_app';
export const OWNER_USER = 'cell_owner';
const PORT = 8080;
const ORIGIN_HEADER = 'X-Cell-Origin-Verify';
export const ADOT_IMAGE = 'public.ecr.aws/aws-observability/aws-otel-collector:v0.43.0';

export interface ProductCellProps extends cdk.StackProps {
  product: Product;
  environment: EnvironmentName;
  sizing: Sizing;
  /** Exactly three AZ names of the stack's region (see the README: why they are fixed). */
  availabilityZones: string[];
  /** ECR repository (in this account and region) holding the cell's image. */
  imageRepository: string;
  imageTag: string;
  /** The image tag the migration task runs (a release migrates before the services roll). */
  migrateImageTag: string;
  /** false: api and worker at 0 tasks (the first deploy, before the first `migrate up`). */
  startServices: boolean;
  /** Required when the cell sends mail: the SES domain identity, sender no-reply@<mailDomain>. */
  mailDomain?: string;
  /** CloudFront alias and its us-east-1 ACM certificate. */
  domainName?: string;
  certificateArn?: string;
  /** HTTPS from CloudFront to the ALB: a DNS name pointing at the ALB and its regional certificate. */
  originDomainName?: string;
  originCertificateArn?: string;
  /** The WAF web ACL (scope CLOUDFRONT) of the edge stack. */
  webAclArn: string;
  alarmEmail?: string;
  /** Origins allowed to PUT and GET the presigned URLs of the bucket (default: the public URL). */
  corsOrigins?: string[];
}

export class ProductCell extends cdk.Stack {
  private readonly azs: string[];

  constructor(scope: Construct, id: string, props: ProductCellProps) {
    super(scope, id, props);
    this.azs = props.availabilityZones;
    cdk.Validations.of(this).acknowledge({
      id: 'CloudFormation-Validate::W3010',
      reason: 'the three AZs are named on purpose: synth makes no account lookup (README, "Three AZs offline")',
    });
    const { product, sizing: size } = props;
    const prod = props.environment === 'prod';
    const name = `${product.name}-${props.environment}`;

    // ---- Network: public subnets (ALB, NAT), private (tasks), isolated (database, Redis).
    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 3,
      natGateways: size.natGateways,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 20 },
        { name: 'data', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
      ],
    });
    const privateSubnets = { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };
    const dataSubnets = { subnetType: ec2.SubnetType.PRIVATE_ISOLATED };
    const servicesSg = new ec2.SecurityGroup(this, 'ServicesSg', { vpc, description: `${name} api and worker tasks` });
    const migrateSg = new ec2.SecurityGroup(this, 'MigrateSg', { vpc, description: `${name} migrate up task` });

    // ---- Secrets: generated here (the template holds only their generation rules).
    const generated = (id: string, what: string, length = 48) =>
      new secretsmanager.Secret(this, id, {
        description: `${name}: ${what}`,
        generateSecretString: { passwordLength: length, excludePunctuation: true },
      });
    const secretKey = generated('SecretKey', 'CELL__CELL__SECRET_KEY (signing and encryption)', 64);
    const adminToken = generated('AdminToken', 'CELL__CELL__ADMIN_TOKEN (/admin/*)');
    const metricsToken = generated('MetricsToken', 'CELL__TELEMETRY__METRICS_TOKEN (/metrics)');
    const originVerify = generated('OriginVerify', `the ${ORIGIN_HEADER} header CloudFront sends the ALB`, 32);
    const appDbSecret = new secretsmanager.Secret(this, 'AppDbSecret', {
      description: `${name}: password of the ${APP_ROLE} login role (migrate up creates it)`,
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ username: APP_ROLE }),
        generateStringKey: 'password',
        passwordLength: 40,
        excludePunctuation: true,
      },
    });
    // Module secrets the operator fills (`aws secretsmanager put-secret-value`) before the
    // services start; until then they hold a random placeholder.
    const moduleSecrets = product.moduleSecrets.map((s) => {
      const env = moduleSecretEnv(s);
      const secret = generated(`Module-${s.module}-${s.key}`, `${env}: ${s.why} (operator-filled)`, 32);
      new cdk.CfnOutput(this, `SecretArn${s.module}${s.key.replace(/_/g, '')}`, {
        description: `Put ${env} here: ${s.why}`,
        value: secret.secretArn,
      });
      return { env, secret };
    });

    // ---- Aurora PostgreSQL Serverless v2: a writer and one reader.
    const dbSg = new ec2.SecurityGroup(this, 'DatabaseSg', { vpc, description: `${name} Aurora`, allowAllOutbound: false });
    dbSg.addIngressRule(servicesSg, ec2.Port.tcp(5432), 'api and worker');
    dbSg.addIngressRule(migrateSg, ec2.Port.tcp(5432), 'migrate up');
    const dbName = product.name.replace(/-/g, '_');
    const db = new rds.DatabaseCluster(this, 'Database', {
      engine: rds.DatabaseClusterEngine.auroraPostgres({ version: rds.AuroraPostgresEngineVersion.VER_16_8 }),
      credentials: rds.Credentials.fromGeneratedSecret(OWNER_USER),
      defaultDatabaseName: dbName,
      writer: rds.ClusterInstance.serverlessV2('writer'),
      // Scales with the writer, so a failover to it does not land on a smaller instance.
      readers: [rds.ClusterInstance.serverlessV2('reader', { scaleWithWriter: true })],
      serverlessV2MinCapacity: size.auroraMinAcu,
      serverlessV2MaxCapacity: size.auroraMaxAcu,
      vpc,
      vpcSubnets: dataSubnets,
      securityGroups: [dbSg],
      storageEncrypted: true,
      deletionProtection: size.deletionProtection,
      backup: { retention: cdk.Duration.days(size.backupRetentionDays) },
      cloudwatchLogsExports: ['postgresql'],
      cloudwatchLogsRetention: size.logRetentionDays as logs.RetentionDays,
      removalPolicy: cdk.RemovalPolicy.SNAPSHOT,
    });
    const ownerSecret = db.secret!;
    const dbUrl = (user: string, host: string) => `postgres://${user}@${host}:5432/${dbName}`;

    // ---- ElastiCache Redis: TLS in transit, encrypted at rest, reachable from the services only.
    const redisSg = new ec2.SecurityGroup(this, 'RedisSg', { vpc, description: `${name} Redis`, allowAllOutbound: false });
    redisSg.addIngressRule(servicesSg, ec2.Port.tcp(6379), 'api and worker');
    const redisSubnets = new elasticache.CfnSubnetGroup(this, 'RedisSubnets', {
      description: `${name} Redis`,
      subnetIds: vpc.selectSubnets(dataSubnets).subnetIds,
    });
    const failover = size.redisNodes > 1;
    const redis = new elasticache.CfnReplicationGroup(this, 'Redis', {
      replicationGroupDescription: `${name} cache, rate limits and sign-in lockouts`,
      engine: 'redis',
      engineVersion: '7.1',
      cacheNodeType: size.redisNodeType,
      numCacheClusters: size.redisNodes,
      automaticFailoverEnabled: failover,
      multiAzEnabled: failover,
      transitEncryptionEnabled: true,
      atRestEncryptionEnabled: true,
      port: 6379,
      cacheSubnetGroupName: redisSubnets.ref,
      securityGroupIds: [redisSg.securityGroupId],
    });

    // ---- The load balancer (reached through CloudFront only) and the CDN.
    const alb = new elbv2.ApplicationLoadBalancer(this, 'Alb', {
      vpc,
      internetFacing: true,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      dropInvalidHeaderFields: true,
      // CloudFront appends the viewer's address to X-Forwarded-For; the ALB keeps the header as
      // it came, so its last entry (what the cell reads with behind_proxy) is the client.
      xffHeaderProcessingMode: elbv2.XffHeaderProcessingMode.PRESERVE,
    });
    const https = props.originDomainName !== undefined;
    const listener = https
      ? alb.addListener('Https', {
          port: 443,
          certificates: [elbv2.ListenerCertificate.fromArn(props.originCertificateArn!)],
          sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
          defaultAction: elbv2.ListenerAction.fixedResponse(403, { contentType: 'text/plain', messageBody: 'forbidden' }),
        })
      : alb.addListener('Http', {
          port: 80,
          defaultAction: elbv2.ListenerAction.fixedResponse(403, { contentType: 'text/plain', messageBody: 'forbidden' }),
        });
    new elbv2.ApplicationListenerRule(this, 'NoPublicMetrics', {
      listener,
      priority: 1,
      conditions: [elbv2.ListenerCondition.pathPatterns(['/metrics', '/metrics/*'])],
      action: elbv2.ListenerAction.fixedResponse(404, { contentType: 'text/plain', messageBody: 'not found' }),
    });
    // A dynamic reference: CloudFormation resolves it at deploy time, the template never holds it.
    const originToken = originVerify.secretValue.unsafeUnwrap();
    const originProps = { customHeaders: { [ORIGIN_HEADER]: originToken }, readTimeout: cdk.Duration.seconds(60) };
    const origin = https
      ? new origins.HttpOrigin(props.originDomainName!, { ...originProps, protocolPolicy: cloudfront.OriginProtocolPolicy.HTTPS_ONLY })
      : new origins.LoadBalancerV2Origin(alb, { ...originProps, protocolPolicy: cloudfront.OriginProtocolPolicy.HTTP_ONLY });
    const cdn = new cloudfront.Distribution(this, 'Cdn', {
      comment: `${name} API`,
      defaultBehavior: {
        origin,
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        allowedMethods: cloudfront.AllowedMethods.ALLOW_ALL,
        cachePolicy: cloudfront.CachePolicy.CACHING_DISABLED,
        originRequestPolicy: cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
      },
      webAclId: props.webAclArn,
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      priceClass: prod ? cloudfront.PriceClass.PRICE_CLASS_ALL : cloudfront.PriceClass.PRICE_CLASS_100,
      ...(props.domainName
        ? {
            domainNames: [props.domainName],
            certificate: cdk.aws_certificatemanager.Certificate.fromCertificateArn(this, 'CdnCertificate', props.certificateArn!),
            minimumProtocolVersion: cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
          }
        : {}),
    });
    const publicUrl = `https://${props.domainName ?? cdn.distributionDomainName}`;

    // ---- Files and mail, when the cell's modules use them.
    const bucket = product.storesFiles
      ? new s3.Bucket(this, 'Files', {
          encryption: s3.BucketEncryption.S3_MANAGED,
          versioned: true,
          blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
          enforceSSL: true,
          removalPolicy: cdk.RemovalPolicy.RETAIN,
          lifecycleRules: [
            { noncurrentVersionExpiration: cdk.Duration.days(90) },
            { abortIncompleteMultipartUploadAfter: cdk.Duration.days(7) },
          ],
          // Browsers upload and download with presigned URLs.
          cors: [
            {
              allowedMethods: [s3.HttpMethods.GET, s3.HttpMethods.PUT, s3.HttpMethods.HEAD],
              allowedOrigins: props.corsOrigins ?? [publicUrl],
              allowedHeaders: ['*'],
              exposedHeaders: ['ETag'],
              maxAge: 3600,
            },
          ],
        })
      : undefined;
    if (bucket) {
      vpc.addGatewayEndpoint('S3', { service: ec2.GatewayVpcEndpointAwsService.S3, subnets: [privateSubnets] });
    }
    let mail: { identity: ses.EmailIdentity; from: string } | undefined;
    if (product.sendsMail) {
      if (!props.mailDomain) {
        throw new Error(
          `product "${product.name}" sends mail (modules ${product.modules.join(', ')}): pass --context mailDomain=<domain> (its SES identity; the sender is no-reply@<domain>)`,
        );
      }
      const identity = new ses.EmailIdentity(this, 'MailIdentity', { identity: ses.Identity.domain(props.mailDomain) });
      mail = { identity, from: `no-reply@${props.mailDomain}` };
      identity.dkimRecords.forEach((r, i) => {
        new cdk.CfnOutput(this, `DkimRecord${i + 1}`, { description: 'DNS CNAME for SES DKIM', value: `${r.name} CNAME ${r.value}` });
      });
    }

    // ---- Task roles: the cell's own rights, nothing else.
    const grantCell = (role: iam.IRole) => {
      bucket?.grantReadWrite(role);
      if (mail) {
        const ident = mail.identity.emailIdentityArn;
        role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['ses:SendEmail'], resources: [ident] }));
        // /health/ready checks that the sender (or its domain) is an SES identity.
        role.addToPrincipalPolicy(
          new iam.PolicyStatement({
            actions: ['ses:GetEmailIdentity'],
            resources: [ident, this.formatArn({ service: 'ses', resource: 'identity', resourceName: mail.from })],
          }),
        );
      }
    };
    const taskRole = (id: string, what: string) =>
      new iam.Role(this, id, { assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'), description: `${name} ${what}` });
    const apiRole = taskRole('ApiTaskRole', 'api tasks');
    const workerRole = taskRole('WorkerTaskRole', 'worker tasks');
    grantCell(apiRole);
    grantCell(workerRole);

    // ---- The containers' settings (see docs/deployment.md). Secrets only through `secrets`.
    const fromSecret = (s: secretsmanager.ISecret, field?: string) => ecs.Secret.fromSecretsManager(s, field);
    const serviceEnv: Record<string, string> = {
      CELL__CELL__MODE: 'production',
      CELL__DATABASE__URL: dbUrl(APP_ROLE, db.clusterEndpoint.hostname),
      CELL__DATABASE__READ_URL: dbUrl(APP_ROLE, db.clusterReadEndpoint.hostname),
      CELL__DATABASE__APP_ROLE: APP_ROLE,
      CELL__HTTP__BIND: '0.0.0.0',
      CELL__HTTP__PORT: String(PORT),
      CELL__HTTP__PUBLIC_URL: publicUrl,
      CELL__HTTP__BEHIND_PROXY: 'true',
      CELL__REDIS__URL: `rediss://${redis.attrPrimaryEndPointAddress}:6379`,
      CELL__CACHE__BACKEND: 'redis',
      CELL__RATE_LIMIT__BACKEND: 'redis',
      ...(bucket
        ? { CELL__STORAGE__BACKEND: 's3', CELL__STORAGE__BUCKET: bucket.bucketName, CELL__STORAGE__REGION: this.region }
        : {}),
      ...(mail ? { CELL__MAIL__BACKEND: 'ses', CELL__MAIL__FROM: mail.from, CELL__MAIL__REGION: this.region } : {}),
    };
    const serviceSecrets: Record<string, ecs.Secret> = {
      CELL__DATABASE__PASSWORD: fromSecret(appDbSecret, 'password'),
      CELL__CELL__SECRET_KEY: fromSecret(secretKey),
      CELL__CELL__ADMIN_TOKEN: fromSecret(adminToken),
      CELL__TELEMETRY__METRICS_TOKEN: fromSecret(metricsToken),
      ...Object.fromEntries(moduleSecrets.map((m) => [m.env, fromSecret(m.secret)])),
    };
    // `migrate up` reads the services' configuration (production checks all of it before any
    // command runs), as the owner, on the writer, and gives the app role its password.
    const migrateEnv: Record<string, string> = {
      ...Object.fromEntries(Object.entries(serviceEnv).filter(([k]) => k !== 'CELL__DATABASE__READ_URL')),
      CELL__DATABASE__URL: dbUrl(OWNER_USER, db.clusterEndpoint.hostname),
    };
    const migrateSecrets: Record<string, ecs.Secret> = {
      ...serviceSecrets,
      CELL__DATABASE__PASSWORD: fromSecret(ownerSecret, 'password'),
      CELL__DATABASE__APP_PASSWORD: fromSecret(appDbSecret, 'password'),
    };

    // ---- One image, three task definitions.
    const logGroup = new logs.LogGroup(this, 'Logs', {
      retention: size.logRetentionDays as logs.RetentionDays,
      removalPolicy: prod ? cdk.RemovalPolicy.RETAIN : cdk.RemovalPolicy.DESTROY,
    });
    const repository = ecr.Repository.fromRepositoryName(this, 'Repository', props.imageRepository);
    const cellContainer = (
      task: ecs.FargateTaskDefinition,
      role: string,
      tag: string,
      command: string[],
      environment: Record<string, string>,
      secrets: Record<string, ecs.Secret>,
      serves: boolean,
    ) => {
      task.addVolume({ name: 'data' });
      const container = task.addContainer('cell', {
        image: ecs.ContainerImage.fromEcrRepository(repository, tag),
        command,
        environment,
        secrets,
        user: '65532:65532',
        readonlyRootFilesystem: true,
        logging: ecs.LogDrivers.awsLogs({ logGroup, streamPrefix: role }),
        // SIGTERM, then http.shutdown_timeout (30 s) for requests in flight.
        stopTimeout: cdk.Duration.seconds(45),
        ...(serves
          ? {
              portMappings: [{ containerPort: PORT, name: 'http' }],
              healthCheck: {
                command: ['CMD', '/cell', 'health'],
                interval: cdk.Duration.seconds(10),
                timeout: cdk.Duration.seconds(5),
                startPeriod: cdk.Duration.seconds(30),
                retries: 3,
              },
            }
          : {}),
      });
      container.addMountPoints({ containerPath: '/data', sourceVolume: 'data', readOnly: false });
      return container;
    };
    const taskSize = { cpu: size.taskCpu, memoryLimitMiB: size.taskMemoryMiB };
    const apiTask = new ecs.FargateTaskDefinition(this, 'ApiTask', { ...taskSize, taskRole: apiRole });
    cellContainer(apiTask, 'api', props.imageTag, ['serve', '--role', 'api', '--no-migrate'], serviceEnv, serviceSecrets, true);
    const workerTask = new ecs.FargateTaskDefinition(this, 'WorkerTask', {
      cpu: size.taskCpu,
      memoryLimitMiB: size.workerMemoryMiB,
      taskRole: workerRole,
    });
    cellContainer(workerTask, 'worker', props.imageTag, ['serve', '--role', 'worker', '--no-migrate'], serviceEnv, serviceSecrets, true);
    const migrateTask = new ecs.FargateTaskDefinition(this, 'MigrateTask', { cpu: 256, memoryLimitMiB: 512 });
    cellContainer(migrateTask, 'migrate', props.migrateImageTag, ['migrate', 'up'], migrateEnv, migrateSecrets, false);

    // The worker's queue gauges, scraped from its /metrics into CloudWatch by an ADOT collector.
    const metricsLogGroup = new logs.LogGroup(this, 'MetricsLogs', {
      retention: logs.RetentionDays.ONE_WEEK,
      removalPolicy: cdk.RemovalPolicy.DESTROY,
    });
    metricsLogGroup.grantWrite(workerRole);
    const namespace = `Cell/${product.name}`;
    workerTask.addContainer('adot', {
      image: ecs.ContainerImage.fromRegistry(ADOT_IMAGE),
      essential: false,
      memoryReservationMiB: 256,
      readonlyRootFilesystem: true,
      environment: {
        AOT_CONFIG_CONTENT: adotConfig({
          port: PORT,
          namespace,
          environment: props.environment,
          logGroupName: metricsLogGroup.logGroupName,
          region: this.region,
        }),
      },
      secrets: { METRICS_TOKEN: fromSecret(metricsToken) },
      logging: ecs.LogDrivers.awsLogs({ logGroup, streamPrefix: 'adot' }),
    });
    cdk.Validations.of(workerTask).acknowledge({
      id: 'CloudFormation-Validate::E1029',
      reason: "${env:METRICS_TOKEN} is the collector's own expansion of its environment, not CloudFormation's",
    });

    // ---- The services.
    const cluster = new ecs.Cluster(this, 'Cluster', { vpc, containerInsightsV2: ecs.ContainerInsights.ENABLED });
    const serviceProps = {
      cluster,
      securityGroups: [servicesSg],
      vpcSubnets: privateSubnets,
      circuitBreaker: { rollback: true },
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
    };
    const api = new ecs.FargateService(this, 'Api', {
      ...serviceProps,
      taskDefinition: apiTask,
      desiredCount: props.startServices ? size.apiMin : 0,
      healthCheckGracePeriod: cdk.Duration.seconds(60),
    });
    const worker = new ecs.FargateService(this, 'Worker', {
      ...serviceProps,
      taskDefinition: workerTask,
      desiredCount: props.startServices ? size.workerMin : 0,
    });
    const targetGroup = listener.addTargets('Api', {
      priority: 10,
      conditions: [elbv2.ListenerCondition.httpHeader(ORIGIN_HEADER, [originToken])],
      port: PORT,
      protocol: elbv2.ApplicationProtocol.HTTP,
      targets: [api.loadBalancerTarget({ containerName: 'cell', containerPort: PORT })],
      deregistrationDelay: cdk.Duration.seconds(30),
      healthCheck: {
        path: '/health/ready',
        healthyHttpCodes: '200',
        interval: cdk.Duration.seconds(15),
        healthyThresholdCount: 2,
        unhealthyThresholdCount: 3,
      },
    });
    if (props.startServices) {
      const apiScaling = api.autoScaleTaskCount({ minCapacity: size.apiMin, maxCapacity: size.apiMax });
      apiScaling.scaleOnCpuUtilization('Cpu', { targetUtilizationPercent: 60 });
      apiScaling.scaleOnRequestCount('Requests', { requestsPerTarget: 1000, targetGroup });
      const workerScaling = worker.autoScaleTaskCount({ minCapacity: size.workerMin, maxCapacity: size.workerMax });
      workerScaling.scaleOnCpuUtilization('Cpu', { targetUtilizationPercent: 60 });
    }

    // ---- Alarms (to an SNS topic) and the dashboard.
    const topic = new sns.Topic(this, 'Alarms', { displayName: `${name} alarms` });
    if (props.alarmEmail) topic.addSubscription(new subs.EmailSubscription(props.alarmEmail));
    const minute = cdk.Duration.minutes(1);
    const fiveMinutes = cdk.Duration.minutes(5);
    const requests = targetGroup.metrics.requestCount({ period: minute, statistic: 'Sum' });
    const errors5xx = targetGroup.metrics.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, { period: minute, statistic: 'Sum' });
    const errorRate = new cloudwatch.MathExpression({
      expression: 'IF(requests > 0, 100 * FILL(errors, 0) / requests, 0)',
      usingMetrics: { requests, errors: errors5xx },
      label: '5xx rate (%)',
      period: minute,
    });
    const latency = (stat: string) =>
      targetGroup.metrics.targetResponseTime({ period: fiveMinutes, statistic: stat, label: `${stat} response time (s)` });
    const queueGauge = (metricName: string) =>
      new cloudwatch.Metric({ namespace, metricName, dimensionsMap: { environment: props.environment }, statistic: 'Maximum', period: fiveMinutes });
    const alarms = [
      errorRate.createAlarm(this, 'Api5xxRate', {
        alarmDescription: `${name}: more than 1% of API requests answered 5xx (SLO: 99.9% available)`,
        threshold: 1,
        evaluationPeriods: 5,
        datapointsToAlarm: 3,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      // The SLO: p99 < 500 ms, p50 < 100 ms.
      ...([['p99', 0.5], ['p50', 0.1]] as const).map(([stat, seconds]) =>
        latency(stat).createAlarm(this, `ApiLatency${stat.toUpperCase()}`, {
          alarmDescription: `${name}: ${stat} response time above ${seconds * 1000} ms (SLO)`,
          threshold: seconds,
          evaluationPeriods: 3,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      ),
      ...QUEUE_GAUGES.map((g) =>
        queueGauge(g.metric).createAlarm(this, `Queue-${g.metric}`, {
          alarmDescription: `${name}: ${g.what} above ${g.threshold} for 15 minutes (are the workers running and keeping up?)`,
          threshold: g.threshold,
          evaluationPeriods: 3,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.MISSING,
        }),
      ),
    ];
    for (const alarm of alarms) alarm.addAlarmAction(new cwActions.SnsAction(topic));

    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', { dashboardName: `cell-${name}` });
    const graph = (title: string, left: cloudwatch.IMetric[], width = 8) =>
      new cloudwatch.GraphWidget({ title, left, width, height: 6 });
    dashboard.addWidgets(
      graph('API requests', [requests]),
      graph('API 5xx rate (%)', [errorRate]),
      graph('API response time (s)', [latency('p50'), latency('p99')]),
    );
    dashboard.addWidgets(
      graph('CPU (%)', [api.metricCpuUtilization({ label: 'api' }), worker.metricCpuUtilization({ label: 'worker' })]),
      graph('Memory (%)', [api.metricMemoryUtilization({ label: 'api' }), worker.metricMemoryUtilization({ label: 'worker' })]),
      graph('Queues (jobs due, events undelivered)', QUEUE_GAUGES.map((g) => queueGauge(g.metric))),
    );
    const redisNode = { CacheClusterId: `${redis.ref}-001` };
    dashboard.addWidgets(
      graph('Aurora capacity (ACU) and connections', [
        db.metricServerlessDatabaseCapacity({ period: fiveMinutes }),
        db.metricDatabaseConnections({ period: fiveMinutes }),
      ], 12),
      graph('Redis primary: CPU and memory (%)', [
        new cloudwatch.Metric({ namespace: 'AWS/ElastiCache', metricName: 'EngineCPUUtilization', dimensionsMap: redisNode }),
        new cloudwatch.Metric({ namespace: 'AWS/ElastiCache', metricName: 'DatabaseMemoryUsagePercentage', dimensionsMap: redisNode }),
      ], 12),
    );

    // ---- What the operator needs.
    const out = (id: string, value: string, description: string) => new cdk.CfnOutput(this, id, { value, description });
    out('PublicUrl', publicUrl, 'CELL__HTTP__PUBLIC_URL: where clients reach the cell');
    out('LoadBalancerDns', alb.loadBalancerDnsName, 'the ALB (answers only CloudFront); point originDomainName here for HTTPS');
    out('ImageRepository', repository.repositoryUri, 'push the cell image here');
    out('MigrateCommand',
      `aws ecs run-task --region ${this.region} --cluster ${cluster.clusterName} --task-definition ${migrateTask.family}` +
        ` --launch-type FARGATE --network-configuration "awsvpcConfiguration={subnets=[${vpc.selectSubnets(privateSubnets).subnetIds.join(',')}],` +
        `securityGroups=[${migrateSg.securityGroupId}],assignPublicIp=DISABLED}"`,
      'runs `migrate up` once (before the services start or roll)');
    out('AlarmTopicArn', topic.topicArn, 'subscribe on-call here');
    out('AdminTokenSecretArn', adminToken.secretArn, 'CELL__CELL__ADMIN_TOKEN (for /admin/*)');
    if (bucket) out('FilesBucket', bucket.bucketName, 'CELL__STORAGE__BUCKET');
  }

  /** Three fixed AZs, so the VPC spans three without an account lookup (see the README). */
  get availabilityZones(): string[] {
    return this.azs;
  }
}
