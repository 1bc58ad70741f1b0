// The dashboard: enqueue a flight search (POST /api/jobs) and follow a job live with the client
// SDK's JobStream, the same code the CLI runs (the gateway serves it bundled at
// /client/job-stream.js), so reconnect, resume and dedup behave alike everywhere.
import { BestDeals } from './best-deals.js';
import { JobView } from './job-view.js';

const view = new JobView(document.getElementById('job'));
const deals = new BestDeals(document.getElementById('best-deals'), { label: (source) => view.label(source) });
const searchForm = document.getElementById('search-form');
const watchForm = document.getElementById('watch-form');
let current = null;
let currentJobId = null;

// The forms work at once (a submit before the SDK arrived would otherwise reload the page);
// following a job waits for the SDK.
const sdk = import('/client/job-stream.js').then(
  (module) => module.JobStream,
  (error) => {
    showFormError(`The live view is unavailable: the client script did not load (${error.message}).`);
    return null;
  },
);

// --- Access control: the API key, kept for this tab, and the watch tokens it gets ---
const keyInput = document.getElementById('api-key');
keyInput.value = sessionStorage.getItem('scout.apiKey') ?? '';
keyInput.addEventListener('input', () => sessionStorage.setItem('scout.apiKey', keyInput.value.trim()));
document.getElementById('key-form').addEventListener('submit', (event) => event.preventDefault());

function apiKey() {
  return keyInput.value.trim();
}

function authHeaders() {
  return apiKey() ? { Authorization: `Bearer ${apiKey()}` } : {};
}

/** POST /api/jobs/{id}/watch-tokens with the key: a token, or null where the gateway has none (auth off). */
async function mintToken(jobId) {
  if (!apiKey()) return null;
  const response = await fetch(`/api/jobs/${jobId}/watch-tokens`, { method: 'POST', headers: authHeaders() });
  const json = await response.json().catch(() => null);
  if (response.status === 201 && json?.watch_token) return json.watch_token;
  if (response.status === 404 && json?.error?.code === 'NOT_FOUND') return null; // watch tokens are off
  const error = new Error(json?.error?.message ?? `the gateway answered ${response.status}`);
  error.status = response.status;
  throw error;
}

/**
 * The JobStream's token function: the token that came with the job first, then a fresh one per
 * reconnect while a key is at hand (a long watch outlives any one token). Without a key (or with
 * one the gateway no longer accepts) the held token is all there is: once it has expired the
 * stream stops with TOKEN_EXPIRED and the view says the watch link expired, instead of
 * reconnecting for ever with it.
 */
function tokenSource(jobId, first) {
  let token = first ?? null;
  let used = false;
  return async () => {
    if (used && apiKey()) {
      try {
        token = await mintToken(jobId);
      } catch (error) {
        // A refused key cannot mint: keep the held token. The network failing is retried.
        if (error.status !== 401 && error.status !== 404) throw error;
      }
    }
    used = true;
    return token;
  };
}

setDefaultDates();
const cancelButton = document.getElementById('job-cancel');
cancelButton.addEventListener('click', onCancel);
searchForm.addEventListener('submit', onSearch);
watchForm.addEventListener('submit', onWatch);
window.addEventListener('hashchange', watchFromHash);
watchFromHash();

/** Follows a job from its first event: resuming "after seq 0" makes the gateway replay its history. */
async function watchJob(jobId, search = null, token = undefined) {
  currentJobId = jobId;
  const JobStream = await sdk;
  if (!JobStream || currentJobId !== jobId) return;
  void current?.close();
  view.reset(jobId);
  deals.reset();
  cancelButton.hidden = false;
  cancelButton.disabled = false;
  if (search) view.setSearch(search);
  if (token === undefined && apiKey()) {
    // Watching by id: the key asks for the job's token; a job that is not ours is not found.
    try {
      token = await mintToken(jobId);
    } catch (error) {
      view.note(error.status === 404 ? `Job ${jobId} not found` : `Cannot watch job ${jobId}: ${error.message}`);
      view.connection('closed', {});
      return;
    }
    if (currentJobId !== jobId) return;
  }
  const stream = new JobStream({ baseUrl: location.origin, jobId, resumeFrom: { lastSeq: 0, epoch: null }, token: tokenSource(jobId, token) });
  stream.on('snapshot', (snapshot, info) => view.snapshot(snapshot, info));
  stream.on('event', (event) => {
    view.event(event);
    deals.event(event);
  });
  stream.on('end', (event) => {
    view.end(event);
    cancelButton.hidden = true;
  });
  stream.on('status', (status, detail) => view.connection(status, detail));
  stream.on('error', (error) => {
    if (error.code === 'TOKEN_EXPIRED') view.linkExpired();
    else if (!error.retryable) view.note(error.message);
  });
  current = stream;
  stream.start();
  if (location.hash !== `#job=${jobId}`) history.replaceState(null, '', `#job=${jobId}`);
}

