/**
 * The deployment's configuration: a small JSON file (see `config.example.json`), read once and
 * checked before any construct exists. Every problem is reported with the path of the field
 * (`workers.targets.default.cpu: must be one of …`), and unknown fields are refused so that a
 * typo never silently falls back to a default.
 */

import { readFileSync } from 'node:fs';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { type CapacitySetting, MANAGED_SERVER_NAMES, WORKER_ENV } from './environment';

/** A configuration that cannot be deployed; the message starts with the field's path. */
export class ConfigError extends Error {
  constructor(
    /** The field, as a dotted path (`api.desiredCount`). */
    readonly field: string,
    /** Why the value is refused. */
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
    this.name = 'ConfigError';
  }
}

/** Where the stack goes; absent: an environment-agnostic stack (no lookups either way). */
export interface EnvConfig {
  readonly account: string;
  readonly region: string;
}

/** The VPC. */
export interface NetworkConfig {
  /** Availability zones used (2 or 3). */
  readonly maxAzs: number;
  /** NAT gateways for the private subnets' egress (1 is cheaper, one per AZ survives an AZ). */
  readonly natGateways: number;
}

/** The API service behind the load balancer. */
export interface ApiConfig {
  /** Public base URL (`api_domain`, the token issuer); default `http://<load balancer DNS>`. */
  readonly domain?: string;
  /** ACM certificate for an HTTPS listener (port 80 then redirects to it). */
  readonly certificateArn?: string;
  /** Tasks kept running (at least 2). */
  readonly desiredCount: number;
  /** Most tasks under CPU load (auto scaling); equal to `desiredCount`: no auto scaling. */
  readonly maxCount: number;
  /** Fargate CPU units of a task. */
  readonly cpu: number;
  /** Fargate memory of a task, MiB. */
  readonly memoryMiB: number;
  /** The port the server listens on in its container (`PORT`). */
  readonly port: number;
  /** The server's `log_level`. */
  readonly logLevel: string;
  /** Browser origins allowed by CORS (`cors_allowed_origins`); absent: `*`. */
  readonly corsAllowedOrigins?: readonly string[];
  /** Role needed for the user features (`required_role`). */
  readonly requiredRole?: string;
  /** The ADMIN service account's email (`ADMIN_USERNAME`); its password is generated. */
  readonly adminUsername?: string;
  /** The WORKER service account's email (`WORKER_USERNAME`), used by the workers. */
  readonly workerUsername: string;
  /** More server settings, by environment variable name (e.g. `REEFGUIDE_JOB_TYPES`). */
  readonly extraEnvironment: Readonly<Record<string, string>>;
}

/** The database: a new RDS Postgres instance, or an existing database's URL secret. */
export type DatabaseConfig =
  | {
      readonly kind: 'rds';
      /** EC2 instance type, e.g. `t4g.micro`. */
      readonly instanceType: string;
      /** Storage, GiB. */
      readonly allocatedStorageGiB: number;
      /** A standby in a second AZ. */
      readonly multiAz: boolean;
      /** Postgres major version. */
      readonly postgresVersion: PostgresMajor;
    }
  | {
      readonly kind: 'existing';
      /** Complete ARN of a secret holding the `postgres://` URL. */
      readonly urlSecretArn: string;
      /** The JSON field of that secret holding the URL; absent: the whole secret string. */
      readonly urlSecretField?: string;
    };

/** The Postgres major versions a new instance may run. */
export const POSTGRES_MAJORS = ['15', '16', '17'] as const;
/** One of [`POSTGRES_MAJORS`]. */
export type PostgresMajor = (typeof POSTGRES_MAJORS)[number];

/** The results bucket. */
export interface StorageConfig {
  /** Key prefix of result files (`s3_prefix`); the server's S3 rights stop at it. */
  readonly prefix: string;
  /** Origins allowed to fetch result files from browsers (bucket CORS, GET and HEAD only). */
  readonly corsAllowedOrigins: readonly string[];
}

/** Secrets the operator provides. */
export interface SecretsConfig {
  /** Complete ARN of the secret holding the RS256 private key (PEM). */
  readonly jwtPrivateKeySecretArn: string;
  /** Its JSON field holding the key; absent: the whole secret string is the PEM. */
  readonly jwtPrivateKeyField?: string;
}

/**
 * ReefGuide's scaling formula for one compute target (`capacity_targets.<name>`): the server's
 * setting, as the configuration file gives it.
 */
export type ScalingConfig = CapacitySetting;

