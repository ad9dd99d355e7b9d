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

/**
 * A page of the list kept current by events: rows change in place; a task that comes to match the filters (a new one,
 * or one whose status now matches a status filter) is counted and, on page 1, enters in its place by creation time; a
 * row that stops matching leaves the page and the count.
 */
export class LiveTaskPage {
  private readonly seen = new Map<string, number>();

  constructor(public rows: Task[], public total: number, private readonly filters: TaskFilters) {}

  /** Adds a task the user just created (before its events arrive); returns false when it is not on this page. */
  add(task: Task): boolean {
    if (this.rows.some(row => row.id === task.id) || !matchesFilters(task, this.filters)) {
      return false;
    }
    this.total += 1;
    return this.insert(task);
  }

  /** Applies an event; older or repeated events (the stream is at-least-once) are ignored. Returns true on change. */
  apply(event: TaskEvent): boolean {
    const task = event.task;
    const last = this.seen.get(task.id);
    if (last !== undefined && event.sequence <= last) {
      return false;
    }
    const index = this.rows.findIndex(row => row.id === task.id);
    if (index >= 0) {
      this.seen.set(task.id, event.sequence);
      if (Date.parse(task.updatedAt) < Date.parse(this.rows[index].updatedAt)) {
        return false;
      }
      const rows = [...this.rows];
      if (matchesFilters(task, this.filters)) {
        rows[index] = { ...rows[index], ...task, payload: rows[index].payload ?? task.payload };
      } else {
        rows.splice(index, 1);
        this.total = Math.max(0, this.total - 1);
      }
      this.rows = rows;
      return true;
    }
    const newlyMatching = event.event === 'created' || (this.filters.status !== undefined && event.from !== this.filters.status);
    if (!newlyMatching || !matchesFilters(task, this.filters)) {
      return false;
    }
    this.total += 1;
    this.insert(task);
    if (this.rows.some(row => row.id === task.id)) {
      this.seen.set(task.id, event.sequence);
    }
    return true;
  }

  /** Puts a task on page 1 in creation order (newest first) when it falls within the page. */
  private insert(task: Task): boolean {
    const { page, pageSize } = this.filters;
    const lastRow = this.rows.at(-1);
    if (page !== 1 || (this.rows.length >= pageSize && lastRow && Date.parse(task.createdAt) < Date.parse(lastRow.createdAt))) {
      return false;
    }
    const created = Date.parse(task.createdAt);
    const at = this.rows.findIndex(row => Date.parse(row.createdAt) <= created);
    const rows = [...this.rows];
    rows.splice(at < 0 ? rows.length : at, 0, task);
    rows.splice(pageSize);
    const kept = new Set(rows.map(row => row.id));
    for (const id of this.seen.keys()) {
      if (!kept.has(id)) this.seen.delete(id);
    }
    this.rows = rows;
    return true;
  }
}

function oneOf<T extends string>(values: readonly T[], value: unknown): T | undefined {
  return typeof value === 'string' && (values as readonly string[]).includes(value) ? (value as T) : undefined;
}
