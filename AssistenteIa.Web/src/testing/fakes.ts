import type { Task, TaskEvent } from '../app/api/api-types';

/** A task as the API returns it, with overrides. */
export function aTask(overrides: Partial<Task> = {}): Task {
  return {
    id: '0193a5b2-0000-7000-8000-000000000001',
    type: { domain: 'CustomerSupport', capability: 'LLM_Generation', execution: 'Async' },
    priority: 'Normal',
    status: 'Queued',
    payload: null,
    attemptCount: 0,
    maxAttempts: 3,
    lastError: null,
    scheduledAt: null,
    createdAt: '2026-11-25T10:00:00Z',
    updatedAt: '2026-11-25T10:00:00Z',
    correlationId: 'c-1',
    cancelRequested: false,
    retryAt: null,
    ...overrides,
  } as Task;
}

export function anEvent(event: string, sequence: number, task: Task): TaskEvent {
  return { event, sequence, at: task.updatedAt, from: null, status: task.status, attemptNo: task.attemptCount, task };
}

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  const type = status >= 400 ? 'application/problem+json' : 'application/json';
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': type, ...headers } });
}

/** A response whose body is an SSE stream made of the given chunks, then closed. */
export function sse(chunks: string[], status = 200): Response {
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
      controller.close();
    },
  });
  return new Response(body, { status, headers: { 'Content-Type': 'text/event-stream' } });
}

/** Waits until the condition holds (checked each macrotask), or fails after the deadline. */
export async function until(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met before the deadline');
    await new Promise(resolve => setTimeout(resolve, 5));
  }
}
