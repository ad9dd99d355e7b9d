import type { Params } from '@angular/router';
import {
  capabilityTypes, domainTypes, executionTypes, taskStatuses,
  type CapabilityType, type DomainType, type ExecutionType, type ListTasksQuery, type Task, type TaskEvent, type TaskStatus,
} from '../api/api-types';

/** The list's filters and page, as they live in the URL (`/tasks?status=Running&page=2`). */
export interface TaskFilters {
  status?: TaskStatus;
  domain?: DomainType;
  capability?: CapabilityType;
  execution?: ExecutionType;
  page: number;
  pageSize: number;
}

export const defaultPageSize = 20;
export const pageSizes = [10, 20, 50, 100] as const;

/** Reads filters from query parameters; unknown values are dropped rather than sent to the API. */
export function filtersFromParams(params: Params): TaskFilters {
  const page = Number.parseInt(String(params['page'] ?? ''), 10);
  const pageSize = Number.parseInt(String(params['pageSize'] ?? ''), 10);
  return {
    status: oneOf(taskStatuses, params['status']),
    domain: oneOf(domainTypes, params['domain']),
    capability: oneOf(capabilityTypes, params['capability']),
    execution: oneOf(executionTypes, params['execution']),
    page: Number.isFinite(page) && page >= 1 ? page : 1,
    pageSize: (pageSizes as readonly number[]).includes(pageSize) ? pageSize : defaultPageSize,
  };
}

/** Query parameters for the router: defaults are left out so URLs stay short; `null` removes a parameter. */
export function filtersToParams(filters: TaskFilters): Params {
  return {
    status: filters.status ?? null,
    domain: filters.domain ?? null,
    capability: filters.capability ?? null,
    execution: filters.execution ?? null,
    page: filters.page > 1 ? filters.page : null,
    pageSize: filters.pageSize !== defaultPageSize ? filters.pageSize : null,
  };
}

export function toListQuery(filters: TaskFilters): ListTasksQuery {
  const query: ListTasksQuery = { page: filters.page, pageSize: filters.pageSize };
  if (filters.status) query.status = filters.status;
  if (filters.domain) query.domain = filters.domain;
  if (filters.capability) query.capability = filters.capability;
  if (filters.execution) query.execution = filters.execution;
  return query;
}

export function matchesFilters(task: Task, filters: TaskFilters): boolean {
  return (!filters.status || task.status === filters.status)
    && (!filters.domain || task.type.domain === filters.domain)
    && (!filters.capability || task.type.capability === filters.capability)
    && (!filters.execution || task.type.execution === filters.execution);
}

export function pageCount(total: number, pageSize: number): number {
  return Math.max(1, Math.ceil(total / pageSize));
}

/** A page of the list kept current by events: rows change in place, new tasks enter at the top of page 1. */
export class LiveTaskPage {
  private readonly seen = new Map<string, number>();

  constructor(public rows: Task[], public total: number, private readonly filters: TaskFilters) {}

  /** Adds a task the user just created (before its events arrive); returns false when it is not on this page. */
  add(task: Task): boolean {
    if (this.rows.some(row => row.id === task.id) || this.filters.page !== 1 || !matchesFilters(task, this.filters)) {
      return false;
    }
    this.rows = [task, ...this.rows].slice(0, this.filters.pageSize);
    this.total += 1;
    return true;
  }

  /** Applies an event; older or repeated events (the stream is at-least-once) are ignored. Returns true on change. */
  apply(event: TaskEvent): boolean {
    const task = event.task;
    const last = this.seen.get(task.id);
    if (last !== undefined && event.sequence <= last) {
      return false;
    }
    this.seen.set(task.id, event.sequence);
    const index = this.rows.findIndex(row => row.id === task.id);
    if (index >= 0) {
      if (Date.parse(task.updatedAt) < Date.parse(this.rows[index].updatedAt)) {
        return false;
      }
      const rows = [...this.rows];
      rows[index] = { ...rows[index], ...task, payload: rows[index].payload ?? task.payload };
      this.rows = rows;
      return true;
    }
    return event.event === 'created' && this.add(task);
  }
}

function oneOf<T extends string>(values: readonly T[], value: unknown): T | undefined {
  return typeof value === 'string' && (values as readonly string[]).includes(value) ? (value as T) : undefined;
}
