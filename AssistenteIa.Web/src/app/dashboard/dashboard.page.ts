import { ChangeDetectionStrategy, Component, DestroyRef, OnInit, computed, inject, signal } from '@angular/core';
import { ApiClient, ApiError } from '../api/api-client';
import type { Stats } from '../api/api-types';
import { TaskEventsService, type TaskStreamHandle } from '../events/task-events.service';
import { formatCost, formatMs } from '../shared/format';
import { ChartCanvas } from './chart-canvas';
import {
  byStatusChart, costByDayChart, latencyChart, throughputChart, tokensByModelChart, type Bucket,
} from './dashboard-charts';

interface Window {
  label: string;
  hours: number;
  bucket: Bucket;
}

/** Aggregates of the tenant's work (GET /api/v1/stats) as charts, read again shortly after tasks change. */
@Component({
  selector: 'app-dashboard-page',
  imports: [ChartCanvas],
  changeDetection: ChangeDetectionStrategy.OnPush,
  templateUrl: './dashboard.page.html',
})
export class DashboardPage implements OnInit {
  private readonly api = inject(ApiClient);
  private readonly events = inject(TaskEventsService);

  protected readonly windows: Window[] = [
    { label: 'Last hour', hours: 1, bucket: 'minute' },
    { label: 'Last 24 hours', hours: 24, bucket: 'hour' },
    { label: 'Last 7 days', hours: 24 * 7, bucket: 'day' },
    { label: 'Last 30 days', hours: 24 * 30, bucket: 'day' },
  ];
  protected readonly window = signal<Window>(this.windows[0]);
  protected readonly stats = signal<Stats | null>(null);
  protected readonly loading = signal(true);
  protected readonly error = signal<string | null>(null);
  protected readonly formatMs = formatMs;
  protected readonly formatCost = formatCost;

  protected readonly totals = computed(() => {
    const stats = this.stats();
    if (!stats) return null;
    const tasks = stats.byStatus.reduce((sum, row) => sum + row.count, 0);
    const succeeded = stats.byStatus.find(row => row.status === 'Succeeded')?.count ?? 0;
    const finished = stats.byStatus.filter(row => ['Succeeded', 'Cancelled', 'DeadLetter'].includes(row.status)).reduce((sum, row) => sum + row.count, 0);
    return {
      tasks,
      successRate: finished ? succeeded / finished : null,
      cost: stats.usageByModel.reduce((sum, row) => sum + row.cost, 0),
      tokens: stats.usageByModel.reduce((sum, row) => sum + row.tokensIn + row.tokensOut, 0),
    };
  });
  protected readonly hasData = computed(() => (this.totals()?.tasks ?? 0) > 0);
  protected readonly statusChart = computed(() => byStatusChart(this.stats()!));
  protected readonly throughput = computed(() => throughputChart(this.stats()!, this.window().bucket));
  protected readonly latency = computed(() => latencyChart(this.stats()!, this.window().bucket));
  protected readonly tokens = computed(() => tokensByModelChart(this.stats()!));
  protected readonly costByDay = computed(() => costByDayChart(this.stats()!));

  private stream: TaskStreamHandle | null = null;
  private refreshTimer: ReturnType<typeof setTimeout> | null = null;
  private loadVersion = 0;
  private refreshing = false;
  private reloadAfter = false;

  constructor() {
    inject(DestroyRef).onDestroy(() => {
      this.stream?.close();
      if (this.refreshTimer) clearTimeout(this.refreshTimer);
    });
  }

  ngOnInit(): void {
    void this.load();
    // No polling: the stats are read again 2 s after tasks change, at most once per 2 s.
    this.stream = this.events.tenant(item => {
      if (item.kind === 'open' && item.resumed) {
        return;
      }
      this.refreshTimer ??= setTimeout(() => {
        this.refreshTimer = null;
        void this.refresh();
      }, 2000);
    });
  }

  protected choose(label: string): void {
    const next = this.windows.find(w => w.label === label);
    if (next) {
      this.window.set(next);
      void this.load();
    }
  }

  /** One statistics query at a time: changes during a load cause one more load after it, not a pile of them. */
  private async refresh(): Promise<void> {
    if (this.refreshing) {
      this.reloadAfter = true;
      return;
    }
    this.refreshing = true;
    try {
      do {
        this.reloadAfter = false;
        await this.load();
      } while (this.reloadAfter);
    } finally {
      this.refreshing = false;
    }
  }

  protected async load(): Promise<void> {
    const version = ++this.loadVersion;
    const window = this.window();
    const to = new Date();
    const from = new Date(to.getTime() - window.hours * 3_600_000);
    this.error.set(null);
    try {
      const stats = await this.api.stats({ from: from.toISOString(), to: to.toISOString(), bucket: window.bucket });
      if (version === this.loadVersion) this.stats.set(stats);
    } catch (e) {
      if (version === this.loadVersion) this.error.set(e instanceof ApiError ? e.message : 'The API cannot be reached.');
    } finally {
      if (version === this.loadVersion) this.loading.set(false);
    }
  }
}
