/**
 * The environment variables of the server and worker containers: which names the server reads
 * (`crates/http-actix/src/config.rs`) and how structured settings are written into one variable.
 *
 * The server reads every setting from `REEFGUIDE_<SETTING>`, and the settings ReefGuide R1 had
 * also from R1's own name (`DATABASE_URL`, `PORT`, …); both spellings of a setting are one
 * setting. This stack uses the R1 name when there is one and `REEFGUIDE_<SETTING>` otherwise.
 * Table settings (`ecs_targets`, `capacity_targets`, `airflow`) are written in figment's inline
 * syntax, `{"name"={key="value",list=["a","b"],flag=false,n=2}}`.
 */

/** The settings that ReefGuide R1 read under their own upper-cased name (`R1_ENV_NAMES`). */
const R1_SETTINGS: ReadonlySet<string> = new Set([
  'database_url',
  'port',
  'api_domain',
  'jwt_private_key',
  'jwt_public_key',
  'jwt_key_id',
  'admin_username',
  'admin_password',
  'worker_username',
  'worker_password',
  'manager_username',
  'manager_password',
]);

/** The environment variable this stack sets for the server setting `setting` (its flat name). */
export function envName(setting: string): string {
  const upper = setting.toUpperCase();
  return R1_SETTINGS.has(setting) ? upper : `REEFGUIDE_${upper}`;
}

/** Every spelling the server accepts for `setting`. */
function spellings(setting: string): string[] {
  const upper = setting.toUpperCase();
  return R1_SETTINGS.has(setting) ? [upper, `REEFGUIDE_${upper}`] : [`REEFGUIDE_${upper}`];
}

/** Server settings that come from Secrets Manager, never from plain environment. */
export const SECRET_SETTINGS = [
  'database_url',
  'jwt_private_key',
  'admin_password',
  'worker_password',
  'metrics_token',
] as const;
/** One of [`SECRET_SETTINGS`]. */
export type SecretSetting = (typeof SECRET_SETTINGS)[number];

/** Server settings given as plain environment by this stack. */
const PLAIN_SETTINGS = [
  'host',
  'port',
  'api_domain',
  'log_level',
  'log_format',
  'trust_forwarded_for',
  'cors_allowed_origins',
  'required_role',
  'storage',
  's3_bucket',
  's3_prefix',
  's3_region',
  'compute',
  'ecs_cluster',
  'ecs_service',
  'ecs_region',
  'ecs_targets',
  'capacity_manager',
  'capacity_interval_ms',
  'capacity_targets',
  'airflow',
  'admin_username',
  'worker_username',
] as const;

/** Every variable (both spellings) of a setting the stack manages; `extraEnvironment` may not set them. */
export const MANAGED_SERVER_NAMES: ReadonlySet<string> = new Set(
  [...PLAIN_SETTINGS, ...SECRET_SETTINGS].flatMap(spellings),
);

/** A value written in figment's inline syntax. */
export type Inline = string | number | boolean | readonly Inline[] | { readonly [key: string]: Inline };

/** `value` in figment's inline syntax; strings are always quoted (ARNs hold `:` and `/`). */
export function inline(value: Inline): string {
  if (typeof value === 'string') {
    return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) {
      throw new Error(`cannot write ${value} as a setting`);
    }
    return String(value);
  }
  if (typeof value === 'boolean') {
    return String(value);
  }
  if (Array.isArray(value)) {
    return `[${value.map(inline).join(',')}]`;
  }
  const entries = Object.entries(value as { readonly [key: string]: Inline });
  return `{${entries.map(([key, item]) => `${inline(key)}=${inline(item)}`).join(',')}}`;
}

/** How the capacity manager runs one compute target's tasks (`ecs_targets.<name>`). */
export interface EcsTargetSetting {
  readonly taskDefinitionArn: string;
  readonly subnetIds: readonly string[];
  readonly securityGroupIds: readonly string[];
}

/** One compute target's scaling policy (`capacity_targets.<name>`), in the server's units. */
export interface CapacitySetting {
  readonly sensitivity: number;
  readonly factor: number;
  readonly minWorkers: number;
  readonly maxWorkers: number;
  readonly cooldownSeconds: number;
  readonly maxLaunchPerCycle: number;
}

