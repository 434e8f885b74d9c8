/**
 * A real S3-protocol server for tests, and a fault-injecting HTTP proxy in
 * front of it.
 *
 * By default the server is s3rver (npm), started in this process on
 * 127.0.0.1 with a dynamic port and a temporary directory; it checks
 * SigV4 signatures against its one account (S3RVER / S3RVER). With
 * WKS_TEST_S3_URL (an endpoint such as http://127.0.0.1:9000) the same tests
 * run against that server instead (MinIO, AWS...), with the credentials in
 * AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and AWS_REGION); each test file
 * creates its own bucket there.
 *
 * If the server cannot be started the tests skip loudly, except under
 * CI=true, where they fail.
 *
 * s3rver 3 does not implement AbortMultipartUpload (it answers 405
 * MethodNotAllowed). The helper adds it the way S3 does it: an authenticated
 * DELETE /bucket/key?uploadId=X removes the upload and its parts (s3rver keeps
 * them in `<data dir>/<bucket>/._S3rver_uploads/<uploadId>/`), 204, or 404
 * NoSuchUpload. `pendingUploads` lists the uploads still holding parts.
 *
 * The proxy forwards every request to the server and counts them by
 * operation; it can answer with an error status (500, 503 SlowDown), reset
 * the connection, or stall, for the next N requests or for ever.
 */
import http from 'node:http';
import type net from 'node:net';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface S3Target {
  /** The server's endpoint (no proxy). */
  endpoint: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  external: boolean;
  /** s3rver's data directory (null for an external server). */
  dataDir: string | null;
  stop(): Promise<void>;
}

const inCI = (): boolean => process.env.CI === 'true';

function unavailable(what: string, err: unknown): null {
  const msg = `${what} (${(err as Error).message})`;
  if (inCI()) throw new Error(`${msg}; CI=true requires it`);
  console.warn(`\n!!! SKIPPING S3 tests: ${msg}\n!!! Install the dev dependencies (s3rver) or set WKS_TEST_S3_URL.\n`);
  return null;
}

async function sdk() {
  return import('@aws-sdk/client-s3');
}

/** A client for test set-up and inspection (never through the proxy). */
export async function adminClient(t: Pick<S3Target, 'endpoint' | 'accessKeyId' | 'secretAccessKey' | 'region'>) {
  const { S3Client } = await sdk();
  return new S3Client({
    endpoint: t.endpoint,
    region: t.region,
    forcePathStyle: true,
    credentials: { accessKeyId: t.accessKeyId, secretAccessKey: t.secretAccessKey },
  });
}

/** Start s3rver (or use WKS_TEST_S3_URL) and create a fresh bucket. Null when unavailable outside CI. */
export async function startS3(tag: string): Promise<S3Target | null> {
  const bucket = `wks-t-${tag.toLowerCase().replace(/[^a-z0-9-]/g, '-')}-${randomBytes(3).toString('hex')}`;
  const external = process.env.WKS_TEST_S3_URL;
  let stopServer = async () => {};
  let endpoint: string;
  let accessKeyId = 'S3RVER';
  let secretAccessKey = 'S3RVER';
  let region = 'us-east-1';
  let dataDir: string | null = null;
  if (external) {
    endpoint = external;
    accessKeyId = process.env.AWS_ACCESS_KEY_ID ?? '';
    secretAccessKey = process.env.AWS_SECRET_ACCESS_KEY ?? '';
    region = process.env.AWS_REGION ?? region;
  } else {
    let S3rver: new (
      o: Record<string, unknown>,
    ) => {
      run(): Promise<{ port: number }>;
      close(): Promise<void>;
      middleware: Array<(ctx: AbortCtx, next: () => Promise<void>) => Promise<void>>;
    };
    try {
      S3rver = (await import('s3rver')).default as never;
    } catch (err) {
      return unavailable('the s3rver package is not installed', err);
    }
    const dir = mkdtempSync(path.join(tmpdir(), 's3rver-'));
    const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: dir });
    server.middleware.unshift(abortMultipartUpload(dir));
    dataDir = dir;
    try {
      const { port } = await server.run();
      endpoint = `http://127.0.0.1:${port}`;
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      return unavailable('s3rver could not start', err);
    }
    stopServer = async () => {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    };
  }
  const t = { endpoint, bucket, accessKeyId, secretAccessKey, region };
  const { CreateBucketCommand } = await sdk();
  const c = await adminClient(t);
  try {
    await c.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (err) {
    await stopServer();
    return unavailable(`cannot create a bucket at ${endpoint}`, err);
  } finally {
    c.destroy();
  }
  return {
    ...t,
    external: !!external,
    dataDir,
    async stop() {
      await emptyBucket(t).catch(() => {});
      if (external) {
        const { DeleteBucketCommand } = await sdk();
        const c2 = await adminClient(t);
        await c2.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => {});
        c2.destroy();
      }
      await stopServer();
    },
  };
}

