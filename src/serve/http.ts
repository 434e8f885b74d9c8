/**
 * The HTTP side of `wks serve`: node:http on the configured host/port
 * (default 127.0.0.1:9090) with three routes:
 *   GET <metrics path>  Prometheus text format (optional bearer token)
 *   GET /health         liveness: the process answers (always 200 while serving)
 *   GET /ready          readiness: JSON; 200 when ready, 503 otherwise
 * Every request is counted in http_requests_total and timed in
 * http_request_duration_seconds; unknown paths are labelled `other` so a
 * scanner cannot explode label cardinality.
 */
import http from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';
import { OperationError } from '../errors.js';
import { redactDeep } from '../redact.js';
import type { WksMetrics } from '../metrics/index.js';

export interface ReadyResult {
  ready: boolean;
  [k: string]: unknown;
}

export interface HttpHandlers {
  metrics: WksMetrics;
  /** Path of the metrics route (config.monitoring.prometheus.path). */
  metricsPath: string;
  /** False when METRICS_ENABLED=false: the metrics route answers 404, probes still work. Default true. */
  metricsEnabled?: boolean;
  /** Bearer token required on the metrics route, or null for none. */
  bearerToken: string | null;
  /**
   * Scrapes within this many ms of the last rendering get that rendering
   * (config monitoring.prometheus.scrape_cache_ms; 0 = render every time).
   * Concurrent scrapes always share one rendering. Bounds the cost of a
   * scrape storm; Prometheus scrapes every 15 s, so 1 s of staleness is moot.
   */
  cacheMs?: number;
  /** Refresh scrape-time collectors, then the registry is rendered. */
  beforeScrape: () => Promise<void>;
  liveness: () => Promise<Record<string, unknown>>;
  readiness: () => Promise<ReadyResult>;
  /** Called with an error that escaped request handling (a bug); the request got a 500. */
  onError?: (err: unknown) => void;
}

export interface RunningServer {
  readonly host: string;
  readonly port: number;
  /** Stop accepting, close idle keep-alive sockets, wait for in-flight requests (bounded by `timeoutMs`, default 5000). */
  close(timeoutMs?: number): Promise<void>;
}

/** Methods counted under their own name; anything else is `other` (bounded label values). */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE', 'CONNECT']);

/**
 * The path of a request target (origin-form `/x?y`, absolute-form
 * `http://h/x`, or `*`), or null when the target is not a valid URL. Never throws.
 */
export function requestPath(target: string | undefined): string | null {
  if (!target) return null;
  try {
    return new URL(target, 'http://localhost').pathname;
  } catch {
    return null;
  }
}

/**
 * Whether an Authorization header carries `token`. Compared in constant time
 * over SHA-256 digests, so neither the token's content nor its length leaks
 * through timing.
 */
export function tokenMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(header ?? '');
  const digest = (s: string): Buffer => createHash('sha256').update(s).digest();
  const ok = timingSafeEqual(digest(m ? m[1]!.trim() : ''), digest(token));
  return ok && m !== null;
}

/**
 * A probe document as an unauthenticated client may see it when a bearer
 * token is configured: the verdict and each check's name and status; no
 * error details, host names, pids, instance ids, jobs or alert state.
 */
export function publicProbe(doc: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of ['ready', 'status', 'checked_at']) if (k in doc) out[k] = doc[k];
  if (Array.isArray(doc.checks))
    out.checks = (doc.checks as Array<{ name: string; status: string }>).map((c) => ({
      name: c.name,
      status: c.status,
    }));
  return out;
}

/**
 * The request handler: routes, counts and times every request, and answers
 * 400 for a target that is not a URL, 405 for other methods, 500 when a
 * handler fails. Rejects only on a bug (startHttpServer catches that too).
 */
