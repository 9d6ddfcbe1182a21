/**
 * Evening out long-lived connections, as arithmetic: after a restart, clients
 * that fled a dead worker crowd the survivors. A worker holding more than its
 * share plus some slack (2 connections, or 10 % of the share) is asked to shed
 * the surplus over its share.
 */
export const REBALANCE_SLACK = 2;

/** How many clients each worker should shed (0 for most), given their connection counts. */
export function rebalancePlan(connections: readonly number[]): number[] {
  if (connections.length < 2) return connections.map(() => 0);
  const total = connections.reduce((n, c) => n + c, 0);
  const share = Math.ceil(total / connections.length);
  const slack = Math.max(REBALANCE_SLACK, Math.ceil(share / 10));
  return connections.map((c) => (c - share > slack ? c - share : 0));
}
