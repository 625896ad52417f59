/** Log groups: every container logs to its own group, whose events are kept for the configured
 * number of days (the group itself outlives the stack, as CloudFormation's default). */

import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

/** A log group keeping its events `retentionDays` days (a CloudWatch retention value). */
export function retainedLogGroup(scope: Construct, id: string, retentionDays: number): logs.LogGroup {
  return new logs.LogGroup(scope, id, {
    retention: retentionDays as logs.RetentionDays,
  });
}
