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
    // A token function, not a token: the client asks it again when the gateway refuses the one it
    // holds (watch tokens expire after WATCH_TOKEN_TTL_SECONDS, a board stays open for longer).
    const subscription = client.subscribe(id, { progressIntervalMs: 250, token: () => tokenFor(id) });
    subscription.on('snapshot', (s) => show(s, s.status));
    subscription.on('event', (e) => show(e, e.event_type.replace('_', ' ')));
    subscription.on('end', (e) => show(e, e.status));
    subscription.on('error', (e) => {
      row.dataset.status = e.code === 'TOKEN_EXPIRED' ? 'expired' : 'error';
      row.textContent = `Job ${id}: ${errorText(e)}`;
    });
  }
}

/** What a row says when its subscription stopped. */
function errorText(error) {
  if (error.code === 'NOT_FOUND') return 'not found';
  // The token it had ran out and no fresh one could be minted (no key in this tab, or it was revoked).
  if (error.code === 'TOKEN_EXPIRED') return 'watch link expired — enter your API key above and open the board again';
  if (error.code === 'FORBIDDEN') return 'not allowed — enter the API key of the job’s owner above';
  return error.message;
}

/**
 * With access control on: a fresh watch token per job from the key this tab keeps; null when none
 * can be had (no key, a refused key, access control off). A network failure throws: the client
 * asks again a few times before it gives up on the job.
 */
async function tokenFor(jobId) {
  const key = sessionStorage.getItem('scout.apiKey');
  if (!key) return null;
  const response = await fetch(`/api/jobs/${jobId}/watch-tokens`, { method: 'POST', headers: { Authorization: `Bearer ${key}` } });
  const json = await response.json().catch(() => null);
  return response.status === 201 ? (json?.watch_token ?? null) : null;
}
