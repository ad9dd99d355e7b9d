import { ChangeDetectionStrategy, Component, DestroyRef, OnInit, inject, signal } from '@angular/core';
import { ActivatedRoute, Router, RouterLink } from '@angular/router';
import { ApiClient, ApiError } from '../api/api-client';
import { capabilityTypes, domainTypes, executionTypes, taskStatuses, type Task, type TaskEvent } from '../api/api-types';
import { TaskEventsService, type TaskStreamHandle } from '../events/task-events.service';
import { formatTime, shortId } from '../shared/format';
import { StatusBadge } from '../shared/status-badge';
import { CreateTaskForm } from './create-task-form';
import {
  LiveTaskPage, filtersFromParams, filtersToParams, pageCount, pageSizes, toListQuery, type TaskFilters,
} from './task-filters';

type FilterName = 'status' | 'domain' | 'capability' | 'execution';

/** The tenant's tasks, newest first, filtered and paged by the URL, kept current by the event stream. */
@Component({
  selector: 'app-tasks-page',
  imports: [RouterLink, StatusBadge, CreateTaskForm],
  changeDetection: ChangeDetectionStrategy.OnPush,
  templateUrl: './tasks.page.html',
})
export class TasksPage implements OnInit {
  private readonly api = inject(ApiClient);
  private readonly events = inject(TaskEventsService);
  private readonly route = inject(ActivatedRoute);
  private readonly router = inject(Router);

  protected readonly filterFields: readonly { name: FilterName; label: string; values: readonly string[] }[] = [
    { name: 'status', label: 'Status', values: taskStatuses },
    { name: 'domain', label: 'Domain', values: domainTypes },
    { name: 'capability', label: 'Capability', values: capabilityTypes },
    { name: 'execution', label: 'Execution', values: executionTypes },
  ];
  protected readonly pageSizes = pageSizes;
  protected readonly formatTime = formatTime;
  protected readonly shortId = shortId;

  protected readonly filters = signal<TaskFilters>(filtersFromParams({}));
  protected readonly rows = signal<Task[]>([]);
  protected readonly total = signal(0);
  protected readonly capped = signal(false);
  protected readonly loading = signal(true);
  protected readonly error = signal<string | null>(null);
  protected readonly showForm = signal(false);
  protected readonly live = this.events.state;

  private page: LiveTaskPage | null = null;
  private stream: TaskStreamHandle | null = null;
  private loadVersion = 0;
  /** Events that arrive while a page loads are applied to it once it is in (the load may predate them). */
  private pending: TaskEvent[] | null = null;

  constructor() {
    inject(DestroyRef).onDestroy(() => this.stream?.close());
  }

  ngOnInit(): void {
    this.route.queryParams.subscribe(params => {
      this.filters.set(filtersFromParams(params));
      void this.load();
    });
    this.stream = this.events.tenant(item => {
      if (item.kind === 'resync' || (item.kind === 'open' && !item.resumed)) {
        void this.load();
      } else if (item.kind === 'open') {
        return;
      } else if (this.pending) {
        this.pending.push(item.event);
      } else if (this.page?.apply(item.event)) {
        this.publish();
      }
    });
  }

  protected pages(): number {
    return pageCount(this.total(), this.filters().pageSize);
  }

  protected setFilter(name: FilterName, value: string): void {
    this.navigate({ ...this.filters(), [name]: value || undefined, page: 1 });
  }

  protected setPageSize(value: string): void {
    this.navigate({ ...this.filters(), pageSize: Number(value), page: 1 });
  }

  protected goTo(page: number): void {
    this.navigate({ ...this.filters(), page });
  }

  protected clearFilters(): void {
    this.navigate({ page: 1, pageSize: this.filters().pageSize });
  }

  protected onCreated(task: Task): void {
    if (this.page?.add(task)) {
      this.publish();
    }
  }

  protected async reload(): Promise<void> {
    await this.load();
  }

  private navigate(filters: TaskFilters): void {
    void this.router.navigate([], { relativeTo: this.route, queryParams: filtersToParams(filters), queryParamsHandling: 'merge' });
  }

  private async load(): Promise<void> {
    const version = ++this.loadVersion;
    const filters = this.filters();
    this.loading.set(true);
    this.error.set(null);
    this.pending = [];
    try {
      const result = await this.api.listTasks(toListQuery(filters));
      if (version !== this.loadVersion) return;
      this.page = new LiveTaskPage(result.items, result.total, filters);
      for (const event of this.pending) {
        this.page.apply(event);
      }
      this.pending = null;
      this.capped.set(result.capped);
      this.publish();
    } catch (e) {
      if (version !== this.loadVersion) return;
      this.pending = null;
      this.error.set(e instanceof ApiError ? e.message : 'The API cannot be reached.');
    } finally {
      if (version === this.loadVersion) this.loading.set(false);
    }
  }

  private publish(): void {
    if (this.page) {
      this.rows.set(this.page.rows);
      this.total.set(this.page.total);
    }
  }
}