/** One compute target: the task definition the capacity manager runs for its jobs. */
export interface WorkerTargetConfig {
  /** Image URI, or `build` for the image built from the repository's Dockerfile. */
  readonly image: string;
  /** Overrides the image's entry point. */
  readonly entryPoint?: readonly string[];
  /** Overrides the image's command. */
  readonly command?: readonly string[];
  /** Fargate CPU units. */
  readonly cpu: number;
  /** Fargate memory, MiB. */
  readonly memoryMiB: number;
  /** `WORKER_IDLE_TIMEOUT_SECONDS`: workers leave after this long without a job. */
  readonly idleTimeoutSeconds?: number;
  /** Read and write the results prefix directly (ReefGuide R1 workers upload to S3 themselves). */
  readonly directS3Access: boolean;
  /** More environment variables of the worker container. */
  readonly environment: Readonly<Record<string, string>>;
  /** The capacity manager's policy for this target. */
  readonly scaling: ScalingConfig;
}

/** The workers and the capacity manager. */
export interface WorkersConfig {
  /** How often the capacity manager looks at the queue (`capacity_interval_ms`). */
  readonly capacityIntervalMs: number;
  /** The target whose task definition the worker service (admin scale/redeploy) runs. */
  readonly serviceTarget: string;
  /** Compute targets by name; `default` is required (job types run there unless told). */
  readonly targets: Readonly<Record<string, WorkerTargetConfig>>;
}

/** An AWS MWAA environment running the Airflow workflow types. */
export interface MwaaConfig {
  /** The environment's name. */
  readonly environmentName: string;
  /** Its region; absent: the stack's. */
  readonly region?: string;
  /** The Airflow RBAC role the server acts as (InvokeRestApi is granted on it only). */
  readonly airflowRole: string;
}

/** The whole deployment. */
export interface DeployConfig {
  readonly stackName: string;
  readonly env?: EnvConfig;
  /** The server's image: a URI, or `build` (the repository's Dockerfile, built on deploy). */
  readonly image: string;
  readonly network: NetworkConfig;
  readonly api: ApiConfig;
  readonly database: DatabaseConfig;
  readonly storage: StorageConfig;
  readonly secrets: SecretsConfig;
  readonly workers: WorkersConfig;
  readonly mwaa?: MwaaConfig;
  /** Retention of every log group, days (one of CloudWatch's values). */
  readonly logRetentionDays: number;
}

/** The word that asks for the image built from the repository's Dockerfile. */
export const BUILD_IMAGE = 'build';

/** Fargate's memory choices (MiB) per CPU setting. */
const FARGATE_MEMORY: Readonly<Record<number, readonly [number, number, number]>> = {
  // cpu: [min, max, step]
  256: [512, 2048, 512],
  512: [1024, 4096, 1024],
  1024: [2048, 8192, 1024],
  2048: [4096, 16384, 1024],
  4096: [8192, 30720, 1024],
  8192: [16384, 61440, 4096],
  16384: [32768, 122880, 8192],
};

/** CloudWatch's retention choices, without "never expire". */
const RETENTION_DAYS = Object.values(RetentionDays).filter(
  (v): v is number => typeof v === 'number' && v !== RetentionDays.INFINITE,
);

/** Reads and checks the JSON file at `path`. */
export function loadConfig(path: string): DeployConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ConfigError('(file)', `cannot read ${path} as JSON: ${(error as Error).message}`);
  }
  return parseConfig(raw);
}

/** Checks a parsed configuration and fills in the defaults. */
export function parseConfig(raw: unknown): DeployConfig {
  const root = new Obj(raw, '');
  const config: DeployConfig = {
    stackName: root.str('stackName', { default: 'ReefGuide', pattern: /^[A-Za-z][A-Za-z0-9-]{0,127}$/ }),
    env: root.optionalObj('env', (env) => ({
      account: env.str('account', { pattern: /^\d{12}$/ }),
      region: env.str('region', { pattern: /^[a-z]{2}(-[a-z]+)+-\d$/ }),
    })),
    image: root.str('image'),
    network: root.obj('network', (n) => ({
      maxAzs: n.int('maxAzs', { default: 2, min: 2, max: 3 }),
      natGateways: n.int('natGateways', { default: 1, min: 1, max: 3 }),
    })),
    api: root.obj('api', parseApi),
    database: root.obj('database', parseDatabase),
    storage: root.obj('storage', (s) => ({
      prefix: s.str('prefix', { default: 'results', pattern: /^[A-Za-z0-9!_.*'()-]+(\/[A-Za-z0-9!_.*'()-]+)*$/ }),
      corsAllowedOrigins: s.strings('corsAllowedOrigins', [], { pattern: ORIGIN }),
    })),
    secrets: root.obj('secrets', (s) => ({
      jwtPrivateKeySecretArn: s.str('jwtPrivateKeySecretArn', { pattern: SECRET_ARN, hint: SECRET_ARN_HINT }),
      jwtPrivateKeyField: s.optionalStr('jwtPrivateKeyField'),
    })),
    workers: root.obj('workers', parseWorkers),
    mwaa: root.optionalObj('mwaa', (m) => ({
      environmentName: m.str('environmentName', { pattern: /^[a-zA-Z][0-9a-zA-Z_-]{0,79}$/ }),
      region: m.optionalStr('region', { pattern: /^[a-z]{2}(-[a-z]+)+-\d$/ }),
      airflowRole: m.str('airflowRole', { default: 'User', pattern: /^[A-Za-z][A-Za-z0-9_-]*$/ }),
    })),
    logRetentionDays: root.int('logRetentionDays', { default: 30, oneOf: RETENTION_DAYS }),
  };
  root.done();
  return config;
}

