// The live view of one job (the #job section), fed by the client SDK's JobStream events.
// Plain DOM and textContent only: messages come from scrapers and are never parsed as HTML.

const LOG_LIMIT = 500;
const TASK_STATES = {
  scraper_started: { label: 'searching', state: 'running' },
  scraper_completed: { label: 'done', state: 'done' },
  scraper_failed: { label: 'failed', state: 'failed' },
};
const CONNECTION_TEXT = { connecting: 'connecting…', open: 'live', closed: 'disconnected' };

export class JobView {
  constructor(root) {
    const $ = (id) => root.querySelector(`#${id}`);
    this.root = root;
    this.el = {
      title: $('job-title'),
      status: $('job-status'),
      connection: $('connection'),
      progress: $('job-progress'),
      progressText: $('progress-text'),
      results: $('results-count'),
      tasksDone: $('tasks-done'),
      tasksOk: $('tasks-ok'),
      tasksFailed: $('tasks-failed'),
      message: $('job-message'),
      tasks: $('tasks'),
      log: $('log'),
      search: $('job-search'),
    };
    this.emptyTasksRow = this.el.tasks.querySelector('.empty');
    // The table names each fare source as the form does ("Ryanair", not "sim-ryanair").
    this.labels = new Map(
      [...document.querySelectorAll('input[name="scrapers"]')].map((input) => [input.value, input.parentElement.textContent.trim()]),
    );
  }

  /** A source's name as the form shows it; unknown ones without the "sim-" of simulated sources. */
  label(scraper) {
    if (this.labels.has(scraper)) return this.labels.get(scraper);
    const name = String(scraper ?? '').replace(/^sim-/, '');
    return name.charAt(0).toUpperCase() + name.slice(1);
  }

  /** "MUC → BCN, LIS · 20 Dec – 27 Dec 2026 · Ryanair, Kiwi.com": what the job searches. */
  setSearch(params) {
    if (!params || !Array.isArray(params.origins) || !Array.isArray(params.destinations)) return;
    this.params = params;
    const dates = (params.date_ranges ?? []).map(([from, to]) => `${formatDay(from, from.slice(0, 4) !== to.slice(0, 4))} – ${formatDay(to, true)}`).join(', ');
    const sources = (params.scrapers ?? []).map((s) => this.label(s)).join(', ');
    this.el.search.textContent = [`${params.origins.join(', ')} → ${params.destinations.join(', ')}`, dates, sources].filter(Boolean).join(' · ');
  }

  /** The job does not exist: say so plainly instead of showing a failed job. */
  notFound(jobId) {
    this.missing = true;
    this.stopQueued();
    this.root.dataset.state = 'not-found';
    this.el.title.textContent = `No job ${jobId}`;
    this.el.search.textContent = '';
    this.el.message.textContent = `There is no job ${jobId}. Check the number, or start a new search.`;
  }

  /** The watch token ran out and no fresh one could be had: say so, plainly, and stop. */
  linkExpired() {
    this.expired = true;
    this.note('This watch link has expired. Enter your API key above and watch the job again to keep following it.');
  }

  /** Clears everything for a newly watched job. */
  reset(jobId) {
    this.stopQueued();
    this.missing = false;
    this.expired = false;
    this.params = null;
    delete this.root.dataset.state;
    this.el.search.textContent = '';
    this.rows = new Map();
    this.ended = false;
    this.shownPercent = null;
    this.root.hidden = false;
    document.getElementById('job-placeholder')?.remove();
    this.el.title.textContent = `Job #${jobId}`;
    this.setStatus('pending');
    this.setProgress(0);
    this.el.results.textContent = '0';
    this.el.tasksDone.textContent = '–';
    this.el.tasksOk.textContent = '0';
    this.el.tasksFailed.textContent = '0';
    this.el.message.textContent = '';
    this.el.tasks.replaceChildren(this.emptyTasksRow);
    this.el.log.replaceChildren();
    this.connection('connecting', {});
  }

