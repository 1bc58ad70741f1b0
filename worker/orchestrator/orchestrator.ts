import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { Database } from '../../shared/db/database.js';
import { saveJobOffers } from '../../shared/db/offers.repository.js';
import { errorMessage, InvalidJobError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { ScrapeFailedError, type ScrapeSummary } from '../errors.js';
import type { ProgressTracker, TaskRef } from '../progress-tracker.js';
import { failureOf, type SourceFailure } from '../scrapers/http/source-error.js';
import { scrapedFlightSchema, type Party, type ScrapedFlight, type Scraper } from '../scrapers/scraper.js';
import { bestOffers, topSignature, type BestOffer } from './best-offers.js';
import { dedupeFlights, DEFAULT_DEDUPE_WINDOW_MINUTES } from './dedupe.js';
import { uniqueOffers } from './offer-rows.js';
import { runPool } from './run-pool.js';

export interface FlightOrchestratorOptions {
  /** Every scraper a job may name, by name. */
  scrapers: ReadonlyMap<string, Scraper>;
  db: Kysely<Database>;
  /** Scraper tasks of one job running at once. */
  concurrency: number;
  /** A job fails when more than this share of its tasks failed (1: only when all failed). */
  failureThreshold: number;
  log: Logger;
  dedupeWindowMinutes?: number;
}

export interface ScrapeAllInput {
  origins: readonly string[];
  destinations: readonly string[];
  /** [departure, return] pairs, YYYY-MM-DD; a null return searches one way. */
  dateRanges: readonly (readonly [string, string | null])[];
  /** Names of the scrapers to run; all known ones when omitted. */
  scrapers?: readonly string[];
  /** Who travels; two adults and two children when omitted. */
  party?: Party;
  /** Offers are kept in this currency only (never converted); EUR when omitted. */
  currency?: string;
  /** The job's event helpers; the job id is the tracker's. */
  progress: ProgressTracker;
  /** Aborts every running search; scrapeAll then rejects with the abort reason. */
  signal?: AbortSignal;
}

export interface TaskFailure extends TaskRef {
  error: string;
  failure: SourceFailure;
}

export interface ScrapeAllResult extends ScrapeSummary {
  /** Deduplicated across scrapers, in a stable order. */
  flights: ScrapedFlight[];
  /** Offers before deduplication. */
  rawFlights: number;
  failures: TaskFailure[];
  /** The cheapest offers by party total (what the last results_updated carried). */
  bestOffers: BestOffer[];
}

interface Task {
  scraper: Scraper;
  origin: string;
  destination: string;
  departDate: string;
  returnDate: string | null;
  ref: TaskRef;
}

const scrapedFlightsSchema = z.array(scrapedFlightSchema);

/**
 * Runs a job's searches: every origin × destination × date range × scraper, in parallel under a
 * concurrency limit, reporting each task and the job's progress through its ProgressTracker, and
 * merges the offers of all sources. Knows scrapers and the event helpers only, not Redis.
 */
export class FlightOrchestrator {
  constructor(private readonly options: FlightOrchestratorOptions) {}

  async scrapeAll(input: ScrapeAllInput): Promise<ScrapeAllResult> {
    const { progress } = input;
    const jobId = progress.jobId;
    const log = this.options.log.child({ jobId });
    const tasks = this.plan(input);
    const window = this.options.dedupeWindowMinutes ?? DEFAULT_DEDUPE_WINDOW_MINUTES;

    const party = input.party ?? { adults: 2, children: 2 };
    const currency = input.currency ?? 'EUR';
    const found: ScrapedFlight[] = [];
    let unique: ScrapedFlight[] = [];
    let best: BestOffer[] = [];
    let bestSignature = '';
    let done = 0;
    let successful = 0;
    const failures: TaskFailure[] = [];
    const summary = (): ScrapeSummary => ({
      tasksTotal: tasks.length,
      successfulScrapers: successful,
      failedScrapers: failures.length,
      totalFlights: unique.length,
    });

    log.info({ tasks: tasks.length, concurrency: this.options.concurrency }, 'scraping started');
    await runPool(
      tasks,
      this.options.concurrency,
      async (task, signal) => {
        const taskLog = log.child({ scraper: task.ref.scraper, route: task.ref.route, dates: task.ref.dates });
        await progress.emitScraperStarted(task.ref);
        let flights: ScrapedFlight[] | undefined;
        let otherCurrency = 0;
        let failure: { error: string; failure: SourceFailure } | undefined;
        try {
          const offers = scrapedFlightsSchema.parse(
            await task.scraper.search({
              origin: task.origin,
              destination: task.destination,
              departDate: task.departDate,
              returnDate: task.returnDate,
              party,
              currency,
              signal,
            }),
          );
          // Prices are compared within one currency only: a source that answers in another
          // (WizzAir quotes the departure airport's) contributes nothing rather than a made-up rate.
          flights = offers.filter((offer) => offer.currency === currency);
          otherCurrency = offers.length - flights.length;
        } catch (error) {
          if (signal.aborted) throw signal.reason;
          // A failing source (or one returning malformed offers) costs its task, not the job.
          failure =
            error instanceof z.ZodError
              ? { error: `malformed results: ${error.issues[0]?.path.join('.')}: ${error.issues[0]?.message ?? 'invalid'}`, failure: 'bad_response' }
              : { error: errorMessage(error), failure: failureOf(error) };
          taskLog.warn({ err: failure.error, failure: failure.failure }, 'scraper failed');
        }

        // Everything below runs without awaiting until the emits are issued, so the counts each
        // event carries only grow in seq order, however tasks interleave.
        done += 1;
        const emits: Promise<unknown>[] = [];
        if (flights) {
          successful += 1;
          found.push(...flights);
          const before = unique.length;
          unique = dedupeFlights(found, window);
          taskLog.debug({ flights: flights.length, unique: unique.length, otherCurrency }, 'scraper completed');
          emits.push(progress.emitScraperCompleted(task.ref, { resultsCount: flights.length, metadata: otherCurrency ? { other_currency: otherCurrency } : {} }));
          // The top of the job's offers is announced whenever it changes (new cheapest, or a
          // cheaper source for one of them), not only when the count grows.
          const top = bestOffers(unique);
          const signature = topSignature(top);
          if (unique.length > before || signature !== bestSignature) {
            best = top;
            bestSignature = signature;
            const cheapest = top[0];
            const message = cheapest
              ? `${unique.length} unique flights found so far; cheapest ${cheapest.total_price.toFixed(2)} ${currency} for the party (${cheapest.route}, ${cheapest.source})`
              : undefined;
            emits.push(progress.emitResultsUpdated({ resultsCount: unique.length, message, metadata: { best_offers: top, currency } }));
          }
        } else {
          failures.push({ ...task.ref, ...failure! });
          emits.push(progress.emitScraperFailed(task.ref, failure!));
        }
        const s = summary();
        emits.push(
          progress.emitJobProgress({
            progress: (done / tasks.length) * 100,
            resultsCount: unique.length,
            message: `${done} of ${tasks.length} searches done, ${unique.length} unique flights`,
            metadata: {
              successful_scrapers: s.successfulScrapers,
              failed_scrapers: s.failedScrapers,
              total_flights: s.totalFlights,
              tasks_done: done,
              tasks_total: s.tasksTotal,
            },
          }),
        );
        await Promise.all(emits);
      },
      input.signal,
    );

    const result: ScrapeAllResult = { ...summary(), flights: unique, rawFlights: found.length, failures, bestOffers: best };
    log.info({ successful: result.successfulScrapers, failed: result.failedScrapers, flights: result.totalFlights, raw: result.rawFlights }, 'scraping finished');
    this.assertEnoughSucceeded(result);
    return result;
  }

  /**
   * Stores a job's offers: each offer once (whoever found it), and what this job saw of it — its
   * price for this party — beside the other jobs' observations, never over them. Idempotent: a job
   * re-run after a crash or a retry ends with one observation per offer. Returns the number of
   * offers the job holds.
   */
  async saveToDatabase(flights: readonly ScrapedFlight[], { jobId, party }: { jobId: number; party?: Party }): Promise<number> {
    return saveJobOffers(this.options.db, jobId, uniqueOffers(flights), party ?? { adults: 2, children: 2 }, new Date());
  }

  private plan(input: ScrapeAllInput): Task[] {
    const names = input.scrapers ?? [...this.options.scrapers.keys()];
    const scrapers = names.map((name) => {
      const scraper = this.options.scrapers.get(name);
      if (!scraper) throw new InvalidJobError(`unknown scraper "${name}"`);
      return scraper;
    });
    const tasks: Task[] = [];
    for (const origin of input.origins) {
      for (const destination of input.destinations) {
        if (origin === destination) continue;
        for (const [departDate, returnDate] of input.dateRanges) {
          for (const scraper of scrapers) {
            const ref = { scraper: scraper.name, route: `${origin}→${destination}`, dates: returnDate ? `${departDate}/${returnDate}` : departDate };
            tasks.push({ scraper, origin, destination, departDate, returnDate, ref });
          }
        }
      }
    }
    if (tasks.length === 0) throw new InvalidJobError('the job has nothing to search (no scraper, or every origin is also its destination)');
    return tasks;
  }

  private assertEnoughSucceeded(result: ScrapeAllResult): void {
    const { failedScrapers: failed, tasksTotal: total } = result;
    const summary: ScrapeSummary = { tasksTotal: total, successfulScrapers: result.successfulScrapers, failedScrapers: failed, totalFlights: result.totalFlights };
    const threshold = this.options.failureThreshold;
    if (failed === 0) return;
    const reasons = [...new Set(result.failures.map((f) => f.error))].slice(0, 3).join('; ');
    if (failed === total) {
      throw new ScrapeFailedError(`every scraper task failed (${failed} of ${total}): ${reasons}`, summary);
    }
    if (failed / total > threshold) {
      const share = Math.round((failed / total) * 1000) / 10;
      throw new ScrapeFailedError(
        `${failed} of ${total} scraper tasks failed (${share}%), more than the allowed ${threshold * 100}%: ${reasons}`,
        summary,
      );
    }
  }
}