/** `https://host[:port]` or `http://…`, no path. */
const ORIGIN = /^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$/;
/** A complete Secrets Manager ARN (ending in the six random characters). */
const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+-[A-Za-z0-9]{6}$/;
const SECRET_ARN_HINT = 'must be a complete Secrets Manager ARN (…:secret:<name>-<6 characters>)';
/** An environment variable name. */
const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;

/** `api`. */
function parseApi(api: Obj): ApiConfig {
  const desiredCount = api.int('desiredCount', { default: 2, min: 2, max: 20 });
  const cpu = api.int('cpu', { default: 512, oneOf: Object.keys(FARGATE_MEMORY).map(Number) });
  const parsed: ApiConfig = {
    domain: api.optionalStr('domain', { pattern: /^https?:\/\/[^\s/]+(\/[^\s]*)?$/ }),
    certificateArn: api.optionalStr('certificateArn', { pattern: /^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/.+$/ }),
    desiredCount,
    maxCount: api.int('maxCount', { default: desiredCount, min: desiredCount, max: 50 }),
    cpu,
    memoryMiB: fargateMemory(api, cpu, 1024),
    port: api.int('port', { default: 5000, min: 1024, max: 65535 }),
    logLevel: api.str('logLevel', { default: 'info' }),
    corsAllowedOrigins: api.optionalStrings('corsAllowedOrigins', { pattern: ORIGIN }),
    requiredRole: api.optionalStr('requiredRole', { pattern: /^[A-Z_]+$/ }),
    adminUsername: api.optionalStr('adminUsername', { pattern: EMAIL }),
    workerUsername: api.str('workerUsername', { pattern: EMAIL }),
    extraEnvironment: api.stringMap('extraEnvironment', ENV_NAME),
  };
  for (const name of Object.keys(parsed.extraEnvironment)) {
    if (MANAGED_SERVER_NAMES.has(name)) {
      throw new ConfigError(`api.extraEnvironment.${name}`, 'is set by the stack itself; use the matching field');
    }
  }
  return parsed;
}

/** An email address, roughly (the server checks it properly). */
const EMAIL = /^[^\s@]+@[^\s@]+$/;

/** `database`: an existing database's secret when `existingUrlSecretArn` is set, else a new instance. */
function parseDatabase(db: Obj): DatabaseConfig {
  const urlSecretArn = db.optionalStr('existingUrlSecretArn', { pattern: SECRET_ARN, hint: SECRET_ARN_HINT });
  if (urlSecretArn !== undefined) {
    const parsed: DatabaseConfig = {
      kind: 'existing',
      urlSecretArn,
      urlSecretField: db.optionalStr('existingUrlSecretField'),
    };
    db.done('with existingUrlSecretArn only existingUrlSecretField may be set');
    return parsed;
  }
  if (db.optionalStr('existingUrlSecretField') !== undefined) {
    throw new ConfigError(`${db.path}existingUrlSecretField`, 'needs existingUrlSecretArn');
  }
  return {
    kind: 'rds',
    instanceType: db.str('instanceType', { default: 't4g.micro', pattern: /^[a-z][a-z0-9-]*\.[a-z0-9]+$/ }),
    allocatedStorageGiB: db.int('allocatedStorageGiB', { default: 20, min: 20, max: 65536 }),
    multiAz: db.bool('multiAz', false),
    postgresVersion: db.str('postgresVersion', { default: '16', oneOf: POSTGRES_MAJORS }) as PostgresMajor,
  };
}

