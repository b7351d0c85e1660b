// Claim conditions of an OIDC issuer: CEL expressions over the token's claims, as Kubernetes' structured
// authentication configuration writes them (`claims.repository_owner == "acme"`). Compiled once when the
// policy is compiled, so a malformed expression is a Registry condition, never a failed login; evaluated
// for each token. CEL is not Turing-complete and the AST is bounded, so a condition cannot hang a login.

import { Environment } from '@marcbachmann/cel-js';

/** True when the claims satisfy the condition. An evaluation error (a missing claim, a type mismatch) is false. */
export type ClaimCondition = (claims: Readonly<Record<string, unknown>>) => boolean;

const MAX_EXPRESSION_LENGTH = 1024;

const environment = new Environment({
  limits: { maxAstNodes: 256, maxDepth: 32, maxListElements: 64, maxMapEntries: 64, maxCallArguments: 8 },
}).registerVariable('claims', 'map');

/** Compiles a condition, or says why it cannot be one (not CEL, or not a boolean). */
export function compileClaimCondition(expression: string): ClaimCondition | { error: string } {
  if (expression.length > MAX_EXPRESSION_LENGTH) return { error: `is longer than ${MAX_EXPRESSION_LENGTH} characters` };
  let evaluate: ReturnType<typeof environment.parse>;
  try {
    evaluate = environment.parse(expression);
    const checked = evaluate.check();
    if (!checked.valid) return { error: `is not valid CEL: ${firstLine(checked.error?.message)}` };
    if (checked.type !== 'bool' && checked.type !== 'dyn') return { error: `must be a boolean expression, not ${checked.type}` };
  } catch (error) {
    return { error: `is not valid CEL: ${firstLine((error as Error).message)}` };
  }
  return (claims) => {
    try {
      return evaluate({ claims }) === true;
    } catch {
      return false;
    }
  };
}

function firstLine(message: string | undefined): string {
  return (message ?? 'unknown error').split('\n')[0] as string;
}
