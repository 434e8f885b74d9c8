/** isConnectionLoss: the one classification of "this database session is gone" (daemon handle, db copy). */
import { describe, expect, it } from 'vitest';
import { isConnectionLoss } from '../../src/db/index.js';
import { OperationError } from '../../src/errors.js';

const withCode = (message: string, code: string): Error => Object.assign(new Error(message), { code });

describe('isConnectionLoss', () => {
  it('recognises a lost session by SQLSTATE class 08 / 57P, socket codes and driver messages', () => {
    expect(isConnectionLoss(withCode('terminating connection due to administrator command', '57P01'))).toBe(true);
    expect(isConnectionLoss(withCode('connection failure', '08006'))).toBe(true);
    expect(isConnectionLoss(withCode('read ECONNRESET', 'ECONNRESET'))).toBe(true);
    expect(isConnectionLoss(new Error('Connection terminated unexpectedly'))).toBe(true);
  });

  it('does not count failed statements or wks errors', () => {
    expect(isConnectionLoss(withCode('duplicate key value violates unique constraint', '23505'))).toBe(false);
    expect(isConnectionLoss(withCode('relation "x" does not exist', '42P01'))).toBe(false);
    expect(isConnectionLoss(new OperationError('connection to the backup repository failed'))).toBe(false);
    expect(isConnectionLoss('ECONNRESET')).toBe(false);
  });
});