/** `workers`. */
function parseWorkers(w: Obj): WorkersConfig {
  const targets = w.map('targets', /^[A-Za-z0-9_-]{1,32}$/, parseTarget);
  if (!('default' in targets)) {
    throw new ConfigError(`${w.path}targets`, 'must define the target "default" (job types run there unless told otherwise)');
  }
  const serviceTarget = w.str('serviceTarget', { default: 'default' });
  if (!(serviceTarget in targets)) {
    throw new ConfigError(`${w.path}serviceTarget`, `names no target (${Object.keys(targets).join(', ')})`);
  }
  return {
    capacityIntervalMs: w.int('capacityIntervalMs', { default: 10_000, min: 100, max: 3_600_000 }),
    serviceTarget,
    targets,
  };
}

/** One `workers.targets.<name>`. */
function parseTarget(t: Obj): WorkerTargetConfig {
  const cpu = t.int('cpu', { default: 1024, oneOf: Object.keys(FARGATE_MEMORY).map(Number) });
  const environment = t.stringMap('environment', ENV_NAME);
  if (WORKER_ENV.password in environment) {
    throw new ConfigError(`${t.path}environment.${WORKER_ENV.password}`, 'comes from Secrets Manager; it cannot be set');
  }
  return {
    image: t.str('image', { default: BUILD_IMAGE }),
    entryPoint: t.optionalStrings('entryPoint'),
    command: t.optionalStrings('command'),
    cpu,
    memoryMiB: fargateMemory(t, cpu, 2048),
    idleTimeoutSeconds: t.optionalInt('idleTimeoutSeconds', { min: 1, max: 86_400 }),
    directS3Access: t.bool('directS3Access', false),
    environment,
    scaling: t.obj('scaling', (s) => {
      const minWorkers = s.int('minWorkers', { default: 0, min: 0, max: 10 });
      return {
        sensitivity: s.num('sensitivity', { default: 1.5, min: 0.01, max: 100 }),
        factor: s.num('factor', { default: 2, min: 0.01, max: 10_000 }),
        minWorkers,
        maxWorkers: s.int('maxWorkers', { default: 10, min: Math.max(1, minWorkers), max: 10 }),
        cooldownSeconds: s.int('cooldownSeconds', { default: 60, min: 0, max: 86_400 }),
        maxLaunchPerCycle: s.int('maxLaunchPerCycle', { default: 5, min: 1, max: 100 }),
      };
    }),
  };
}

/** `memoryMiB` of `o`, checked against Fargate's choices for `cpu`. */
function fargateMemory(o: Obj, cpu: number, fallback: number): number {
  const [min, max, step] = FARGATE_MEMORY[cpu];
  const memory = o.int('memoryMiB', { default: Math.min(Math.max(fallback, min), max) });
  if (memory < min || memory > max || (memory - min) % step !== 0) {
    throw new ConfigError(
      `${o.path}memoryMiB`,
      `Fargate with cpu ${cpu} takes ${min} to ${max} MiB in steps of ${step}, not ${memory}`,
    );
  }
  return memory;
}

/** What a string must be. */
interface StrRule {
  readonly default?: string;
  readonly pattern?: RegExp;
  readonly oneOf?: readonly string[];
  readonly hint?: string;
}

/** What a number must be. */
interface NumRule {
  readonly default?: number;
  readonly min?: number;
  readonly max?: number;
  readonly oneOf?: readonly number[];
}

/** One JSON object being read; remembers which fields were read so that `done` refuses others. */
class Obj {
  private readonly value: Record<string, unknown>;
  private readonly read = new Set<string>();

