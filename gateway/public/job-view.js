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
    };
    this.emptyTasksRow = this.el.tasks.querySelector('.empty');
  }

  /** Clears everything for a newly watched job. */
  reset(jobId) {
    this.stopQueued();
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
    this.apply(snapshot);
    this.log(snapshot, 'snapshot');
    this.showQueued(snapshot);
  }

  event(event) {
    this.stopQueued();
    this.apply(event);
    const task = TASK_STATES[event.event_type];
    if (task) this.updateTask(event, task);
    this.log(event, event.event_type);
  }

  end(event) {
    this.ended = true;
    if (event.status === 'completed') this.setProgress(100);
    this.setStatus(event.status);
  }

  connection(status, detail) {
    let text = CONNECTION_TEXT[status] ?? status;
    if (status === 'reconnecting') text = `reconnecting in ${(detail.delayMs / 1000).toFixed(1)} s…`;
    if (status === 'closed' && this.ended) text = 'finished';
    this.el.connection.dataset.state = status === 'closed' && this.ended ? 'finished' : status;
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

  updateTask(event, task) {
    const m = event.metadata;
    const key = `${m.scraper}|${m.route}|${m.dates}`;
    let row = this.rows.get(key);
    if (!row) {
      this.emptyTasksRow.remove();
      row = document.createElement('tr');
      for (const text of [m.scraper, m.route, m.dates, '', '']) {
        const cell = document.createElement('td');
        cell.textContent = text ?? '';
        row.append(cell);
      }
      row.cells[4].className = 'num';
      this.rows.set(key, row);
      this.el.tasks.append(row);
    }
    const pill = document.createElement('span');
    pill.className = 'pill';
    pill.dataset.state = task.state;
    pill.textContent = task.label;
    if (m.error) pill.title = String(m.error);
    row.cells[3].replaceChildren(pill);
    row.cells[4].textContent = task.state === 'running' ? '' : String(m.results_count ?? 0);
  }

  log(event, label) {
    const item = document.createElement('li');
    item.dataset.type = label;
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
    item.append(time, seq, type, message);
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
