import { ChangeDetectionStrategy, Component, DestroyRef, OnInit, computed, inject, input, signal } from '@angular/core';
import { RouterLink } from '@angular/router';
import { ApiClient, ApiError } from '../api/api-client';
import { cancellableStatuses, type Task, type TaskArtifact, type TaskAttempt, type TaskEvent } from '../api/api-types';
import { TaskEventsService, type TaskStreamHandle } from '../events/task-events.service';
import { formatCost, formatMs, formatTime, linkify } from '../shared/format';
import { StatusBadge } from '../shared/status-badge';
import { addToTimeline, attemptEvents, safeHref, type TimelineEntry } from './task-timeline';

/** One task: payload, status timeline, attempts with costs, outputs, and cancel; all kept live by its event stream. */
@Component({
  selector: 'app-task-details-page',
  imports: [RouterLink, StatusBadge],
  changeDetection: ChangeDetectionStrategy.OnPush,
  templateUrl: './task-details.page.html',
})
export class TaskDetailsPage implements OnInit {
  /** The route's `:id`, bound by the router. */
  readonly id = input.required<string>();

  private readonly api = inject(ApiClient);
  private readonly events = inject(TaskEventsService);

  protected readonly formatMs = formatMs;
  protected readonly formatCost = formatCost;
  protected readonly formatTime = formatTime;
  protected readonly linkify = linkify;
  protected readonly safeHref = safeHref;

  protected readonly task = signal<Task | null>(null);
  protected readonly attempts = signal<TaskAttempt[]>([]);
  protected readonly artifacts = signal<TaskArtifact[]>([]);
  protected readonly timeline = signal<TimelineEntry[]>([]);
  protected readonly loading = signal(true);
  protected readonly notFound = signal(false);
  protected readonly error = signal<string | null>(null);
  protected readonly cancelling = signal(false);
  protected readonly cancelMessage = signal<string | null>(null);
  protected readonly payloadText = computed(() => JSON.stringify(this.task()?.payload ?? {}, null, 2));
  protected readonly canCancel = computed(() => {
    const task = this.task();
    return !!task && cancellableStatuses.includes(task.status) && !task.cancelRequested;
  });
  protected readonly totalCost = computed(() => this.attempts().reduce((sum, a) => sum + a.cost, 0));

  private stream: TaskStreamHandle | null = null;
  private refreshTimer: ReturnType<typeof setTimeout> | null = null;
  private refreshTask = false;
  private refreshVersion = 0;
  private destroyed = false;

  constructor() {
    inject(DestroyRef).onDestroy(() => {
      this.destroyed = true;
      this.stream?.close();
      if (this.refreshTimer) clearTimeout(this.refreshTimer);
    });
  }

  async ngOnInit(): Promise<void> {
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(this.id())) {
      this.notFound.set(true);
      this.loading.set(false);
      return;
    }
    try {
      const [task, attempts, artifacts] = await Promise.all([
        this.api.getTask(this.id()), this.api.attempts(this.id()), this.api.artifacts(this.id()),
      ]);
      this.task.set(task);
      this.attempts.set(attempts);
      this.artifacts.set(artifacts);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) {
        this.notFound.set(true);
      } else {
        this.error.set(e instanceof ApiError ? e.message : 'The API cannot be reached.');
      }
      return;
    } finally {
      this.loading.set(false);
    }
    // The page may have been left while it loaded: a stream opened now would never be closed.
    if (this.destroyed) {
      return;
    }
    this.stream = this.events.task(this.id(), item => {
      if (item.kind === 'resync') {
        this.scheduleRefresh(true);
      } else if (item.kind === 'event') {
        this.onEvent(item.event);
      }
    });
  }

  /** JSON outputs (classification, rules, search results) indented; other text as it is. */
  protected readable(artifact: TaskArtifact): string {
    const content = artifact.content ?? '';
    if (artifact.mediaType !== 'application/json') {
      return content;
    }
    try {
      return JSON.stringify(JSON.parse(content), null, 2);
    } catch {
      return content;
    }
  }

  /** The id of a file the API stores (/api/v1/files/{id}); null for any other URI. */
  protected fileId(uri: string | null | undefined): string | null {
    return /^\/api\/v1\/files\/([0-9a-f-]{36})$/i.exec(uri ?? '')?.[1] ?? null;
  }

  /** Fetched with the key (a plain link would be refused), then saved under the artifact's name. */
  async download(id: string, name: string): Promise<void> {
    const blob = await this.api.downloadFile(id);
    const url = URL.createObjectURL(blob);
    const link = document.createElement('a');
    link.href = url;
    link.download = name;
    link.click();
    URL.revokeObjectURL(url);
  }

  async cancel(): Promise<void> {
    this.cancelling.set(true);
    this.cancelMessage.set(null);
    try {
      const now = await this.api.cancelTask(this.id());
      this.cancelMessage.set(now ? 'Cancelled.' : 'Cancellation sent to the worker running it.');
      this.showTask(await this.api.getTask(this.id()));
    } catch (e) {
      this.cancelMessage.set(e instanceof ApiError ? e.message : 'The API cannot be reached.');
    } finally {
      this.cancelling.set(false);
    }
  }

  /**
   * A task read with GET, unless the page already shows a later state of it: the worker's event (cancelled, say) can
   * arrive while the read that started before it is still on its way, and the older answer must not put it back.
   */
  private showTask(task: Task): void {
    const current = this.task();
    if (!current || Date.parse(task.updatedAt) >= Date.parse(current.updatedAt)) {
      this.task.set(task);
    }
  }

  private onEvent(event: TaskEvent): void {
    this.timeline.update(timeline => addToTimeline(timeline, event));
    const current = this.task();
    if (current && Date.parse(event.task.updatedAt) >= Date.parse(current.updatedAt)) {
      this.task.set({ ...current, ...event.task, payload: current.payload });
    }
    if (attemptEvents.includes(event.event)) {
      this.scheduleRefresh(false);
    }
  }

  /**
   * Attempts and artifacts (and the task, after a resync) are read again after the events that change them, at most
   * once per 200 ms; an answer older than one already shown is dropped.
   */
  private scheduleRefresh(includeTask: boolean): void {
    this.refreshTask ||= includeTask;
    if (this.refreshTimer) return;
    this.refreshTimer = setTimeout(async () => {
      this.refreshTimer = null;
      const withTask = this.refreshTask;
      this.refreshTask = false;
      const version = ++this.refreshVersion;
      try {
        const [attempts, artifacts, task] = await Promise.all([
          this.api.attempts(this.id()), this.api.artifacts(this.id()), withTask ? this.api.getTask(this.id()) : Promise.resolve(null),
        ]);
        if (version !== this.refreshVersion) return;
        this.attempts.set(attempts);
        this.artifacts.set(artifacts);
        if (task) this.showTask(task);
      } catch {
        // The next event refreshes again.
      }
    }, 200);
  }
}
