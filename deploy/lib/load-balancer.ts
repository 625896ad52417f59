/** The public entrance: an internet-facing Application Load Balancer with an HTTPS listener
 * (port 80 redirecting to it) when a certificate is configured, else plain HTTP on port 80. */

import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { Duration } from 'aws-cdk-lib';
import { Construct } from 'constructs';

/** What the load balancer needs. */
export interface LoadBalancerProps {
  readonly vpc: ec2.IVpc;
  readonly certificateArn?: string;
}

/** The load balancer and the listener the API's target group joins. */
export class LoadBalancer extends Construct {
  readonly alb: elbv2.ApplicationLoadBalancer;
  readonly listener: elbv2.ApplicationListener;
  /** `https://<DNS name>` or `http://<DNS name>`. */
  readonly url: string;

  constructor(scope: Construct, id: string, props: LoadBalancerProps) {
    super(scope, id);
    this.alb = new elbv2.ApplicationLoadBalancer(this, 'Alb', {
      vpc: props.vpc,
      internetFacing: true,
      // Longer than the longest claim wait (30 s) of a worker's long-polling claim.
      idleTimeout: Duration.seconds(75),
      dropInvalidHeaderFields: true,
    });
    if (props.certificateArn === undefined) {
      this.listener = this.alb.addListener('Http', { port: 80, open: true });
      this.url = `http://${this.alb.loadBalancerDnsName}`;
      return;
    }
    this.listener = this.alb.addListener('Https', {
      port: 443,
      open: true,
      certificates: [elbv2.ListenerCertificate.fromArn(props.certificateArn)],
      sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
    });
    this.alb.addRedirect({ sourcePort: 80, targetPort: 443 });
    this.url = `https://${this.alb.loadBalancerDnsName}`;
  }
}
