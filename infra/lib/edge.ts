// The cell's WAF web ACL. A web ACL that CloudFront uses must be created in us-east-1, whatever
// the cell's region, so it lives in this small stack of its own, pinned to us-east-1; the cell's
// stack reads its ARN (a cross-region reference when the cell is elsewhere).
import * as cdk from 'aws-cdk-lib';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import { Product } from './product';

/** Requests one client IP may make in the window before WAF blocks it. */
export const RATE_LIMIT = 2000;
export const RATE_WINDOW_SECS = 300;

export interface CellEdgeProps extends cdk.StackProps {
  product: Product;
}

export class CellEdge extends cdk.Stack {
  readonly webAcl: wafv2.CfnWebACL;

  constructor(scope: Construct, id: string, props: CellEdgeProps) {
    super(scope, id, props);
    const visibility = (name: string) => ({
      cloudWatchMetricsEnabled: true,
      sampledRequestsEnabled: true,
      metricName: `${id}-${name}`,
    });

    // PostHog delivers hooks from a handful of addresses, far above any person's rate (the
    // cell's own `hooks` rate-limit group covers them), so the per-IP rule leaves them out.
    const hooksExempt = props.product.modules.includes('abm')
      ? {
          scopeDownStatement: {
            notStatement: {
              statement: {
                byteMatchStatement: {
                  fieldToMatch: { uriPath: {} },
                  positionalConstraint: 'ENDS_WITH',
                  searchString: '/hooks/posthog',
                  textTransformations: [{ priority: 0, type: 'LOWERCASE' }],
                },
              },
            },
          },
        }
      : {};

    this.webAcl = new wafv2.CfnWebACL(this, 'WebAcl', {
      scope: 'CLOUDFRONT',
      defaultAction: { allow: {} },
      visibilityConfig: visibility('acl'),
      rules: [
        {
          name: 'RatePerIp',
          priority: 0,
          action: { block: {} },
          statement: {
            rateBasedStatement: {
              limit: RATE_LIMIT,
              evaluationWindowSec: RATE_WINDOW_SECS,
              aggregateKeyType: 'IP',
              ...hooksExempt,
            },
          },
          visibilityConfig: visibility('rate-per-ip'),
        },
      ],
    });
  }
}
