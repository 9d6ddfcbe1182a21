/**
 * The rows of the two-hosts-on-one-Redis scenario: smegchat's Redis engine in
 * the smegchat column, socket.io with @socket.io/redis-streams-adapter in the
 * socket.io column, so the table's smeg÷sio ratio compares them.
 */
import type { ServerKind } from './gen-protocol.js';
import type { Row } from './report.js';
import type { BenchConfig, ServerResults } from './scenarios.js';

type Pick = (f: (r: ServerResults) => number | null | undefined) => Partial<Record<ServerKind, number | null>>;

export function redisRows(cfg: BenchConfig, pick: Pick): Row[] {
  const c = cfg.redis;
  const k = (n: number): string => `${Math.round(n / 1000)}k`;
  const on = `${c.hosts} hosts × ${c.workersPerHost} worker${c.workersPerHost === 1 ? '' : 's'} on one Redis`;
  return [
    {
      label: `${on}: server CPU per delivery @ ${k(c.cpuAtPerSec)}/s (hosts + Redis)`,
      unit: 'µs',
      better: 'lower',
      digits: 2,
      values: pick((r) => r.redis?.atCpuLoad.serverCpuPerDeliveryUs),
      target: 'socket.io: redis-streams-adapter',
    },
    {
      label: `${on}: p99 latency @ ${k(c.latencyPerSec)}/s, 1 board`,
      unit: 'ms',
      better: 'lower',
      digits: 2,
      values: pick((r) => r.redis?.latency.p99Ms),
      target: '',
    },
    {
      label: `${on}: server CPU per delivery @ ${k(c.latencyPerSec)}/s`,
      unit: 'µs',
      better: 'lower',
      digits: 2,
      values: pick((r) => r.redis?.latency.serverCpuPerDeliveryUs),
      target: '',
    },
    {
      label: `${on}: sampled clients (of 20, both hosts) out of order`,
      unit: 'clients',
      better: 'lower',
      digits: 0,
      values: pick((r) => (r.redis ? Math.max(r.redis.atCpuLoad.order.disagreeing, r.redis.latency.order.disagreeing) : null)),
      target: '0 always',
    },
    {
      label: `${on}: lost`,
      unit: 'deliv',
      better: 'lower',
      digits: 0,
      values: pick((r) => (r.redis ? r.redis.atCpuLoad.lost + r.redis.latency.lost : null)),
      target: '0',
    },
  ];
}
