import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CONFIG = `${ROOT}gateway/deploy/prometheus.yml`;

describe("the compose stack's Prometheus", () => {
  it('has a configuration promtool accepts', () => {
    const out = execFileSync('promtool', ['check', 'config', CONFIG], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(out).toMatch(/SUCCESS/);
  });

  it('scrapes the ports the services serve their metrics on', () => {
    const compose = readFileSync(`${ROOT}docker-compose.yml`, 'utf8');
    const config = readFileSync(CONFIG, 'utf8');
    const workerPort = /METRICS_PORT: (\d+)/.exec(compose)?.[1];
    const gatewayPort = /^\s+PORT: (\d+)/m.exec(compose)?.[1];
    expect(workerPort).toBeDefined();
    expect(gatewayPort).toBeDefined();
    expect(config).toMatch(new RegExp(`names: \\[worker\\]\\n\\s+type: A\\n\\s+port: ${workerPort}\\n`));
    expect(config).toMatch(new RegExp(`names: \\[gateway\\]\\n\\s+type: A\\n\\s+port: ${gatewayPort}\\n`));
    expect(compose).toContain('./gateway/deploy/prometheus.yml:/etc/prometheus/prometheus.yml:ro');
  });
});
