/**
 * The S3 repository's pure parts: the repository URL, the one-line error for
 * each kind of refusal (permission named, exit code, attempts counted), and
 * the retry policy's bounds. The network behaviour itself is tested against a
 * real S3 server in tests/e2e/backup-s3.test.ts.
 */
import { describe, it, expect } from 'vitest';
import { boundedRetryStrategy, parseS3Url, s3Error } from '../../src/backup/repository/s3.js';

const sdkError = (name: string, status: number, attempts = 1) =>
  Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status, attempts } });

describe('parseS3Url', () => {
  it('takes s3://bucket and s3://bucket/prefix, and refuses the rest with exit 78', () => {
    expect(parseS3Url('s3://acme-backups')).toEqual({ bucket: 'acme-backups', prefix: '' });
    expect(parseS3Url('s3://acme.backups/prod/db1/')).toEqual({ bucket: 'acme.backups', prefix: 'prod/db1' });
    for (const bad of ['acme', 'https://acme/x', 's3://A_B/x', 's3://ab'])
      expect(() => parseS3Url(bad)).toThrow(expect.objectContaining({ exitCode: 78 }));
  });
});

describe('s3Error', () => {
  const where = 's3://acme/prod';
  it('AccessDenied names the operation and the missing permission (exit 1)', () => {
    const e = s3Error(sdkError('AccessDenied', 403), 'PutObject', where, 'acme');
    expect(e.exitCode).toBe(1);
    expect(e.message).toBe('s3://acme/prod: PutObject denied: the credentials lack s3:PutObject on bucket "acme"');
    expect(s3Error(sdkError('AccessDenied', 403), 'ListObjectsV2', where, 'acme').message).toContain('s3:ListBucket');
    expect(s3Error(sdkError('AccessDenied', 403), 'DeleteObject', where, 'acme').message).toContain('s3:DeleteObject');
  });
  it('a missing bucket and refused credentials are configuration problems (exit 78)', () => {
    expect(s3Error(sdkError('NoSuchBucket', 404), 'ListObjectsV2', where, 'acme')).toMatchObject({
      exitCode: 78,
      message: 's3://acme/prod: ListObjectsV2 failed: bucket "acme" does not exist',
    });
    for (const code of ['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'CredentialsProviderError'])
      expect(s3Error(sdkError(code, 403), 'GetObject', where, 'acme')).toMatchObject({
        exitCode: 78,
        message: expect.stringContaining('the S3 credentials were refused or not found'),
      });
  });
  it('a server error after retries counts the attempts, in one line', () => {
    const e = s3Error(sdkError('SlowDown', 503, 6), 'UploadPart', where, 'acme');
    expect(e.exitCode).toBe(1);
    expect(e.message).toBe('s3://acme/prod: UploadPart failed after 6 attempts: HTTP 503 SlowDown');
    expect(e.message).not.toContain('\n');
  });
});

describe('boundedRetryStrategy', () => {
  it('retries transient and throttling errors up to max attempts, never client errors', async () => {
    const s = boundedRetryStrategy(3, 60_000, 1, 2);
    let t = await s.acquireInitialRetryToken();
    t = await s.refreshRetryTokenForRetry(t, { errorType: 'TRANSIENT' });
    t = await s.refreshRetryTokenForRetry(t, { errorType: 'THROTTLING' });
    expect(t.getRetryCount()).toBe(2);
    await expect(s.refreshRetryTokenForRetry(t, { errorType: 'TRANSIENT' })).rejects.toThrow(/exhausted/);
    const c = await s.acquireInitialRetryToken();
    await expect(s.refreshRetryTokenForRetry(c, { errorType: 'CLIENT_ERROR' })).rejects.toThrow();
    await expect(s.refreshRetryTokenForRetry(c, { errorType: 'SERVER_ERROR' })).rejects.toThrow(); // e.g. 501
  });
  it('never starts a retry past the time budget; delays are jittered below the cap', async () => {
    const s = boundedRetryStrategy(100, 0, 1, 50);
    const t = await s.acquireInitialRetryToken();
    await new Promise((r) => setTimeout(r, 5));
    await expect(s.refreshRetryTokenForRetry(t, { errorType: 'TRANSIENT' })).rejects.toThrow(/budget/);
    const open = boundedRetryStrategy(100, 60_000, 1000, 50);
    let u = await open.acquireInitialRetryToken();
    for (let i = 0; i < 20; i++) {
      u = await open.refreshRetryTokenForRetry(u, { errorType: 'TRANSIENT' });
      expect(u.getRetryDelay()).toBeGreaterThanOrEqual(0);
      expect(u.getRetryDelay()).toBeLessThan(50);
    }
  });
});
