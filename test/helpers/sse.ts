export interface SseEvent {
  id: string | undefined;
  event: string | undefined;
  data: string;
  /** When the frame arrived (performance.now()). */
  at: number;
}

/** A real Server-Sent Events reader over fetch: frames as they arrive, and the stream's end. */
export class SseStream {
  readonly events: SseEvent[] = [];
  ended = false;
  readonly done: Promise<void>;
  private readonly abort = new AbortController();
  private waiters: Array<() => void> = [];

  constructor(
    readonly response: Response,
    abort: AbortController,
  ) {
    this.abort = abort;
    this.done = this.pump();
  }

  static async open(url: string, headers: Record<string, string>): Promise<SseStream> {
    const abort = new AbortController();
    const response = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
    return new SseStream(response, abort);
  }

  private async pump(): Promise<void> {
    const reader = this.response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let cut: number;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const frame = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const fields = new Map<string, string>();
          for (const line of frame.split('\n')) {
            if (line.startsWith(':')) continue;
            const colon = line.indexOf(':');
            if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1).trimStart());
          }
          if (fields.has('data'))
            this.events.push({
              id: fields.get('id'),
              event: fields.get('event'),
              data: fields.get('data')!,
              at: performance.now(),
            });
          this.notify();
        }
      }
    } catch {
      // aborted by close()
    } finally {
      this.ended = true;
      this.notify();
    }
  }

  private notify() {
    const waiting = this.waiters;
    this.waiters = [];
    for (const wake of waiting) wake();
  }

  /** Waits (without polling) until `accept` holds for the events so far; fails after `timeoutMs`. */
  async until(accept: (events: SseEvent[]) => boolean, timeoutMs = 20_000): Promise<SseEvent[]> {
    const deadline = Date.now() + timeoutMs;
    while (!accept(this.events)) {
      if (this.ended) throw new Error(`stream ended; got ${this.events.map((e) => e.event).join(', ')}`);
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`condition not met within ${timeoutMs} ms; got ${this.events.map((e) => e.event).join(', ')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.events;
  }

  close(): void {
    this.abort.abort();
  }
}
