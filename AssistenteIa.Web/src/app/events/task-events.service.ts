import { Injectable, inject, signal } from '@angular/core';
import { Router } from '@angular/router';
import { FETCH } from '../api/api-client';
import type { TaskEvent } from '../api/api-types';
import { returnToSignIn } from '../auth/auth.guard';
import { AuthService } from '../auth/auth.service';
import { EventStreamReader, type StreamState } from './event-stream-reader';

/**
 * What a page receives: a lifecycle event; `resync` when the server could not replay what was missed; `open` each time
 * the stream (re)connects, with `resumed: false` when it had no event id to resume from, so what changed before it
 * connected is unknown and the page should read its data again.
 */
export type TaskStreamItem = { kind: 'event'; event: TaskEvent } | { kind: 'resync' } | { kind: 'open'; resumed: boolean };

export interface TaskStreamHandle {
  close(): void;
}

/** Live task events of the signed-in tenant (or of one task), read from the API's SSE endpoints. */
@Injectable({ providedIn: 'root' })
export class TaskEventsService {
  private readonly auth = inject(AuthService);
  private readonly router = inject(Router);
  private readonly fetchFn = inject(FETCH);

  /** The state of the most recently opened stream, for the connection badge. */
  readonly state = signal<StreamState>('closed');

  /** The tenant's stream: every task's events from now on. */
  tenant(onItem: (item: TaskStreamItem) => void): TaskStreamHandle {
    return this.open('/api/v1/tasks/events', onItem);
  }

  /** One task's stream: its kept history first, then what happens next. */
  task(id: string, onItem: (item: TaskStreamItem) => void, onNotFound?: () => void): TaskStreamHandle {
    return this.open(`/api/v1/tasks/${encodeURIComponent(id)}/events`, onItem, onNotFound);
  }

  private open(url: string, onItem: (item: TaskStreamItem) => void, onNotFound?: () => void): TaskStreamHandle {
    const reader: EventStreamReader = new EventStreamReader({
      url,
      fetch: this.fetchFn,
      headers: () => ({ 'X-Api-Key': this.auth.apiKey() ?? '' }),
      onMessage: message => {
        if (message.event === 'resync') {
          onItem({ kind: 'resync' });
          return;
        }
        if (!message.event.startsWith('task.')) {
          return;
        }
        try {
          onItem({ kind: 'event', event: JSON.parse(message.data) as TaskEvent });
        } catch {
          // A body we cannot read is skipped; the next event carries the whole task again.
        }
      },
      onState: state => {
        this.state.set(state);
        if (state === 'open') {
          onItem({ kind: 'open', resumed: reader.lastEventId !== undefined });
        } else if (state === 'unauthorized') {
          this.auth.signOut();
          returnToSignIn(this.router);
        } else if (state === 'not-found') {
          onNotFound?.();
        }
      },
    });
    void reader.run();
    return { close: () => reader.close() };
  }
}
