import { createParser } from 'eventsource-parser';

/** One Server-Sent Event as received. */
export interface StreamMessage {
  id?: string;
  event: string;
  data: string;
}

export type StreamState = 'connecting' | 'open' | 'reconnecting' | 'closed' | 'unauthorized' | 'not-found';

export interface EventStreamOptions {
  url: string;
  /** Headers for each (re)connection, read each time so a new key is used. */
  headers: () => Record<string, string>;
  onMessage: (message: StreamMessage) => void;
  onState?: (state: StreamState) => void;
  fetch?: typeof fetch;
  /** First reconnection delay; the server's `retry:` field replaces it. */
  retryMs?: number;
  maxRetryMs?: number;
  lastEventId?: string;
}

/**
 * Reads an SSE stream with `fetch`, so the API key travels in a header (EventSource cannot send headers), and
 * reconnects after the stream ends or fails, sending `Last-Event-ID` so the server replays what was missed. Delays
 * double after each failed connection, up to `maxRetryMs`; a connection that opened resets them. 401/403 and 404 stop.
 */
export class EventStreamReader {
  private readonly abort = new AbortController();
  private readonly fetchFn: typeof fetch;
  private retryMs: number;
  private readonly maxRetryMs: number;
  private failures = 0;
  private closed = false;
  lastEventId: string | undefined;

  constructor(private readonly options: EventStreamOptions) {
    this.fetchFn = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.retryMs = options.retryMs ?? 3000;
    this.maxRetryMs = options.maxRetryMs ?? 30_000;
    this.lastEventId = options.lastEventId;
  }

  /** Runs until {@link close}, a refusal (401/403) or an unknown resource (404). */
  async run(): Promise<void> {
    this.setState('connecting');
    while (!this.closed) {
      const outcome = await this.connectOnce();
      if (outcome === 'stop' || this.closed) {
        return;
      }
      this.setState('reconnecting');
      const delay = outcome === 'ended' ? this.retryMs : Math.min(this.maxRetryMs, this.retryMs * 2 ** this.failures++);
      await this.sleep(delay);
    }
  }

  close(): void {
    if (!this.closed) {
      this.closed = true;
      this.abort.abort();
      this.setState('closed');
    }
  }

  private async connectOnce(): Promise<'ended' | 'failed' | 'stop'> {
    const headers: Record<string, string> = { ...this.options.headers(), Accept: 'text/event-stream' };
    if (this.lastEventId) {
      headers['Last-Event-ID'] = this.lastEventId;
    }
    let response: Response;
    try {
      response = await this.fetchFn(this.options.url, { headers, signal: this.abort.signal, cache: 'no-store' });
    } catch {
      return 'failed';
    }
    if (response.status === 401 || response.status === 403) {
      void response.body?.cancel().catch(() => undefined);
      this.closed = true;
      this.setState('unauthorized');
      return 'stop';
    }
    if (response.status === 404) {
      void response.body?.cancel().catch(() => undefined);
      this.closed = true;
      this.setState('not-found');
      return 'stop';
    }
    if (!response.ok || !response.body || !response.headers.get('Content-Type')?.startsWith('text/event-stream')) {
      void response.body?.cancel().catch(() => undefined);
      return 'failed';
    }

    this.failures = 0;
    this.setState('open');
    const parser = createParser({
      onEvent: event => {
        if (event.id) {
          this.lastEventId = event.id;
        }
        this.options.onMessage({ id: event.id, event: event.event ?? 'message', data: event.data });
      },
      onRetry: ms => {
        this.retryMs = ms;
      },
    });
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) {
          return 'ended';
        }
        parser.feed(decoder.decode(value, { stream: true }));
      }
    } catch {
      return this.closed ? 'stop' : 'failed';
    } finally {
      reader.releaseLock();
    }
  }

  private setState(state: StreamState): void {
    this.options.onState?.(state);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise(resolve => {
      const done = () => {
        clearTimeout(timer);
        this.abort.signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.abort.signal.addEventListener('abort', done, { once: true });
    });
  }
}
