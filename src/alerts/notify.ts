/**
 * Alert notifiers: Slack (incoming webhook), email (nodemailer over
 * monitoring.alerts.email.smtp_url) and PagerDuty (Events API v2: trigger
 * and resolve on the event's dedup key, endpoint monitoring.alerts.pagerduty_url).
 *
 * Delivery is retried with exponential backoff on network errors, HTTP 429
 * and 5xx (default 4 attempts: 0.5 s, 1 s, 2 s apart); other 4xx are final.
 * Secrets (webhook URL, routing key, SMTP URL) are registered with the
 * redactor and never appear in errors or logs: failures name the channel
 * and the HTTP status, not the URL.
 */
import { hostname } from 'node:os';
import type { Config } from '../config/index.js';
import { ConfigError, OperationError } from '../errors.js';
import { registerSecret, redactText } from '../redact.js';
import { sleep } from '../util/process.js';
import type { AlertEvent } from './rules.js';

export const CHANNELS = ['slack', 'email', 'pagerduty'] as const;
export type Channel = (typeof CHANNELS)[number];

export interface RetryOptions {
  attempts?: number;
  initialDelayMs?: number;
}

export interface DeliveryResult {
  channel: Channel;
  ok: boolean;
  attempts: number;
  error?: string;
}

/** Channels that are configured (and, for email, enabled). */
export function configuredChannels(config: Config): Channel[] {
  const a = config.monitoring.alerts;
  const out: Channel[] = [];
  if (a.slack_webhook) out.push('slack');
  if (a.email.enabled && a.email.smtp_url && a.email.to) out.push('email');
  if (a.pagerduty_key) out.push('pagerduty');
  return out;
}

/** Throw ConfigError (78) naming the keys a channel needs when it is not configured. */
export function requireChannel(config: Config, channel: Channel): void {
  const a = config.monitoring.alerts;
  const missing: string[] = [];
  if (channel === 'slack' && !a.slack_webhook) missing.push('monitoring.alerts.slack_webhook (ALERT_SLACK_WEBHOOK)');
  if (channel === 'pagerduty' && !a.pagerduty_key)
    missing.push('monitoring.alerts.pagerduty_key (ALERT_PAGERDUTY_KEY)');
  if (channel === 'email') {
    if (!a.email.smtp_url) missing.push('monitoring.alerts.email.smtp_url (ALERT_SMTP_URL)');
    if (!a.email.to) missing.push('monitoring.alerts.email.to (ALERT_EMAIL_TO)');
  }
  if (missing.length) {
    throw new ConfigError(
      `the ${channel} channel is not configured`,
      missing.map((k) => ({
        key: `phase4.${k.split(' ')[0]}`,
        message: 'required for this channel',
        source: 'default',
      })),
      { hint: `set ${missing.join(' and ')}` },
    );
  }
}

class RetryableError extends Error {}

async function withRetry(fn: () => Promise<void>, opts: RetryOptions): Promise<number> {
  const attempts = Math.max(1, opts.attempts ?? 4);
  const delay = opts.initialDelayMs ?? 500;
  for (let i = 1; ; i++) {
    try {
      await fn();
      return i;
    } catch (err) {
      if (!(err instanceof RetryableError) || i >= attempts) {
        (err as { attempts?: number }).attempts = i;
        throw err;
      }
      await sleep(delay * 2 ** (i - 1));
    }
  }
}

async function postJson(channel: string, url: string, body: unknown, timeoutMs: number): Promise<void> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
    throw new RetryableError(`${channel}: request failed (${cause})`);
  }
  await res.arrayBuffer().catch(() => undefined);
  if (res.status === 429 || res.status >= 500) throw new RetryableError(`${channel}: HTTP ${res.status}`);
  if (res.status >= 400) throw new Error(`${channel}: HTTP ${res.status} (not retried)`);
}

function text(e: AlertEvent): string {
  const v =
    e.value === null
      ? 'no data'
      : Number.isFinite(e.value)
        ? String(Math.round(e.value * 1000) / 1000)
        : String(e.value);
  const head = e.kind === 'firing' ? `[FIRING] ${e.rule} (${e.severity})` : `[RESOLVED] ${e.rule}`;
  const down = e.details?.down ? `\ndown: ${(e.details.down as string[]).join(', ')}` : '';
  return `${head}: ${e.summary}\ncondition: ${e.condition} (value: ${v})\nsince: ${e.at.toISOString()}\nhost: ${hostname()}${down}`;
}

