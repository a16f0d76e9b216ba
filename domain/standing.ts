import { riskProfile, type LedgerEntryType, type RiskProfile } from './liability.js';

/** What the store holds about an agent's standing, before any judgement. */
export interface StandingFacts {
  /** σ after slashes, or null when the hypervisor never changed it. */
  sigma: number | null;
  blacklisted: boolean;
  /** Every ledger entry of the agent, as type and severity. */
  ledger: ReadonlyArray<{ entryType: LedgerEntryType; severity: number }>;
}

/** An agent's standing as join sees it. */
export interface Standing {
  /** σ after slashes, or null when the hypervisor never changed it (the agent's presented σ then applies). */
  sigma: number | null;
  blacklisted: boolean;
  riskScore: number;
  recommendation: RiskProfile['recommendation'];
  entries: number;
}

/** The admit / probation / deny verdict on an agent, from its stored facts (the rules are {@link riskProfile}'s). */
export function standingOf(facts: StandingFacts): Standing {
  const profile = riskProfile(facts.ledger, { blacklisted: facts.blacklisted });
  return {
    sigma: facts.sigma,
    blacklisted: facts.blacklisted,
    riskScore: profile.riskScore,
    recommendation: profile.recommendation,
    entries: facts.ledger.length,
  };
}
