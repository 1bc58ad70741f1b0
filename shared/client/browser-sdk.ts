/** What the dashboard imports from the bundled SDK: one job (JobStream) or many on one connection (ScoutClient). */
export { JobStream } from './job-stream.js';
export { ScoutClient } from './scout-client.js';
export { WatchTokenExpired, tokenExpired } from './watch-token.js';
