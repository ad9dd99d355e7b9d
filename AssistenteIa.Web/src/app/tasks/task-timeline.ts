import type { TaskEvent, TaskStatus } from '../api/api-types';

export interface TimelineEntry {
  sequence: number;
  event: string;
  status: TaskStatus;
  at: string;
  attemptNo: number;
}

/** Adds an event to a timeline kept in sequence order, once (the stream may repeat events after a reconnect). */
export function addToTimeline(timeline: readonly TimelineEntry[], event: TaskEvent): TimelineEntry[] {
  if (timeline.some(entry => entry.sequence === event.sequence)) {
    return timeline as TimelineEntry[];
  }
  const entry: TimelineEntry = { sequence: event.sequence, event: event.event, status: event.status, at: event.at, attemptNo: event.attemptNo };
  return [...timeline, entry].sort((a, b) => a.sequence - b.sequence);
}

/** Events after which the attempts or artifacts of the task have changed. */
export const attemptEvents: readonly string[] = ['started', 'succeeded', 'failed', 'deadlettered', 'cancelled', 'queued', 'requeued'];

/** Only http(s) addresses become links; anything else (`javascript:`, `data:`) is shown as text. */
export function safeHref(uri: string | null | undefined): string | null {
  if (!uri) return null;
  return /^https?:\/\//i.test(uri.trim()) ? uri.trim() : null;
}
