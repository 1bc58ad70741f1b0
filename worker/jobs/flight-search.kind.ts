import { jobParamsSchema, type JobParams } from '../../shared/api.js';
import type { FlightOrchestrator } from '../orchestrator/orchestrator.js';
import type { JobKind } from './job-kind.js';

/**
 * The flight search, the one kind of job there is: every origin × destination × date range ×
 * source through the orchestrator, then the job's offers saved as what this job saw.
 */
export function flightSearchKind(orchestrator: FlightOrchestrator): JobKind<JobParams> {
  return {
    name: 'flights',
    paramsSchema: jobParamsSchema,
    async run({ jobId, params, progress, signal }) {
      const party = { adults: params.adults, children: params.children };
      const result = await orchestrator.scrapeAll({
        origins: params.origins,
        destinations: params.destinations,
        dateRanges: params.date_ranges,
        scrapers: params.scrapers,
        party,
        currency: params.currency,
        progress,
        signal,
      });
      const saved = await orchestrator.saveToDatabase(result.flights, { jobId, party });
      return {
        resultsCount: saved,
        message: `Job completed: ${saved} flights saved from ${result.successfulScrapers} of ${result.tasksTotal} searches`,
        metadata: {
          successful_scrapers: result.successfulScrapers,
          failed_scrapers: result.failedScrapers,
          failed_scraper_names: [...new Set(result.failures.map((f) => f.scraper))],
          total_flights: saved,
          raw_flights: result.rawFlights,
          tasks_total: result.tasksTotal,
          best_offers: result.bestOffers,
          currency: params.currency,
        },
        summary: { successfulScrapers: result.successfulScrapers, failedScrapers: result.failedScrapers },
      };
    },
  };
}
