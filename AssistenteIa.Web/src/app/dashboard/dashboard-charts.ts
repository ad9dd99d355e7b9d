import type { ChartConfiguration } from 'chart.js';
import type { Stats } from '../api/api-types';
import { formatCost } from '../shared/format';

/** Colours per status, shared with the badges' meaning. */
export const statusColours: Record<string, string> = {
  Created: '#94a3b8', Queued: '#60a5fa', Reserved: '#818cf8', Running: '#a78bfa',
  Succeeded: '#22c55e', Failed: '#f59e0b', Cancelled: '#64748b', DeadLetter: '#ef4444',
};
const palette = ['#2563eb', '#16a34a', '#db2777', '#ea580c', '#7c3aed', '#0891b2', '#ca8a04', '#475569'];

export type Bucket = 'minute' | 'hour' | 'day';

export function bucketLabel(iso: string, bucket: Bucket): string {
  const date = new Date(iso);
  if (bucket === 'day') return date.toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
  return date.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
}

export function byStatusChart(stats: Stats): ChartConfiguration {
  const rows = stats.byStatus.filter(row => row.count > 0);
  return {
    type: 'doughnut',
    data: {
      labels: rows.map(row => row.status),
      datasets: [{ data: rows.map(row => row.count), backgroundColor: rows.map(row => statusColours[row.status] ?? '#999') }],
    },
    options: { responsive: true, maintainAspectRatio: false, animation: false, plugins: { legend: { position: 'right' } } },
  };
}

export function throughputChart(stats: Stats, bucket: Bucket): ChartConfiguration {
  const labels = stats.throughput.map(row => bucketLabel(row.start, bucket));
  return {
    type: 'line',
    data: {
      labels,
      datasets: [
        { label: 'Created', data: stats.throughput.map(row => row.created), borderColor: '#2563eb', backgroundColor: '#2563eb', tension: 0.2 },
        { label: 'Succeeded', data: stats.throughput.map(row => row.succeeded), borderColor: '#16a34a', backgroundColor: '#16a34a', tension: 0.2 },
        { label: 'Failed', data: stats.throughput.map(row => row.failed), borderColor: '#ef4444', backgroundColor: '#ef4444', tension: 0.2 },
        { label: 'Cancelled', data: stats.throughput.map(row => row.cancelled), borderColor: '#64748b', backgroundColor: '#64748b', tension: 0.2 },
      ],
    },
    options: { responsive: true, maintainAspectRatio: false, animation: false, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
  };
}

export function latencyChart(stats: Stats, bucket: Bucket): ChartConfiguration {
  const rows = stats.latencyByBucket;
  return {
    type: 'line',
    data: {
      labels: rows.map(row => bucketLabel(row.start, bucket)),
      datasets: [
        { label: 'Queue wait p50', data: rows.map(row => row.queueWaitP50Ms ?? null), borderColor: '#60a5fa', backgroundColor: '#60a5fa', spanGaps: true },
        { label: 'Queue wait p95', data: rows.map(row => row.queueWaitP95Ms ?? null), borderColor: '#1d4ed8', backgroundColor: '#1d4ed8', borderDash: [4, 4], spanGaps: true },
        { label: 'Execution p50', data: rows.map(row => row.executionP50Ms ?? null), borderColor: '#4ade80', backgroundColor: '#4ade80', spanGaps: true },
        { label: 'Execution p95', data: rows.map(row => row.executionP95Ms ?? null), borderColor: '#15803d', backgroundColor: '#15803d', borderDash: [4, 4], spanGaps: true },
      ],
    },
    options: {
      responsive: true, maintainAspectRatio: false, animation: false,
      scales: { y: { beginAtZero: true, title: { display: true, text: 'ms' } } },
    },
  };
}

export function tokensByModelChart(stats: Stats): ChartConfiguration {
  const rows = stats.usageByModel;
  return {
    type: 'bar',
    data: {
      labels: rows.map(row => row.model),
      datasets: [
        { label: 'Tokens in', data: rows.map(row => row.tokensIn), backgroundColor: '#2563eb' },
        { label: 'Tokens out', data: rows.map(row => row.tokensOut), backgroundColor: '#db2777' },
      ],
    },
    options: { responsive: true, maintainAspectRatio: false, animation: false, scales: { y: { beginAtZero: true } } },
  };
}

export function costByDayChart(stats: Stats): ChartConfiguration {
  const days = [...new Set(stats.usageByDay.map(row => row.day))].sort();
  const models = [...new Set(stats.usageByDay.map(row => row.model))].sort();
  return {
    type: 'bar',
    data: {
      labels: days,
      datasets: models.map((model, i) => ({
        label: model,
        data: days.map(day => stats.usageByDay.find(row => row.day === day && row.model === model)?.cost ?? 0),
        backgroundColor: palette[i % palette.length],
      })),
    },
    options: {
      responsive: true, maintainAspectRatio: false, animation: false,
      scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, title: { display: true, text: 'USD' }, ticks: { callback: value => formatCost(Number(value)) } } },
    },
  };
}
