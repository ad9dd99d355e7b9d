import { Injectable, InjectionToken, inject } from '@angular/core';
import { Router } from '@angular/router';
import createClient, { type Middleware } from 'openapi-fetch';
import { returnToSignIn } from '../auth/auth.guard';
import { AuthService } from '../auth/auth.service';
import type { paths } from './schema';
import type {
  CreateTaskRequest, ListTasksQuery, Problem, Stats, StatsQuery, Task, TaskArtifact, TaskAttempt,
} from './api-types';

/** The fetch the client uses; tests replace it. */
export const FETCH = new InjectionToken<typeof fetch>('fetch', { factory: () => globalThis.fetch.bind(globalThis) });

/** An answer other than 2xx, with the problem+json the API sent. */
export class ApiError extends Error {
  constructor(readonly status: number, readonly problem: Problem) {
    super(problem.detail ?? problem.title ?? `HTTP ${status}`);
  }

  /** Field errors keyed by the request's JSON path in camelCase (`payload.prompt`), as the form shows them. */
  fieldErrors(): Record<string, string> {
    const result: Record<string, string> = {};
    for (const [field, messages] of Object.entries(this.problem.errors ?? {})) {
      const key = field.replace(/^\$\.?/, '').split('.').map(part => part.charAt(0).toLowerCase() + part.slice(1)).join('.');
      result[key] = messages.join(' ');
    }
    return result;
  }
}

export interface TaskPage {
  items: Task[];
  total: number;
  capped: boolean;
}

/** The REST API through the client generated from its OpenAPI document; adds the key, turns 401 into sign-out. */
@Injectable({ providedIn: 'root' })
export class ApiClient {
  private readonly auth = inject(AuthService);
  private readonly router = inject(Router);
  private readonly client = createClient<paths>({ baseUrl: globalThis.location?.origin ?? '', fetch: inject(FETCH) });

  constructor() {
    const auth: Middleware = {
      onRequest: ({ request }) => {
        const key = this.auth.apiKey();
        if (key) {
          request.headers.set('X-Api-Key', key);
        }
        return request;
      },
      onResponse: ({ response }) => {
        if (response.status === 401) {
          this.auth.signOut();
          returnToSignIn(this.router);
        }
        return response;
      },
    };
    this.client.use(auth);
  }

  async listTasks(query: ListTasksQuery): Promise<TaskPage> {
    const { data, error, response } = await this.client.GET('/api/v1/tasks', { params: { query } });
    const items = ok(data, error, response);
    return {
      items,
      total: Number(response.headers.get('X-Total-Count') ?? items.length),
      capped: response.headers.get('X-Total-Count-Capped') === 'true',
    };
  }

  async getTask(id: string): Promise<Task> {
    const { data, error, response } = await this.client.GET('/api/v1/tasks/{id}', { params: { path: { id } } });
    return ok(data, error, response);
  }

  async createTask(request: CreateTaskRequest, idempotencyKey?: string): Promise<Task> {
    const headers: Record<string, string> = idempotencyKey ? { 'Idempotency-Key': idempotencyKey } : {};
    const { data, error, response } = await this.client.POST('/api/v1/tasks', { body: request, headers });
    return ok(data, error, response);
  }

  /** Cancels the task: `true` when it is cancelled now, `false` when its worker was signalled. */
  async cancelTask(id: string): Promise<boolean> {
    const { error, response } = await this.client.POST('/api/v1/tasks/{id}/cancel', { params: { path: { id } } });
    ok(true, error, response);
    return response.status === 200;
  }

  async attempts(id: string): Promise<TaskAttempt[]> {
    const { data, error, response } = await this.client.GET('/api/v1/tasks/{id}/attempts', { params: { path: { id } } });
    return ok(data, error, response);
  }

  async artifacts(id: string): Promise<TaskArtifact[]> {
    const { data, error, response } = await this.client.GET('/api/v1/tasks/{id}/artifacts', { params: { path: { id } } });
    return ok(data, error, response);
  }

  /** A stored file's content (a file artifact's uri is /api/v1/files/{id}); the key goes in a header, so no plain link. */
  async downloadFile(id: string): Promise<Blob> {
    const { data, error, response } = await this.client.GET('/api/v1/files/{id}', { params: { path: { id } }, parseAs: 'blob' });
    return ok(data as Blob | undefined, error, response);
  }

  async stats(query: StatsQuery): Promise<Stats> {
    const { data, error, response } = await this.client.GET('/api/v1/stats', { params: { query } });
    return ok(data, error, response);
  }
}

function ok<T>(data: T | undefined, error: unknown, response: Response): T {
  if (response.ok && data !== undefined) {
    return data;
  }
  const problem = (error && typeof error === 'object' ? error : { title: response.statusText }) as Problem;
  throw new ApiError(response.status, problem);
}