/** What the server's plain environment is made of. */
export interface ServerEnvironmentInput {
  readonly port: number;
  readonly apiDomain: string;
  readonly logLevel: string;
  readonly corsAllowedOrigins?: readonly string[];
  readonly requiredRole?: string;
  readonly adminUsername?: string;
  readonly workerUsername: string;
  readonly region: string;
  readonly bucketName: string;
  readonly resultsPrefix: string;
  readonly clusterName: string;
  readonly workerServiceName: string;
  readonly capacityIntervalMs: number;
  readonly ecsTargets: Readonly<Record<string, EcsTargetSetting>>;
  readonly capacityTargets: Readonly<Record<string, CapacitySetting>>;
  readonly mwaa?: { readonly environmentName: string; readonly region: string };
  readonly extra: Readonly<Record<string, string>>;
}

/** The server container's plain environment: listener, logs, S3 results, ECS workers, MWAA. */
export function serverEnvironment(input: ServerEnvironmentInput): Record<string, string> {
  const settings: Record<string, string | undefined> = {
    // Every interface of the container: the load balancer reaches it on its own address.
    host: '0.0.0.0',
    port: String(input.port),
    api_domain: input.apiDomain,
    log_level: input.logLevel,
    log_format: 'json',
    // Behind the load balancer, the client is named by X-Forwarded-For.
    trust_forwarded_for: 'true',
    cors_allowed_origins: input.corsAllowedOrigins?.join(','),
    required_role: input.requiredRole,
    storage: 's3',
    s3_bucket: input.bucketName,
    s3_prefix: input.resultsPrefix,
    s3_region: input.region,
    compute: 'ecs',
    ecs_cluster: input.clusterName,
    ecs_service: input.workerServiceName,
    ecs_region: input.region,
    ecs_targets: inline(
      mapValues(input.ecsTargets, (t) => ({
        task_definition: t.taskDefinitionArn,
        subnets: t.subnetIds,
        security_groups: t.securityGroupIds,
        assign_public_ip: false,
      })),
    ),
    capacity_manager: 'true',
    capacity_interval_ms: String(input.capacityIntervalMs),
    capacity_targets: inline(
      mapValues(input.capacityTargets, (c) => ({
        sensitivity: c.sensitivity,
        factor: c.factor,
        min_workers: c.minWorkers,
        max_workers: c.maxWorkers,
        cooldown_seconds: c.cooldownSeconds,
        max_launch_per_cycle: c.maxLaunchPerCycle,
      })),
    ),
    airflow: input.mwaa && inline({ mwaa_environment: input.mwaa.environmentName, mwaa_region: input.mwaa.region }),
    admin_username: input.adminUsername,
    worker_username: input.workerUsername,
  };
  const environment: Record<string, string> = {};
  for (const [setting, value] of Object.entries(settings)) {
    if (value !== undefined) {
      environment[envName(setting)] = value;
    }
  }
  return { ...environment, ...input.extra };
}

/** The worker variables the stack sets (the `reefguide worker` command line's names). */
export const WORKER_ENV = {
  apiUrl: 'REEFGUIDE_API_URL',
  username: 'WORKER_USERNAME',
  password: 'WORKER_PASSWORD',
  idleTimeoutSeconds: 'WORKER_IDLE_TIMEOUT_SECONDS',
} as const;

/** A worker container's plain environment: where the API is, its account, its idle timeout. */
export function workerEnvironment(input: {
  readonly apiUrl: string;
  readonly username: string;
  readonly idleTimeoutSeconds?: number;
  readonly extra: Readonly<Record<string, string>>;
}): Record<string, string> {
  const environment: Record<string, string> = {
    [WORKER_ENV.apiUrl]: input.apiUrl,
    [WORKER_ENV.username]: input.username,
  };
  if (input.idleTimeoutSeconds !== undefined) {
    environment[WORKER_ENV.idleTimeoutSeconds] = String(input.idleTimeoutSeconds);
  }
  return { ...environment, ...input.extra };
}

/** `record` with `f` applied to each value. */
function mapValues<T, U>(record: Readonly<Record<string, T>>, f: (value: T) => U): Record<string, U> {
  return Object.fromEntries(Object.entries(record).map(([key, value]) => [key, f(value)]));
}
