/**
 * The server task role's rights beyond the results prefix (see `storage.ts`), each as narrow as
 * the calls the server makes (`crates/adapters-aws/src/ecs.rs`, `crates/adapters-airflow`):
 *
 * - the capacity manager: `ecs:RunTask` of the worker task definitions only, in the cluster;
 *   `ecs:DescribeTasks` of tasks in the cluster; `iam:PassRole` of the worker task definitions'
 *   roles, to ECS tasks only;
 * - the admin routes: `ecs:DescribeServices` and `ecs:UpdateService` of the worker service only;
 * - workflows on MWAA: `airflow:InvokeRestApi` as one Airflow role of the one environment.
 */

import { Stack } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { MwaaConfig } from './config';
import type { Workers } from './workers';

/** Lets `role` start, watch and scale the workers of `cluster`. */
export function grantCapacityManager(role: iam.IRole, cluster: ecs.ICluster, workers: Workers): void {
  const inCluster = { ArnEquals: { 'ecs:cluster': cluster.clusterArn } };
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'RunWorkerTasks',
      actions: ['ecs:RunTask'],
      resources: Object.values(workers.taskDefinitions).map((d) => d.taskDefinitionArn),
      conditions: inCluster,
    }),
  );
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'DescribeWorkerTasks',
      actions: ['ecs:DescribeTasks'],
      resources: [Stack.of(cluster).formatArn({ service: 'ecs', resource: 'task', resourceName: `${cluster.clusterName}/*` })],
      conditions: inCluster,
    }),
  );
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'ManageWorkerService',
      actions: ['ecs:DescribeServices', 'ecs:UpdateService'],
      resources: [workers.service.serviceArn],
    }),
  );
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'PassWorkerRoles',
      actions: ['iam:PassRole'],
      resources: workers.passedRoles().map((r) => r.roleArn),
      conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
    }),
  );
}

/** Lets `role` call the Airflow REST API of the MWAA environment as its configured Airflow role. */
export function grantMwaa(role: iam.IRole, mwaa: MwaaConfig): void {
  const stack = Stack.of(role);
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'InvokeAirflow',
      actions: ['airflow:InvokeRestApi'],
      resources: [
        stack.formatArn({
          service: 'airflow',
          region: mwaa.region ?? stack.region,
          resource: 'role',
          resourceName: `${mwaa.environmentName}/${mwaa.airflowRole}`,
        }),
      ],
    }),
  );
}
