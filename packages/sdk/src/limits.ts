/**
 * The wire contract's limits and name rules — `packages/contracts/src/limits.ts`, the module the
 * server validates with. Dependency-free, so the build inlines it into the SDK's JavaScript.
 */
export { LIMITS, codePointLength, hasLoneSurrogate, nameProblem, wireTimestampMs, type Limits } from '@assay/contracts/limits';