async function onSearch(event) {
  event.preventDefault();
  clearErrors();
  const data = new FormData(searchForm);
  const body = {
    origins: codes(data.get('origins')),
    destinations: codes(data.get('destinations')),
    date_ranges: [[data.get('depart'), data.get('return')]],
    scrapers: data.getAll('scrapers'),
  };
  const button = document.getElementById('search-submit');
  button.disabled = true;
  try {
    const response = await fetch('/api/jobs', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...authHeaders() },
      body: JSON.stringify(body),
    });
    const json = await response.json().catch(() => null);
    if (response.status === 202 && json) void watchJob(json.job_id, body, json.watch_token ?? null);
    else if (response.status === 400 && json?.error) showErrors(json.error);
    else if (response.status === 401) {
      document.getElementById('api-key-error').textContent = apiKey() ? 'This key was refused (unknown or revoked).' : 'Enter an API key to start searches on this gateway.';
      keyInput.setAttribute('aria-invalid', 'true');
      keyInput.focus();
    }
    else showFormError(json?.error?.message ?? `The gateway answered ${response.status}; try again.`);
  } catch (error) {
    showFormError(`Could not reach the gateway (${error.message}).`);
  } finally {
    button.disabled = false;
  }
}

/** POST /api/jobs/{id}/cancel with the key; the job's stream then brings its end (status cancelled). */
async function onCancel() {
  const jobId = currentJobId;
  if (jobId === null) return;
  cancelButton.disabled = true;
  try {
    const response = await fetch(`/api/jobs/${jobId}/cancel`, { method: 'POST', headers: authHeaders() });
    if (response.status === 200) return;
    const json = await response.json().catch(() => null);
    if (response.status === 409) view.note(`Job ${jobId} had already ended; nothing was cancelled.`);
    else if (response.status === 401) view.note('Enter your API key to cancel this job.');
    else if (response.status === 404) view.note(`Job ${jobId} is not one of yours (or does not exist).`);
    else view.note(json?.error?.message ?? `The gateway answered ${response.status}; try again.`);
  } catch (error) {
    view.note(`Could not reach the gateway (${error.message}).`);
  }
  cancelButton.disabled = false;
}

function onWatch(event) {
  event.preventDefault();
  const input = document.getElementById('watch-id');
  const error = document.getElementById('watch-error');
  const id = Number(input.value.trim());
  const valid = /^\d+$/.test(input.value.trim()) && id > 0 && id < 2 ** 31;
  input.setAttribute('aria-invalid', String(!valid));
  error.textContent = valid ? '' : 'Enter a job id: a positive whole number.';
  if (valid) void watchJob(id);
}

function watchFromHash() {
  const match = /^#job=(\d+)$/.exec(location.hash);
  if (match && Number(match[1]) !== currentJobId) void watchJob(Number(match[1]));
}

/** "muc, vie bcn" → ["muc", "vie", "bcn"]; the gateway upper-cases and validates them. */
function codes(value) {
  return String(value ?? '').split(/[\s,;]+/).filter(Boolean);
}

/** A 400's field errors go under their fields: "date_ranges.0" → the element for date_ranges. */
function showErrors(error) {
  const fields = error.fields ?? {};
  const unplaced = [];
  for (const [path, messages] of Object.entries(fields)) {
    const name = path.split('.')[0];
    const target = searchForm.querySelector(`[data-error-for="${name}"]`);
    if (!target) {
      unplaced.push(`${path}: ${messages.join('; ')}`);
      continue;
    }
    // The form calls scrapers "fare sources": its errors use the words of the box they sit under.
    const worded = name === 'scrapers' ? messages.map((m) => m.replace(/\bscrapers?\b/g, (w) => (w === 'scraper' ? 'fare source' : 'fare sources'))) : messages;
    target.textContent = [target.textContent, ...worded].filter(Boolean).join('; ');
    for (const input of searchForm.querySelectorAll(`[aria-describedby~="${target.id}"]`)) input.setAttribute('aria-invalid', 'true');
  }
  if (unplaced.length || Object.keys(fields).length === 0) showFormError([error.message, ...unplaced].join(' — '));
  searchForm.querySelector('input[aria-invalid="true"], fieldset[aria-invalid="true"] input')?.focus();
}

function showFormError(text) {
  document.getElementById('form-error').textContent = text;
}

function clearErrors() {
  document.getElementById('api-key-error').textContent = '';
  keyInput.removeAttribute('aria-invalid');
  for (const el of searchForm.querySelectorAll('.error')) el.textContent = '';
  for (const el of searchForm.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
}

/** Defaults a month ahead; the pickers offer only what the gateway accepts (today to 730 days ahead). */
function setDefaultDates() {
  const day = (offset) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
  for (const id of ['depart', 'return']) {
    const input = document.getElementById(id);
    input.min = day(0);
    input.max = day(730);
  }
  document.getElementById('depart').value ||= day(30);
  document.getElementById('return').value ||= day(37);
}
