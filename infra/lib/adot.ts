// The configuration of the ADOT collector beside each worker: it scrapes the worker's /metrics
// (bearer token from the METRICS_TOKEN secret) and sends the queue gauges to CloudWatch as EMF.

/** The worker's gauges alarmed on, with the alarm threshold. */
export const QUEUE_GAUGES = [
  { metric: 'jobs_ready', what: 'jobs due and not yet running', threshold: 1000 },
  { metric: 'events_pending', what: 'event deliveries due and not yet delivered', threshold: 1000 },
];

export interface AdotOptions {
  port: number;
  /** CloudWatch namespace, `Cell/<product>`. */
  namespace: string;
  /** Added to every gauge as the `environment` dimension. */
  environment: string;
  logGroupName: string;
  region: string;
}

/** The collector's YAML (JSON is YAML), given to the ADOT image as AOT_CONFIG_CONTENT. */
export function adotConfig(o: AdotOptions): string {
  const names = QUEUE_GAUGES.map((g) => g.metric);
  const config = {
    receivers: {
      prometheus: {
        config: {
          scrape_configs: [
            {
              job_name: 'cell-worker',
              scrape_interval: '60s',
              metrics_path: '/metrics',
              // Expanded by the collector from the container's environment (an ECS secret).
              authorization: { type: 'Bearer', credentials: '${env:METRICS_TOKEN}' },
              static_configs: [{ targets: [`127.0.0.1:${o.port}`], labels: { environment: o.environment } }],
            },
          ],
        },
      },
    },
    processors: {
      'filter/queues': { metrics: { include: { match_type: 'strict', metric_names: names } } },
      batch: { timeout: '60s' },
    },
    exporters: {
      awsemf: {
        namespace: o.namespace,
        log_group_name: o.logGroupName,
        log_stream_name: 'worker',
        region: o.region,
        dimension_rollup_option: 'NoDimensionRollup',
        metric_declarations: [{ dimensions: [['environment']], metric_name_selectors: names.map((n) => `^${n}$`) }],
      },
    },
    service: {
      pipelines: {
        metrics: { receivers: ['prometheus'], processors: ['filter/queues', 'batch'], exporters: ['awsemf'] },
      },
    },
  };
  return JSON.stringify(config);
}
