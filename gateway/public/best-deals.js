// The job's best deals, live: the five cheapest offers (party total) that results_updated and
// job_completed carry in metadata.best_offers, shown as a table that updates in place as the job
// runs. Plain DOM and textContent only; booking links are used only when they are http(s).

const COLUMNS = ['Total', 'Per person', 'Route', 'Outbound', 'Return', 'Flight', 'Source', 'Book'];

export class BestDeals {
  /** `label` names a source as the rest of the page does (e.g. "Wizz Air" for sim-wizzair). */
  constructor(slot, { label = (source) => source } = {}) {
    this.slot = slot;
    this.label = label;
    this.slot.classList.add('best-deals');
    const title = document.createElement('h3');
    title.id = 'best-deals-title';
    title.textContent = 'Best deals';
    const wrap = document.createElement('div');
    wrap.className = 'table-wrap';
    const table = document.createElement('table');
    table.className = 'deals';
    table.setAttribute('aria-labelledby', 'best-deals-title');
    const head = table.createTHead().insertRow();
    for (const name of COLUMNS) {
      const th = document.createElement('th');
      th.scope = 'col';
      th.textContent = name;
      if (name === 'Total' || name === 'Per person') th.className = 'num';
      head.append(th);
    }
    this.body = table.createTBody();
    this.body.id = 'best-deals-rows';
    this.body.setAttribute('aria-live', 'polite');
    wrap.append(table);
    this.slot.replaceChildren(title, wrap);
    this.reset();
  }

  /** Empties the table for a newly watched job. */
  reset() {
    this.rows = new Map();
    this.body.replaceChildren(this.placeholder('No offers yet: the cheapest appear here as fare sources answer.'));
  }

  /** Takes any event of the job; only those carrying best_offers change the table. */
  event(event) {
    const offers = event.metadata?.best_offers;
    if (Array.isArray(offers)) this.show(offers);
  }

  /** Shows the list in order, reusing the row of an offer already on screen (updated in place). */
  show(offers) {
    if (offers.length === 0) {
      this.reset();
      return;
    }
    const next = new Map();
    const rows = offers.map((offer, index) => {
      const key = [offer.source, offer.route, offer.departure_date, offer.departure_time, offer.return_date, offer.return_time, offer.flight_number].join('|');
      const row = this.rows.get(key) ?? this.row();
      this.fill(row, offer, index);
      next.set(key, row);
      return row;
    });
    this.rows = next;
    this.body.replaceChildren(...rows);
  }

  row() {
    const row = document.createElement('tr');
    for (let i = 0; i < COLUMNS.length; i++) row.insertCell();
    row.cells[0].className = row.cells[1].className = 'num';
    return row;
  }

  fill(row, offer, index) {
    const money = (amount) => `${Number(amount).toFixed(2)} ${offer.currency}`;
    const when = (date, time, arrival) => (date ? `${date} ${time ?? ''}${arrival ? `–${arrival}` : ''}` : 'one way');
    const total = money(offer.total_price);
    const changed = row.cells[0].textContent !== total;
    const texts = [
      total,
      money(offer.price_per_person),
      offer.route,
      when(offer.departure_date, offer.departure_time, offer.arrival_time),
      when(offer.return_date, offer.return_time, offer.return_arrival_time),
      offer.flight_number ?? offer.airline_code,
      this.label(offer.source),
    ];
    texts.forEach((text, i) => {
      if (row.cells[i].textContent !== text) row.cells[i].textContent = text;
    });
    row.dataset.rank = String(index + 1);
    if (changed) row.dataset.fresh = 'true';
    else delete row.dataset.fresh;
    const link = bookingLink(offer.booking_url);
    row.cells[7].replaceChildren(link ?? document.createTextNode('–'));
  }

  placeholder(text) {
    const row = document.createElement('tr');
    row.className = 'empty';
    const cell = row.insertCell();
    cell.colSpan = COLUMNS.length;
    cell.textContent = text;
    return row;
  }
}

function bookingLink(url) {
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    return null; // not a URL: no link
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return null;
  const a = document.createElement('a');
  a.href = parsed.href;
  a.target = '_blank';
  a.rel = 'noopener noreferrer';
  a.textContent = 'Book';
  return a;
}