  snapshot(snapshot, { resync }) {
    if (resync) this.note('Earlier events are no longer available; showing the job as it is now.');
    if (!this.params) this.setSearch(snapshot.metadata.params);
    this.apply(snapshot);
    this.log(snapshot, 'snapshot');
    this.showQueued(snapshot);
  }

  event(event) {
    this.stopQueued();
    if (event.seq === 0 && event.metadata.error === 'not_found') {
      this.notFound(event.job_id);
      return;
    }
    if (event.event_type === 'job_started') this.setSearch(event.metadata.params);
    this.apply(event);
    const task = TASK_STATES[event.event_type];
    if (task) this.updateTask(event, task);
    this.log(event, event.event_type);
  }

  end(event) {
    this.ended = true;
    if (this.missing) return;
    if (event.status === 'completed') this.setProgress(100);
    this.setStatus(event.status);
  }

  connection(status, detail) {
    let text = CONNECTION_TEXT[status] ?? status;
    if (status === 'reconnecting') text = `reconnecting in ${(detail.delayMs / 1000).toFixed(1)} s…`;
    if (status === 'closed' && this.ended) text = this.missing ? 'not found' : 'finished';
    if (status === 'closed' && !this.ended && this.expired) text = 'watch link expired';
    this.el.connection.dataset.state = status === 'closed' && this.ended ? 'finished' : status === 'closed' && this.expired ? 'expired' : status;
    this.el.connection.textContent = text;
  }

  note(text) {
    const item = document.createElement('li');
    item.className = 'note';
    item.textContent = text;
    this.appendLog(item);
  }

  apply(event) {
    this.setStatus(event.status);
    if (event.progress !== null) this.setProgress(event.progress);
    this.el.results.textContent = String(event.results_count);
    if (event.message) this.el.message.textContent = event.message;
    const m = event.metadata;
    // job_progress carries both counts; job_completed / job_failed only the total and the outcomes.
    const done = typeof m.tasks_done === 'number' ? m.tasks_done : m.successful_scrapers + m.failed_scrapers;
    if (typeof m.tasks_total === 'number' && Number.isFinite(done)) this.el.tasksDone.textContent = `${done} of ${m.tasks_total}`;
    if (typeof m.successful_scrapers === 'number') this.el.tasksOk.textContent = String(m.successful_scrapers);
    if (typeof m.failed_scrapers === 'number') this.el.tasksFailed.textContent = String(m.failed_scrapers);
  }

  /** A job no worker has taken yet says so, and for how long, until its first event. */
  showQueued(snapshot) {
    this.stopQueued();
    const m = snapshot.metadata;
    if (m.queued !== true || snapshot.status !== 'pending') return;
    const since = Date.parse(m.queued_since);
    const place = typeof m.queue_position === 'number' ? `, number ${m.queue_position} of ${m.queue_length} in line` : '';
    const render = () => {
      const seconds = Math.max(0, Math.round((Date.now() - since) / 1000));
      this.el.message.textContent = `Waiting in the queue for ${seconds} s${place}: no worker has taken this job yet.`;
    };
    this.el.status.textContent = 'queued';
    this.el.status.dataset.status = 'pending';
    render();
    this.queuedTimer = setInterval(render, 1000);
  }

  stopQueued() {
    clearInterval(this.queuedTimer);
    this.queuedTimer = undefined;
  }

  setStatus(status) {
    this.el.status.dataset.status = status;
    this.el.status.textContent = status;
  }

  setProgress(percent) {
    this.el.progress.value = percent;
    // The percentage is an aria-live region: rewrite it only when the whole number changes,
    // so a screen reader hears steps, not every event.
    const shown = Math.floor(percent);
    if (shown === this.shownPercent) return;
    this.shownPercent = shown;
    this.el.progressText.textContent = `${shown} %`;
  }

