// Several jobs on one connection: open the page with #jobs=12,13,14 and the board follows them all
// over a single WS /ws connection (the SDK's ScoutClient), one row per job, progress throttled
// by the gateway to four updates a second.
const board = document.getElementById('jobs-board');
let client = null;

window.addEventListener('hashchange', followFromHash);
followFromHash();

function followFromHash() {
  const match = /^#jobs=([\d,]+)$/.exec(location.hash);
  if (!match) return;
  const ids = [...new Set(match[1].split(',').filter(Boolean).map(Number))].filter((id) => id > 0);
  if (ids.length > 0) void follow(ids);
}

async function follow(ids) {
  const { ScoutClient } = await import('/client/job-stream.js');
  client?.close();
  client = new ScoutClient({ baseUrl: location.origin });
  board.hidden = false;
  const list = board.querySelector('ul');
  list.replaceChildren();
  const status = board.querySelector('.board-status');
  client.on('status', (s) => (status.textContent = s === 'open' ? `${ids.length} jobs on one connection` : s));
  for (const id of ids) {
    const row = document.createElement('li');
    row.dataset.jobId = String(id);
    row.textContent = `Job ${id}: connecting…`;
    list.append(row);
    const show = (e, what) => {
      row.dataset.seq = String(e.seq);
      row.dataset.status = e.status;
      row.textContent = `Job ${id}: ${what} · ${e.progress === null ? '–' : `${e.progress.toFixed(1)} %`} · ${e.results_count} results`;
    };
    const token = await tokenFor(id);
    const subscription = client.subscribe(id, { progressIntervalMs: 250, ...(token ? { token } : {}) });
    subscription.on('snapshot', (s) => show(s, s.status));
    subscription.on('event', (e) => show(e, e.event_type.replace('_', ' ')));
    subscription.on('end', (e) => show(e, e.status));
    subscription.on('error', (e) => {
      row.dataset.status = 'error';
      row.textContent = `Job ${id}: ${e.code === 'NOT_FOUND' ? 'not found' : e.message}`;
    });
  }
}

/** With access control on: a watch token per job from the key this tab keeps (none when off). */
async function tokenFor(jobId) {
  const key = sessionStorage.getItem('scout.apiKey');
  if (!key) return undefined;
  const response = await fetch(`/api/jobs/${jobId}/watch-tokens`, { method: 'POST', headers: { Authorization: `Bearer ${key}` } });
  const json = await response.json().catch(() => null);
  return response.status === 201 ? json?.watch_token : undefined;
}