interface AbortCtx {
  method: string;
  path: string;
  query: Record<string, string | string[] | undefined>;
  status: number;
  body: unknown;
  type: string;
}

/** s3rver's uploads directory of a bucket. */
const uploadsDir = (dataDir: string, bucket: string): string => path.join(dataDir, bucket, '._S3rver_uploads');

/**
 * AbortMultipartUpload for s3rver: its router authenticates the request and then refuses the
 * method (MethodNotAllowed); this middleware, first in the chain, turns exactly that refusal into
 * the abort S3 performs.
 */
function abortMultipartUpload(dataDir: string) {
  return async (ctx: AbortCtx, next: () => Promise<void>): Promise<void> => {
    const id = ctx.query.uploadId;
    if (ctx.method !== 'DELETE' || typeof id !== 'string') return next();
    try {
      await next();
    } catch (err) {
      if ((err as { code?: string }).code !== 'MethodNotAllowed') throw err;
      const bucket = decodeURIComponent(ctx.path.split('/')[1] ?? '');
      const dir = path.join(uploadsDir(dataDir, bucket), id);
      if (!/^[0-9a-f]+$/.test(id) || !existsSync(dir)) {
        ctx.status = 404;
        ctx.type = 'application/xml';
        ctx.body = ERROR_XML('NoSuchUpload', 'The specified upload does not exist.');
        return;
      }
      rmSync(dir, { recursive: true, force: true });
      ctx.status = 204;
      ctx.body = null;
    }
  };
}

/** The multipart uploads of the bucket that still hold parts (upload ids). */
export async function pendingUploads(t: S3Target): Promise<string[]> {
  if (t.dataDir) {
    const d = uploadsDir(t.dataDir, t.bucket);
    return existsSync(d) ? readdirSync(d).sort() : [];
  }
  const { ListMultipartUploadsCommand } = await sdk();
  const c = await adminClient(t);
  try {
    const r = await c.send(new ListMultipartUploadsCommand({ Bucket: t.bucket }));
    return (r.Uploads ?? []).map((u) => u.UploadId!).sort();
  } finally {
    c.destroy();
  }
}

/** Every key in the bucket (optionally under a prefix). */
export async function listKeys(t: S3Target, prefix = ''): Promise<string[]> {
  const { ListObjectsV2Command } = await sdk();
  const c = await adminClient(t);
  try {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const r = await c.send(new ListObjectsV2Command({ Bucket: t.bucket, Prefix: prefix, ContinuationToken: token }));
      for (const o of r.Contents ?? []) keys.push(o.Key!);
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return keys.sort();
  } finally {
    c.destroy();
  }
}

async function emptyBucket(t: S3Target | Omit<S3Target, 'stop' | 'external'>): Promise<void> {
  const { DeleteObjectCommand } = await sdk();
  const c = await adminClient(t);
  try {
    for (const k of await listKeys(t as S3Target)) await c.send(new DeleteObjectCommand({ Bucket: t.bucket, Key: k }));
  } finally {
    c.destroy();
  }
}

/** Read an object's bytes. */
export async function getObject(t: S3Target, key: string): Promise<Buffer> {
  const { GetObjectCommand } = await sdk();
  const c = await adminClient(t);
  try {
    const r = await c.send(new GetObjectCommand({ Bucket: t.bucket, Key: key }));
    return Buffer.from(await r.Body!.transformToByteArray());
  } finally {
    c.destroy();
  }
}

/** Replace an object's bytes (e.g. to flip one byte of a stored backup). */
export async function putObject(t: S3Target, key: string, body: Buffer): Promise<void> {
  const { PutObjectCommand } = await sdk();
  const c = await adminClient(t);
  try {
    await c.send(new PutObjectCommand({ Bucket: t.bucket, Key: key, Body: body }));
  } finally {
    c.destroy();
  }
}

