/**
 * Built-in alerting for installs without Alertmanager: rules (rules.ts),
 * signals from the platform's data (signals.ts) and notifiers (notify.ts).
 */
export { buildRules, parseCondition, conditionHolds, AlertEngine, SIGNALS, BUILTIN_FOR } from './rules.js';
export type { AlertRule, AlertEvent, AlertSignals, AlertState, PersistedRuleState } from './rules.js';
export { loadAlertState, saveAlertState } from './state.js';
export { gatherSignals, ERROR_RATE_WINDOW_MS } from './signals.js';
export type { SignalSources } from './signals.js';
export {
  notifyAll,
  sendToChannel,
  sendTestNotification,
  configuredChannels,
  requireChannel,
  testEvent,
  CHANNELS,
} from './notify.js';
export type { Channel, DeliveryResult, RetryOptions } from './notify.js';
export * from './notify.js';
export * from './rules.js';
export * from './signals.js';
