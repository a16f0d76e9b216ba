import { describe, expect, it } from 'vitest';
import { ErrorType } from '../../domain/errors.js';
import {
  LEDGER_SEVERITY,
  blacklists,
  faultSeverities,
  ledgerSeverity,
  type LedgerEntryType,
  type SlashChange,
} from '../../domain/liability.js';
import { retentionCutoffMs } from '../../domain/retention.js';
import { standingOf, type StandingFacts } from '../../domain/standing.js';
import { deepFreeze, failureOf } from '../helpers/domain.js';

const entry = (entryType: LedgerEntryType, severity = ledgerSeverity(entryType)) => ({ entryType, severity });
const facts = (overrides: Partial<StandingFacts> = {}): StandingFacts =>
  deepFreeze({ sigma: null, blacklisted: false, ledger: [], ...overrides });

describe('standingOf', () => {
  it('admits an agent the store knows nothing about', () => {
    expect(standingOf(facts())).toEqual({
      sigma: null,
      blacklisted: false,
      riskScore: 0,
      recommendation: 'admit',
      entries: 0,
    });
  });

  it('keeps the stored σ and counts every ledger entry, neutral ones included', () => {
    const standing = standingOf(facts({ sigma: 0.56, ledger: [entry('vouch_given'), entry('slash_cascaded')] }));
    expect(standing).toMatchObject({ sigma: 0.56, entries: 2, recommendation: 'admit' });
    expect(standing.riskScore).toBeCloseTo(1 - Math.exp(-0.2), 12);
  });

  it('puts a slashed and faulted agent on probation', () => {
    const standing = standingOf(facts({ ledger: [entry('slash_received'), entry('fault_attributed')] }));
    expect(standing.recommendation).toBe('probation');
    expect(standing.riskScore).toBeCloseTo(0.4231, 4);
  });

  it('denies past the deny threshold', () => {
    const ledger = [
      entry('slash_received'),
      entry('slash_received'),
      entry('fault_attributed'),
      entry('fault_attributed'),
    ];
    expect(standingOf(facts({ ledger })).recommendation).toBe('deny');
  });

  it('denies a blacklisted agent whatever its ledger', () => {
    expect(standingOf(facts({ sigma: 0, blacklisted: true, ledger: [entry('clean_session')] }))).toMatchObject({
      sigma: 0,
      blacklisted: true,
      recommendation: 'deny',
    });
  });

  it('refuses a stored severity outside [0, 1]', () => {
    const fn = () => standingOf(facts({ ledger: [{ entryType: 'slash_received', severity: 1.5 }] }));
    expect(failureOf(fn).type).toBe(ErrorType.InvalidInput);
  });
});

describe('ledger severities', () => {
  it('records the stated severity for entries that count and 0 for the others', () => {
    for (const [type, severity] of Object.entries(LEDGER_SEVERITY))
      expect(ledgerSeverity(type as LedgerEntryType)).toBe(severity);
    expect(ledgerSeverity('vouch_given')).toBe(0);
    expect(ledgerSeverity('quarantine_released')).toBe(0);
    expect(ledgerSeverity('clean_session')).toBe(0);
  });

  it('scales the fault severity by each agent’s share and skips agents without one', () => {
    expect(faultSeverities({ agents: { a: 1.5, b: 0.5, c: 0 }, value: 2, rootCause: 'a' })).toEqual([
      { agentDid: 'a', share: 1.5, severity: LEDGER_SEVERITY.fault_attributed * 0.75 },
      { agentDid: 'b', share: 0.5, severity: LEDGER_SEVERITY.fault_attributed * 0.25 },
    ]);
    expect(faultSeverities({ agents: { a: 0 }, value: 0, rootCause: null })).toEqual([]);
  });

  it('blacklists the culprit of a slash, not its sponsors', () => {
    const change = (kind: SlashChange['kind']): SlashChange => ({
      agentDid: 'a',
      before: 500_000,
      after: 0,
      depth: 0,
      kind,
      via: null,
    });
    expect(blacklists(change('slash_received'))).toBe(true);
    expect(blacklists(change('slash_cascaded'))).toBe(false);
  });
});

describe('retentionCutoffMs', () => {
  it('is whole days before now', () => {
    expect(retentionCutoffMs(10 * 86_400_000, 3)).toBe(7 * 86_400_000);
    expect(retentionCutoffMs(1_735_689_600_500, 180)).toBe(1_735_689_600_500 - 180 * 86_400_000);
  });
});