  constructor(
    value: unknown,
    /** The path of this object, with a trailing dot (empty at the root). */
    readonly path: string,
  ) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new ConfigError(path.replace(/\.$/, '') || '(root)', 'must be an object');
    }
    this.value = value as Record<string, unknown>;
  }

  /** Refuses the fields nobody read. */
  done(why = 'unknown field'): void {
    for (const key of Object.keys(this.value)) {
      if (!this.read.has(key)) {
        throw new ConfigError(this.path + key, why);
      }
    }
  }

  /** The raw value at `key`, marked as read. */
  private get(key: string): unknown {
    this.read.add(key);
    return this.value[key];
  }

  /** A required string (or `rule.default`), checked against `rule`. */
  str(key: string, rule: StrRule = {}): string {
    const value = this.optionalStr(key, rule) ?? rule.default;
    if (value === undefined) {
      throw new ConfigError(this.path + key, 'is required');
    }
    return value;
  }

  /** A string checked against `rule`, or undefined when absent. */
  optionalStr(key: string, rule: StrRule = {}): string | undefined {
    const value = this.get(key);
    if (value === undefined) {
      return undefined;
    }
    return checkStr(this.path + key, value, rule);
  }

  /** A list of strings, possibly empty; `fallback` when absent. */
  strings(key: string, fallback: readonly string[], rule: StrRule = {}): readonly string[] {
    const value = this.get(key);
    if (Array.isArray(value) && value.length === 0) {
      return [];
    }
    return this.optionalStrings(key, rule) ?? fallback;
  }

  /** A non-empty list of strings each checked against `rule`, or undefined when absent. */
  optionalStrings(key: string, rule: StrRule = {}): readonly string[] | undefined {
    const value = this.get(key);
    if (value === undefined) {
      return undefined;
    }
    if (!Array.isArray(value) || value.length === 0) {
      throw new ConfigError(this.path + key, 'must be a non-empty array of strings');
    }
    return value.map((item, i) => checkStr(`${this.path}${key}[${i}]`, item, rule));
  }

  /** A whole number (or `rule.default`) within `rule`. */
  int(key: string, rule: NumRule = {}): number {
    const value = this.num(key, rule);
    if (!Number.isInteger(value)) {
      throw new ConfigError(this.path + key, 'must be a whole number');
    }
    return value;
  }

  /** A whole number within `rule`, or undefined when absent. */
  optionalInt(key: string, rule: NumRule = {}): number | undefined {
    return this.value[key] === undefined ? undefined : this.int(key, rule);
  }

  /** A finite number (or `rule.default`) within `rule`. */
  num(key: string, rule: NumRule = {}): number {
    const value = this.get(key) ?? rule.default;
    const field = this.path + key;
    if (value === undefined) {
      throw new ConfigError(field, 'is required');
    }
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new ConfigError(field, 'must be a number');
    }
    if (rule.oneOf && !rule.oneOf.includes(value)) {
      throw new ConfigError(field, `must be one of ${rule.oneOf.join(', ')}, not ${value}`);
    }
    if ((rule.min !== undefined && value < rule.min) || (rule.max !== undefined && value > rule.max)) {
      throw new ConfigError(field, `must be from ${rule.min} to ${rule.max}, not ${value}`);
    }
    return value;
  }

  /** A boolean, `fallback` when absent. */
  bool(key: string, fallback: boolean): boolean {
    const value = this.get(key) ?? fallback;
    if (typeof value !== 'boolean') {
      throw new ConfigError(this.path + key, 'must be true or false');
    }
    return value;
  }

  /** The object at `key` (an empty one when absent, so that its defaults apply). */
  obj<T>(key: string, parse: (o: Obj) => T): T {
    const inner = new Obj(this.get(key) ?? {}, `${this.path}${key}.`);
    const parsed = parse(inner);
    inner.done();
    return parsed;
  }

  /** The object at `key` parsed by `parse`, or undefined when absent. */
  optionalObj<T>(key: string, parse: (o: Obj) => T): T | undefined {
    return this.value[key] === undefined ? undefined : this.obj(key, parse);
  }

  /** An object of objects, each name matching `names`. */
  map<T>(key: string, names: RegExp, parse: (o: Obj) => T): Record<string, T> {
    const outer = new Obj(this.get(key) ?? {}, `${this.path}${key}.`);
    const result: Record<string, T> = {};
    for (const name of Object.keys(outer.value)) {
      if (!names.test(name)) {
        throw new ConfigError(outer.path + name, `is not a valid name (${names})`);
      }
      result[name] = outer.obj(name, parse);
    }
    return result;
  }

  /** An object of strings, each name matching `names`. */
  stringMap(key: string, names: RegExp): Record<string, string> {
    const outer = new Obj(this.get(key) ?? {}, `${this.path}${key}.`);
    const result: Record<string, string> = {};
    for (const name of Object.keys(outer.value)) {
      if (!names.test(name)) {
        throw new ConfigError(outer.path + name, `is not a valid environment variable name`);
      }
      result[name] = outer.str(name);
    }
    return result;
  }
}

/** `value` as a non-empty string satisfying `rule`, else an error naming `field`. */
function checkStr(field: string, value: unknown, rule: StrRule): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new ConfigError(field, 'must be a non-empty string');
  }
  if (rule.oneOf && !rule.oneOf.includes(value)) {
    throw new ConfigError(field, `must be one of ${rule.oneOf.join(', ')}, not ${JSON.stringify(value)}`);
  }
  if (rule.pattern && !rule.pattern.test(value)) {
    throw new ConfigError(field, rule.hint ?? `${JSON.stringify(value)} does not match ${rule.pattern}`);
  }
  return value;
}
