import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../shared/config.js';
import { publishModeOf } from '../../shared/redis/cluster-connection.js';

describe('cluster configuration', () => {
  it('runs on the single Redis unless REDIS_CLUSTER_NODES names seeds', () => {
    const single = loadConfig({});
    expect(single.redisCluster).toBeNull();
    expect(publishModeOf(single)).toBe('PUBLISH');
    const cluster = loadConfig({ REDIS_CLUSTER_NODES: 'redis-node-1:6379, 10.0.0.2:7001' });
    expect(cluster.redisCluster).toEqual({ nodes: [{ host: 'redis-node-1', port: 6379 }, { host: '10.0.0.2', port: 7001 }] });
    expect(publishModeOf(cluster)).toBe('SPUBLISH');
  });

  it('names a seed that is not host:port', () => {
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: 'redis-node-1' })).toThrow(ConfigError);
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: 'redis://a:1' })).toThrow(/REDIS_CLUSTER_NODES/);
  });

  it('pipelines emits unless EMIT_PIPELINE=false', () => {
    expect(loadConfig({}).emitPipeline).toBe(true);
    expect(loadConfig({ EMIT_PIPELINE: 'false' }).emitPipeline).toBe(false);
    expect(() => loadConfig({ EMIT_PIPELINE: 'no' })).toThrow(/EMIT_PIPELINE/);
  });
});