/** The environment that points wks at `endpoint` (the proxy or the server) and this bucket/prefix. */
export function s3Env(t: S3Target, endpoint: string, prefix = 'wks'): Record<string, string> {
  return {
    BACKUP_REPOSITORY: `s3://${t.bucket}${prefix ? `/${prefix}` : ''}`,
    BACKUP_S3_ENDPOINT: endpoint,
    BACKUP_S3_REGION: t.region,
    BACKUP_S3_FORCE_PATH_STYLE: 'true',
    AWS_ACCESS_KEY_ID: t.accessKeyId,
    AWS_SECRET_ACCESS_KEY: t.secretAccessKey,
  };
}

export type Fault = 'status500' | 'slowdown503' | 'reset' | 'stall';

export interface ProxyRequest {
  method: string;
  path: string;
  /** The S3 operation, guessed from method and query (ListObjectsV2, GetObject, PutObject, UploadPart, ...). */
  op: string;
  headers: import('node:http').IncomingHttpHeaders;
}

/** S3 operation of a request, from its method and query string (path-style requests). */
export function operationOf(method: string, url: string): string {
  const u = new URL(url, 'http://x');
  const q = u.searchParams;
  const isObject = u.pathname.split('/').filter(Boolean).length > 1;
  if (method === 'GET' && !isObject) return q.has('uploads') ? 'ListMultipartUploads' : 'ListObjectsV2';
  if (method === 'GET') return 'GetObject';
  if (method === 'HEAD') return isObject ? 'HeadObject' : 'HeadBucket';
  if (method === 'PUT') return q.has('partNumber') ? 'UploadPart' : isObject ? 'PutObject' : 'CreateBucket';
  if (method === 'POST')
    return q.has('uploads') ? 'CreateMultipartUpload' : q.has('uploadId') ? 'CompleteMultipartUpload' : 'Post';
  if (method === 'DELETE') return q.has('uploadId') ? 'AbortMultipartUpload' : 'DeleteObject';
  return method;
}

export interface FaultProxy {
  endpoint: string;
  requests: ProxyRequest[];
  /** Inject `fault` into the next `count` requests (Infinity: until cleared), optionally only for operations matching `only`. */
  inject(fault: Fault, count: number, only?: RegExp): void;
  clear(): void;
  /** Requests counted per operation since the last reset. */
  counts(): Record<string, number>;
  resetCounts(): void;
  close(): Promise<void>;
}

const ERROR_XML = (code: string, message: string) =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>wks-test</RequestId></Error>`;

/** Start the fault-injecting proxy in front of `target` (an http:// endpoint). */
export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const up = new URL(target);
  const requests: ProxyRequest[] = [];
  let plan: { fault: Fault; left: number; only?: RegExp } | null = null;
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    const op = operationOf(req.method ?? 'GET', req.url ?? '/');
    requests.push({ method: req.method ?? 'GET', path: req.url ?? '/', op, headers: req.headers });
    const p = plan && plan.left > 0 && (!plan.only || plan.only.test(op)) ? plan : null;
    if (p) {
      p.left--;
      // Drain the request body so the client sees the answer, not a broken pipe.
      if (p.fault === 'reset') {
        req.socket.destroy();
        return;
      }
      if (p.fault === 'stall') {
        req.resume();
        return; // never answer; the client's request timeout must fire
      }
      req.resume();
      req.on('end', () => {
        const [status, code, msg] =
          p.fault === 'slowdown503'
            ? [503, 'SlowDown', 'Please reduce your request rate.']
            : [500, 'InternalError', 'We encountered an internal error. Please try again.'];
        res.writeHead(status, { 'content-type': 'application/xml' });
        res.end(ERROR_XML(code, msg));
      });
      return;
    }
    const fwd = http.request(
      {
        host: up.hostname,
        port: up.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
        agent: false, // no kept-alive connections: the server can close at the end of the file
      },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    fwd.on('error', () => res.destroy());
    // A client that goes away (kill -9) must not leave a half-sent request open at the server.
    res.on('close', () => fwd.destroy());
    req.pipe(fwd);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    inject(fault, count, only) {
      plan = { fault, left: count, only };
    },
    clear() {
      plan = null;
    },
    counts() {
      const out: Record<string, number> = {};
      for (const r of requests) out[r.op] = (out[r.op] ?? 0) + 1;
      return out;
    },
    resetCounts() {
      requests.length = 0;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}