function router(
  h: HttpHandlers,
  scrape: () => Promise<string>,
): (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void> {
  const { metrics } = h;
  return async (req, res) => {
    const target = requestPath(req.url);
    const endpoint = target === h.metricsPath || target === '/health' || target === '/ready' ? target : 'other';
    const method = KNOWN_METHODS.has(req.method ?? '') ? req.method! : 'other';
    const end = metrics.httpRequestDuration.startTimer({ method, endpoint });
    const send = (status: number, body: string, type: string, extra: Record<string, string> = {}): void => {
      if (res.headersSent || res.destroyed) return;
      res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', ...extra });
      res.end(method === 'HEAD' ? undefined : body);
      end();
      metrics.httpRequestsTotal.inc({ method, endpoint, status_code: String(status) });
    };
    // Probe documents carry check details and error messages: redacted like every other output.
    const json = (status: number, doc: unknown): void =>
      send(status, `${JSON.stringify(redactDeep(doc))}\n`, 'application/json; charset=utf-8');
    const authorized = (): boolean => !h.bearerToken || tokenMatches(req.headers.authorization, h.bearerToken);
    try {
      if (target === null) return json(400, { error: 'bad request target' });
      if (method !== 'GET' && method !== 'HEAD') return json(405, { error: 'method not allowed' });
      if (endpoint === h.metricsPath) {
        if (h.metricsEnabled === false)
          return json(404, { error: 'metrics are disabled (METRICS_ENABLED=false / monitoring.prometheus.enabled)' });
        if (!authorized()) {
          return send(401, 'unauthorized\n', 'text/plain; charset=utf-8', {
            'WWW-Authenticate': 'Bearer realm="wks metrics"',
          });
        }
        return send(200, await scrape(), metrics.registry.contentType);
      }
      // Probes answer without the token (kubelet sends none), but then show only verdicts.
      const shown = (doc: Record<string, unknown>) => (authorized() ? doc : publicProbe(doc));
      if (endpoint === '/health') return json(200, shown(await h.liveness()));
      if (endpoint === '/ready') {
        const r = await h.readiness();
        return json(r.ready ? 200 : 503, shown(r));
      }
      return json(404, { error: 'not found', routes: [h.metricsPath, '/health', '/ready'] });
    } catch (err) {
      return json(500, { error: (err as Error).message });
    }
  };
}

/**
 * Start listening. Resolves once bound. Throws OperationError (exit 1) with a
 * hint when the port is in use or the address cannot be bound.
 */
export async function startHttpServer(host: string, port: number, h: HttpHandlers): Promise<RunningServer> {
  const { metrics } = h;
  let cached: { text: string; at: number } | null = null;
  let rendering: Promise<string> | null = null;
  const scrape = async (): Promise<string> => {
    if (cached && Date.now() - cached.at < (h.cacheMs ?? 0)) return cached.text;
    if (!rendering) {
      rendering = (async () => {
        await h.beforeScrape();
        const text = await metrics.registry.metrics();
        cached = { text, at: Date.now() };
        return text;
      })().finally(() => {
        rendering = null;
      });
    }
    return rendering;
  };
  const route = router(h, scrape);
  // Nothing a client sends may throw out of here: an exception in a request
  // handler would otherwise end the daemon (and with it the backups).
  const server = http.createServer((req, res) => {
    route(req, res).catch((err: unknown) => {
      h.onError?.(err);
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
        res.end('internal error\n');
      } else res.destroy();
    });
  });
  // Requests the HTTP parser itself rejects (NUL bytes, oversized headers) get Node's own 400/431 and are closed.
  server.keepAliveTimeout = 5000;

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      if (err.code === 'EADDRINUSE') {
        reject(
          new OperationError(`cannot listen on ${host}:${port}: the port is already in use`, {
            hint: `stop the other process on port ${port}, or choose another port with --port or METRICS_PORT`,
          }),
        );
      } else {
        reject(
          new OperationError(`cannot listen on ${host}:${port}: ${err.message}`, {
            hint: 'check monitoring.prometheus.host/port (METRICS_HOST, METRICS_PORT)',
          }),
        );
      }
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
  const addr = server.address();
  const bound = typeof addr === 'object' && addr ? addr.port : port;

  return {
    host,
    port: bound,
    close(timeoutMs = 5000) {
      return new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          server.closeAllConnections();
        }, timeoutMs);
        t.unref();
        server.close(() => {
          clearTimeout(t);
          resolve();
        });
        server.closeIdleConnections();
      });
    },
  };
}