  /**
   * One row per fare source, however many routes and dates the job has: searches done of the
   * total, failures, flights, and a state. Each single search is in the details log.
   */
  updateTask(event, task) {
    const m = event.metadata;
    let row = this.rows.get(m.scraper);
    if (!row) {
      this.emptyTasksRow.remove();
      const tr = document.createElement('tr');
      tr.dataset.source = m.scraper;
      for (const text of [this.label(m.scraper), '', '', '', '']) {
        const cell = document.createElement('td');
        cell.textContent = text;
        tr.append(cell);
      }
      for (const i of [1, 2, 3]) tr.cells[i].className = 'num';
      row = { tr, running: new Set(), done: new Set(), failed: new Set(), flights: 0 };
      this.rows.set(m.scraper, row);
      this.el.tasks.append(tr);
    }
    const key = `${m.route}|${m.dates}`;
    if (task.state === 'running') row.running.add(key);
    else {
      row.running.delete(key);
      (task.state === 'done' ? row.done : row.failed).add(key);
      if (task.state === 'done') row.flights += Number(m.results_count ?? 0);
    }
    const p = this.params;
    const total = p ? p.origins.length * p.destinations.length * p.date_ranges.length : null;
    const finished = row.done.size + row.failed.size;
    row.tr.cells[1].textContent = total ? `${finished} of ${total}` : String(finished);
    row.tr.cells[2].textContent = String(row.failed.size);
    row.tr.cells[3].textContent = String(row.flights);
    const state = row.running.size > 0 || (total !== null && finished < total) ? 'running' : row.failed.size === 0 ? 'done' : row.done.size === 0 ? 'failed' : 'partial';
    const pill = document.createElement('span');
    pill.className = 'pill';
    pill.dataset.state = state;
    pill.textContent = { running: 'searching', done: 'done', failed: 'failed', partial: 'some failed' }[state];
    if (m.error) pill.title = String(m.error);
    row.tr.cells[4].replaceChildren(pill);
  }

  /** The event in a plain sentence, e.g. "Ryanair found 12 flights for MUC→BCN (2027-05-01/2027-05-09)". */
  sentence(event, label) {
    const m = event.metadata;
    const source = this.label(m.scraper);
    switch (label) {
      case 'snapshot': return `Connected: the job is ${event.status}${event.progress !== null ? `, ${Math.floor(event.progress)} % done` : ''}.`;
      case 'job_started': return 'The search started.';
      case 'scraper_started': return `${source} is searching ${m.route} (${m.dates}).`;
      case 'scraper_completed': return `${source} found ${m.results_count ?? 0} flights for ${m.route} (${m.dates}).`;
      case 'scraper_failed': return `${source} could not search ${m.route} (${m.dates}): ${m.error ?? 'error'}.`;
      case 'results_updated': return `${event.results_count} flights found so far.`;
      case 'job_completed': return `Finished: ${event.results_count} flights found.`;
      case 'job_failed': return `The search failed: ${event.message ?? 'no reason given'}.`;
      default: return event.message ?? label;
    }
  }

  log(event, label) {
    const item = document.createElement('li');
    item.dataset.type = label;
    const sentence = document.createElement('span');
    sentence.className = 'sentence';
    sentence.textContent = this.sentence(event, label);
    const time = document.createElement('time');
    time.dateTime = event.timestamp;
    time.textContent = new Date(event.timestamp).toLocaleTimeString();
    const seq = document.createElement('span');
    seq.className = 'seq';
    seq.textContent = `#${event.seq}`;
    const type = document.createElement('span');
    type.className = 'type';
    type.textContent = label;
    const message = document.createElement('span');
    message.className = 'message';
    message.textContent = event.message ?? '';
    const meta = document.createElement('span');
    meta.className = 'meta';
    meta.append(time, seq, type, message);
    item.append(sentence, meta);
    this.appendLog(item);
  }

  appendLog(item) {
    const log = this.el.log;
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 24;
    log.append(item);
    while (log.childElementCount > LOG_LIMIT) log.firstElementChild.remove();
    if (atBottom) log.scrollTop = log.scrollHeight;
  }
}

/** "2027-05-01" → "1 May", or "1 May 2027" with the year. Calendar dates: no time zone applies. */
function formatDay(iso, withYear = false) {
  const date = new Date(`${iso}T00:00:00Z`);
  if (Number.isNaN(date.getTime())) return String(iso);
  return date.toLocaleDateString('en-GB', { day: 'numeric', month: 'short', ...(withYear ? { year: 'numeric' } : {}), timeZone: 'UTC' });
}