/** Send one event to one channel (with retries). Throws OperationError with a redacted message after the last attempt. */
export async function sendToChannel(
  config: Config,
  channel: Channel,
  event: AlertEvent,
  retry: RetryOptions = {},
): Promise<number> {
  const a = config.monitoring.alerts;
  const timeoutMs = config.health.check_timeout_ms;
  for (const s of [a.slack_webhook, a.pagerduty_key, a.email.smtp_url]) registerSecret(s);
  try {
    return await withRetry(async () => {
      if (channel === 'slack') {
        await postJson('slack', a.slack_webhook!, { text: text(event) }, timeoutMs);
      } else if (channel === 'pagerduty') {
        const body =
          event.kind === 'firing'
            ? {
                routing_key: a.pagerduty_key,
                event_action: 'trigger',
                dedup_key: event.dedupKey,
                payload: {
                  summary: `${event.rule}: ${event.summary}`,
                  source: hostname(),
                  severity: event.severity === 'critical' ? 'critical' : 'warning',
                  timestamp: event.at.toISOString(),
                  component: 'wks',
                  custom_details: { condition: event.condition, value: event.value, ...(event.details ?? {}) },
                },
              }
            : { routing_key: a.pagerduty_key, event_action: 'resolve', dedup_key: event.dedupKey };
        await postJson('pagerduty', a.pagerduty_url, body, timeoutMs);
      } else {
        const nodemailer = (await import('nodemailer')).default;
        const transport = nodemailer.createTransport(a.email.smtp_url!, {
          connectionTimeout: timeoutMs,
          greetingTimeout: timeoutMs,
          socketTimeout: timeoutMs,
        } as never);
        try {
          await transport.sendMail({
            from: a.email.from,
            to: a.email.to!,
            subject: `${event.kind === 'firing' ? '[FIRING]' : '[RESOLVED]'} wks ${event.rule}`,
            text: text(event),
          });
        } catch (err) {
          const code = (err as { code?: string; responseCode?: number }).responseCode;
          const msg = `email: ${redactText((err as Error).message)}`;
          if (code !== undefined && code >= 500 && code < 600) throw new Error(msg); // permanent SMTP rejection
          throw new RetryableError(msg);
        } finally {
          transport.close();
        }
      }
    }, retry);
  } catch (err) {
    throw new OperationError(`could not notify ${channel}: ${redactText((err as Error).message)}`, {
      hint: `check the ${channel} settings under monitoring.alerts (\`wks alerts test --channel ${channel}\`)`,
      details: { attempts: (err as { attempts?: number }).attempts },
    });
  }
}

/** Send `event` to every configured channel; never throws (results say what failed). */
export async function notifyAll(
  config: Config,
  event: AlertEvent,
  retry: RetryOptions = {},
  channels = configuredChannels(config),
): Promise<DeliveryResult[]> {
  return Promise.all(
    channels.map(async (channel) => {
      try {
        const attempts = await sendToChannel(config, channel, event, retry);
        return { channel, ok: true, attempts };
      } catch (err) {
        return {
          channel,
          ok: false,
          attempts: (err as { details?: { attempts?: number } }).details?.attempts ?? 1,
          error: (err as Error).message,
        };
      }
    }),
  );
}

/** A synthetic event for `wks alerts test`. */
export function testEvent(kind: 'firing' | 'resolved', now = new Date()): AlertEvent {
  return {
    kind,
    rule: 'wks_test',
    severity: 'warning',
    summary: 'Test notification from `wks alerts test`; no action needed',
    condition: 'test',
    value: null,
    at: now,
    dedupKey: `wks:test:${now.getTime()}`,
  };
}

/**
 * `wks alerts test`: send a synthetic warning through one channel (with
 * retries); PagerDuty also gets the matching resolve, so no incident stays
 * open. `attempts` counts every request made. Default `now`: the real time.
 * @throws ConfigError when the channel is not configured; OperationError when delivery fails.
 */
export async function sendTestNotification(
  config: Config,
  channel: Channel,
  opts: { now?: Date; retry?: RetryOptions } = {},
): Promise<{ channel: Channel; sent: true; attempts: number; dedupKey: string }> {
  requireChannel(config, channel);
  const now = opts.now ?? new Date();
  const fired = testEvent('firing', now);
  let attempts = await sendToChannel(config, channel, fired, opts.retry);
  if (channel === 'pagerduty')
    attempts += await sendToChannel(
      config,
      channel,
      { ...testEvent('resolved', now), dedupKey: fired.dedupKey },
      opts.retry,
    );
  return { channel, sent: true, attempts, dedupKey: fired.dedupKey };
}
